#!/usr/bin/env bash
# Tests the deploy-side scripts (deploy.sh, keys.sh, superuser.sh, seed.sh --remote) with no
# account and no network, and the set-up's .dev.vars (dev-vars.sh), then runs the first-deploy checklist of docs/deploying.md end to
# end, command by command, in the order the docs give.
#
#   tests/deploy.test.sh              every case
#   tests/deploy.test.sh checklist    only the checklist
#
# Each case runs in a copy of the repository (wrangler.toml, Makefile, scripts/, a git history
# of its own; a set-up that does nothing) with a fake `wrangler` first on PATH that records
# its arguments, so no real wrangler can reach Cloudflare; each case checks the answer and
# which wrangler commands ran. The fake keeps a one-user "remote D1" of its own for the
# superuser command. Run inside scripts/with-server.sh (tests/first-deploy.test.mjs does),
# the fake sends those statements to the test server's local D1 instead, and the checklist's
# last step, `make smoke`, logs in to that server as the superuser the checklist made.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
only=${1:-all}
work=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-deploy-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE FORCE ALLOW_NO_EMAIL REPLACE SUPERUSER_PASSWORD \
    FIRST_SUPERUSER FIRST_SUPERUSER_PASSWORD KEYS_DIR
# The superuser scripts build src/bin/seed-sql.rs from the copy: into the repository's own
# target directory, so that only the crate itself is compiled again.
export CARGO_TARGET_DIR="$ROOT/target"
REAL_WRANGLER="$ROOT/node_modules/.bin/wrangler"
export REAL_WRANGLER

# The fake. Appends each call's arguments to $FAKE_CALLS, with long or changing values
# shortened: the SQL of --command to its first word, --file, --outdir, --config and the
# --no-bundle entry to a word saying what they held. Answers:
#   secret list         the names in $FAKE_SECRETS as wrangler's JSON; fails like an
#                       unauthenticated wrangler when FAKE_SECRETS=fail, and as for a Worker
#                       not created yet when FAKE_SECRETS=no-worker
#   secret put NAME     keeps stdin in $FAKE_CALLS.secret.NAME
#   d1 create           a database id, as wrangler prints it
#   deploy --dry-run    "builds": writes DIR/shim.js with a marker (FAKE_FAIL=build: fails)
#   d1 time-travel info a bookmark (FAKE_FAIL=time-travel: fails)
#   d1 migrations apply (FAKE_FAIL=migrations: fails)
#   deploy              the targets in $FAKE_TARGETS (default a workers.dev URL) as wrangler
#                       lists them, a schedule, a version id; BUNDLE(built) when its entry is
#                       the marked shim, CONFIG(no build) when its --config has no [build]
#   d1 execute          a user kept in $FAKE_CALLS.user ("id email superuser verified active"),
#                       or, with FAKE_D1_PERSIST set, the real wrangler on that local D1
mkdir -p "$work/bin"
cat > "$work/bin/wrangler" <<'FAKE'
#!/usr/bin/env bash
args=("$@")
record=()
stdin_file=""
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --command) record+=(--command "$(awk '{ print $1; exit }' <<< "${args[i + 1]}")"); i=$((i + 1)) ;;
        --file) record+=(--file FILE); stdin_file=${args[i + 1]}; i=$((i + 1)) ;;
        --outdir) record+=(--outdir DIR); outdir=${args[i + 1]}; i=$((i + 1)) ;;
        --config)
            if grep -q '^\[build\]' "${args[i + 1]}"; then record+=(--config "CONFIG(with build)"); else record+=(--config "CONFIG(no build)"); fi
            i=$((i + 1)) ;;
        --no-bundle)
            if grep -q "built by the fake" "${args[i + 1]}" 2> /dev/null; then record+=(--no-bundle "BUNDLE(built)"); else record+=(--no-bundle "BUNDLE(not built)"); fi
            i=$((i + 1)) ;;
        *) record+=("${args[i]}") ;;
    esac
done
echo "${record[*]}" >> "$FAKE_CALLS"
fails() { [ "${FAKE_FAIL:-}" = "$1" ] && { echo "✘ [ERROR] $1 failed" >&2; exit 1; }; return 0; }
user_file="$FAKE_CALLS.user"
user_json() { # id email superuser verified active
    printf '[{"results":[{"id":%s,"email":"%s","is_superuser":%s,"email_verified":%s,"is_active":%s}],"success":true}]\n' "$@"
}
case "$1 $2" in
    "login "*) echo "Successfully logged in." ;;
    "secret list")
        if [ "$FAKE_SECRETS" = fail ]; then
            echo "✘ [ERROR] You must be logged in to use wrangler secret list." >&2
            exit 1
        fi
        if [ "$FAKE_SECRETS" = no-worker ]; then
            printf '✘ [ERROR] Worker "recipe-api-%s" (env: %s) not found.\n\nIf this is a new Worker, run `wrangler deploy` first to create it.\n' "$4" "$4" >&2
            exit 1
        fi
        echo "["
        for name in $FAKE_SECRETS; do echo "  { \"name\": \"$name\", \"type\": \"secret_text\" },"; done
        echo "]" ;;
    "secret put") cat > "$FAKE_CALLS.secret.$3"; echo "✨ Success! Uploaded secret $3" ;;
    "d1 create")
        printf '✅ Successfully created DB %s\n{\n  "d1_databases": [\n    {\n      "binding": "DB",\n      "database_name": "%s",\n      "database_id": "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5002"\n    }\n  ]\n}\n' "$3" "$3" ;;
    "d1 time-travel")
        fails time-travel
        echo '{ "bookmark": "00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683" }' ;;
    "d1 migrations") fails migrations ;;
    "d1 execute")
        if [ -n "${FAKE_D1_PERSIST:-}" ]; then
            real=()
            skip=0
            for arg in "${args[@]}"; do
                if [ "$skip" = 1 ]; then skip=0; continue; fi
                case "$arg" in --remote) ;; --env) skip=1 ;; *) real+=("$arg") ;; esac
            done
            exec "$REAL_WRANGLER" "${real[@]}" --local --persist-to "$FAKE_D1_PERSIST"
        fi
        [ -z "$stdin_file" ] || cp "$stdin_file" "$FAKE_CALLS.sql"
        sql=""
        for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[i]}" != --command ] || sql=${args[i + 1]}; done
        email=$(sed -n "s/.*email = '\([^']*\)'.*/\1/p" <<< "$sql$(cat "$stdin_file" 2> /dev/null)" | head -n 1)
        [ -n "$email" ] || email=$(sed -n "s/.*VALUES ('Initial', 'Super User', '\([^']*\)'.*/\1/p" "$stdin_file")
        case "$sql" in
            SELECT*) if [ -s "$user_file" ]; then user_json $(cat "$user_file"); else echo '[{"results":[],"success":true}]'; fi ;;
            UPDATE*) read -r id mail _ verified active < "$user_file"; echo "$id $mail 1 $verified $active" > "$user_file"; user_json $(cat "$user_file") ;;
            "") echo "7 $email 1 0 1" > "$user_file"; echo '[{"results":[],"success":true}]' ;;
        esac ;;
    "deploy --dry-run")
        fails build
        mkdir -p "$outdir"
        echo "// built by the fake" > "$outdir/shim.js" ;;
    "deploy "*)
        echo "Uploaded recipe-api-$3 (1.23 sec)"
        echo "Deployed recipe-api-$3 triggers (0.45 sec)"
        while IFS= read -r target; do [ -z "$target" ] || echo "  $target"; done <<< "${FAKE_TARGETS:-https://recipe-api-$3.example-account.workers.dev}"
        echo "  schedule: */5 * * * *"
        echo "Current Version ID: 0b6c1a4e-1111-4222-8333-944445555666" ;;
esac
FAKE
chmod +x "$work/bin/wrangler"

failures=0
pass() { echo "ok    deploy: $1"; }
fail() { echo "FAILED deploy: $1" >&2; failures=$((failures + 1)); }

# sed on the copy's wrangler.toml, in place (GNU and BSD sed spell -i differently).
edit_toml() { sed "$@" "$repo/wrangler.toml" > "$repo/wrangler.toml.new" && mv "$repo/wrangler.toml.new" "$repo/wrangler.toml"; }
REAL_IDS='s/^database_id = "00000000-0000-0000-0000-00000000000([12])"/database_id = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f500\1"/'

commit() { git -C "$repo" -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -qam "$1"; }

# Sets a var of an environment's [env.ENV.vars] in the copy's wrangler.toml (adding it when
# missing), and commits.
set_var() { # env name value
    awk -v table="[env.$1.vars]" -v name="$2" -v value="$3" '
        /^[[:space:]]*\[/ { if (inside && !done) { print name " = \"" value "\""; done = 1 } inside = ($1 == table) }
        inside && $1 == name && $2 == "=" { print name " = \"" value "\""; done = 1; next } { print }' \
        "$repo/wrangler.toml" > "$repo/wrangler.toml.new"
    mv "$repo/wrangler.toml.new" "$repo/wrangler.toml"
    commit "$2"
}

# A fresh copy for each case. $1: "placeholder" (wrangler.toml as the repository ships it) or
# "real" (the first-deploy checklist's edits done: database ids, PASSWORD_ITERATIONS for each
# environment, production's email settings). $2, a name: with the Rust crate too, for the
# superuser scripts, at a path named so that stays the same from run to run (cargo then
# builds it again only when a source changed).
new_repo() {
    repos=$((repos + 1))
    if [ -n "${2:-}" ]; then
        repo="$ROOT/target/deploy-test/$2"
        rm -rf "$repo"
        mkdir -p "$repo"
        cp -p "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" "$repo/"
        cp -pR "$ROOT/src" "$ROOT/templates" "$repo/"
        cp -p "$ROOT/.dev.vars.example" "$repo/"
    else
        repo="$work/repo.$repos"
        mkdir -p "$repo"
    fi
    mkdir -p "$repo/scripts"
    cp "$ROOT"/scripts/{deploy,keys,superuser,seed,toolchain,wrangler-env,dev-vars}.sh "$ROOT/scripts/smoke.mjs" "$repo/scripts/"
    cp "$ROOT/Makefile" "$ROOT/.gitignore" "$repo/"
    printf '#!/bin/sh\necho setup >> "$FAKE_CALLS"\n' > "$repo/scripts/setup.sh"
    chmod +x "$repo/scripts/setup.sh"
    cp "$ROOT/wrangler.toml" "$repo/wrangler.toml"
    git -C "$repo" init -q
    git -C "$repo" add -A
    git -C "$repo" -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -qm "the release"
    if [ "$1" = real ]; then
        edit_toml -E "$REAL_IDS"
        commit "database ids"
        set_var staging PASSWORD_ITERATIONS 600000
        set_var production PASSWORD_ITERATIONS 600000
        set_var production EMAIL_API_URL https://api.resend.com/emails
        set_var production EMAIL_FROM "Recipe API <no-reply@recipes.example.org>"
    fi
}
repos=0

# Runs a command in the current copy; sets $status, $output (stdout and stderr) and $calls
# (the fake's log, one call a line).
run() {
    export FAKE_CALLS="$repo.calls"  # beside the copy: inside it, it would be an untracked file
    : > "$FAKE_CALLS"
    status=0
    output=$(cd "$repo" && env PATH="$work/bin:$PATH" "$@" 2>&1 < /dev/null) || status=$?
    calls=$(cat "$FAKE_CALLS")
}
deploy() { run "$@"; }

# expect_refusal NAME PATTERN EXPECTED_CALLS: a nonzero exit, a message matching PATTERN and
# exactly the calls given.
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

# expect_success NAME EXPECTED_CALLS [PATTERN…]: exit 0, exactly those calls, and each
# PATTERN in the output.
expect_success() {
    local name=$1 expected=$2 pattern
    shift 2
    if [ "$status" != 0 ]; then
        fail "$name: exit $status. Output:"$'\n'"$output"
        return
    fi
    if [ "$calls" != "$expected" ]; then
        fail "$name: expected these calls:"$'\n'"$expected"$'\n'"got:"$'\n'"$calls"
        return
    fi
    for pattern in "$@"; do
        grep -Eq -- "$pattern" <<< "$output" || { fail "$name: no /$pattern/ in the output:"$'\n'"$output"; return; }
    done
    pass "$name"
}

# What a deploy calls, from the secrets on: build, restore point, migrations, the built bundle.
deploy_calls() { # env message
    printf '%s\n' "setup" "secret list --env $1" "deploy --dry-run --env $1 --outdir DIR" \
        "d1 time-travel info DB --env $1 --json" "d1 migrations apply DB --remote --env $1" \
        "deploy --env $1 --config CONFIG(no build) --no-bundle BUNDLE(built) --message $2"
}
PROD_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY EMAIL_API_KEY"

deploy_cases() {
    new_repo placeholder
    deploy scripts/deploy.sh
    expect_refusal "no environment given" "say which environment: make deploy ENV=staging" ""
    deploy scripts/deploy.sh dev
    expect_refusal "an environment other than staging or production" "unknown environment 'dev': ENV must be staging or production" ""
    deploy scripts/deploy.sh staging
    expect_refusal "staging's database_id still the placeholder" \
        "the staging database_id in wrangler.toml is still the placeholder 00000000-0000-0000-0000-000000000001.*wrangler d1 create recipe-api-staging" ""
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    expect_refusal "production's database_id still the placeholder" \
        "the production database_id in wrangler.toml is still the placeholder" ""

    # The ids filled, the rest as shipped.
    edit_toml -E "$REAL_IDS"
    commit "database ids"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    expect_refusal "PASSWORD_ITERATIONS not chosen for the plan (as shipped)" \
        'PASSWORD_ITERATIONS in \[env.production.vars\] is "": choose it for your plan first.*Paid: 600000; Free: 10000' ""
    set_var production PASSWORD_ITERATIONS 500
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    expect_refusal "PASSWORD_ITERATIONS below 1000" 'PASSWORD_ITERATIONS in \[env.production.vars\] is "500"' ""
    set_var production PASSWORD_ITERATIONS 10000
    deploy env FAKE_SECRETS="$PROD_SECRETS" ALLOW_NO_EMAIL=1 scripts/deploy.sh production
    expect_refusal "a var still a replace-with placeholder (EMAIL_FROM as shipped)" \
        'EMAIL_FROM in \[env.production.vars\] in wrangler.toml is still a placeholder' ""
    set_var production EMAIL_FROM "Recipe API <no-reply@recipes.example.org>"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    expect_refusal "production without an email API" \
        "EMAIL_API_URL is empty for production: password recovery and verification would answer 202 and send nothing.*ALLOW_NO_EMAIL=1" ""
    deploy env FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" ALLOW_NO_EMAIL=1 scripts/deploy.sh production
    expect_success "ALLOW_NO_EMAIL=1: production without email, on purpose" \
        "$(deploy_calls production "git $(git -C "$repo" rev-parse --short=12 HEAD)")"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh staging
    [ "$status" != 0 ] && grep -q 'PASSWORD_ITERATIONS in \[env.staging.vars\] is ""' <<< "$output" \
        && pass "staging's PASSWORD_ITERATIONS is a decision of its own" \
        || fail "staging deployed with production's PASSWORD_ITERATIONS: exit $status"$'\n'"$output"

    new_repo real
    set_var production JWT_SECRET "a-secret-in-plain-sight-0123456789abcdef"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    expect_refusal "a secret set as a var" "JWT_SECRET is a secret but \[env.production.vars\] sets it as a var.*secret put JWT_SECRET --env production" ""

    new_repo real
    for origins in "http://localhost:3000,http://localhost:8001" '[\"https://app.recipes.example.org\", \"http://127.0.0.1:5173\"]' \
        "https://app.recipes.example.org https://localhost:8443/" "http://dev.localhost:3000"; do
        set_var production BACKEND_CORS_ORIGINS "$origins"
        deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
        expect_refusal "a development origin in production's BACKEND_CORS_ORIGINS: $origins" \
            "BACKEND_CORS_ORIGINS for production allows .*(localhost|127\.0\.0\.1).*a development origin" ""
    done
    set_var staging BACKEND_CORS_ORIGINS "http://localhost:3000"
    set_var production BACKEND_CORS_ORIGINS "https://app.recipes.example.org,https://localhost-cdn.example.org"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh production
    [ "$status" = 0 ] && pass "real origins deploy (a host merely starting with localhost too)" \
        || fail "real origins refused: exit $status"$'\n'"$output"
    deploy env FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" scripts/deploy.sh staging
    [ "$status" = 0 ] && pass "staging may allow a localhost frontend" \
        || fail "staging refused a localhost origin: exit $status"$'\n'"$output"

    new_repo real
    echo "# an edit not yet committed" >> "$repo/wrangler.toml"
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh staging
    expect_refusal "uncommitted changes" "the working tree has uncommitted changes.*FORCE=1" ""
    touch "$repo/untracked.rs"
    git -C "$repo" checkout -q wrangler.toml
    deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh staging
    expect_refusal "an untracked file" "the working tree has uncommitted changes" ""

    new_repo real
    deploy env FAKE_SECRETS=fail scripts/deploy.sh staging
    expect_refusal "secret list fails (no account)" "could not list the staging secrets.*wrangler login" \
        "setup"$'\n'"secret list --env staging"
    deploy env FAKE_SECRETS="EMAIL_API_KEY MFA_ENCRYPTION_KEY JWT_SECRET_OLD" scripts/deploy.sh production
    expect_refusal "JWT_SECRET not set" "JWT_SECRET is not set for production: \`make keys ENV=production\`" \
        "setup"$'\n'"secret list --env production"
    deploy env FAKE_SECRETS="EMAIL_API_KEY JWT_SECRET MFA_ENCRYPTION_KEY_PREVIOUS" scripts/deploy.sh production
    expect_refusal "MFA_ENCRYPTION_KEY not set" "MFA_ENCRYPTION_KEY is not set for production: \`make keys ENV=production\`" \
        "setup"$'\n'"secret list --env production"
    deploy env FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" scripts/deploy.sh production
    expect_refusal "an email API without its key" \
        "EMAIL_API_URL is set for production but EMAIL_API_KEY is not: npx wrangler secret put EMAIL_API_KEY --env production" \
        "setup"$'\n'"secret list --env production"

    # The order of work, and what a failure at each step leaves undone.
    local head
    head=$(git -C "$repo" rev-parse --short=12 HEAD)
    deploy env FAKE_SECRETS="$PROD_SECRETS" FAKE_FAIL=build scripts/deploy.sh production
    expect_refusal "a failed build leaves the remote schema and Worker untouched" \
        "the build failed \(above\); nothing remote was changed" \
        "setup"$'\n'"secret list --env production"$'\n'"deploy --dry-run --env production --outdir DIR"
    deploy env FAKE_SECRETS="$PROD_SECRETS" FAKE_FAIL=time-travel scripts/deploy.sh production
    expect_refusal "no restore point, no migration" "could not read the production database's Time Travel bookmark" \
        "$(deploy_calls production "git $head" | head -n 4)"
    deploy env FAKE_SECRETS="$PROD_SECRETS" FAKE_FAIL=migrations scripts/deploy.sh production
    expect_refusal "failed migrations stop the deploy" "migrations failed" \
        "$(deploy_calls production "git $head" | head -n 5)"
    for env in staging production; do
        deploy env FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh "$env"
        expect_success "$env: build, restore point, migrations, then the build deployed" \
            "$(deploy_calls "$env" "git $head")" \
            "restore point of recipe-api-$env before this deploy's migrations: 00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683" \
            "time-travel restore DB --env $env --bookmark=00000085-" \
            "deploy: $env is live at https://recipe-api-$env.example-account.workers.dev$" \
            "deploy: version 0b6c1a4e-1111-4222-8333-944445555666"
    done
    ! compgen -G "$repo/.wrangler-served.*" > /dev/null && [ -z "$(git -C "$repo" status --porcelain)" ] \
        && pass "the deploy leaves no file behind" || fail "the deploy left files: $(git -C "$repo" status --porcelain)"

    echo "# an edit not yet committed" >> "$repo/wrangler.toml"
    deploy env FORCE=1 FAKE_SECRETS="$PROD_SECRETS" scripts/deploy.sh staging
    if [ "$status" = 0 ] && [ "$(tail -n 1 <<< "$calls")" = "deploy --env staging --config CONFIG(no build) --no-bundle BUNDLE(built) --message git $head + uncommitted changes" ]; then
        pass "FORCE=1 deploys uncommitted changes, and says so"
    else
        fail "FORCE=1: exit $status; calls:"$'\n'"$calls"$'\n'"Output:"$'\n'"$output"
    fi

    # A sign-in provider turned on for production: its client id set in [env.production.vars].
    new_repo real
    set_var production GOOGLE_CLIENT_ID 1234-abc.apps.googleusercontent.com
    deploy env FAKE_SECRETS="$PROD_SECRETS GITHUB_CLIENT_SECRET" scripts/deploy.sh production
    expect_refusal "a sign-in provider's client id without its secret" \
        "GOOGLE_CLIENT_ID is set for production but GOOGLE_CLIENT_SECRET is not:.*wrangler secret put GOOGLE_CLIENT_SECRET --env production" \
        "setup"$'\n'"secret list --env production"
    deploy env FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" scripts/deploy.sh staging
    [ "$status" = 0 ] && pass "another environment's provider settings are not this one's" \
        || fail "staging refused for production's provider: exit $status. Output:"$'\n'"$output"
    set_var production OIDC_CLIENT_ID recipe-api
    deploy env FAKE_SECRETS="$PROD_SECRETS GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" scripts/deploy.sh production
    expect_refusal "an OpenID client id without its issuer" \
        "OIDC_CLIENT_ID is set for production but OIDC_ISSUER is not" ""
    set_var production OIDC_ISSUER https://login.recipes.example.org
    # On a custom domain, as wrangler lists one: the host, and each provider's callback there.
    deploy env FAKE_SECRETS="$PROD_SECRETS GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" \
        FAKE_TARGETS="api.recipes.example.org (custom domain)" scripts/deploy.sh production
    expect_success "a custom domain: the host printed, and the callbacks to register on it" \
        "$(deploy_calls production "git $(git -C "$repo" rev-parse --short=12 HEAD)")" \
        "deploy: production is live at https://api.recipes.example.org$" \
        "register .*: https://api.recipes.example.org/api/v1/auth/oauth/google/callback" \
        "register .*: https://api.recipes.example.org/api/v1/auth/oauth/oidc/callback"
    deploy env FAKE_SECRETS="$PROD_SECRETS GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" \
        FAKE_TARGETS="api.recipes.example.org/* (zone name: recipes.example.org)" scripts/deploy.sh production
    [ "$status" = 0 ] && grep -q "production is live at https://api.recipes.example.org$" <<< "$output" \
        && pass "a route: its host printed" || fail "a route: exit $status"$'\n'"$output"
    deploy env FAKE_SECRETS="$PROD_SECRETS GOOGLE_CLIENT_SECRET OIDC_CLIENT_SECRET" FAKE_TARGETS=" " scripts/deploy.sh production
    [ "$status" = 0 ] && grep -q "production has no route, custom domain or workers.dev URL: it answers nowhere" <<< "$output" \
        && pass "no target at all (workers_dev = false, no route): said" || fail "no target: exit $status"$'\n'"$output"
}

keys_cases() {
    new_repo real
    local keys="$work/keys" file name
    deploy env KEYS_DIR="$keys" FAKE_SECRETS=no-worker scripts/keys.sh production
    expect_success "make keys: each key generated and set, the first creating the Worker" \
        "secret list --env production"$'\n'"secret put JWT_SECRET --env production"$'\n'"secret put MFA_ENCRYPTION_KEY --env production" \
        "no Worker for production yet; setting the first key creates it" "Move each file into your password manager"
    for name in JWT_SECRET MFA_ENCRYPTION_KEY; do
        file=$(ls "$keys"/production-"$name"-*.key 2> /dev/null | head -n 1)
        if [ -z "$file" ]; then
            fail "make keys wrote no file for $name"
        elif [ -z "$(find "$file" -perm 600)" ] || [ -z "$(find "$keys" -maxdepth 0 -perm 700)" ]; then
            fail "$file is not mode 600 in a folder of mode 700: $(ls -ld "$keys" "$file")"
        elif ! grep -Eqx '[0-9a-f]{64}' "$file"; then
            fail "$file does not hold 64 hex characters: $(cat "$file")"
        elif ! cmp -s "$file" "$FAKE_CALLS.secret.$name"; then
            fail "the $name set is not the one kept in $file"
        elif ! grep -qF "$file" <<< "$output"; then
            fail "make keys did not name $file"
        else
            pass "$name kept in a file of mode 600, 64 hex characters, exactly the value set"
        fi
    done
    [ "$(cat "$FAKE_CALLS.secret.JWT_SECRET")" != "$(cat "$FAKE_CALLS.secret.MFA_ENCRYPTION_KEY")" ] \
        && pass "two keys, two values" || fail "JWT_SECRET and MFA_ENCRYPTION_KEY got the same value"
    deploy env KEYS_DIR="$keys" FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" scripts/keys.sh production MFA_ENCRYPTION_KEY
    expect_refusal "a set key is not replaced without its _PREVIOUS (every TOTP secret would be lost)" \
        "MFA_ENCRYPTION_KEY is set for production already. To rotate it, first keep the current key as MFA_ENCRYPTION_KEY_PREVIOUS" \
        "secret list --env production"
    deploy env KEYS_DIR="$keys" FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY MFA_ENCRYPTION_KEY_PREVIOUS" scripts/keys.sh production MFA_ENCRYPTION_KEY
    expect_success "a rotation: the new key once the current one is kept as _PREVIOUS" \
        "secret list --env production"$'\n'"secret put MFA_ENCRYPTION_KEY --env production"
    deploy env KEYS_DIR="$keys" REPLACE=1 FAKE_SECRETS="JWT_SECRET MFA_ENCRYPTION_KEY" scripts/keys.sh production JWT_SECRET
    expect_success "REPLACE=1: a leaked key replaced outright" \
        "secret list --env production"$'\n'"secret put JWT_SECRET --env production"
    [ "$(ls "$keys" | wc -l)" = 4 ] && pass "every key in a file of its own, none overwritten" \
        || fail "expected 4 key files, found: $(ls "$keys")"
    deploy env KEYS_DIR="$keys" FAKE_SECRETS="" scripts/keys.sh production EMAIL_API_KEY
    expect_refusal "keys the project does not generate" "NAME must be JWT_SECRET or MFA_ENCRYPTION_KEY" ""
    deploy env KEYS_DIR="$keys" FAKE_SECRETS=fail scripts/keys.sh production
    expect_refusal "make keys, not logged in" "could not list the production secrets" \
        "secret list --env production"
}

superuser_cases() {
    new_repo real superuser
    echo "setup: building src/bin/seed-sql.rs from a copy (once per change to the crate)"
    (cd "$repo" && cargo build --quiet --locked --bin seed-sql) || { fail "seed-sql does not build"; return; }
    for email in admin@recipeapi.com root@example.com ops@mail.example.org admin@recipe-api.localhost a@staging.test; do
        run env SUPERUSER_PASSWORD="correct horse" scripts/superuser.sh production "$email"
        expect_refusal "no superuser at a placeholder domain: $email" \
            "EMAIL \"$email\" is at .*, a placeholder domain whose mail nobody here receives" ""
    done
    run env SUPERUSER_PASSWORD="correct horse" scripts/superuser.sh production
    expect_refusal "no superuser without an address" "say whom: make superuser ENV=production EMAIL=" ""
    run env SUPERUSER_PASSWORD="correct horse" make superuser ENV=production
    expect_refusal "make superuser without EMAIL" "say whom" ""
    run env EMAIL=ops@recipes-corp.dev SUPERUSER_PASSWORD="correct horse" make superuser ENV=production
    expect_refusal "an EMAIL in the shell's environment names nobody" "say whom" ""

    # A new superuser, in an environment at Free's count.
    set_var production PASSWORD_ITERATIONS 10000
    rm -f "$repo.calls.user"
    run env SUPERUSER_PASSWORD="correct horse battery" make superuser ENV=production EMAIL=ops@recipes-corp.dev
    expect_success "a new superuser: created, unverified, and said so" \
        "d1 execute DB --remote --env production --yes --json --command SELECT"$'\n'"d1 execute DB --remote --env production --yes --file FILE"$'\n'"d1 execute DB --remote --env production --yes --json --command SELECT" \
        "created ops@recipes-corp.dev in production \(user 7\): a superuser, password hashed at 10000 iterations, email verified: no" \
        "verify the email from the link the API sends"
    if grep -qF "'ops@recipes-corp.dev', 1, 0, '\$pbkdf2-sha256\$i=10000,l=32\$" "$FAKE_CALLS.sql" 2> /dev/null \
        && ! grep -q "correct horse" "$FAKE_CALLS.sql"; then
        pass "its SQL: superuser, unverified, a PBKDF2 PHC hash at the environment's count, no password"
    else
        fail "the superuser's SQL:"$'\n'"$(cat "$FAKE_CALLS.sql" 2> /dev/null)"
    fi
    if grep -q "correct horse" "$repo.calls"; then fail "the password reached wrangler's command line"; else pass "the password is on no command line"; fi
    run make superuser ENV=production EMAIL=ops@recipes-corp.dev
    expect_success "a superuser already: nothing changed" \
        "d1 execute DB --remote --env production --yes --json --command SELECT" \
        "is a superuser already; nothing changed" "email verified: no \(left as it was\)"
    echo "12 dana@recipes-corp.dev 0 1 1" > "$repo.calls.user"
    run make superuser ENV=production EMAIL=dana@recipes-corp.dev
    expect_success "an existing account promoted, no password asked, its verification kept" \
        "d1 execute DB --remote --env production --yes --json --command SELECT"$'\n'"d1 execute DB --remote --env production --yes --json --command UPDATE" \
        "promoted dana@recipes-corp.dev in production \(user 12\) to superuser; password unchanged" \
        "email verified: yes \(left as it was\)"
    rm -f "$repo.calls.user"
    if command -v setsid > /dev/null; then
        run setsid -w make superuser ENV=production EMAIL=new@recipes-corp.dev
        expect_refusal "a new account without SUPERUSER_PASSWORD or a terminal" \
            "a new one needs a password: set SUPERUSER_PASSWORD in the environment, or run this in a terminal" \
            "d1 execute DB --remote --env production --yes --json --command SELECT"
    fi
    set_var staging PASSWORD_ITERATIONS ""
    run env SUPERUSER_PASSWORD="correct horse" make superuser ENV=staging EMAIL=ops@recipes-corp.dev
    expect_refusal "the environment's PASSWORD_ITERATIONS is required" 'PASSWORD_ITERATIONS in \[env.staging.vars\] is ""' ""

    # seed.sh --remote: the superuser command's checks, and no sample.
    run env FIRST_SUPERUSER_PASSWORD="correct horse" scripts/seed.sh --remote --env production
    expect_refusal "remote seeding without an explicit FIRST_SUPERUSER" \
        "a deployed database's superuser must be named: FIRST_SUPERUSER=you@your-domain in the environment" ""
    run env FIRST_SUPERUSER=admin@recipeapi.com FIRST_SUPERUSER_PASSWORD="correct horse" scripts/seed.sh --remote --env production
    expect_refusal "remote seeding at the old default address" "\"admin@recipeapi.com\" is at recipeapi.com, a placeholder domain" ""
    run env FIRST_SUPERUSER=ops@recipes-corp.dev scripts/seed.sh --remote --env production --sample
    expect_refusal "no sample recipes remotely" "the sample recipes are for local databases only" ""
    run env FIRST_SUPERUSER=ops@recipes-corp.dev FIRST_SUPERUSER_PASSWORD="correct horse" scripts/seed.sh --remote --env production
    expect_success "remote seeding with a named address is the superuser command" \
        "d1 execute DB --remote --env production --yes --json --command SELECT"$'\n'"d1 execute DB --remote --env production --yes --file FILE"$'\n'"d1 execute DB --remote --env production --yes --json --command SELECT" \
        "created ops@recipes-corp.dev in production"
}

# The first-deploy checklist of docs/deploying.md: its commands, in its order, each run here
# (`npx wrangler` is the fake), with the edits of wrangler.toml it asks for between them.
checklist() {
    local commands expected
    # The lines of its ```sh blocks (other blocks, TOML say, are not commands), less comments.
    commands=$(awk '
        /^## / { inside = ($0 ~ /^## First deploy/) ; next }
        inside && /^[[:space:]]*```/ { if (code) code = 0; else { code = 1; shell = ($0 ~ /```sh[[:space:]]*$/) } next }
        inside && code && shell && !/^[[:space:]]*(#|$)/ { sub(/^[[:space:]]+/, ""); sub(/[[:space:]]+#.*$/, ""); print }' \
        "$ROOT/docs/deploying.md")
    expected="npx wrangler login
npx wrangler d1 create recipe-api-production
make keys ENV=production
npx wrangler secret put EMAIL_API_KEY --env production
git commit -am \"Production settings\"
make deploy ENV=production
make superuser ENV=production EMAIL=you@your-domain
make smoke URL=https://<the host make deploy printed> EMAIL=you@your-domain"
    if [ "$commands" != "$expected" ]; then
        fail "the checklist's commands in docs/deploying.md changed; this test runs these:"$'\n'"$expected"$'\n'"the docs have:"$'\n'"$commands"
        return
    fi
    new_repo placeholder checklist
    local fake_secrets=no-worker host="" step=0 line command
    export FAKE_CALLS="$repo.calls"
    : > "$FAKE_CALLS"
    rm -f "$repo.calls.user"
    local email=ops@recipes-corp.dev password="correct horse battery staple"
    local -a env_run=(env PATH="$work/bin:$PATH" KEYS_DIR="$work/checklist-keys")
    if [ -n "${D1_PERSIST_DIR:-}" ] && [ -n "${BASE_URL:-}" ]; then
        env_run+=(FAKE_D1_PERSIST="$D1_PERSIST_DIR")
        email="ops-$RANDOM$RANDOM@recipes-corp.dev"
    fi
    echo "checklist: the superuser will be $email"
    while IFS= read -r line; do
        step=$((step + 1))
        command=${line//npx wrangler/wrangler}
        command=${command//you@your-domain/$email}
        case "$line" in
            "npx wrangler login")
                # Step 1 of the checklist, before any command: the plan, and its count.
                edit_toml 's/^PASSWORD_ITERATIONS = ""/PASSWORD_ITERATIONS = "10000"/' ;;
            "make keys"*) ;;
            "npx wrangler secret put EMAIL_API_KEY"*) ;;
            "git commit"*)
                # What the checklist asks to put in [env.production.vars] and uncomment.
                local id
                id=$(grep -o '"database_id": "[^"]*"' <<< "$created" | cut -d'"' -f4)
                awk -v id="$id" '/^\[\[env.production.d1_databases\]\]/ { p = 1 } p && /^database_id/ { print "database_id = \"" id "\""; p = 0; next } { print }' \
                    "$repo/wrangler.toml" > "$repo/wrangler.toml.new" && mv "$repo/wrangler.toml.new" "$repo/wrangler.toml"
                set_var_nocommit production BACKEND_CORS_ORIGINS "https://app.recipes-corp.dev"
                set_var_nocommit production EMAIL_API_URL "https://api.resend.com/emails"
                set_var_nocommit production EMAIL_FROM "Recipe API <no-reply@recipes-corp.dev>"
                edit_toml -e 's/^# \[env.production\]$/[env.production]/' \
                    -e 's/^# routes = \[{ pattern = "api.your-domain"/routes = [{ pattern = "api.recipes-corp.dev"/' \
                    -e 's/^# workers_dev = false/workers_dev = false/'
                grep -q '^routes = \[{ pattern = "api.recipes-corp.dev", custom_domain = true }\]' "$repo/wrangler.toml" \
                    || { fail "checklist: wrangler.toml has no commented routes line to uncomment"; return; }
                command="git -c user.name=test -c user.email=test@example.com -c commit.gpgsign=false commit -qam Production" ;;
            "make deploy"*) export FAKE_TARGETS="api.recipes-corp.dev (custom domain)" ;;
            "make superuser"*) command="env SUPERUSER_PASSWORD='$password' $command" ;;
            "make smoke"*)
                if [ -z "${BASE_URL:-}" ]; then
                    pass "checklist step $step ($line): runs against the test server (tests/first-deploy.test.mjs)"
                    continue
                fi
                [ "$host" = "https://api.recipes-corp.dev" ] \
                    || { fail "checklist: make deploy printed the host \"$host\", not the custom domain"; return; }
                command="env SUPERUSER_PASSWORD='$password' make smoke URL=$BASE_URL EMAIL=$email" ;;
        esac
        [ "$line" != "npx wrangler secret put EMAIL_API_KEY --env production" ] || command="printf re_test_key | $command"
        status=0
        output=$(cd "$repo" && "${env_run[@]}" FAKE_SECRETS="$fake_secrets" bash -c "$command" 2>&1 < /dev/null) || status=$?
        if [ "$status" != 0 ]; then
            fail "checklist step $step ($line): exit $status"$'\n'"$output"
            return
        fi
        case "$line" in
            *"d1 create"*) created=$output ;;
            "make keys"*) fake_secrets="JWT_SECRET MFA_ENCRYPTION_KEY" ;;
            *"secret put EMAIL_API_KEY"*) fake_secrets="$fake_secrets EMAIL_API_KEY" ;;
            "make deploy"*) host=$(sed -n 's/^deploy: production is live at //p' <<< "$output" | head -n 1) ;;
            "make superuser"*)
                grep -q "created $email in production" <<< "$output" \
                    || { fail "checklist step $step ($line): no superuser created:"$'\n'"$output"; return; } ;;
            "make smoke"*)
                grep -q "logs in, and is a superuser" <<< "$output" \
                    || { fail "checklist step $step ($line): the superuser did not log in:"$'\n'"$output"; return; } ;;
        esac
        pass "checklist step $step: $line"
    done <<< "$commands"
    local remote
    remote=$(grep -v '^d1 execute' "$FAKE_CALLS")
    expected="login
d1 create recipe-api-production
secret list --env production
secret put JWT_SECRET --env production
secret put MFA_ENCRYPTION_KEY --env production
secret put EMAIL_API_KEY --env production
setup
secret list --env production
deploy --dry-run --env production --outdir DIR
d1 time-travel info DB --env production --json
d1 migrations apply DB --remote --env production
deploy --env production --config CONFIG(no build) --no-bundle BUNDLE(built) --message git $(git -C "$repo" rev-parse --short=12 HEAD)"
    [ "$remote" = "$expected" ] && pass "checklist: wrangler was called exactly so, in this order" \
        || fail "checklist: expected the calls"$'\n'"$expected"$'\n'"got"$'\n'"$remote"
}
set_var_nocommit() { # env name value
    awk -v table="[env.$1.vars]" -v name="$2" -v value="$3" '
        /^[[:space:]]*\[/ { inside = ($1 == table) }
        inside && $1 == name && $2 == "=" { print name " = \"" value "\""; next } { print }' \
        "$repo/wrangler.toml" > "$repo/wrangler.toml.new"
    mv "$repo/wrangler.toml.new" "$repo/wrangler.toml"
}

# scripts/dev-vars.sh, which scripts/setup.sh runs: a copy of .dev.vars.example made usable.
dev_vars_cases() {
    new_repo placeholder
    cp "$ROOT/.dev.vars.example" "$repo/.dev.vars"
    run scripts/dev-vars.sh
    local vars="$repo/.dev.vars"
    if [ "$status" != 0 ]; then
        fail "dev-vars.sh on a copy of .dev.vars.example: exit $status"$'\n'"$output"
    elif grep -q '^[A-Z_]*=.*replace-with' "$vars" || ! grep -q '^FIRST_SUPERUSER=admin@recipe-api.localhost$' "$vars" \
        || ! grep -Eq '^JWT_SECRET=[0-9a-f]{64}$' "$vars" || ! grep -Eq '^MFA_ENCRYPTION_KEY=[0-9a-f]{64}$' "$vars"; then
        fail "dev-vars.sh left placeholders, or no local superuser or keys:"$'\n'"$(cat "$vars")"
    elif [ "$(grep -c '^#' "$vars")" != "$(grep -c '^#' "$ROOT/.dev.vars.example")" ] || [ -z "$(find "$vars" -perm 600)" ]; then
        fail "dev-vars.sh lost the comments of the copy, or the file is not mode 600"
    else
        pass "a copy of .dev.vars.example: every placeholder replaced, comments kept, mode 600"
    fi
    cp "$vars" "$work/dev-vars.before"
    run scripts/dev-vars.sh
    [ "$status" = 0 ] && cmp -s "$vars" "$work/dev-vars.before" && [ -z "$output" ] \
        && pass "a second run changes nothing and says nothing" \
        || fail "a second run: exit $status, output: $output"$'\n'"$(diff "$work/dev-vars.before" "$vars")"
    printf 'FIRST_SUPERUSER=admin@recipeapi.com\nTURNSTILE_SECRET_KEY=replace-with-the-widget-secret\n' > "$vars"
    run scripts/dev-vars.sh
    if [ "$status" = 0 ] && grep -q '^FIRST_SUPERUSER=admin@recipe-api.localhost$' "$vars" \
        && grep -q 'still holds a placeholder for TURNSTILE_SECRET_KEY' <<< "$output"; then
        pass "the old superuser default replaced; a placeholder it does not own pointed out"
    else
        fail "an old .dev.vars: exit $status"$'\n'"$output"$'\n'"$(cat "$vars")"
    fi
}

if [ "$only" = checklist ]; then
    checklist
else
    deploy_cases
    dev_vars_cases
    keys_cases
    superuser_cases
    checklist
fi
[ "$failures" = 0 ] || { echo "deploy scripts: $failures failed" >&2; exit 1; }
