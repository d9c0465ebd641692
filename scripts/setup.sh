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

# 5. Local secrets in .dev.vars, generated once; placeholders replaced.
"$ROOT/scripts/dev-vars.sh"
echo "setup: ready"
