#!/usr/bin/env bash
# A passkey login's CPU beside a password login's (part of `make bench`; alone:
# `scripts/bench.sh passkey`, about a minute). On a `wrangler dev` of its own (bench/serve.sh,
# a new local D1, the configured PASSWORD_ITERATIONS): a user with a password and an ES256
# passkey, registered and answered by a software authenticator in Node
# (tests/software-authenticator.mjs, node:crypto); then a password login and a passkey login
# taking turns, BENCH_RUNS times (bench/passkey_logins.mjs). For each login: all of the
# server's workerd CPU from /proc, and the worker's own code from a V8 profile of its isolate
# (bench/cpu-profile.mjs, read by bench/worker_cpu.py). Printed by bench/passkey_report.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ -z "${BASE_URL:-}" ]; then
    exec "$root/scripts/with-server.sh" "$here/passkey.sh"
fi
: "${SERVED_CONFIG:?} ${TEST_JWT_SECRET:?} ${PWNED_PASSWORDS_URL:?}"
runs=${BENCH_RUNS:-7}
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
if [ -n "${BENCH_OUT:-}" ]; then
    out=$BENCH_OUT
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-passkey.XXXXXX")
fi
group=""
finish() {
    [ -z "$group" ] || kill -TERM -- "-$group" 2>/dev/null || true
    [ -n "${BENCH_OUT:-}" ] || rm -rf "$out"
}
trap finish EXIT
printf 'JWT_SECRET=%s\nSIGNUP_LIMIT_PER_HOUR=100000\nPWNED_PASSWORDS_URL=%s\n' \
    "$TEST_JWT_SECRET" "$PWNED_PASSWORDS_URL" > "$out/passkey-vars"
read -r port inspector group < <("$here/serve.sh" "$SERVED_CONFIG" "$out/passkey-d1" \
    "$out/passkey-vars" "$out/passkey-server.log")
node "$here/cpu-profile.mjs" "$inspector" "$out/profile-passkey.cpuprofile" -- \
    node "$here/passkey_logins.mjs" "http://127.0.0.1:$port" "$group" "$runs" > "$out/passkey-logins.txt"
if [ -z "${BENCH_OUT:-}" ]; then
    python3 "$here/passkey_report.py" "$out"
fi
