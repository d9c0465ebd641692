"""CPU time used so far by the workerd processes of a process group, in ms: for `wrangler dev`
that is the worker, its local D1 and the dev proxy, but not wrangler's node nor a rebuild
that wrangler's file watcher starts (cargo, rustc, wasm-opt). On a shared machine
CPU time, unlike wall time, does not grow when other work competes for the cores, and it
is what Cloudflare's per-request CPU limit counts.

    python3 bench/server_cpu.py PGID
"""
import os
import sys
import time
import urllib.parse
import urllib.request


def cpu_ms(pgid: int) -> float:
    total_ns = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "workerd":
                    continue
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total_ns += int(f.read().split()[0])  # ns spent on a CPU
        except (OSError, ValueError):
            continue  # a process or thread that ended meanwhile
    return total_ns / 1e6


def timed_login(url: str, pgid: int, email: str, password: str):
    """One login at `url`: its wall time and the server's CPU across it (ms), and when it was
    sent and answered (µs of CLOCK_MONOTONIC, the clock of V8's CPU profiles)."""
    body = urllib.parse.urlencode({"username": email, "password": password}).encode()
    cpu_before, start = cpu_ms(pgid), time.monotonic_ns()
    with urllib.request.urlopen(f"{url}/api/v1/auth/login", data=body) as response:
        response.read()
        if response.status != 200:
            sys.exit(f"login of {email} at {url} answered {response.status}")
    end = time.monotonic_ns()
    return (end - start) / 1e6, cpu_ms(pgid) - cpu_before, start // 1000, end // 1000


if __name__ == "__main__":
    print(f"{cpu_ms(int(sys.argv[1])):.3f}")
