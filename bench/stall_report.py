"""The "Hashing and other requests" section of the benchmark's table, from what bench/stall.sh
left in a folder. bench/report.py prints it; `python3 bench/stall_report.py OUT` prints it alone.

The goal it checks: GET p95 while two clients log in within the idle GET p50 + 40 ms, and CPU
per login within 5 % of the revision before.
"""
import json
import os
import pathlib
import statistics
import sys

import worker_cpu

GOAL_MS = 40
CPU_TOLERANCE = 0.05


def print_section(out):
    out = pathlib.Path(out)
    base = (out / "stall-base.txt").read_text().strip()
    runs = {side: json.loads((out / f"stall-{side}.json").read_text()) for side in ("before", "after")}
    logins = {"before": [], "after": []}
    for line in (out / "stall-login-cpu.txt").read_text().splitlines():
        name, wall, cpu, start, end = line.split()
        logins[name].append((float(wall), float(cpu), int(start), int(end)))
    cpu = {}
    for side, rows in logins.items():
        code = worker_cpu.busy_between(out / f"profile-stall-{side}.cpuprofile", [(r[2], r[3]) for r in rows])
        cpu[side] = {
            "server": statistics.median(r[1] for r in rows),
            "code": statistics.median(c[0] for c in code),
            "wall": statistics.median(r[0] for r in rows),
            "n": len(rows),
        }

    title = "Hashing and other requests: GET /api/v1/recipes/1 while two clients log in in a loop"
    print(f"\n{title}\n{'-' * len(title)}")
    print(f"  {'':<34}{'GET idle ms':>14}{'GET, 2 clients logging in, ms':>33}{'logins':>8}"
          f"{'one login, ms':>22}")
    print(f"  {'build':<34}{'p50':>7}{'p95':>7}{'p50':>9}{'p95':>8}{'max':>8}{'n':>7}{'err':>5}{'per s':>8}"
          f"{'server CPU':>12}{'code':>7}{'wall':>7}")
    labels = {"before": f"before ({base}, hash in one piece)", "after": "after (this build, sliced)"}
    for side in ("before", "after"):
        r, c = runs[side], cpu[side]
        idle, loaded = r["idle"], r["loaded"]
        print(f"  {labels[side]:<34}{idle['p50_ms']:>7.1f}{idle['p95_ms']:>7.1f}{loaded['p50_ms']:>9.1f}"
              f"{loaded['p95_ms']:>8.1f}{loaded['max_ms']:>8.1f}{loaded['n']:>7}{idle['errors'] + loaded['errors']:>5}"
              f"{r['logins']['per_second']:>8.2f}{c['server']:>12.1f}{c['code']:>7.1f}{c['wall']:>7.1f}")
    after = runs["after"]
    limit = after["idle"]["p50_ms"] + GOAL_MS
    met = "met" if after["loaded"]["p95_ms"] <= limit else "NOT met"
    # The logins alternate (after, before, after, ...): the ratio within each pair, whose two
    # logins ran moments apart, cancels most drift in the machine's load.
    server_ratio = statistics.median(a[1] / b[1] for a, b in zip(logins["after"], logins["before"]))
    code_ratio = cpu["after"]["code"] / cpu["before"]["code"]
    cpu_met = "met" if server_ratio <= 1 + CPU_TOLERANCE else "NOT met"
    print(f"  Goal, GET p95 with logins <= idle p50 + {GOAL_MS} ms: {after['loaded']['p95_ms']:.1f} <= {limit:.1f}: {met}"
          f" (before: {runs['before']['loaded']['p95_ms']:.1f}).")
    print(f"  Server CPU per login, after/before (median of the pairs' ratios): {server_ratio:.3f} x"
          f" (goal <= {1 + CPU_TOLERANCE:.2f} x): {cpu_met}; code (medians): {code_ratio:.3f} x.")
    print("  GET: sequential, one keep-alive connection; idle, then with two clients each sending its next")
    print("  login as soon as the last is answered. n, err: GETs with logins; answers other than 200 and")
    print("  socket errors over both phases, logins included. One login: medians of "
          f"{cpu['after']['n']} per build, the builds taking turns,")
    print("  nothing else running; server CPU: all of that wrangler dev's workerd CPU from /proc (the worker,")
    print("  local D1, dev proxy); code: the worker's own code in a V8 profile of its isolate (worker_cpu.py),")
    print("  which overstates it when the cores are oversubscribed (samples land while the thread waits).")
    nice = out / "stall-nice.txt"
    niceness = nice.read_text().strip() if nice.exists() else "0"
    print(f"  Slices of {slice_iterations()} iterations. Load average at the end: {os.getloadavg()[0]:.2f}"
          f" on {len(os.sched_getaffinity(0))} cores; servers and GET client at niceness {niceness}.")


def slice_iterations():
    """SLICE_ITERATIONS as the source says (src/security/password.rs)."""
    source = (pathlib.Path(__file__).parent.parent / "src/security/password.rs").read_text()
    for line in source.splitlines():
        if line.startswith("pub const SLICE_ITERATIONS"):
            return line.split("=")[1].strip(" ;").replace("_", " ")
    return "?"


if __name__ == "__main__":
    print_section(sys.argv[1])
