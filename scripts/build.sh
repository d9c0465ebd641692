#!/usr/bin/env bash
# Compiles the worker to wasm and its JS shim into build/. Run by wrangler's [build] command
# (`wrangler dev`, `wrangler deploy`), so it works from any of them.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
use_wasm_toolchain
exec worker-build --release
