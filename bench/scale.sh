#!/usr/bin/env bash
# Search at scale (part of `make bench`): search latency and rows read per search at seed
# size, then with BENCH_SCALE_ROWS (default 200 000) more recipes, in a local D1 of its own.
# See bench/scale.py. Needs a server: scripts/bench.sh runs it through scripts/with-server.sh
# (a new migrated and seeded D1 in its own --persist-to directory, removed afterwards), and
# so does running it alone, `bench/scale.sh`, which then prints its section of the report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${BASE_URL:-}" ]; then
    RECIPE_API_SERVER=wrangler-dev exec "$here/../scripts/with-server.sh" "$here/scale.sh"
fi
: "${D1_PERSIST_DIR:?}"
database_id=$(awk -F'"' '/^database_id *=/ { print $2; exit }' "$here/../wrangler.toml")
if [ -n "${BENCH_OUT:-}" ]; then
    python3 "$here/scale.py" "$BASE_URL" "$D1_PERSIST_DIR" "$database_id" "$BENCH_OUT/scale.json"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-scale.XXXXXX")
    trap 'rm -rf "$out"' EXIT
    python3 "$here/scale.py" "$BASE_URL" "$D1_PERSIST_DIR" "$database_id" "$out/scale.json"
    python3 "$here/scale_report.py" "$out"
fi
