"""PBKDF2-HMAC-SHA256 through OpenSSL (Python's hashlib), the yardstick any native server
would use. Prints one line per run: wall ms, then this thread's CPU ms.

    python3 bench/openssl_pbkdf2.py ITERATIONS RUNS
"""
import hashlib
import sys
import time

iterations, runs = int(sys.argv[1]), int(sys.argv[2])
for _ in range(runs):
    wall, cpu = time.perf_counter(), time.thread_time()
    hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", b"0123456789abcdef", iterations, 32)
    print(f"{(time.perf_counter() - wall) * 1e3:.3f} {(time.thread_time() - cpu) * 1e3:.3f}")
