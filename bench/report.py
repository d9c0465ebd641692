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
wall_n, wall_2n, cpu_n, cpu_2n = columns("login-pairs.txt")
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
print(f"  wasm = login whose stored hash has 2N iterations minus login with N (paired, median);")
print(f"  a stronger stored hash is never re-hashed, so all else cancels. Whole login with N:")
print(f"  {median(cpu_n):.1f} ms server CPU, {median(wall_n):.1f} ms wall. Server CPU: wrangler dev's workerd")
print(f"  processes (worker, local D1, dev proxy), from /proc; native and OpenSSL: their own thread.")
print(f"  Native rows: --release; SHA-NI where the CPU has it (detected at run time), and the same")
print(f"  code built with sha2's portable compression function (feature portable-sha256), which is")
print(f"  what wasm runs: wasm/portable is the cost of wasm itself, wasm/native adds SHA-NI's lead.")

rule("HTTP through wrangler dev (workerd + local D1), wrk, one client process")
print(f"  {'request':<46}{'conc':>5}{'reqs':>6}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU/req':>8}{'errors':>7}")
rows = [
    ("login", "POST /api/v1/auth/login"),
    ("recipe", "GET /api/v1/recipes/{id}"),
    ("me", "GET /api/v1/auth/me"),
    ("search", "GET /api/v1/recipes/search/?keyword=chicken"),
]
for name, label in rows:
    r = wrk(name)
    concurrency = 1 if name == "login" else int(os.environ.get("BENCH_CONCURRENCY", "8"))
    bad = int(r["non2xx"] + r["socket_errors"])
    # Negative when workerd restarted meanwhile (wrangler's watcher saw a source change).
    cpu = f"{r['server_cpu_ms'] / r['requests']:.1f}" if r["requests"] and r["server_cpu_ms"] >= 0 else "n/a"
    print(f"  {label:<46}{concurrency:>5}{int(r['requests']):>6}{r['rps']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{cpu:>8}{bad:>7}")
print("  CPU/req: server CPU ms per request (workerd: the worker, local D1 and dev proxy),")
print("  more than the worker alone would use on Cloudflare. errors: non-2xx answers + socket")
print("  errors. login's p99 rests on few samples, as every login hashes.")

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

rule("D1 per request, counted at run time (the worker's request log: D1's meta, one request each)")
print(f"  {'request':<46}{'trips':>6}{'stmts':>6}{'rows read':>10}{'written':>8}")
for label, trips, statements, read, written in json.loads((out / "d1-counts.json").read_text()):
    print(f"  {label:<46}{trips:>6}{statements:>6}{read:>10}{written:>8}")
print("  trips: calls to D1 (a batch is one round trip and one transaction); rows: what D1 bills.")

# Search at scale (bench/scale.sh, with a server and D1 of its own): bench/scale_report.py.
import scale_report  # noqa: E402  (bench/ is this script's directory, so on the import path)
scale_report.print_section(out)

rule("Machine")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
sha = "yes" if " sha_ni" in open("/proc/cpuinfo").read() else "no"
print(f"  {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, SHA-NI {sha}; load average {os.getloadavg()[0]:.2f}")
print(f"  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
