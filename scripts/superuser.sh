#!/usr/bin/env bash
# Makes the person you name a superuser of an environment: creates their account, or promotes
# the one they have; prints what it did.
#
#   scripts/superuser.sh staging|production EMAIL     (make superuser ENV=production EMAIL=you@…)
#   scripts/superuser.sh local EMAIL [--persist-to DIR]   the local D1 (`make dev`'s, or DIR)
#
# - EMAIL is required; in staging and production one at a placeholder domain (example.com,
#   recipeapi.com, .test, .invalid, .localhost, …) is refused: whoever receives its mail could
#   reset the superuser's password.
# - A new account gets the password in SUPERUSER_PASSWORD, else one typed twice at a prompt;
#   never one from the command line. It is hashed as the worker hashes (PBKDF2-SHA256, PHC) at
#   the environment's PASSWORD_ITERATIONS, which must be chosen (scripts/wrangler-env.sh).
#   Its email is not verified: its owner verifies it from the link the API emails, as anyone
#   (`make smoke` asks for that email). An existing account keeps its password, and its email
#   stays verified or not as it was. Nothing else changes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

refuse() {
    echo "superuser: refused: $*" >&2
    exit 1
}
source "$ROOT/scripts/wrangler-env.sh"

env=${1:-}
email=${2:-}
case "$env" in
    staging | production)
        where=(--remote --env "$env")
        deployed=(--deployed)
        require_database_id "$env"
        iterations=$(require_iterations "$env") ;;
    local)
        where=(--local "${@:3}")
        deployed=()
        iterations=$(env_var local PASSWORD_ITERATIONS) ;;
    *) echo "superuser: say which environment: make superuser ENV=production EMAIL=you@your-domain" \
        "(ENV: staging, production or local)" >&2; exit 2 ;;
esac
[ -n "$email" ] || { echo "superuser: say whom: make superuser ENV=$env EMAIL=you@your-domain" >&2; exit 2; }

export PATH="$ROOT/node_modules/.bin:$PATH" WRANGLER_SEND_METRICS=false
# The statements, from the worker's own code (src/bin/seed-sql.rs). The address is checked
# here, before anything remote.
seed_sql() { cargo run --quiet --locked --bin seed-sql -- "$@" "${deployed[@]}"; }
find_user=$(seed_sql find "$email") || exit 1

# Runs SQL on the environment's database; prints its rows as "id email is_superuser
# email_verified is_active", one a line.
d1_rows() { # wrangler d1 execute arguments
    wrangler d1 execute DB "${where[@]}" --yes --json "$@" | node -e '
        let input = "";
        process.stdin.on("data", (chunk) => (input += chunk)).on("end", () => {
            for (const result of JSON.parse(input))
                for (const row of result.results ?? [])
                    console.log([row.id, row.email, row.is_superuser, row.email_verified, row.is_active].join(" "));
        });'
}
yes_no() { if [ "$1" = 1 ]; then echo yes; else echo no; fi; }

before=$(d1_rows --command "$find_user")
if [ -z "$before" ]; then
    password=${SUPERUSER_PASSWORD:-}
    if [ -z "$password" ]; then
        { : < /dev/tty; } 2> /dev/null \
            || refuse "no account has $email in $env, and a new one needs a password: set" \
                "SUPERUSER_PASSWORD in the environment, or run this in a terminal to be asked"
        read -rs -p "Password for the new superuser $email: " password < /dev/tty; echo > /dev/tty
        read -rs -p "The same again: " again < /dev/tty; echo > /dev/tty
        [ "$password" = "$again" ] || refuse "the two passwords differ; nothing was changed"
    fi
    # Through a file, not the command line: `ps` would show the hash to other users.
    sql=$(mktemp "${TMPDIR:-/tmp}/recipe-api-superuser.XXXXXX")
    trap 'rm -f "$sql"' EXIT
    SUPERUSER_PASSWORD="$password" PASSWORD_ITERATIONS="$iterations" seed_sql create "$email" > "$sql"
    wrangler d1 execute DB "${where[@]}" --yes --file "$sql" > /dev/null
    after=$(d1_rows --command "$find_user")
    read -r id _ _ verified _ <<< "$after"
    echo "superuser: created $email in $env (user $id): a superuser, password hashed at" \
        "$iterations iterations, email verified: $(yes_no "$verified")."
    [ "$verified" = 1 ] || echo "superuser: they verify the email from the link the API sends:" \
        "\`make smoke URL=https://<the API's host> EMAIL=$email\` logs in and asks for it."
else
    read -r id _ superuser verified active <<< "$before"
    if [ "$superuser" = 1 ]; then
        echo "superuser: $email in $env (user $id) is a superuser already; nothing changed."
    else
        after=$(d1_rows --command "$(seed_sql promote "$email")")
        [ -n "$after" ] || refuse "the account of $email disappeared meanwhile; nothing was changed"
        echo "superuser: promoted $email in $env (user $id) to superuser; password unchanged."
    fi
    echo "superuser: email verified: $(yes_no "$verified") (left as it was); active: $(yes_no "$active")."
    [ "$active" = 1 ] || echo "superuser: the account is deactivated: another superuser can" \
        "activate it (PATCH /api/v1/users/$id)."
fi
