#!/usr/bin/env bash
# Installs everything the build, the local server and the tests need. Idempotent: a second
# run checks versions and returns in seconds.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

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
    if ! timeout 60 rustup target add wasm32-unknown-unknown; then
        echo "setup: rustup cannot download; using Debian's rustc-web and building std from source"
        # rust-lld from rustc-web is a link to lld-22.
        apt_install rustc-web cargo-web rust-web-src lld-22
    fi
fi

# 2. Chromium for the browser test of /docs (Debian's; browser downloads are not possible
#    everywhere, and Debian's is what the test drives through playwright-core).
[ -x /usr/bin/chromium ] || apt_install chromium

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

# 5. Local secrets, generated once: the signing key, the second factor's sealing key, the seeded superuser's password and the
#    local email API's address and key, the local identity providers' clients, and the local
#    breached-password range API.
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
touch .dev.vars
chmod 600 .dev.vars
add_var() { # name value
    grep -q "^$1=" .dev.vars || { echo "$1=$2" >> .dev.vars; echo "setup: wrote $1 to .dev.vars"; }
}
add_var JWT_SECRET "$(random_hex 32)"
# The key TOTP secrets are sealed with (AES-256-GCM): 64 hex characters.
add_var MFA_ENCRYPTION_KEY "$(random_hex 32)"
add_var FIRST_SUPERUSER admin@recipeapi.com
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
echo "setup: ready"
