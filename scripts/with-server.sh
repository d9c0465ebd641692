#!/usr/bin/env bash
# Starts the worker on a free 127.0.0.1 port with its own new local D1 (migrated and seeded,
# as `make dev SAMPLE=1` does) and its own secrets, a mail catcher (scripts/mail-catcher.mjs) on
# another free port as its email API, a Turnstile siteverify stand-in
# (scripts/turnstile-siteverify.mjs) on a third, for the tests' second servers (this server
# keeps Turnstile off), and two identity providers it signs in with: a local OpenID provider
# (scripts/oidc-provider.mjs) and a GitHub stand-in (scripts/github-oauth.mjs), and a
# breached-password range API (scripts/pwned-passwords.mjs) it checks new passwords with;
# runs the given command with BASE_URL, MAIL_CATCHER_URL, TURNSTILE_VERIFY_URL,
# OIDC_ISSUER_URL, GITHUB_STANDIN_URL, PWNED_STANDIN_URL (and friends) set, then stops the
# server by its process group and the helper servers by their PIDs.
#
# The server is workerd through Miniflare, with nothing in front (scripts/serve.mjs): what
# the tests send is what the worker gets, and what they read is the worker's answer. With
# RECIPE_API_SERVER=wrangler-dev it is `wrangler dev` instead, as `make dev` runs it, its
# proxy worker and all (the benchmark measures that).
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
use_project_node

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
state=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-test.XXXXXX")
# free_port NAME: sets $NAME to a port free now and not handed out before in this run (the
# kernel may offer a port it just closed again; two servers given one port would hang).
taken=" "
free_port() {
    local given
    while given=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
          [[ $taken == *" $given "* ]]; do :; done
    taken+="$given "
    printf -v "$1" '%s' "$given"
}
free_port port
free_port inspector
server=""
catcher=""
siteverify=""
openid=""
github=""
pwned=""

stop() {
    local pid
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM -- "-$server" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$server" 2>/dev/null || true
    fi
    for pid in $catcher $siteverify $openid $github $pwned; do
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$state"
    rm -f "${config:-}" "${suite_config:-}"
}
trap stop EXIT
trap 'exit 130' INT TERM

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
export TEST_JWT_SECRET=$(random_hex 32)
# Exported so tests can start a second server with the same key, or without it.
export TEST_MFA_ENCRYPTION_KEY=$(random_hex 32)
# The local superuser (tests/helpers.mjs SUPERUSER), at an address nobody receives mail at.
export FIRST_SUPERUSER=admin@recipe-api.localhost FIRST_SUPERUSER_PASSWORD=$(random_hex 12)
# The suite signs up hundreds of users from one address; the signup limit itself is tested
# on a second server (tests/throttle.test.mjs).
printf 'JWT_SECRET=%s\nMFA_ENCRYPTION_KEY=%s\nSIGNUP_LIMIT_PER_HOUR=100000\n' \
    "$TEST_JWT_SECRET" "$TEST_MFA_ENCRYPTION_KEY" > "$state/test.vars"

# Waits up to 5 s for a local helper server to answer `url`; exits with its log if it does not.
wait_until_up() { # url pid log name
    for _ in $(seq 50); do
        curl -s -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    curl -s -o /dev/null "$1" || { echo "$4 did not start:" >&2; cat "$3" >&2; exit 1; }
}

# The worker's email API: a mail catcher with a key of its own (passed in the environment, not
# on its command line). Tests read what it received from MAIL_CATCHER_URL/api/messages.
free_port mail_port
export MAIL_CATCHER_URL="http://127.0.0.1:$mail_port" MAIL_CATCHER_API_KEY=$(random_hex 24)
node "$ROOT/scripts/mail-catcher.mjs" --port "$mail_port" > "$state/mail.log" 2>&1 &
catcher=$!
printf 'EMAIL_API_URL=%s/emails\nEMAIL_API_KEY=%s\n' "$MAIL_CATCHER_URL" "$MAIL_CATCHER_API_KEY" >> "$state/test.vars"
wait_until_up "$MAIL_CATCHER_URL/api/messages" "$catcher" "$state/mail.log" "the mail catcher"

# Turnstile's siteverify, stood in for locally. This server has no TURNSTILE_SECRET_KEY, so
# Turnstile is off here and the other tests run as without it; tests/turnstile.test.mjs starts
# second servers with a test secret and TURNSTILE_VERIFY_URL, and reads what the stand-in was
# asked from TURNSTILE_STANDIN_URL/api/requests.
free_port siteverify_port
export TURNSTILE_STANDIN_URL="http://127.0.0.1:$siteverify_port"
export TURNSTILE_VERIFY_URL="$TURNSTILE_STANDIN_URL/turnstile/v0/siteverify"
node "$ROOT/scripts/turnstile-siteverify.mjs" --port "$siteverify_port" > "$state/siteverify.log" 2>&1 &
siteverify=$!
wait_until_up "$TURNSTILE_STANDIN_URL/api/requests" "$siteverify" "$state/siteverify.log" \
    "the siteverify stand-in"

# The identity providers. The server's port is known already, so its callback URL is too: the
# OpenID provider registers it as the client's one redirect URI. The client secrets go to the
# providers in their environment (not on their command lines) and to the server in its vars.
# Tests drive sign-ins through OIDC_ISSUER_URL and GITHUB_STANDIN_URL, read what the GitHub
# stand-in was asked from GITHUB_STANDIN_URL/api/requests, and get the clients' ids and
# secrets (OIDC_STANDIN_CLIENT_ID … GITHUB_STANDIN_CLIENT_SECRET) for second servers.
free_port openid_port
export OIDC_ISSUER_URL="http://127.0.0.1:$openid_port"
export OIDC_STANDIN_CLIENT_ID="recipe-api-test-$(random_hex 4)" OIDC_STANDIN_CLIENT_SECRET=$(random_hex 24)
OIDC_CLIENT_SECRET="$OIDC_STANDIN_CLIENT_SECRET" node "$ROOT/scripts/oidc-provider.mjs" --port "$openid_port" \
    --client-id "$OIDC_STANDIN_CLIENT_ID" --redirect-uri "http://127.0.0.1:$port/api/v1/auth/oauth/oidc/callback" \
    > "$state/openid.log" 2>&1 &
openid=$!
free_port github_port
export GITHUB_STANDIN_URL="http://127.0.0.1:$github_port"
export GITHUB_STANDIN_CLIENT_ID="Iv1.$(random_hex 8)" GITHUB_STANDIN_CLIENT_SECRET=$(random_hex 20)
GITHUB_CLIENT_SECRET="$GITHUB_STANDIN_CLIENT_SECRET" node "$ROOT/scripts/github-oauth.mjs" --port "$github_port" \
    --client-id "$GITHUB_STANDIN_CLIENT_ID" > "$state/github.log" 2>&1 &
github=$!
printf 'OIDC_ISSUER=%s\nOIDC_CLIENT_ID=%s\nOIDC_CLIENT_SECRET=%s\nOIDC_NAME=%s\n' \
    "$OIDC_ISSUER_URL" "$OIDC_STANDIN_CLIENT_ID" "$OIDC_STANDIN_CLIENT_SECRET" "Local OpenID provider" >> "$state/test.vars"
printf 'GITHUB_CLIENT_ID=%s\nGITHUB_CLIENT_SECRET=%s\nGITHUB_URL=%s\nGITHUB_API_URL=%s\n' \
    "$GITHUB_STANDIN_CLIENT_ID" "$GITHUB_STANDIN_CLIENT_SECRET" "$GITHUB_STANDIN_URL" "$GITHUB_STANDIN_URL" >> "$state/test.vars"
wait_until_up "$OIDC_ISSUER_URL/.well-known/openid-configuration" "$openid" "$state/openid.log" "the OpenID provider"
wait_until_up "$GITHUB_STANDIN_URL/api/requests" "$github" "$state/github.log" "the GitHub stand-in"

# The breached-password range API: every signup, password change and reset asks it. Tests
# read what it was asked from PWNED_STANDIN_URL/api/requests, and second servers (startServer
# in tests/helpers.mjs) get PWNED_PASSWORDS_URL too unless a test gives another.
free_port pwned_port
export PWNED_STANDIN_URL="http://127.0.0.1:$pwned_port"
export PWNED_PASSWORDS_URL="$PWNED_STANDIN_URL/range/"
node "$ROOT/scripts/pwned-passwords.mjs" --port "$pwned_port" > "$state/pwned.log" 2>&1 &
pwned=$!
printf 'PWNED_PASSWORDS_URL=%s\n' "$PWNED_PASSWORDS_URL" >> "$state/test.vars"
wait_until_up "$PWNED_STANDIN_URL/api/requests" "$pwned" "$state/pwned.log" "the Pwned Passwords stand-in"

wrangler d1 migrations apply DB --local --persist-to "$state/d1" > "$state/migrations.log" 2>&1 \
    || { cat "$state/migrations.log"; exit 1; }
# With the sample recipes, which tests/pages.test.mjs reads as the original's seed data.
"$ROOT/scripts/seed.sh" --local --persist-to "$state/d1" --sample

# Build once here, where a first build (std for wasm, about a minute) has no time limit, then
# serve that build with a copy of wrangler.toml minus its [build] command: wrangler dev would
# otherwise build twice more at start and again whenever a source file changes mid-run.
# RECIPE_API_BUILT=1: the caller has just built (scripts/test.sh, once for all its servers,
# so no build rewrites build/ under a server of another shard).
if [ "${RECIPE_API_BUILT:-}" != 1 ]; then
    "$ROOT/scripts/build.sh" > "$state/build.log" 2>&1 || { cat "$state/build.log" >&2; exit 1; }
fi
config="$ROOT/.wrangler-served.$$.toml"
awk '/^\[build\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' wrangler.toml > "$config"
# The suite's own server sends thousands of auth requests from one address (127.0.0.1), and
# many writes as one user, so it and the second servers tests start on the same build get
# limits of their own, every [[ratelimits]] binding raised (the edge and the write limiter),
# in their copy of the configuration; the limits as deployed (in $config) are tested on second
# servers started from that (tests/limits.test.mjs).
suite_config="$ROOT/.wrangler-served.suite.$$.toml"
awk '/^\[\[ratelimits\]\]/ { top = 1 } /^\[/ && !/^\[\[ratelimits\]\]/ { top = 0 }
     top && /^simple = / { print "simple = { limit = 1000000, period = 60 }"; next } { print }' \
    "$config" > "$suite_config"
bindings=$(grep -c '^\[\[ratelimits\]\]' "$config" || true)
raised=$(grep -c '^simple = { limit = 1000000, period = 60 }' "$suite_config" || true)
[ "$bindings" -ge 2 ] && [ "$raised" = "$bindings" ] ||
    { echo "with-server: raised $raised of $bindings [[ratelimits]] bindings (expected the edge and the write limiter)" >&2; exit 1; }

# A process group of its own, so stopping it stops workerd too.
kind=${RECIPE_API_SERVER:-miniflare}
case $kind in
    miniflare)
        setsid node "$ROOT/scripts/serve.mjs" --config "$suite_config" --ip 127.0.0.1 --port "$port" \
            --inspector-port "$inspector" --persist-to "$state/d1" --env-file "$state/test.vars" \
            > "$state/server.log" 2>&1 < /dev/null &
        ;;
    wrangler-dev)
        setsid wrangler dev --config "$suite_config" --local --ip 127.0.0.1 --port "$port" \
            --inspector-port "$inspector" --persist-to "$state/d1" --env-file "$state/test.vars" \
            --show-interactive-dev-session=false > "$state/server.log" 2>&1 < /dev/null &
        ;;
    *) echo "RECIPE_API_SERVER=$kind: expected miniflare or wrangler-dev" >&2; exit 2 ;;
esac
server=$!

# SERVED_CONFIG lets a test start a second server on the same build (e.g. without a secret).
# WORKER_LOG: the server's output, where the worker's log lines appear.
export BASE_URL="http://127.0.0.1:$port" D1_PERSIST_DIR="$state/d1" SERVED_CONFIG="$suite_config"
# DEPLOYED_CONFIG: the same, with the edge and write limits as wrangler.toml deploys them.
export DEPLOYED_CONFIG="$config"
export WORKER_LOG="$state/server.log"
# INSPECTOR_PORT: the worker's inspector (DevTools protocol; workerd's own, or wrangler dev's
# proxy of it), for profiling the worker.
export INSPECTOR_PORT="$inspector"
for _ in $(seq 240); do
    if curl -s -o /dev/null "$BASE_URL/"; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "the server ($kind) exited:" >&2; cat "$state/server.log" >&2; exit 1
    fi
    sleep 0.5
done
curl -s -o /dev/null "$BASE_URL/" || { echo "the server ($kind) did not start:" >&2; cat "$state/server.log" >&2; exit 1; }

status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
    echo "--- server log ($kind, tail)" >&2; tail -n 40 "$state/server.log" >&2
    echo "--- the runtime's reloads and errors" >&2
    grep -aiE "reload|restart|crash|segfault|uncaught|workerd/|ProxyWorker" "$state/server.log" | head -n 20 >&2 || true
    echo "--- the worker's 5xx answers, with their causes" >&2
    grep -aE '"status":5[0-9][0-9]' "$state/server.log" | head -n 20 >&2 || true
    echo "--- mail catcher log (tail)" >&2; tail -n 10 "$state/mail.log" >&2
    echo "--- siteverify stand-in log (tail)" >&2; tail -n 10 "$state/siteverify.log" >&2
    echo "--- OpenID provider log (tail)" >&2; tail -n 10 "$state/openid.log" >&2
    echo "--- GitHub stand-in log (tail)" >&2; tail -n 10 "$state/github.log" >&2
    echo "--- Pwned Passwords stand-in log (tail)" >&2; tail -n 10 "$state/pwned.log" >&2
fi
exit "$status"
