"""Prints the benchmark's table from the raw figures scripts/bench.sh left in a folder.

    python3 bench/report.py BENCH_OUT
"""
import datetime
import gzip
import json
import os
import pathlib
import re
import statistics
import sys

out = pathlib.Path(sys.argv[1])
iterations = int(os.environ["BENCH_ITERATIONS"])
KIB, MB = 1024, 1024 * 1024
FREE_SIZE, PAID_SIZE = 3 * MB, 10 * MB  # Cloudflare's limits on the compressed Worker
STARTUP_LIMIT_MS = 1000


def columns(name):
    """A file of whitespace-separated numbers, one row per line, as a list of columns."""
    rows = [list(map(float, line.split())) for line in (out / name).read_text().splitlines() if line.strip()]
    return [list(column) for column in zip(*rows)]


def wrk(name):
    """The `BENCH key=value ...` lines of one wrk run (bench/wrk.lua, bench/in-server.sh)."""
    lines = [l for l in (out / f"wrk-{name}.txt").read_text().splitlines() if l.startswith("BENCH ")]
    return {k: float(v) for line in lines for k, v in (pair.split("=") for pair in line.split()[1:])}


def rule(title):
    print(f"\n{title}\n{'-' * len(title)}")


# PBKDF2. Login pairs: wall(N) wall(2N) cpu(N) cpu(2N); the others: wall cpu.
median = statistics.median
wall_n, wall_2n, cpu_n, cpu_2n, *spans = columns("login-pairs.txt")
wasm_wall = median(b - a for a, b in zip(wall_n, wall_2n))
wasm_cpu = median(b - a for a, b in zip(cpu_n, cpu_2n))
native_wall, native_cpu = map(median, columns("native.txt"))
portable_wall, portable_cpu = map(median, columns("native-portable.txt"))
openssl_wall, openssl_cpu = map(median, columns("openssl.txt"))
runs = len(wall_n)

print(f"recipe-api benchmark   PASSWORD_ITERATIONS={iterations}   medians of one run")
rule(f"PBKDF2-HMAC-SHA256, {iterations:,} iterations, 32-byte output, one hash ({runs} runs each)")
print(f"  {'':<40}{'CPU ms':>9}{'wall ms':>9}   CPU ratio")
print(f"  {'wasm in workerd (the worker)':<40}{wasm_cpu:>9.1f}{wasm_wall:>9.1f}")
print(f"  {'native Rust, SHA-NI (same crate)':<40}{native_cpu:>9.1f}{native_wall:>9.1f}   wasm/native  {wasm_cpu / native_cpu:5.2f} x")
print(f"  {'native Rust, portable SHA-256 (as wasm)':<40}{portable_cpu:>9.1f}{portable_wall:>9.1f}   wasm/portable {wasm_cpu / portable_cpu:4.2f} x")
print(f"  {'OpenSSL (python3 hashlib.pbkdf2_hmac)':<40}{openssl_cpu:>9.1f}{openssl_wall:>9.1f}   wasm/OpenSSL {wasm_cpu / openssl_cpu:5.2f} x")
print(f"  wasm = login on a server whose strongest stored hash has 2N iterations minus login on one")
print(f"  whose hashes have N (a login runs the strongest count; paired, median); a stronger stored")
print(f"  hash is never re-hashed, so all else cancels. Whole login with N:")
print(f"  {median(cpu_n):.1f} ms server CPU, {median(wall_n):.1f} ms wall. Server CPU: wrangler dev's workerd")
print(f"  processes (worker, local D1, dev proxy), from /proc; native and OpenSSL: their own thread.")
print(f"  Native rows: --release; SHA-NI where the CPU has it (detected at run time), and the same")
print(f"  code built with sha2's portable compression function (feature portable-sha256), which is")
print(f"  what wasm runs: wasm/portable is the cost of wasm itself, wasm/native adds SHA-NI's lead.")

import worker_cpu  # noqa: E402  (bench/ is this script's directory, so on the import path)


def worker(name):
    """The worker's CPU per request from the run's profile (bench/worker_cpu.py), and wrk's figures."""
    r = wrk(name)
    cpu = worker_cpu.summary(out / f"profile-{name}.cpuprofile", max(int(r["requests"]), 1))
    return r, cpu


def ratio(a, b):
    return f"{a / b:6.2f} x" if b else "     n/a"


concurrency = int(os.environ.get("BENCH_CONCURRENCY", "8"))
rule("Worker CPU per request and throughput, this worker (Rust) and the JavaScript peer (Hono), wrk")
print(f"  {'request':<44}{'conc':>5}{'Rust ms':>9}{'JS ms':>8}{'Rust/JS':>9}{'Rust r/s':>10}{'JS r/s':>8}{'Rust/JS':>9}")
rows = [
    ("notfound", "peer-notfound", "GET /api/v1/nothing-here (404)", concurrency),
    ("recipe", "peer-recipe", "GET /api/v1/recipes/{id}", concurrency),
    ("search", "peer-search", "GET /api/v1/recipes/search/?keyword=chicken", concurrency),
    ("me", "peer-me", "GET /api/v1/auth/me", concurrency),
    ("mine", None, "GET /api/v1/recipes/my-recipes", concurrency),
    ("create", None, "POST /api/v1/recipes/", concurrency),
    ("login-low", "peer-login", "POST /api/v1/auth/login, both 100,000 iter.", 1),
    ("login", "peer-login", f"  the same, Rust at {iterations:,}", 1),
]
breakdown = []
for ours, peer, label, conc in rows:
    r, cpu = worker(ours)
    breakdown.append((label, "Rust", r, cpu))
    if peer:
        pr, pcpu = worker(peer)
        if ours != "login":
            breakdown.append((label, "JS", pr, pcpu))
        same = ours != "login"
        print(f"  {label:<44}{conc:>5}{cpu['ours']:>9.3f}{pcpu['ours']:>8.3f}"
              f"{ratio(cpu['ours'], pcpu['ours']) if same else '':>9}{r['rps']:>10.1f}{pr['rps']:>8.1f}"
              f"{ratio(r['rps'], pr['rps']) if same else '':>9}")
    else:
        print(f"  {label:<44}{conc:>5}{cpu['ours']:>9.3f}{'-':>8}{'':>9}{r['rps']:>10.1f}{'-':>8}")
print("  ms: CPU of the worker's own code per request (wasm, the JS shim or Hono, and the runtime's")
print("  built-ins they call), from a V8 CPU profile of the worker's isolate taken during the same")
print("  wrk run: busy samples x the sampler's period / requests. Not included: wrangler dev's")
print("  middleware, the D1 binding's continuations, workerd's C++ without JS on the stack, GC,")
print("  and console.log (the Rust worker writes one log line per request; the peer none); all")
print("  are in the breakdown below. r/s: wrk's requests/s through wrangler dev, profiler on.")

rule("Where the worker's isolate spent its time, ms per request (same profiles)")
print(f"  {'request':<44}{'':>5}{'code':>8}{'log':>7}{'wrangler':>9}{'D1 js':>7}{'native':>7}{'GC':>6}{'busy':>8}{'server':>8}{'errors':>7}")
for label, who, r, cpu in breakdown:
    bad = int(r["non2xx"] + r["socket_errors"])
    expected_non2xx = int(r["requests"]) if "404" in label else 0
    server = f"{r['server_cpu_ms'] / r['requests']:.1f}" if r["requests"] and r["server_cpu_ms"] >= 0 else "n/a"
    print(f"  {label:<44}{who:>5}{cpu['ours']:>8.3f}{cpu['log']:>7.3f}{cpu['harness']:>9.3f}{cpu['runtime']:>7.3f}"
          f"{cpu['native']:>7.3f}{cpu['gc']:>6.3f}{cpu['busy']:>8.3f}{server:>8}{bad - expected_non2xx:>7}")
print("  code: as above. log: inside console.log. wrangler: wrangler dev's middleware in the bundle")
print("  (__facade_invokeChain__ and the rest). D1 js: workerd's JS of the D1 binding running on its")
print("  own (in production too). native: no JS on the stack (workerd's C++ for the request, not")
print("  attributable). busy: their sum. server: all of wrangler dev's workerd CPU per request from")
print("  /proc (the worker, its proxy worker and the local D1). errors: unexpected answers + socket errors.")

# The method's check: in each login pair (bench/login_pairs.py, profiled meanwhile), the
# login with 2N iterations minus the one with N is one PBKDF2 run of N in the worker's own
# code; /proc measured the same two logins.
start_n, end_n, start_2n, end_2n = spans
in_n = worker_cpu.busy_between(out / "profile-pairs.cpuprofile", list(zip(start_n, end_n)))
in_2n = worker_cpu.busy_between(out / "profile-pairs-2n.cpuprofile", list(zip(start_2n, end_2n)))
profiled_hash = median(b[0] - a[0] for a, b in zip(in_n, in_2n))
print(f"  Method check, on the login pairs above (the same {runs} pairs of logins): one PBKDF2 run of")
print(f"  {iterations:,} iterations is {profiled_hash:.1f} ms of code in the profile, {wasm_cpu:.1f} ms from /proc"
      f" ({profiled_hash / wasm_cpu:.2f} x); a whole")
print(f"  login with N is {median(a[1] for a in in_n):.1f} ms busy in the profile, {median(cpu_n):.1f} ms of all workerd"
      f" CPU from /proc. Sampler period {worker_cpu.period_us(worker_cpu.load(out / 'profile-pairs.cpuprofile')):.0f} us.")

rule("Deployable bundle (wrangler deploy --dry-run) and start-up")
wasm_file = next((out / "bundle").glob("*.wasm"))
raw = wasm_file.stat().st_size
gz = len(gzip.compress(wasm_file.read_bytes(), compresslevel=9))
total = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", (out / "deploy.log").read_text())
total_raw, total_gz = (float(total.group(1)) * KIB, float(total.group(2)) * KIB) if total else (0, 0)
print(f"  {'wasm':<44}{raw / KIB:9.1f} KiB raw {gz / KIB:9.1f} KiB gzip")
print(f"  {'whole upload, as wrangler counts it':<44}{total_raw / KIB:9.1f} KiB raw {total_gz / KIB:9.1f} KiB gzip")
print(f"  {'share of the compressed-size limit':<44}{100 * total_gz / FREE_SIZE:8.1f} % of 3 MB (Free) {100 * total_gz / PAID_SIZE:6.1f} % of 10 MB (Paid)")
profile = json.loads((out / "startup.cpuprofile").read_text())
span = (profile["endTime"] - profile["startTime"]) / 1000
print(f"  {'start-up (workerd profile, check startup)':<44}{span:9.1f} ms   of the {STARTUP_LIMIT_MS} ms limit; parse, compile, top level")
peer_total = re.search(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB", (out / "peer-deploy.log").read_text())
peer_raw, peer_gz = (float(peer_total.group(1)), float(peer_total.group(2))) if peer_total else (0, 0)
peer_profile = json.loads((out / "peer-startup.cpuprofile").read_text())
peer_span = (peer_profile["endTime"] - peer_profile["startTime"]) / 1000
print(f"  {'JS peer: whole upload':<44}{peer_raw:9.1f} KiB raw {peer_gz:9.1f} KiB gzip   Rust/JS {total_gz / KIB / peer_gz if peer_gz else 0:.1f} x (gzip)")
print(f"  {'JS peer: start-up (the same way)':<44}{peer_span:9.1f} ms   Rust/JS {span / peer_span:.2f} x")

rule("D1 per request, counted at run time (the worker's request log: D1's meta, one request each)")
print(f"  {'request':<46}{'trips':>6}{'stmts':>6}{'rows read':>10}{'written':>8}")
for label, trips, statements, read, written in json.loads((out / "d1-counts.json").read_text()):
    print(f"  {label:<46}{trips:>6}{statements:>6}{read:>10}{written:>8}")
print("  trips: calls to D1 (a batch is one round trip and one transaction); rows: what D1 bills.")

# Search at scale (bench/scale.sh, with a server and D1 of its own): bench/scale_report.py.
import scale_report  # noqa: E402  (bench/ is this script's directory, so on the import path)
scale_report.print_section(out)

# A passkey login beside a password login (bench/passkey.sh): bench/passkey_report.py.
import passkey_report  # noqa: E402
passkey_report.print_section(out)

# Hashing beside the revision before (bench/stall.sh, with servers of its own): bench/stall_report.py.
import stall_report  # noqa: E402
stall_report.print_section(out)

rule("Machine")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
sha = "yes" if " sha_ni" in open("/proc/cpuinfo").read() else "no"
print(f"  {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, SHA-NI {sha}; load average {os.getloadavg()[0]:.2f}")
print(f"  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
