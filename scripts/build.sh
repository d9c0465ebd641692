#!/usr/bin/env bash
# Compiles the worker to wasm and its JS shim into build/, and puts Swagger UI's files in
# assets/docs/. Run by wrangler's [build] command
# (`wrangler dev`, `wrangler deploy`), so it works from any of them.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
use_wasm_toolchain
# Swagger UI for /docs, from the pinned npm package (no CDN).
cp node_modules/swagger-ui-dist/{swagger-ui.css,swagger-ui-bundle.js,favicon-32x32.png} assets/docs/
exec worker-build --release
