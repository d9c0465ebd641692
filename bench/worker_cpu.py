"""What a V8 CPU profile of the worker's isolate (bench/cpu-profile.mjs) says the worker spent,
split by whose code was running.

V8 samples the isolate's thread on a timer. workerd runs every isolate of `wrangler dev` on
one thread (the worker, wrangler's proxy worker, the local D1), and V8 keeps only the samples
taken while this isolate is entered, so the time between two kept samples (`timeDeltas`)
can include other isolates' work and idle time. The busy time is therefore counted, not
summed: kept samples that are not `(idle)`, times the sampler's period, measured in the
same profile as the median gap between consecutive samples shorter than two nominal periods
(V8's default period is 1 ms; with its own work it comes to about 1.1 ms).

Each busy sample is put in one of these, by the innermost frame of its stack that says:
  ours     wasm, or the worker's bundle outside wrangler's additions (for the Rust worker:
           the shim and wasm-bindgen's glue; for the peer: its code and Hono), and the
           runtime's built-ins (JSON, Response, URL, crypto, ...) when ours called them
  log      ours, inside a `console` call (a function of the bundle whose first two lines
           call `console`, e.g. wasm-bindgen's import of console.log): under wrangler dev
           each line is formatted for the terminal and kept for the inspector, which costs
           more than on Cloudflare, so it is shown apart
  harness  wrangler dev's additions to the bundle: its middleware (`__facade_invokeChain__`,
           the body-draining and JSON-error middleware) and loader
  runtime  workerd's own JavaScript with no bundle frame under it: the D1 binding's
           continuations (it runs in production too), console formatting scheduled later
  native   no JavaScript on the stack: `(program)` and the empty stack (workerd's C++ for
           the request, its I/O), not attributable to either side
  gc       the garbage collector (everyone's allocations)

    python3 bench/worker_cpu.py PROFILE [REQUESTS]    prints the split, and the top functions
"""
import collections
import json
import statistics
import sys

NOMINAL_PERIOD_US = 1000
KINDS = ("ours", "log", "harness", "runtime", "native", "gc")


def _is_harness(path):
    return "wrangler/templates/" in path or ".wrangler/tmp/" in path


def load(path):
    with open(path) as f:
        return json.load(f)


def period_us(profile):
    short = [d for d in profile["timeDeltas"][1:] if 0 < d < 2 * NOMINAL_PERIOD_US]
    return statistics.median(short) if short else NOMINAL_PERIOD_US


def classify(profile, per_sample=False):
    """{kind: sample count} and {(function, module): sample count} for `ours`; with
    `per_sample`, the kind of each sample in order instead of the counts."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    sections = profile.get("sections", {})

    def module_of(frame):
        starts = sections.get(frame["scriptId"], {}).get("starts", [])
        found = None
        for first_line, path in starts:
            if first_line <= frame["lineNumber"]:
                found = path
        return found

    def calls_console(frame):
        lines = sections.get(frame["scriptId"], {}).get("consoleLines", [])
        return frame["lineNumber"] in lines or frame["lineNumber"] + 1 in lines

    cache = {}

    def kind_of(node_id):
        if node_id in cache:
            return cache[node_id]
        frame = nodes[node_id]["callFrame"]
        name = frame["functionName"]
        kind = None
        if name == "(idle)":
            kind = ("idle", None)
        elif name == "(garbage collector)":
            kind = ("gc", None)
        elif name in ("(program)", "(root)"):
            kind = ("native", None)
        else:
            # The innermost frame that is wasm or in the bundle decides.
            walk = node_id
            while walk is not None:
                walked = nodes[walk]["callFrame"]
                if walked["url"].startswith("wasm://"):
                    kind = ("ours", (frame["functionName"] or "(anonymous)", "wasm"))
                    break
                module = module_of(walked)
                if module:
                    owner = "harness" if _is_harness(module) else "ours"
                    if owner == "ours" and calls_console(walked):
                        owner = "log"
                    kind = (owner, (frame["functionName"] or "(anonymous)", module))
                    break
                walk = parent.get(walk)
            if kind is None:
                kind = ("runtime", None)
        cache[node_id] = kind
        return kind

    if per_sample:
        return [kind_of(sample)[0] for sample in profile["samples"]], None
    kinds = collections.Counter()
    functions = collections.Counter()
    for sample in profile["samples"]:
        kind, function = kind_of(sample)
        kinds[kind] += 1
        if kind == "ours":
            functions[function] += 1
    return kinds, functions


def busy_between(path, spans):
    """For each (start, end) in µs of the profile's clock: ms of `ours` and of all busy samples."""
    profile = load(path)
    kinds_of, _ = classify(profile, per_sample=True)
    period = period_us(profile)
    times, now = [], profile["startTime"]
    for delta in profile["timeDeltas"]:
        now += delta
        times.append(now)
    found = []
    for start, end in spans:
        inside = [kinds_of[i] for i, t in enumerate(times) if start <= t <= end]
        ours = sum(1 for kind in inside if kind == "ours")
        busy = sum(1 for kind in inside if kind in KINDS)
        found.append((ours * period / 1000, busy * period / 1000))
    return found


def summary(path, requests):
    """ms per request for each kind, and `busy` (their sum); `period_us` and `samples`."""
    profile = load(path)
    kinds, _ = classify(profile)
    period = period_us(profile)
    per_request = {k: kinds[k] * period / 1000 / requests for k in KINDS}
    per_request["busy"] = sum(per_request.values())
    per_request["period_us"] = period
    per_request["samples"] = sum(kinds[k] for k in KINDS)
    return per_request


if __name__ == "__main__":
    profile_path = sys.argv[1]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    figures = summary(profile_path, requests)
    print(f"period {figures['period_us']:.0f} us, {figures['samples']} busy samples, per request (ms):")
    print("  " + "  ".join(f"{k} {figures[k]:.3f}" for k in KINDS + ("busy",)))
    _, functions = classify(load(profile_path))
    total = sum(functions.values())
    for (name, module), count in functions.most_common(15):
        print(f"  {100 * count / total:5.1f} %  {name}  ({module})")
