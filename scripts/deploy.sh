#!/usr/bin/env bash
# Deploys one environment: builds the Worker, records the database's restore point, applies
# its D1 migrations, then deploys what was built.
#
#   scripts/deploy.sh staging|production        (make deploy ENV=staging|production)
#   FORCE=1 scripts/deploy.sh staging           also from a working tree with uncommitted changes
#   ALLOW_NO_EMAIL=1 scripts/deploy.sh production   production without an email API
#
# Refuses, before any remote call:
#   - an unknown environment, a database_id still the placeholder, PASSWORD_ITERATIONS not
#     chosen for the plan, a var still holding a `replace-with` placeholder, a secret's name
#     among the vars (vars are plain text in the dashboard), an OpenID provider without its
#     issuer, and uncommitted changes;
#   - for production: a localhost or 127.0.0.1 origin in BACKEND_CORS_ORIGINS, and an empty
#     EMAIL_API_URL unless ALLOW_NO_EMAIL=1 (password recovery would answer 202 and send
#     nothing, forever).
# Then it asks Cloudflare for the environment's secrets (`wrangler secret list`) and refuses
# when that fails, or JWT_SECRET, MFA_ENCRYPTION_KEY, EMAIL_API_KEY (with an email API), or
# the client secret of a sign-in provider whose client id is set, is not among them.
#
# Only then, in this order (docs/deploying.md#each-release-make-deploy):
#   1. build and bundle (`wrangler deploy --dry-run --outdir`): a build that fails stops here,
#      with nothing remote changed;
#   2. print D1 Time Travel's bookmark of now: the restore point from before the migrations;
#   3. apply the remote migrations;
#   4. deploy the bundle of step 1 (`wrangler deploy --no-bundle`, with a copy of
#      wrangler.toml minus its [build] command, so nothing is built again), and print the
#      host(s) it answers on and the version id.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

refuse() {
    echo "deploy: refused: $*" >&2
    exit 1
}
source "$ROOT/scripts/wrangler-env.sh"

env=${1:-}
case "$env" in
    staging | production) ;;
    "") echo "deploy: say which environment: make deploy ENV=staging (or ENV=production)" >&2; exit 2 ;;
    *) echo "deploy: unknown environment '$env': ENV must be staging or production" >&2; exit 2 ;;
esac

require_database_id "$env"
iterations=$(require_iterations "$env")

# The names of the secrets the worker reads (src/config.rs).
secret_names="JWT_SECRET JWT_SECRET_PREVIOUS MFA_ENCRYPTION_KEY MFA_ENCRYPTION_KEY_PREVIOUS
    EMAIL_API_KEY TURNSTILE_SECRET_KEY GOOGLE_CLIENT_SECRET GITHUB_CLIENT_SECRET OIDC_CLIENT_SECRET"
vars_table=$(toml_table "$env" vars)
vars=$(awk -v table="[$vars_table]" '
    /^[[:space:]]*\[/ { inside = ($1 == table); next }
    inside && /^[[:space:]]*[A-Z][A-Z0-9_]*[[:space:]]*=/ { sub(/[[:space:]]*=.*/, ""); sub(/^[[:space:]]*/, ""); print }
    ' wrangler.toml)
for name in $vars; do
    case "$(env_var "$env" "$name")" in
        *replace-with*)
            refuse "$name in [$vars_table] in wrangler.toml is still a placeholder" \
                "(\"$(env_var "$env" "$name")\"): put this environment's value there" ;;
    esac
    if grep -qw -- "$name" <<< "$secret_names"; then
        refuse "$name is a secret but [$vars_table] sets it as a var, which the dashboard shows" \
            "to anyone with access: remove it from wrangler.toml and" \
            "\`npx wrangler secret put $name --env $env\`"
    fi
done

# The OpenID provider is named by its issuer: a client id without one would fail every sign-in.
if [ -n "$(env_var "$env" OIDC_CLIENT_ID)" ] && [ -z "$(env_var "$env" OIDC_ISSUER)" ]; then
    refuse "OIDC_CLIENT_ID is set for $env but OIDC_ISSUER is not: put the provider's issuer in" \
        "[env.$env.vars] in wrangler.toml"
fi

email_url=$(env_var "$env" EMAIL_API_URL)
if [ "$env" = production ]; then
    # A browser on the operator's machine is no production frontend: with credentials, any
    # page served there (a dev server, a malicious package's) could call the API as its users.
    read -r -a origins <<< "$(env_var "$env" BACKEND_CORS_ORIGINS | tr ',[]"\\' '     ')"
    for origin in "${origins[@]}"; do
        case "${origin%/}" in
            *://localhost | *://localhost:* | *://*.localhost | *://*.localhost:* | *://127.* | *://\[::1\]* | *://0.0.0.0*)
                refuse "BACKEND_CORS_ORIGINS for production allows $origin, a development" \
                    "origin: list the production frontend's origin(s) in [env.production.vars]," \
                    "or \"\" for no CORS" ;;
        esac
    done
    if [ -z "$email_url" ] && [ "${ALLOW_NO_EMAIL:-}" != 1 ]; then
        refuse "EMAIL_API_URL is empty for production: password recovery and verification" \
            "would answer 202 and send nothing. Set it (https://api.resend.com/emails) and" \
            "EMAIL_FROM in [env.production.vars], or deploy without email on purpose with" \
            "ALLOW_NO_EMAIL=1"
    fi
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

# wrangler and the build's tools.
"$ROOT/scripts/setup.sh"
# The project's pinned wrangler (and the Node it needs), ahead of any other on PATH.
export PATH="$ROOT/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false

echo "deploy: checking the $env secrets (wrangler secret list --env $env)"
if ! secrets=$(wrangler secret list --env "$env"); then
    refuse "could not list the $env secrets (see wrangler's message above): log in with" \
        "\`npx wrangler login\`, or set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID" \
        "(a new Worker is created by its first \`wrangler secret put --env $env\`)"
fi
has_secret() { grep -q "\"$1\"" <<< "$secrets"; }
for key in JWT_SECRET MFA_ENCRYPTION_KEY; do
    has_secret "$key" \
        || refuse "$key is not set for $env: \`make keys ENV=$env\` generates it into a file" \
            "for your password manager and sets it (docs/deploying.md)"
done
if [ -n "$email_url" ]; then
    has_secret EMAIL_API_KEY \
        || refuse "EMAIL_API_URL is set for $env but EMAIL_API_KEY is not:" \
            "npx wrangler secret put EMAIL_API_KEY --env $env"
fi
# A sign-in provider the environment turns on (its client id) needs its client secret, or its
# routes would answer 500.
for provider in GOOGLE GITHUB OIDC; do
    [ -n "$(env_var "$env" "${provider}_CLIENT_ID")" ] || continue
    has_secret "${provider}_CLIENT_SECRET" \
        || refuse "${provider}_CLIENT_ID is set for $env but ${provider}_CLIENT_SECRET is not:" \
            "npx wrangler secret put ${provider}_CLIENT_SECRET --env $env"
done

# 1. Build and bundle, before anything remote changes. The copy of wrangler.toml without its
# [build] command sits beside it (paths in it are relative) and is git-ignored.
work=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-deploy.XXXXXX")
served="$ROOT/.wrangler-served.deploy-$$.toml"
trap 'rm -rf "$work" "$served"' EXIT
echo "deploy: building $env ($message; PASSWORD_ITERATIONS=$iterations)"
if ! wrangler deploy --dry-run --env "$env" --outdir "$work/bundle"; then
    refuse "the build failed (above); nothing remote was changed: the schema and the" \
        "deployed Worker are as they were"
fi
[ -f "$work/bundle/shim.js" ] || refuse "the build left no $work/bundle/shim.js; nothing remote was changed"
awk '/^\[build\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' wrangler.toml > "$served"

# 2. The restore point: D1 Time Travel's bookmark of the database before the migrations.
if ! travel=$(wrangler d1 time-travel info DB --env "$env" --json); then
    refuse "could not read the $env database's Time Travel bookmark (above); nothing remote was changed"
fi
bookmark=$(sed -n 's/.*"bookmark":[[:space:]]*"\([^"]*\)".*/\1/p' <<< "$travel" | head -n 1)
[ -n "$bookmark" ] || refuse "wrangler answered no Time Travel bookmark: $travel"
echo "deploy: restore point of $(database_name "$env") before this deploy's migrations: $bookmark"
echo "deploy:   to return the data to it: npx wrangler d1 time-travel restore DB --env $env --bookmark=$bookmark"

# 3. The schema.
echo "deploy: applying the $env D1 migrations"
# stdin from /dev/null: wrangler then answers its own "continue?" with yes, as in CI. Answered
# "no" in a terminal, it would exit 0 and the code would be deployed ahead of its schema.
wrangler d1 migrations apply DB --remote --env "$env" < /dev/null

# 4. The code built in step 1, as built.
echo "deploy: deploying $env ($message)"
wrangler deploy --env "$env" --config "$served" --no-bundle "$work/bundle/shim.js" \
    --message "$message" | tee "$work/deploy.log"
# wrangler lists what the Worker answers on after "Deployed <name> triggers": a workers.dev
# URL, custom domains and routes, one an indented line each, beside the cron schedules.
hosts=$(awk '/^Deployed .* triggers/ { on = 1; next } on && /^[[:space:]]+[^[:space:]]/ { print $1 } on && !/^[[:space:]]/ { on = 0 }' \
    "$work/deploy.log" | grep -v '^schedule:' | sed -E 's#^(https://)?([^/]+).*#https://\2#' || true)
version=$(sed -n 's/^Current Version ID: *//p' "$work/deploy.log")
if [ -n "$hosts" ]; then
    for host in $hosts; do echo "deploy: $env is live at $host"; done
else
    echo "deploy: $env has no route, custom domain or workers.dev URL: it answers nowhere (wrangler.toml, docs/deploying.md)"
fi
[ -z "$version" ] || echo "deploy: version $version (npx wrangler rollback --env $env names the one before)"
# A provider's sign-in must start and end on one host: its state cookie (__Host-) is per host.
for provider in google github oidc; do
    [ -n "$(env_var "$env" "$(tr a-z A-Z <<< "$provider")_CLIENT_ID")" ] || continue
    for host in $hosts; do
        echo "deploy: the $provider callback to register for sign-ins started at $host: $host/api/v1/auth/oauth/$provider/callback"
    done
done
