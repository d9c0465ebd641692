"""PBKDF2 inside workerd, measured through logins (the product has no route that only
hashes). Two users with one password, on two servers of the same build: on the first every
stored hash has the configured N iterations, on the second the user's hash has 2N. A login
runs as many iterations as the strongest stored hash of its database and keeps a hash
stronger than configured (no re-hash), so the two logins differ only by N PBKDF2
iterations. Logins alternate so that drift in machine load touches both alike.

Prints one line per pair: wall_ms(N) wall_ms(2N) server_cpu_ms(N) server_cpu_ms(2N), then
when each login was sent and answered (µs of CLOCK_MONOTONIC, the clock of V8's CPU profiles:
bench/in-server.sh profiles the worker meanwhile, and bench/report.py reads each login's
samples from that window).

    BENCH_PASSWORD=... python3 bench/login_pairs.py URL_N PGID_N EMAIL_N URL_2N PGID_2N EMAIL_2N RUNS
"""
import os
import sys

from server_cpu import timed_login

url_n, pgid_n, email_n, url_2n, pgid_2n, email_2n = sys.argv[1:7]
runs = int(sys.argv[7])
n = (url_n, int(pgid_n), email_n)
double = (url_2n, int(pgid_2n), email_2n)
password = os.environ["BENCH_PASSWORD"]


def login(url, pgid, email):
    return timed_login(url, pgid, email, password)


login(*n), login(*double)  # warm both isolates
for _ in range(runs):
    (wall_n, cpu_n, *span_n), (wall_2n, cpu_2n, *span_2n) = login(*n), login(*double)
    print(f"{wall_n:.3f} {wall_2n:.3f} {cpu_n:.3f} {cpu_2n:.3f}", *span_n, *span_2n)
