#!/usr/bin/env bash
# Password hashing and the isolate's other requests (part of `make bench`; alone:
# `scripts/bench.sh stall`, about two minutes once the revision before is built). For this
# build and for BENCH_BASE, the revision before hashing yielded (default ed8197f, where a
# hash ran in one piece), served side by side by the same wrangler, each with its own local
# D1 (migrated with its own migrations, seeded the same way):
#  - GET /api/v1/recipes/1, sequentially: latency idle, then while two clients log in in a
#    loop (bench/stall.mjs);
#  - CPU per login, the two servers taking turns (bench/login_cpu.py): all of each server's
#    workerd CPU from /proc, and the worker's own code from a V8 profile of each isolate
#    (bench/cpu-profile.mjs, read by bench/worker_cpu.py).
# BENCH_BASE is built once from `git archive` into ~/.cache/recipe-api/bench-base/<commit>
# (by its own scripts/build.sh) and its build/ kept for the next run.
#
# Knobs: BENCH_BASE (a commit), BENCH_STALL_IDLE (seconds of idle GETs, default 5),
# BENCH_STALL_SECONDS (seconds of GETs with logins, default 20), BENCH_RUNS (logins per
# server for CPU, default 7), BENCH_STALL_NICE (e.g. -10, as root: both servers and the GET
# client at that niceness, so that other work on a shared machine preempts them less; the
# latencies then show more of the worker and less of the machine's load).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -z "${BASE_URL:-}" ]; then
    exec "$root/scripts/with-server.sh" "$here/stall.sh"
fi
: "${SERVED_CONFIG:?} ${TEST_JWT_SECRET:?} ${INSPECTOR_PORT:?} ${D1_PERSIST_DIR:?}"
idle_seconds=${BENCH_STALL_IDLE:-5}
loaded_seconds=${BENCH_STALL_SECONDS:-20}
runs=${BENCH_RUNS:-7}
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
# The revision before builds with this clone's tools (worker-build, wasm-bindgen).
export RECIPE_API_TOOLS=${RECIPE_API_TOOLS:-$root/.tools}

if [ -n "${BENCH_OUT:-}" ]; then
    out=$BENCH_OUT
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-stall.XXXXXX")
fi
before_group=""
finish() {
    [ -z "$before_group" ] || kill -TERM -- "-$before_group" 2>/dev/null || true
    [ -n "${BENCH_OUT:-}" ] || rm -rf "$out"
}
trap finish EXIT

# The revision before, built once.
base=$(git -C "$root" rev-parse --verify "${BENCH_BASE:-ed8197f}^{commit}")
base_dir="${BENCH_BASE_DIR:-$HOME/.cache/recipe-api/bench-base}/$base"
if [ ! -f "$base_dir/build/worker/shim.mjs" ]; then
    echo "bench: building ${base:0:7}, the revision before, in $base_dir (once)" >&2
    rm -rf "$base_dir"
    mkdir -p "$base_dir"
    git -C "$root" archive "$base" | tar -x -C "$base_dir"
    ln -s "$root/node_modules" "$base_dir/node_modules"
    # A target dir of its own (a few minutes, once): in this clone's, cargo would take the
    # revision for this crate at another path (its fingerprint is path-relative), find its
    # files older than the last build, and reuse that build.
    "$base_dir/scripts/build.sh" > "$base_dir/build.log" 2>&1 ||
        { tail -n 30 "$base_dir/build.log" >&2; rm -rf "$base_dir/build"; exit 1; }
    rm -rf "$base_dir/target"
fi
# Served as scripts/with-server.sh serves this build: wrangler.toml without its [build].
base_config="$base_dir/wrangler-served.toml"
awk '/^\[build\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$base_dir/wrangler.toml" > "$base_config"

printf 'JWT_SECRET=%s\nSIGNUP_LIMIT_PER_HOUR=100000\n' "$TEST_JWT_SECRET" > "$out/stall-vars"
read -r before_port before_inspector before_group < <("$here/serve.sh" "$base_config" \
    "$out/before-d1" "$out/stall-vars" "$out/before.log")
"$root/scripts/seed.sh" --config "$base_config" --local --persist-to "$out/before-d1" --sample > /dev/null
before_url="http://127.0.0.1:$before_port"
after_url=$BASE_URL
port=${BASE_URL##*:}
after_group=$(ps -eo pgid=,args= | awk -v arg="--port $port " 'index($0, arg) { print $1; exit }')
[ -n "$after_group" ] || { echo "bench: no wrangler dev process for port $port" >&2; exit 1; }

nice_client=()
if [ -n "${BENCH_STALL_NICE:-}" ]; then
    renice -n "$BENCH_STALL_NICE" -g "$before_group" "$after_group" > /dev/null
    nice_client=(nice -n "$BENCH_STALL_NICE")
fi
echo "${BENCH_STALL_NICE:-0}" > "$out/stall-nice.txt"

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
export BENCH_PASSWORD="stall-$(random_hex 8)"
email() { echo "stall-$1-$(random_hex 4)@example.com"; }
signup() { # base_url email
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "{\"email\":\"$2\",\"password\":\"$BENCH_PASSWORD\"}" "$1/api/v1/auth/signup")
    [ "$status" = 201 ] || { echo "bench: signup at $1 answered $status" >&2; exit 1; }
}
after_a=$(email a) after_b=$(email b) before_a=$(email a) before_b=$(email b)
signup "$after_url" "$after_a"
signup "$after_url" "$after_b"
signup "$before_url" "$before_a"
signup "$before_url" "$before_b"
echo "${base:0:7}" > "$out/stall-base.txt"

echo "bench: CPU per login, this build and ${base:0:7} taking turns" >&2
node "$here/cpu-profile.mjs" "$INSPECTOR_PORT" "$out/profile-stall-after.cpuprofile" -- \
    node "$here/cpu-profile.mjs" "$before_inspector" "$out/profile-stall-before.cpuprofile" -- \
    python3 "$here/login_cpu.py" "$runs" after "$after_url" "$after_group" "$after_a" \
    before "$before_url" "$before_group" "$before_a" > "$out/stall-login-cpu.txt"

echo "bench: GET /api/v1/recipes/1 idle, then while two clients log in ($idle_seconds + $loaded_seconds s each)" >&2
for side in after before; do
    url_var=${side}_url a_var=${side}_a b_var=${side}_b
    "${nice_client[@]}" node "$here/stall.mjs" "${!url_var}" /api/v1/recipes/1 "${!a_var}" "${!b_var}" \
        "$idle_seconds" "$loaded_seconds" > "$out/stall-$side.json"
done

if [ -z "${BENCH_OUT:-}" ]; then
    python3 "$here/stall_report.py" "$out"
fi
