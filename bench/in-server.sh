#!/usr/bin/env bash
# The part of the benchmark that needs the served worker; run by scripts/bench.sh through
# scripts/with-server.sh (which sets BASE_URL, D1_PERSIST_DIR and WORKER_LOG). Writes raw
# figures into $BENCH_OUT for bench/report.py.
#
# PBKDF2 inside workerd is measured through logins (see bench/login_pairs.py). Every figure
# also has the server's CPU time: its workerd processes, read from /proc.
set -euo pipefail
: "${BASE_URL:?} ${D1_PERSIST_DIR:?} ${BENCH_OUT:?} ${BENCH_ITERATIONS:?} ${BENCH_NATIVE_BIN:?}"
runs=${BENCH_RUNS:-7}
seconds=${BENCH_SECONDS:-10}
concurrency=${BENCH_CONCURRENCY:-8}
here=$(cd "$(dirname "$0")" && pwd)
lua="$here/wrk.lua"

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
password="bench-$(random_hex 8)"
email_n="bench-n-$(random_hex 4)@example.com"
email_2n="bench-2n-$(random_hex 4)@example.com"

signup() {
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$password\"}" "$BASE_URL/api/v1/auth/signup")
    [ "$status" = 201 ] || { echo "bench: signup of $1 answered $status" >&2; exit 1; }
}
form() { printf 'username=%s&password=%s' "${1/@/%40}" "$password"; }
# The `wrangler dev` that scripts/with-server.sh started: the process group whose command
# line names our port.
port=${BASE_URL##*:}
server_group=$(ps -eo pgid=,args= | awk -v arg="--port $port " 'index($0, arg) { print $1; exit }')
[ -n "$server_group" ] || { echo "bench: no wrangler dev process for port $port" >&2; exit 1; }
server_cpu() { python3 "$here/server_cpu.py" "$server_group"; }

signup "$email_n"
signup "$email_2n"
phc=$(printf '%s' "$password" | "$BENCH_NATIVE_BIN" phc $((2 * BENCH_ITERATIONS)))
npx wrangler d1 execute DB --local --persist-to "$D1_PERSIST_DIR" --yes \
    --command "UPDATE users SET hashed_password = '$phc' WHERE email = '$email_2n'" > "$BENCH_OUT/d1-update.log"
BENCH_PASSWORD=$password python3 "$here/login_pairs.py" "$BASE_URL" "$server_group" \
    "$email_n" "$email_2n" "$runs" > "$BENCH_OUT/login-pairs.txt"

token=$(curl -s -d "$(form "$email_n")" "$BASE_URL/api/v1/auth/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
recipe_id=$(curl -s "$BASE_URL/api/v1/recipes/search/?keyword=chicken" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["results"][0]["id"])')

# wrk: from apt in seconds, written in C with one event loop per thread, so on a two-core
# machine it takes little CPU from workerd; its Lua hooks give the POST body and a summary.
run_wrk() { # name connections url [wrk args]
    local name=$1 connections=$2 url=$3
    shift 3
    local before
    before=$(server_cpu)
    wrk -t1 -c"$connections" -d"${seconds}s" -s "$lua" "$@" "$url" > "$BENCH_OUT/wrk-$name.txt"
    echo "BENCH server_cpu_ms=$(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { print b - a }')" >> "$BENCH_OUT/wrk-$name.txt"
}
BENCH_METHOD=POST BENCH_BODY="$(form "$email_n")" BENCH_CONTENT_TYPE=application/x-www-form-urlencoded \
    run_wrk login 1 "$BASE_URL/api/v1/auth/login"
run_wrk recipe "$concurrency" "$BASE_URL/api/v1/recipes/$recipe_id"
run_wrk me "$concurrency" "$BASE_URL/api/v1/auth/me" -H "Authorization: Bearer $token"
run_wrk search "$concurrency" "$BASE_URL/api/v1/recipes/search/?keyword=chicken"

# What D1 did for one request of each kind, from the worker's own log lines (D1's meta).
python3 "$here/d1_counts.py" > "$BENCH_OUT/d1-counts.json"
