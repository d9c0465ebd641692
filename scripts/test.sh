#!/usr/bin/env bash
# Runs every test: native unit tests of the pure code, then HTTP tests against the worker
# compiled to wasm and served by workerd (`wrangler dev`) with a fresh, empty local D1.
# Stops everything it started, whatever happens.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
use_project_node

# `wrangler deploy --dry-run` for each named environment: wrangler reads and validates the
# configuration as a deploy would (its bindings, vars, triggers) and bundles the worker into a
# temporary directory, with no network and no account. A broken configuration fails here.
deploy_dry_runs() {
    local dir status=0
    dir=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-dry-run.XXXXXX")
    # Production runs wrangler.toml's [build] command (a full build); staging then bundles
    # that build with a copy minus [build], as scripts/with-server.sh serves it.
    awk '/^\[build\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' wrangler.toml \
        > "$ROOT/.wrangler-served.dry-run-$$.toml"
    for env in production staging; do
        local config=wrangler.toml
        [ "$env" = production ] || config="$ROOT/.wrangler-served.dry-run-$$.toml"
        # Each must pass and bind its own database: an environment without a
        # [[env.X.d1_databases]] deploys with no DB binding at all (bindings do not inherit).
        if WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false wrangler deploy \
            --dry-run --env "$env" --config "$config" --outdir "$dir/$env" > "$dir/$env.log" 2>&1 \
            && grep -q "env\.DB (recipe-api-$env)" "$dir/$env.log"
        then
            echo "deploy dry run, $env: ok ($(grep -o 'env\.DB ([^)]*)' "$dir/$env.log"); $(grep -o 'Total Upload: .*' "$dir/$env.log"))"
        else
            echo "deploy dry run, $env: FAILED" >&2
            cat "$dir/$env.log" >&2
            status=1
            break
        fi
    done
    rm -rf "$dir" "$ROOT/.wrangler-served.dry-run-$$.toml"
    return "$status"
}

# `scripts/test.sh deploy`: only the dry runs.
if [ "${1:-}" = deploy ]; then
    echo "== deploy configuration (wrangler deploy --dry-run)"
    deploy_dry_runs
    exit
fi

echo "== native unit tests"
cargo test --locked --quiet

echo "== deploy configuration (wrangler deploy --dry-run)"
deploy_dry_runs

echo "== integration tests (wasm in workerd, local D1)"
# A glob, as Node 22's test runner takes no directory.
exec "$ROOT/scripts/with-server.sh" node --test --test-reporter=spec --test-concurrency=1 'tests/*.test.mjs'
