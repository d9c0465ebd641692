"""The passkey section of the benchmark's report (bench/passkey.sh): a passkey login's CPU
beside a password login's, on one server, medians of the logins that took turns.

    python3 bench/passkey_report.py OUT
"""
import pathlib
import statistics
import sys

import worker_cpu


def print_section(out):
    out = pathlib.Path(out)
    logins = {"password": [], "passkey": []}
    for line in (out / "passkey-logins.txt").read_text().splitlines():
        name, wall, cpu, start, end = line.split()
        logins[name].append((float(wall), float(cpu), int(start), int(end)))
    profile = out / "profile-passkey.cpuprofile"
    print()
    print("-- Passkey login beside password login (one server, taking turns; bench/passkey.sh) --")
    print(f"  {'POST':<34}{'code ms':>9}{'busy ms':>9}{'server ms':>11}{'wall ms':>9}")
    for name, path in (("password", "/api/v1/auth/login"), ("passkey", "/api/v1/auth/passkeys/login")):
        runs = logins[name]
        profiled = worker_cpu.busy_between(profile, [(start, end) for _, _, start, end in runs])
        median = statistics.median
        print(f"  {path:<34}{median(p[0] for p in profiled):>9.1f}{median(p[1] for p in profiled):>9.1f}"
              f"{median(r[1] for r in runs):>11.1f}{median(r[0] for r in runs):>9.1f}")
    print(f"  {len(logins['passkey'])} logins each, medians. code: the worker's own code in the V8 profile"
          " (wasm, its JS glue, and the")
    print("  runtime's built-ins it calls, Web Crypto's verify among them); busy: all of the isolate's")
    print("  busy samples; server: all of wrangler dev's workerd CPU from /proc (the worker, its proxy")
    print("  and the local D1). The passkey login: an ES256 assertion (DER), checked and verified by")
    print("  Web Crypto, and the session's batch; its options request is not counted.")


if __name__ == "__main__":
    print_section(sys.argv[1])
