#!/usr/bin/env bash
# Brings the API up locally: installs what is missing, applies the D1 migrations to the
# local database (.wrangler/state), seeds it (its superuser; SAMPLE=1: the original app's three
# recipes too) and serves the worker on http://127.0.0.1:${PORT:-8787},
# with a mail catcher (scripts/mail-catcher.mjs) on http://127.0.0.1:${MAIL_PORT:-8025} as its
# email API: the emails it sends (password reset, verification) are listed on that page.
# Where .dev.vars turns Turnstile on and points TURNSTILE_VERIFY_URL at this machine, a
# siteverify stand-in (scripts/turnstile-siteverify.mjs) on ${TURNSTILE_PORT:-8026} too; where
# it points OIDC_ISSUER and GITHUB_URL at this machine, a local OpenID provider
# (scripts/oidc-provider.mjs) on ${OIDC_PORT:-8027} and a GitHub stand-in
# (scripts/github-oauth.mjs) on ${GITHUB_PORT:-8028}, for "Sign in with …"; where it points
# PWNED_PASSWORDS_URL at this machine, a breached-password range API stand-in
# (scripts/pwned-passwords.mjs) on ${PWNED_PORT:-8029}. Stops them too when the server ends.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
use_project_node

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
wrangler d1 migrations apply DB --local
if [ "${SAMPLE:-}" = 1 ]; then "$ROOT/scripts/seed.sh" --local --sample; else "$ROOT/scripts/seed.sh" --local; fi

# The last value .dev.vars gives a name (as setup.sh writes it: NAME=value, unquoted).
dev_var() { sed -n "s/^$1=//p" .dev.vars | tail -n 1; }

server="" catcher="" siteverify="" openid="" github="" pwned=""
stop() {
    local pid
    for pid in $server $catcher $siteverify $openid $github $pwned; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Whether a URL of .dev.vars names this machine, where a local stand-in is to answer it.
is_local() { [[ "$1" == http://127.0.0.1:* || "$1" == http://localhost:* ]]; }
# Waits up to 5 s for a local stand-in to answer `url`; exits, naming `env-var`, if it does not.
wait_for() { # url pid what env-var
    for _ in $(seq 50); do
        curl -s -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    curl -s -o /dev/null "$1" || { echo "dev: $3 did not start (port taken? set $4)" >&2; exit 1; }
}

# The catcher runs where .dev.vars sends email to this machine; when EMAIL_API_URL names
# another service (Resend), emails go there instead. MAIL_PORT moves the catcher, and the
# worker is told the new address with --var (which wins over .dev.vars).
email_url=$(dev_var EMAIL_API_URL)
mail_args=()
if [ -z "$email_url" ] || is_local "$email_url"; then
    mail_port=${MAIL_PORT:-8025}
    mail_page="http://127.0.0.1:$mail_port"
    [ "$email_url" = "$mail_page/emails" ] || mail_args=(--var "EMAIL_API_URL:$mail_page/emails")
    # The key goes in the environment, not on the command line (where `ps` shows it).
    MAIL_CATCHER_API_KEY=$(dev_var EMAIL_API_KEY) node "$ROOT/scripts/mail-catcher.mjs" --port "$mail_port" &
    catcher=$!
    wait_for "$mail_page/api/messages" "$catcher" "the mail catcher" MAIL_PORT
    echo "Emails the API sends (password reset, email verification) appear on $mail_page"
else
    echo "Emails go to $email_url (EMAIL_API_URL in .dev.vars); no mail catcher started."
fi

# Turnstile is off unless .dev.vars sets TURNSTILE_SECRET_KEY: Cloudflare's test secret
# 1x0000000000000000000000000000000AA passes every token (2x… fails every one, 3x… says it is
# spent). With TURNSTILE_VERIFY_URL on this machine, the stand-in answers for siteverify;
# TURNSTILE_PORT moves it, and the worker is told with --var.
turnstile_url=$(dev_var TURNSTILE_VERIFY_URL)
turnstile_args=()
if is_local "$turnstile_url"; then
    siteverify_port=${TURNSTILE_PORT:-8026}
    siteverify_base="http://127.0.0.1:$siteverify_port"
    siteverify_url="$siteverify_base/turnstile/v0/siteverify"
    [ "$turnstile_url" = "$siteverify_url" ] || turnstile_args=(--var "TURNSTILE_VERIFY_URL:$siteverify_url")
    node "$ROOT/scripts/turnstile-siteverify.mjs" --port "$siteverify_port" &
    siteverify=$!
    wait_for "$siteverify_base/api/requests" "$siteverify" "the siteverify stand-in" TURNSTILE_PORT
fi
if [ -z "$(dev_var TURNSTILE_SECRET_KEY)" ]; then
    echo "Turnstile is off (no TURNSTILE_SECRET_KEY in .dev.vars)."
elif [ -n "$siteverify" ]; then
    echo "Turnstile is on; tokens are verified by the local stand-in at $siteverify_url"
else
    echo "Turnstile is on; tokens are verified at ${turnstile_url:-the TURNSTILE_VERIFY_URL of wrangler.toml}"
fi
# Sign-in with identity providers, where .dev.vars enables them (a client id) and points them
# at this machine: the local OpenID provider (any login name, any password; a login starting
# with "unverified" has an unverified email) and the GitHub stand-in (a form: login, email,
# verified or not). OIDC_PORT and GITHUB_PORT move them, and the worker is told with --var. The
# provider registers the worker's callback at both 127.0.0.1 and localhost.
oauth_args=()
if [ -n "$(dev_var OIDC_CLIENT_ID)" ] && is_local "$(dev_var OIDC_ISSUER)"; then
    openid_port=${OIDC_PORT:-8027}
    openid_issuer="http://127.0.0.1:$openid_port"
    [ "$(dev_var OIDC_ISSUER)" = "$openid_issuer" ] || oauth_args+=(--var "OIDC_ISSUER:$openid_issuer")
    OIDC_CLIENT_SECRET=$(dev_var OIDC_CLIENT_SECRET) node "$ROOT/scripts/oidc-provider.mjs" --port "$openid_port" \
        --client-id "$(dev_var OIDC_CLIENT_ID)" \
        --redirect-uri "http://127.0.0.1:${PORT:-8787}/api/v1/auth/oauth/oidc/callback" \
        --redirect-uri "http://localhost:${PORT:-8787}/api/v1/auth/oauth/oidc/callback" &
    openid=$!
    wait_for "$openid_issuer/.well-known/openid-configuration" "$openid" "the OpenID provider" OIDC_PORT
    echo "Sign in with OpenID Connect: a local provider at $openid_issuer (any login, any password)."
fi
if [ -n "$(dev_var GITHUB_CLIENT_ID)" ] && is_local "$(dev_var GITHUB_URL)"; then
    github_port=${GITHUB_PORT:-8028}
    github_base="http://127.0.0.1:$github_port"
    [ "$(dev_var GITHUB_URL)" = "$github_base" ] || oauth_args+=(--var "GITHUB_URL:$github_base")
    [ "$(dev_var GITHUB_API_URL)" = "$github_base" ] || oauth_args+=(--var "GITHUB_API_URL:$github_base")
    GITHUB_CLIENT_SECRET=$(dev_var GITHUB_CLIENT_SECRET) node "$ROOT/scripts/github-oauth.mjs" --port "$github_port" \
        --client-id "$(dev_var GITHUB_CLIENT_ID)" &
    github=$!
    wait_for "$github_base/api/requests" "$github" "the GitHub stand-in" GITHUB_PORT
    echo "Sign in with GitHub: a local stand-in at $github_base (a form; nothing goes to github.com)."
fi
# New passwords are checked against breached ones (PWNED_PASSWORDS, on unless .dev.vars says
# off). With PWNED_PASSWORDS_URL on this machine, the stand-in answers for Have I Been Pwned,
# knowing a few breached passwords (password123 among them); PWNED_PORT moves it, and the
# worker is told with --var.
pwned_args=()
pwned_url=$(dev_var PWNED_PASSWORDS_URL)
if [ "$(dev_var PWNED_PASSWORDS)" = off ]; then
    echo "Breached passwords are not checked (PWNED_PASSWORDS=off in .dev.vars)."
elif is_local "$pwned_url"; then
    pwned_base="http://127.0.0.1:${PWNED_PORT:-8029}"
    [ "$pwned_url" = "$pwned_base/range/" ] || pwned_args=(--var "PWNED_PASSWORDS_URL:$pwned_base/range/")
    node "$ROOT/scripts/pwned-passwords.mjs" --port "${PWNED_PORT:-8029}" &
    pwned=$!
    wait_for "$pwned_base/api/requests" "$pwned" "the Pwned Passwords stand-in" PWNED_PORT
    echo "Breached passwords: a local stand-in at $pwned_base/range/ (password123 is one)."
else
    echo "Breached passwords are checked at ${pwned_url:-Have I Been Pwned (PWNED_PASSWORDS_URL of wrangler.toml)}."
fi
echo "The superuser's email and password are in .dev.vars (FIRST_SUPERUSER, FIRST_SUPERUSER_PASSWORD)."
echo "Sign in, sign up and manage your account at http://localhost:${PORT:-8787}/login"
echo "Passkeys: open http://localhost:${PORT:-8787} (browsers refuse an IP address such as 127.0.0.1 as a passkey's RP ID)."

# In the background so that this script stays to stop the catcher, yet on the terminal's
# input (a background job's default is /dev/null) for wrangler's keyboard shortcuts. Not
# through npx, which runs it under `sh -c`, which does not pass a SIGTERM on to wrangler.
wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}" \
    "${mail_args[@]}" "${turnstile_args[@]}" "${oauth_args[@]}" "${pwned_args[@]}" <&0 &
server=$!
status=0
wait "$server" || status=$?
server=""
exit "$status"
