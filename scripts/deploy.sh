#!/usr/bin/env bash
# Deploys one environment: applies its D1 migrations, then deploys the Worker.
#
#   scripts/deploy.sh staging|production        (make deploy ENV=staging|production)
#   FORCE=1 scripts/deploy.sh staging           also from a working tree with uncommitted changes
#
# Refuses, before any remote call, an unknown environment, a database_id still the
# placeholder, an OpenID provider without its issuer, and uncommitted changes. Then it asks
# Cloudflare for the environment's secrets (`wrangler secret list`, which needs an account) and
# refuses when that fails, or JWT_SECRET, or the client secret of a sign-in provider whose
# client id is set, is not among them. Only then does it migrate and deploy, in that order: the schema first, so
# new code never runs against an old schema (docs/deploying.md says what migrations must
# therefore allow).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

refuse() {
    echo "deploy: refused: $*" >&2
    exit 1
}

env=${1:-}
case "$env" in
    staging | production) ;;
    "") echo "deploy: say which environment: make deploy ENV=staging (or ENV=production)" >&2; exit 2 ;;
    *) echo "deploy: unknown environment '$env': ENV must be staging or production" >&2; exit 2 ;;
esac

# database_id of the environment's [[env.<env>.d1_databases]] table in wrangler.toml.
database_id=$(awk -v table="[[env.$env.d1_databases]]" '
    /^[[:space:]]*\[/ { inside = ($1 == table); next }
    inside && /^[[:space:]]*database_id[[:space:]]*=/ {
        value = $0
        sub(/^[^=]*=[[:space:]]*["\047]/, "", value)
        sub(/["\047].*$/, "", value)
        print value
        exit
    }' wrangler.toml)
[ -n "$database_id" ] \
    || refuse "wrangler.toml has no database_id under [[env.$env.d1_databases]]"
# The ids wrangler.toml ships with (00000000-…) name no database: wrangler would fail halfway,
# or worse, a copied id would deploy against another environment's data.
case "$database_id" in
    00000000-*)
        refuse "the $env database_id in wrangler.toml is still the placeholder $database_id;" \
            "run \`npx wrangler d1 create recipe-api-$env\` and put the id it prints into" \
            "[[env.$env.d1_databases]]" ;;
esac

# A var of the environment's [env.<env>.vars] table in wrangler.toml, unquoted ("" when unset).
env_var() {
    awk -v table="[env.$env.vars]" -v name="$1" '
        /^[[:space:]]*\[/ { inside = ($1 == table); next }
        inside && $1 == name && $2 == "=" {
            value = $0
            sub(/^[^=]*=[[:space:]]*["\047]?/, "", value)
            sub(/["\047]?[[:space:]]*(#.*)?$/, "", value)
            print value
            exit
        }' wrangler.toml
}
# The OpenID provider is named by its issuer: a client id without one would fail every sign-in.
if [ -n "$(env_var OIDC_CLIENT_ID)" ] && [ -z "$(env_var OIDC_ISSUER)" ]; then
    refuse "OIDC_CLIENT_ID is set for $env but OIDC_ISSUER is not: put the provider's issuer in" \
        "[env.$env.vars] in wrangler.toml"
fi

# What is deployed should be a commit: the deploy message names it, and a rollback finds it.
if ! git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    [ "${FORCE:-}" = 1 ] || refuse "not a git checkout, so what would be deployed is no commit; FORCE=1 deploys anyway"
    message="not a git checkout"
else
    message="git $(git rev-parse --short=12 HEAD 2> /dev/null || echo 'with no commit')"
    if [ -n "$(git status --porcelain)" ]; then
        [ "${FORCE:-}" = 1 ] \
            || refuse "the working tree has uncommitted changes (git status); commit them, or FORCE=1 deploys them anyway"
        message="$message + uncommitted changes"
    fi
fi

# wrangler and the build's tools (`wrangler deploy` runs scripts/build.sh).
"$ROOT/scripts/setup.sh"
# The project's pinned wrangler, ahead of any other on PATH.
export PATH="$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false

echo "deploy: checking the $env secrets (wrangler secret list --env $env)"
if ! secrets=$(wrangler secret list --env "$env"); then
    refuse "could not list the $env secrets (see wrangler's message above): log in with" \
        "\`npx wrangler login\`, or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID" \
        "(a new Worker is created by its first \`wrangler secret put --env $env\`)"
fi
grep -qw JWT_SECRET <<< "$secrets" \
    || refuse "JWT_SECRET is not set for $env: openssl rand -hex 32 | npx wrangler secret put JWT_SECRET --env $env"
# A sign-in provider the environment turns on (its client id) needs its client secret, or its
# routes would answer 500.
for provider in GOOGLE GITHUB OIDC; do
    [ -n "$(env_var "${provider}_CLIENT_ID")" ] || continue
    grep -qw "${provider}_CLIENT_SECRET" <<< "$secrets" \
        || refuse "${provider}_CLIENT_ID is set for $env but ${provider}_CLIENT_SECRET is not:" \
            "npx wrangler secret put ${provider}_CLIENT_SECRET --env $env"
done

echo "deploy: applying the $env D1 migrations"
# stdin from /dev/null: wrangler then answers its own "continue?" with yes, as in CI. Answered
# "no" in a terminal, it would exit 0 and the code would be deployed ahead of its schema.
wrangler d1 migrations apply DB --remote --env "$env" < /dev/null

echo "deploy: deploying $env ($message)"
wrangler deploy --env "$env" --message "$message"
