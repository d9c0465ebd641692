#!/usr/bin/env bash
# Seeds a local D1 with its superuser (FIRST_SUPERUSER, FIRST_SUPERUSER_PASSWORD: from the
# environment, else .dev.vars, which scripts/setup.sh writes with a local address) and, with
# --sample, the original app's three recipes, submitted by them. Idempotent.
#
#   scripts/seed.sh [--sample]                        the local database `wrangler dev` uses
#   scripts/seed.sh --local --persist-to DIR [--sample]
#   scripts/seed.sh --remote --env ENV                the deployed database: only as
#                                                     `make superuser ENV=… EMAIL=…` does it
#
# A deployed database gets no sample and no address from .dev.vars: --remote takes
# FIRST_SUPERUSER from the environment, or refuses, and hands over to scripts/superuser.sh,
# which refuses a placeholder domain and reads the password from FIRST_SUPERUSER_PASSWORD or
# a prompt.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"

args=()
sample=0
remote=0
env=""
while [ $# -gt 0 ]; do
    case "$1" in
        --sample) sample=1 ;;
        --remote) remote=1 ;;
        --env) env=${2:-}; shift ;;
        --env=*) env=${1#--env=} ;;
        *) args+=("$1") ;;
    esac
    shift
done

if [ "$remote" = 1 ]; then
    [ "$sample" = 0 ] || { echo "seed: refused: the sample recipes are for local databases only" >&2; exit 1; }
    [ -n "${FIRST_SUPERUSER:-}" ] || {
        echo "seed: refused: a deployed database's superuser must be named: FIRST_SUPERUSER=you@your-domain" \
            "in the environment (.dev.vars is not read for --remote), or better" \
            "\`make superuser ENV=${env:-production} EMAIL=you@your-domain\`" >&2
        exit 1
    }
    SUPERUSER_PASSWORD=${FIRST_SUPERUSER_PASSWORD:-} exec "$ROOT/scripts/superuser.sh" "${env:-}" "$FIRST_SUPERUSER"
fi

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
cargo run --quiet --locked --bin seed-sql -- local > "$sql"
[ "$sample" = 0 ] || cargo run --quiet --locked --bin seed-sql -- sample >> "$sql"
case " ${args[*]-} " in *" --local "*) ;; *) args=(--local "${args[@]+"${args[@]}"}") ;; esac
WRANGLER_SEND_METRICS=false wrangler d1 execute DB "${args[@]}" --yes --file "$sql" > /dev/null
if [ "$sample" = 1 ]; then
    echo "seed: the superuser $FIRST_SUPERUSER and the three sample recipes are present"
else
    echo "seed: the superuser $FIRST_SUPERUSER is present (\`make dev SAMPLE=1\` adds three sample recipes)"
fi
