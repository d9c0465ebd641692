#!/usr/bin/env bash
# Installs everything the build, the local server and the tests need. Idempotent: a second
# run checks versions and returns in seconds.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt only where there is one (Debian, Ubuntu); elsewhere (macOS) a step that would need it
# says what to install instead.
has_apt() { command -v apt-get > /dev/null && command -v dpkg-query > /dev/null; }

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# 1. A standard library for wasm32: rustup's if it can be had, else Debian's source.
if ! rustup_has_wasm_std && ! debian_has_wasm_std; then
    echo "setup: adding the wasm32 target with rustup"
    # `timeout` is GNU coreutils': not on a stock macOS, where rustup is the way anyway.
    if ! if command -v timeout > /dev/null; then timeout 60 rustup target add wasm32-unknown-unknown
        else rustup target add wasm32-unknown-unknown; fi; then
        has_apt || { echo "setup: rustup could not add the wasm32-unknown-unknown target;" \
            "run \`rustup target add wasm32-unknown-unknown\` once it can" >&2; exit 1; }
        echo "setup: rustup cannot download; using Debian's rustc-web and building std from source"
        # rust-lld from rustc-web is a link to lld-22.
        apt_install rustc-web cargo-web rust-web-src lld-22
    fi
fi

# 2. Chromium, for the browser tests only (Debian's; browser downloads are not possible
#    everywhere, and Debian's is what the tests drive through playwright-core). Elsewhere the
#    tests take CHROMIUM_BIN; `make dev` and `make deploy` need no browser.
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_BIN:-}" ]; then
    if has_apt; then
        apt_install chromium
    else
        echo "setup: no Chromium (only the browser tests need one): set CHROMIUM_BIN to a Chromium" \
            "or Chrome binary, e.g. CHROMIUM_BIN=\"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome\""
    fi
fi

# 3. wrangler, workerd, esbuild, wasm-opt and the Node that runs them, from the npm lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
(use_project_node)

# 4. worker-build and the wasm-bindgen CLI, at the versions the crate needs.
cargo_install() { # crate version [cargo install flags]
    local crate=$1 version=$2 binary=$3
    shift 3
    if [ -x "$TOOLS_DIR/bin/$binary" ] && "$TOOLS_DIR/bin/$binary" --version 2>/dev/null | grep -Eq "(^|[ v])${version//./\\.}$"; then
        return 0
    fi
    echo "setup: cargo install $crate@$version (a few minutes, once)"
    cargo install --quiet --force "$crate" --version "=$version" --root "$TOOLS_DIR" "$@"
}
cargo_install worker-build "$WORKER_BUILD_VERSION" worker-build --locked
# Without --locked: its lock file pins a yanked crate that registries no longer serve.
cargo_install wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen

# 5. Local secrets, generated once: the signing key, the second factor's sealing key, the
#    local superuser and their password, the local email API's address and key, and the local
#    identity providers' clients. A value still the placeholder of .dev.vars.example (a copy of
#    it, say) is replaced: the worker refuses `replace-with-…` secrets, as the world can read
#    them. So is the superuser address the project once defaulted to, at a domain nobody here
#    owns.
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
grep -E '^[A-Z_]+=.*replace-with' .dev.vars | sed 's/=.*//' | while read -r name; do
    echo "setup: .dev.vars still holds a placeholder for $name: put a value of your own there" \
        "(the worker refuses \`replace-with-…\` secrets)" >&2
done
echo "setup: ready"
