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

from server_cpu import timed_login

runs = int(sys.argv[1])
servers = [sys.argv[i:i + 4] for i in range(2, len(sys.argv), 4)]
password = os.environ["BENCH_PASSWORD"]


def login(url, pgid, email):
    return timed_login(url, pgid, email, password)


for name, url, pgid, email in servers:  # warm each isolate and its code paths
    login(url, int(pgid), email)
for _ in range(runs):
    for name, url, pgid, email in servers:
        wall, cpu, start, end = login(url, int(pgid), email)
        print(f"{name} {wall:.3f} {cpu:.3f} {start} {end}", flush=True)
