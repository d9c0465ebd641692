#!/usr/bin/env bash
# Runs every test: native unit tests of the pure code, then HTTP tests against the worker
# compiled to wasm and served by workerd (`wrangler dev`) with a fresh, empty local D1.
# Stops everything it started, whatever happens.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

echo "== native unit tests"
cargo test --locked --quiet

echo "== integration tests (wasm in workerd, local D1)"
exec "$ROOT/scripts/with-server.sh" node --test --test-reporter=spec --test-concurrency=1 tests/
