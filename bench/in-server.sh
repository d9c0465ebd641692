#!/usr/bin/env bash
# The part of the benchmark that needs the served worker; run by scripts/bench.sh through
# scripts/with-server.sh (which sets BASE_URL, D1_PERSIST_DIR, INSPECTOR_PORT, SERVED_CONFIG
# and TEST_JWT_SECRET). Writes raw figures into $BENCH_OUT for bench/report.py.
#
# PBKDF2 inside workerd is measured through logins (see bench/login_pairs.py). Every load run
# has two CPU figures: the worker's own, from a V8 CPU profile of its isolate taken through
# wrangler dev's inspector while the load runs (bench/cpu-profile.mjs, bench/worker_cpu.py),
# and the whole server's (its workerd processes, read from /proc). Two more servers run
# beside the one with-server.sh started, the same way: the JavaScript peer (bench/peer/) and
# this worker with PASSWORD_ITERATIONS=100000, each with a local D1 of its own; and one more
# for the login pairs, first.
set -euo pipefail
: "${BASE_URL:?} ${D1_PERSIST_DIR:?} ${BENCH_OUT:?} ${BENCH_ITERATIONS:?} ${BENCH_NATIVE_BIN:?}"
: "${INSPECTOR_PORT:?} ${SERVED_CONFIG:?} ${TEST_JWT_SECRET:?}"
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
# Runs a command while the worker behind an inspector port is profiled (bench/cpu-profile.mjs).
profile() { # name inspector_port command...
    local name=$1 inspector=$2
    shift 2
    node "$here/cpu-profile.mjs" "$inspector" "$BENCH_OUT/profile-$name.cpuprofile" -- "$@"
}

# The two other servers, and one for the login pairs. Stopped by their process groups when
# this script ends.
extra_groups=()
stop_extras() { for group in "${extra_groups[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done; }
trap stop_extras EXIT
# The extra servers check new passwords with the suite's breached-password stand-in, as the
# first one does: nothing leaves the machine.
printf 'JWT_SECRET=%s\nSIGNUP_LIMIT_PER_HOUR=100000\nPWNED_PASSWORDS_URL=%s\n' \
    "$TEST_JWT_SECRET" "$PWNED_PASSWORDS_URL" > "$BENCH_OUT/vars"

# Every login runs as many iterations as the strongest stored hash of its database (src/api/
# auth.rs), so the login with 2N runs on a server of its own whose only user has a hash of
# 2N, and the one with N here, where every hash has N.
signup "$email_n"
read -r double_port double_inspector double_group < <("$here/serve.sh" "$SERVED_CONFIG" \
    "$BENCH_OUT/double-d1" "$BENCH_OUT/vars" "$BENCH_OUT/double.log")
extra_groups+=("$double_group")
double_url="http://127.0.0.1:$double_port"
BASE_URL=$double_url signup "$email_2n"
phc=$(printf '%s' "$password" | "$BENCH_NATIVE_BIN" phc $((2 * BENCH_ITERATIONS)))
wrangler d1 execute DB --local --persist-to "$BENCH_OUT/double-d1" --yes \
    --command "UPDATE users SET hashed_password = '$phc' WHERE email = '$email_2n'" > "$BENCH_OUT/d1-update.log"
# Both workers profiled too, so that the profile's busy time for each login can be checked
# against /proc.
BENCH_PASSWORD=$password profile pairs "$INSPECTOR_PORT" \
    node "$here/cpu-profile.mjs" "$double_inspector" "$BENCH_OUT/profile-pairs-2n.cpuprofile" -- \
    python3 "$here/login_pairs.py" "$BASE_URL" "$server_group" "$email_n" \
    "$double_url" "$double_group" "$email_2n" "$runs" > "$BENCH_OUT/login-pairs.txt"
kill -TERM -- "-$double_group" 2>/dev/null || true

read -r peer_port peer_inspector peer_group < <("$here/serve.sh" "$here/peer/wrangler.toml" \
    "$BENCH_OUT/peer-d1" "$BENCH_OUT/vars" "$BENCH_OUT/peer.log")
extra_groups+=("$peer_group")
read -r low_port low_inspector low_group < <("$here/serve.sh" "$SERVED_CONFIG" \
    "$BENCH_OUT/low-d1" "$BENCH_OUT/vars" "$BENCH_OUT/low.log" --var PASSWORD_ITERATIONS:100000)
extra_groups+=("$low_group")
peer_url="http://127.0.0.1:$peer_port"
low_url="http://127.0.0.1:$low_port"

# The peer's D1: the same seed, and the bench user with a hash of 100 000 iterations (the peer
# has no signup). This worker at 100 000: the bench user signs up there, hashed at that count.
"$here/../scripts/seed.sh" --config "$here/peer/wrangler.toml" --local --persist-to "$BENCH_OUT/peer-d1" --sample > /dev/null
phc_low=$(printf '%s' "$password" | "$BENCH_NATIVE_BIN" phc 100000)
wrangler d1 execute DB --config "$here/peer/wrangler.toml" --local --persist-to "$BENCH_OUT/peer-d1" --yes \
    --command "INSERT INTO users (email, hashed_password, is_superuser) VALUES ('$email_n', '$phc_low', 0)" \
    > "$BENCH_OUT/peer-user.log"
BASE_URL=$low_url signup "$email_n"

access_token() { # base_url
    curl -sf -d "$(form "$email_n")" "$1/api/v1/auth/login" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
token=$(access_token "$BASE_URL")
peer_token=$(access_token "$peer_url")
recipe_id=$(curl -s "$BASE_URL/api/v1/recipes/search/?keyword=chicken" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["results"][0]["id"])')

# wrk: from apt in seconds, written in C with one event loop per thread, so on a two-core
# machine it takes little CPU from workerd; its Lua hooks give the POST body and a summary.
# Each run is profiled (the profiler's own cost is in every figure, the peer's alike).
run_wrk() { # name (ours|low|peer) connections url [wrk args]
    local name=$1 server=$2 connections=$3 url=$4
    shift 4
    local inspector group before
    case $server in
        ours) inspector=$INSPECTOR_PORT group=$server_group ;;
        low) inspector=$low_inspector group=$low_group ;;
        peer) inspector=$peer_inspector group=$peer_group ;;
    esac
    before=$(python3 "$here/server_cpu.py" "$group")
    profile "$name" "$inspector" wrk -t1 -c"$connections" -d"${seconds}s" -s "$lua" "$@" "$url" > "$BENCH_OUT/wrk-$name.txt"
    echo "BENCH server_cpu_ms=$(awk -v a="$before" -v b="$(python3 "$here/server_cpu.py" "$group")" 'BEGIN { print b - a }')" >> "$BENCH_OUT/wrk-$name.txt"
}
# Each kind of request for this worker, then at once for the peer, so that drift in the
# machine's load touches both alike.
login() { BENCH_METHOD=POST BENCH_BODY="$(form "$email_n")" BENCH_CONTENT_TYPE=application/x-www-form-urlencoded run_wrk "$@"; }
login login ours 1 "$BASE_URL/api/v1/auth/login"
login login-low low 1 "$low_url/api/v1/auth/login"
login peer-login peer 1 "$peer_url/api/v1/auth/login"
run_wrk recipe ours "$concurrency" "$BASE_URL/api/v1/recipes/$recipe_id"
run_wrk peer-recipe peer "$concurrency" "$peer_url/api/v1/recipes/$recipe_id"
run_wrk search ours "$concurrency" "$BASE_URL/api/v1/recipes/search/?keyword=chicken"
run_wrk peer-search peer "$concurrency" "$peer_url/api/v1/recipes/search/?keyword=chicken"
run_wrk me ours "$concurrency" "$BASE_URL/api/v1/auth/me" -H "Authorization: Bearer $token"
run_wrk peer-me peer "$concurrency" "$peer_url/api/v1/auth/me" -H "Authorization: Bearer $peer_token"
run_wrk notfound ours "$concurrency" "$BASE_URL/api/v1/nothing-here"
run_wrk peer-notfound peer "$concurrency" "$peer_url/api/v1/nothing-here"
run_wrk mine ours "$concurrency" "$BASE_URL/api/v1/recipes/my-recipes" -H "Authorization: Bearer $token"
# Last, as it adds recipes (each run a few thousand; search reads only the first ten).
BENCH_METHOD=POST BENCH_CONTENT_TYPE=application/json \
    BENCH_BODY='{"label": "Bench stew", "source": "bench", "url": "https://example.com/stew"}' \
    run_wrk create ours "$concurrency" "$BASE_URL/api/v1/recipes/" -H "Authorization: Bearer $token"

# What D1 did for one request of each kind, from the worker's own log lines (D1's meta).
python3 "$here/d1_counts.py" > "$BENCH_OUT/d1-counts.json"
