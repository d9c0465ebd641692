# Sourced by the other scripts: where the build tools live and how to reach a wasm32 std.
#
# Two paths to a standard library for wasm32-unknown-unknown:
#  - rustup's target, where `rustup target add wasm32-unknown-unknown` works;
#  - otherwise Debian's rustc-web, whose std *source* we build with cargo's build-std
#    (set up by scripts/setup.sh from apt).
# Only the wasm build sees these settings; native `cargo test` keeps the rustup toolchain.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Tools cargo-installs (worker-build, wasm-bindgen). Project-local by default; point it
# elsewhere (e.g. ~/.cache/recipe-api/tools) to share one copy between clones.
TOOLS_DIR=${RECIPE_API_TOOLS:-$ROOT/.tools}
WORKER_BUILD_VERSION=0.8.7
DEBIAN_STD_SRC=/usr/lib/rustlib/src/rust/library

# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock exactly.
locked_version() {
    awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
        "$ROOT/Cargo.lock"
}
WASM_BINDGEN_VERSION=$(locked_version wasm-bindgen)

rustup_has_wasm_std() {
    command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

debian_has_wasm_std() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] && [ -d "$DEBIAN_STD_SRC" ] && [ -e /usr/bin/rust-lld ]
}

# Exports what worker-build needs for a wasm build.
use_wasm_toolchain() {
    export PATH="$TOOLS_DIR/bin:$ROOT/node_modules/.bin:$PATH"
    export WASM_BINDGEN_BIN="$TOOLS_DIR/bin/wasm-bindgen"
    export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
    export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
    if rustup_has_wasm_std; then
        return 0
    fi
    if ! debian_has_wasm_std; then
        echo "No wasm32 standard library: run scripts/setup.sh first." >&2
        return 1
    fi
    # worker-build asks `rustc --print target-libdir` whether the target exists; Debian's
    # rustc names a directory that build-std never needs, so a small wrapper answers it.
    local shim="$TOOLS_DIR/debian-rustc"
    mkdir -p "$shim/wasm32-libdir"
    cat > "$shim/rustc" <<SHIM
#!/bin/sh
if [ "\$*" = "--target wasm32-unknown-unknown --print target-libdir" ]; then
    echo "$shim/wasm32-libdir"
else
    exec /usr/bin/rustc "\$@"
fi
SHIM
    chmod +x "$shim/rustc"
    export PATH="$shim:/usr/bin:$PATH"
    export RUSTC=/usr/bin/rustc
    export RUSTC_BOOTSTRAP=1
    # As an environment variable, not in .cargo/config.toml, so native builds are unaffected.
    export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    # A target dir of its own: Debian's rustc and rustup's must not share artefacts.
    export CARGO_TARGET_DIR="$ROOT/target/wasm-debian"
}

# The Node that runs wrangler, the tests and the other JavaScript tools. wrangler needs Node
# 22.12 or newer; package.json pins one as optional dependencies, one package per platform
# (each declares its os and cpu, so npm installs only this machine's, pinned by the lock
# file, with no install script), and links it as node_modules/.bin/node. Elsewhere (a
# platform without such a package) a system Node that is new enough does.
NODE_MIN_VERSION=22.12.0

node_is_new_enough() { # node binary
    "$1" -e 'const [a, b] = process.argv[1].split(".").map(Number);
        const [x, y] = process.versions.node.split(".").map(Number);
        process.exit(x > a || (x === a && y >= b) ? 0 : 1)' "$NODE_MIN_VERSION" 2>/dev/null
}

# Puts that Node and wrangler (node_modules/.bin) first on PATH for this script and all it
# starts, so that `node`, `wrangler` and wrangler's own `#!/usr/bin/env node` are the pinned
# ones. Fails with a hint when no Node is new enough.
use_project_node() {
    export PATH="$ROOT/node_modules/.bin:$PATH"
    if ! node_is_new_enough "$(command -v node || echo node)"; then
        echo "No Node $NODE_MIN_VERSION or newer: scripts/setup.sh installs one from package.json" \
            "for Linux (x64, arm64) and macOS (arm64, x64); elsewhere install Node $NODE_MIN_VERSION+." >&2
        return 1
    fi
}
