#!/usr/bin/env bash
# Tests scripts/deploy.sh with no account and no network: each case runs it in a temporary
# copy of the repository (wrangler.toml, the script, a git history of its own; no
# node_modules, and a set-up that does nothing) with a fake `wrangler` first on PATH that
# records its arguments. So no real wrangler can be reached, and each case checks both the
# answer and which wrangler commands ran.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-deploy-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE FORCE

# The fake: appends each call's arguments to $FAKE_CALLS. `secret list` answers with the
# names in $FAKE_SECRETS as wrangler's JSON does, or fails like an unauthenticated wrangler
# when FAKE_SECRETS=fail. FAKE_FAIL=migrations makes `d1 migrations apply` fail.
mkdir -p "$work/bin"
cat > "$work/bin/wrangler" <<'FAKE'
#!/usr/bin/env bash
echo "$*" >> "$FAKE_CALLS"
case "$1 $2" in
    "secret list")
        if [ "$FAKE_SECRETS" = fail ]; then
            echo "✘ [ERROR] You must be logged in to use wrangler secret list." >&2
            exit 1
        fi
        echo "["
        for name in $FAKE_SECRETS; do echo "  { \"name\": \"$name\", \"type\": \"secret_text\" },"; done
        echo "]" ;;
    "d1 migrations")
        [ "${FAKE_FAIL:-}" != migrations ] || { echo "✘ [ERROR] migration failed" >&2; exit 1; } ;;
esac
FAKE
chmod +x "$work/bin/wrangler"

failures=0
pass() { echo "ok    deploy: $1"; }
fail() { echo "FAILED deploy: $1" >&2; failures=$((failures + 1)); }

# A fresh copy for each case. $1: the database ids, "placeholder" (as the repository ships
# them) or "real" (ids that name databases).
new_repo() {
    repo="$work/repo.$((++repos))"
    mkdir -p "$repo/scripts"
    cp "$ROOT/scripts/deploy.sh" "$repo/scripts/"
    printf '#!/bin/sh\necho setup >> "$FAKE_CALLS"\n' > "$repo/scripts/setup.sh"
    chmod +x "$repo/scripts/setup.sh"
    if [ "$1" = real ]; then
        sed -E 's/^database_id = "00000000-0000-0000-0000-00000000000([12])"/database_id = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f500\1"/' \
            "$ROOT/wrangler.toml" > "$repo/wrangler.toml"
    else
        cp "$ROOT/wrangler.toml" "$repo/wrangler.toml"
    fi
    git -C "$repo" init -q
    git -C "$repo" add -A
    git -C "$repo" -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -qm "the release"
}
repos=0

# Runs the script in the current copy; sets $status, $output (stdout and stderr) and $calls
# (the fake's log, one call a line).
deploy() {
    export FAKE_CALLS="$repo.calls"  # beside the copy: inside it, it would be an untracked file
    : > "$FAKE_CALLS"
    status=0
    output=$(env PATH="$work/bin:$PATH" "$@" 2>&1) || status=$?
    calls=$(cat "$FAKE_CALLS")
}

# expect_refusal NAME PATTERN EXPECTED_CALLS: a nonzero exit, a message matching PATTERN and
# exactly the calls given (none remote beyond `secret list` where that is what failed).
expect_refusal() {
    if [ "$status" = 0 ]; then
        fail "$1: exited 0; expected a refusal. Output:"$'\n'"$output"
    elif ! grep -Eq -- "$2" <<< "$output"; then
        fail "$1: exit $status, but the message does not match /$2/. Output:"$'\n'"$output"
    elif [ "$calls" != "$3" ]; then
        fail "$1: expected these calls:"$'\n'"${3:-(none)}"$'\n'"got:"$'\n'"${calls:-(none)}"
    else
        pass "$1"
    fi
}

new_repo placeholder
deploy "$repo/scripts/deploy.sh"
expect_refusal "no environment given" "say which environment: make deploy ENV=staging" ""
deploy "$repo/scripts/deploy.sh" dev
expect_refusal "an environment other than staging or production" "unknown environment 'dev': ENV must be staging or production" ""
deploy "$repo/scripts/deploy.sh" staging
expect_refusal "staging's database_id still the placeholder" \
    "the staging database_id in wrangler.toml is still the placeholder 00000000-0000-0000-0000-000000000001.*wrangler d1 create recipe-api-staging" ""
deploy env FAKE_SECRETS=JWT_SECRET "$repo/scripts/deploy.sh" production
expect_refusal "production's database_id still the placeholder" \
    "the production database_id in wrangler.toml is still the placeholder" ""

new_repo real
echo "# an edit not yet committed" >> "$repo/wrangler.toml"
deploy env FAKE_SECRETS=JWT_SECRET "$repo/scripts/deploy.sh" staging
expect_refusal "uncommitted changes" "the working tree has uncommitted changes.*FORCE=1" ""
touch "$repo/untracked.rs"
git -C "$repo" checkout -q wrangler.toml
deploy env FAKE_SECRETS=JWT_SECRET "$repo/scripts/deploy.sh" staging
expect_refusal "an untracked file" "the working tree has uncommitted changes" ""

new_repo real
deploy env FAKE_SECRETS=fail "$repo/scripts/deploy.sh" staging
expect_refusal "secret list fails (no account)" "could not list the staging secrets.*wrangler login" \
    "setup"$'\n'"secret list --env staging"
deploy env FAKE_SECRETS="EMAIL_API_KEY JWT_SECRET_OLD" "$repo/scripts/deploy.sh" production
expect_refusal "JWT_SECRET not set" \
    "JWT_SECRET is not set for production: openssl rand -hex 32 \| npx wrangler secret put JWT_SECRET --env production" \
    "setup"$'\n'"secret list --env production"
deploy env FAKE_SECRETS="JWT_SECRET" FAKE_FAIL=migrations "$repo/scripts/deploy.sh" staging
expect_refusal "failed migrations stop the deploy" "migration failed" \
    "setup"$'\n'"secret list --env staging"$'\n'"d1 migrations apply DB --remote --env staging"

# Success: the secrets checked, then the migrations, then the deploy, named by its commit.
head=$(git -C "$repo" rev-parse --short=12 HEAD)
for env in staging production; do
    deploy env FAKE_SECRETS="EMAIL_API_KEY JWT_SECRET" "$repo/scripts/deploy.sh" "$env"
    expected="setup"$'\n'"secret list --env $env"$'\n'"d1 migrations apply DB --remote --env $env"$'\n'"deploy --env $env --message git $head"
    if [ "$status" = 0 ] && [ "$calls" = "$expected" ]; then
        pass "$env: migrations apply, then deploy"
    else
        fail "$env: exit $status; expected the calls"$'\n'"$expected"$'\n'"got"$'\n'"$calls"$'\n'"Output:"$'\n'"$output"
    fi
done

echo "# an edit not yet committed" >> "$repo/wrangler.toml"
deploy env FORCE=1 FAKE_SECRETS=JWT_SECRET "$repo/scripts/deploy.sh" staging
if [ "$status" = 0 ] && [ "$(tail -n 1 <<< "$calls")" = "deploy --env staging --message git $head + uncommitted changes" ]; then
    pass "FORCE=1 deploys uncommitted changes, and says so"
else
    fail "FORCE=1: exit $status; calls:"$'\n'"$calls"$'\n'"Output:"$'\n'"$output"
fi

# A sign-in provider turned on for production: its client id set in [env.production.vars].
new_repo real
set_production_var() { # name value
    awk -v name="$1" -v value="$2" '
        /^[[:space:]]*\[/ { inside = ($1 == "[env.production.vars]") }
        inside && $1 == name && $2 == "=" { print name " = \"" value "\""; next } { print }' \
        "$repo/wrangler.toml" > "$repo/wrangler.toml.new"
    mv "$repo/wrangler.toml.new" "$repo/wrangler.toml"
    git -C "$repo" -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -qam "$1"
}
set_production_var GOOGLE_CLIENT_ID 1234-abc.apps.googleusercontent.com
deploy env FAKE_SECRETS="JWT_SECRET GITHUB_CLIENT_SECRET" "$repo/scripts/deploy.sh" production
expect_refusal "a sign-in provider's client id without its secret" \
    "GOOGLE_CLIENT_ID is set for production but GOOGLE_CLIENT_SECRET is not:.*wrangler secret put GOOGLE_CLIENT_SECRET --env production" \
    "setup"$'\n'"secret list --env production"
deploy env FAKE_SECRETS="JWT_SECRET" "$repo/scripts/deploy.sh" staging
[ "$status" = 0 ] && pass "another environment's provider settings are not this one's" \
    || fail "staging refused for production's provider: exit $status. Output:"$'\n'"$output"
set_production_var OIDC_CLIENT_ID recipe-api
deploy env FAKE_SECRETS="JWT_SECRET GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" "$repo/scripts/deploy.sh" production
expect_refusal "an OpenID client id without its issuer" \
    "OIDC_CLIENT_ID is set for production but OIDC_ISSUER is not" ""
set_production_var OIDC_ISSUER https://login.example.com
deploy env FAKE_SECRETS="JWT_SECRET GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" "$repo/scripts/deploy.sh" production
[ "$status" = 0 ] && pass "providers with their secrets and issuer deploy" \
    || fail "providers with their secrets: exit $status. Output:"$'\n'"$output"

[ "$failures" = 0 ] || { echo "deploy script: $failures failed" >&2; exit 1; }
