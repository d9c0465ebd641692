#!/usr/bin/env bash
# The benchmark (`make bench`): PBKDF2 in wasm vs native Rust vs OpenSSL; the worker's own CPU
# per request (a V8 profile of its isolate) and its throughput under wrangler dev with a local
# D1, beside a JavaScript peer (bench/peer/) doing the same; both bundles' size and start-up;
# D1 statements per request; search at scale; and GET latency while logins hash, beside the
# revision before hashing yielded (bench/stall.sh). Prints one table; asserts nothing.
#
#   scripts/bench.sh          all of it
#   scripts/bench.sh stall    only the last section (about two minutes; see bench/stall.sh)
#   scripts/bench.sh passkey  only the passkey login beside a password login (bench/passkey.sh)
#
# Knobs: BENCH_RUNS (PBKDF2 runs and login pairs, default 7), BENCH_SECONDS (per load run,
# default 10), BENCH_CONCURRENCY (for the GETs, default 8); bench/stall.sh has its own.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" > /dev/null
use_project_node

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
case "${1:-}" in
    "") ;;
    stall) exec "$ROOT/bench/stall.sh" ;;
    passkey) exec "$ROOT/bench/passkey.sh" ;;
    *) echo "usage: scripts/bench.sh [stall|passkey]" >&2; exit 2 ;;
esac
export BENCH_RUNS=${BENCH_RUNS:-7}
export BENCH_ITERATIONS
BENCH_ITERATIONS=$(awk -F'"' '/^PASSWORD_ITERATIONS *=/ { print $2; exit }' wrangler.toml)
: "${BENCH_ITERATIONS:?PASSWORD_ITERATIONS not found in wrangler.toml [vars]}"

# wrk, the load generator (why wrk: see bench/in-server.sh), installed on first use.
if ! command -v wrk > /dev/null; then
    echo "bench: apt-get install wrk" >&2
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null
fi

export BENCH_OUT
BENCH_OUT=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-bench.XXXXXX")
trap 'rm -rf "$BENCH_OUT"' EXIT

echo "bench: PBKDF2 natively: the worker's Rust code (SHA-NI, then portable SHA-256), then OpenSSL" >&2
cargo build --release --locked --quiet --example pbkdf2
export BENCH_NATIVE_BIN="$ROOT/target/release/examples/pbkdf2"
"$BENCH_NATIVE_BIN" time "$BENCH_ITERATIONS" "$BENCH_RUNS" > "$BENCH_OUT/native.txt"
# The same code with sha2's portable compression function, the one wasm runs: the gap to
# this row is wasm's own cost. A target dir of its own, so the feature does not rebuild the
# default one.
cargo build --release --locked --quiet --example pbkdf2 --features portable-sha256 \
    --target-dir "$ROOT/target/portable-sha256"
"$ROOT/target/portable-sha256/release/examples/pbkdf2" time "$BENCH_ITERATIONS" "$BENCH_RUNS" \
    > "$BENCH_OUT/native-portable.txt"
python3 bench/openssl_pbkdf2.py "$BENCH_ITERATIONS" "$BENCH_RUNS" > "$BENCH_OUT/openssl.txt"

echo "bench: the deployable bundle (wrangler deploy --dry-run) and its start-up profile" >&2
wrangler deploy --dry-run --outdir "$BENCH_OUT/bundle" --outfile "$BENCH_OUT/worker.bundle" \
    > "$BENCH_OUT/deploy.log" 2>&1 || { cat "$BENCH_OUT/deploy.log" >&2; exit 1; }
wrangler check startup --workerBundle "$BENCH_OUT/worker.bundle" \
    --outfile "$BENCH_OUT/startup.cpuprofile" > "$BENCH_OUT/startup.log" 2>&1 ||
    { cat "$BENCH_OUT/startup.log" >&2; exit 1; }

echo "bench: the JavaScript peer's bundle and start-up, the same way" >&2
wrangler deploy --dry-run --config bench/peer/wrangler.toml --outdir "$BENCH_OUT/peer-bundle" \
    --outfile "$BENCH_OUT/peer.bundle" > "$BENCH_OUT/peer-deploy.log" 2>&1 ||
    { cat "$BENCH_OUT/peer-deploy.log" >&2; exit 1; }
wrangler check startup --workerBundle "$BENCH_OUT/peer.bundle" \
    --outfile "$BENCH_OUT/peer-startup.cpuprofile" > "$BENCH_OUT/peer-startup.log" 2>&1 ||
    { cat "$BENCH_OUT/peer-startup.log" >&2; exit 1; }

# Under `wrangler dev`, as `make dev` serves, the JavaScript peer alike (wrangler bundles it).
export RECIPE_API_SERVER=wrangler-dev
echo "bench: HTTP against wrangler dev, this worker and the peer (about four minutes)" >&2
"$ROOT/scripts/with-server.sh" bench/in-server.sh

echo "bench: search at scale, in a new local D1 of its own (about two minutes)" >&2
"$ROOT/scripts/with-server.sh" bench/scale.sh

echo "bench: a passkey login beside a password login, on a server of its own (about a minute)" >&2
"$ROOT/scripts/with-server.sh" bench/passkey.sh

echo "bench: GET latency while logins hash, beside the revision before (about two minutes)" >&2
"$ROOT/scripts/with-server.sh" bench/stall.sh

python3 bench/report.py "$BENCH_OUT"
