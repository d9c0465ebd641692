#!/usr/bin/env bash
# Writes .dev.vars, the local secrets of `make dev` and the tests; scripts/setup.sh runs it.
# Each value is generated once and then kept: the signing key, the second factor's sealing
# key, the local superuser and their password, the local email API's address and key, and the
# local identity providers' clients. Except a value that is still a `replace-with-…`
# placeholder (in a copy of .dev.vars.example, say), which is replaced, as the worker refuses
# such public values; and the superuser address the project once defaulted to, at a domain
# nobody here owns. A placeholder under another name is pointed out.
set -euo pipefail
cd "$(dirname "$0")/.."

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
touch .dev.vars
chmod 600 .dev.vars
add_var() { # name value
    local current
    current=$(sed -n "s/^$1=//p" .dev.vars | tail -n 1)
    if ! grep -q "^$1=" .dev.vars; then
        echo "$1=$2" >> .dev.vars
        echo "setup: wrote $1 to .dev.vars"
    elif [[ "$current" == *replace-with* || "$current" == admin@recipeapi.com ]]; then
        # In place (every line of that name), comments and order kept. The values are hex and
        # plain words: nothing awk's -v would unescape.
        awk -v name="$1" -v value="$2" 'index($0, name "=") == 1 { print name "=" value; next } { print }' \
            .dev.vars > .dev.vars.new
        chmod 600 .dev.vars.new
        mv .dev.vars.new .dev.vars
        echo "setup: replaced the placeholder $1 in .dev.vars"
    fi
}
add_var JWT_SECRET "$(random_hex 32)"
# The key TOTP secrets are sealed with (AES-256-GCM): 64 hex characters.
add_var MFA_ENCRYPTION_KEY "$(random_hex 32)"
# A .localhost address (RFC 6761): nobody can receive its mail, and the deploy-side commands
# refuse it, so this superuser stays on this machine.
add_var FIRST_SUPERUSER admin@recipe-api.localhost
add_var FIRST_SUPERUSER_PASSWORD "$(random_hex 12)"
# The email API: the mail catcher `make dev` starts (scripts/mail-catcher.mjs), with a key of
# its own. Point both at Resend (https://api.resend.com/emails and a key) to send real email.
add_var EMAIL_API_URL http://127.0.0.1:8025/emails
add_var EMAIL_API_KEY "$(random_hex 24)"
# Sign-in with identity providers, against the local stand-ins `make dev` starts: an OpenID
# provider (scripts/oidc-provider.mjs) and GitHub's OAuth endpoints (scripts/github-oauth.mjs),
# each with a client secret of its own. Google is configured in real deployments only.
add_var OIDC_ISSUER http://127.0.0.1:8027
add_var OIDC_CLIENT_ID recipe-api-local
add_var OIDC_CLIENT_SECRET "$(random_hex 24)"
add_var OIDC_NAME "Local OpenID provider"
add_var GITHUB_CLIENT_ID "Iv1.$(random_hex 8)"
add_var GITHUB_CLIENT_SECRET "$(random_hex 20)"
add_var GITHUB_URL http://127.0.0.1:8028
add_var GITHUB_API_URL http://127.0.0.1:8028
# Breached passwords: the local range API `make dev` starts (scripts/pwned-passwords.mjs), not
# Have I Been Pwned; set it to https://api.pwnedpasswords.com/range/ to ask the real one.
add_var PWNED_PASSWORDS_URL http://127.0.0.1:8029/range/
{ grep -E '^[A-Z_]+=.*replace-with' .dev.vars || true; } | sed 's/=.*//' | while read -r name; do
    echo "setup: .dev.vars still holds a placeholder for $name: put a value of your own there" \
        "(the worker refuses \`replace-with-…\` secrets)" >&2
done
