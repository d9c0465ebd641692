#!/usr/bin/env bash
# Seeds a D1 database with the original app's superuser and their three recipes.
# Idempotent. The superuser's email and password come from the environment, else .dev.vars.
#
#   scripts/seed.sh                       the local database `wrangler dev` uses
#   scripts/seed.sh --remote              the deployed database
#   scripts/seed.sh --local --persist-to DIR
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
use_project_node

# Values already in the environment win over .dev.vars.
if [ -f .dev.vars ]; then
    while IFS='=' read -r key value; do
        case "$key" in
            FIRST_SUPERUSER | FIRST_SUPERUSER_PASSWORD | PASSWORD_ITERATIONS)
                [ -n "${!key:-}" ] || export "$key=$value" ;;
        esac
    done < <(grep -E '^[A-Z_]+=' .dev.vars)
fi

sql=$(mktemp "${TMPDIR:-/tmp}/recipe-api-seed.XXXXXX.sql")
trap 'rm -f "$sql"' EXIT
cargo run --quiet --locked --bin seed-sql > "$sql"
WRANGLER_SEND_METRICS=false wrangler d1 execute DB "${@:---local}" --yes --file "$sql" > /dev/null
echo "seed: ${FIRST_SUPERUSER:-admin@recipeapi.com} and the original recipes are present"
