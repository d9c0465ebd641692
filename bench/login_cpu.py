"""CPU per login on two servers, the logins taking turns (one on each, RUNS times) so that
drift in the machine's load touches both alike. Each server is `wrangler dev` with its own
workerd process group; a login's CPU is that group's workerd CPU across it (/proc: the
worker, its local D1 and the dev proxy; see bench/server_cpu.py).

Prints one line per login: NAME wall_ms server_cpu_ms start_us end_us, the times in µs of
CLOCK_MONOTONIC, the clock of V8's CPU profiles (bench/stall.sh profiles both workers
meanwhile, and bench/stall_report.py reads each login's samples from that window).

    BENCH_PASSWORD=... python3 bench/login_cpu.py RUNS NAME URL PGID EMAIL [NAME URL PGID EMAIL]...
"""
import os
import sys
import time
import urllib.parse
import urllib.request

from server_cpu import cpu_ms

runs = int(sys.argv[1])
servers = [sys.argv[i:i + 4] for i in range(2, len(sys.argv), 4)]
password = os.environ["BENCH_PASSWORD"]


def login(url, pgid, email):
    body = urllib.parse.urlencode({"username": email, "password": password}).encode()
    cpu_before, start = cpu_ms(pgid), time.monotonic_ns()
    with urllib.request.urlopen(f"{url}/api/v1/auth/login", data=body) as response:
        response.read()
        if response.status != 200:
            sys.exit(f"login at {url} answered {response.status}")
    end = time.monotonic_ns()
    return (end - start) / 1e6, cpu_ms(pgid) - cpu_before, start // 1000, end // 1000


for name, url, pgid, email in servers:  # warm each isolate and its code paths
    login(url, int(pgid), email)
for _ in range(runs):
    for name, url, pgid, email in servers:
        wall, cpu, start, end = login(url, int(pgid), email)
        print(f"{name} {wall:.3f} {cpu:.3f} {start} {end}", flush=True)
