#!/usr/bin/env bash
# Runs every test: the docs check and the deploy script's test, native unit tests of the pure
# code, the deploy configuration, then HTTP tests against the worker compiled to wasm and
# served by workerd (scripts/with-server.sh) with a fresh, empty local D1. Ends with a
# summary, one line per step; a step that fails ends the run. Stops everything it started,
# whatever happens.
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

# `scripts/test.sh deploy`: only the deploy script's test and the dry runs.
if [ "${1:-}" = deploy ]; then
    echo "== deploy script (scripts/deploy.sh against a fake wrangler)"
    "$ROOT/tests/deploy.test.sh"
    echo "== deploy configuration (wrangler deploy --dry-run)"
    deploy_dry_runs
    exit
fi

# The summary, printed last whatever happens: each step that ran, its result and time.
results=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-test-summary.XXXXXX")
steps=()
step_started=$SECONDS
duration() { if [ "$1" -ge 60 ]; then echo "$(($1 / 60)) min $(($1 % 60)) s"; else echo "$1 s"; fi; }
record() { # step result details
    steps+=("$(printf '  %-19s %-7s %s (%s)' "$1" "$2" "$3" "$(duration $((SECONDS - step_started)))")")
    step_started=$SECONDS
}
summary() {
    local status=$?
    echo
    echo "== summary"
    [ ${#steps[@]} -eq 0 ] || printf '%s\n' "${steps[@]}"
    [ ! -s "$results/failed" ] || sed 's/^/    /' "$results/failed"
    if [ "$status" = 0 ]; then
        echo "make test: all passed ($(duration "$SECONDS"))"
    else
        echo "make test: FAILED ($(duration "$SECONDS"))"
    fi
    rm -rf "$results"
}
trap summary EXIT

# Seconds, no network: the docs against the code, and scripts/deploy.sh's refusals and order
# of work against a fake wrangler (no account needed, no remote call possible).
echo "== docs (links, routes, settings)"
if node "$ROOT/scripts/check-docs.mjs"; then
    record "docs" ok "links, routes, settings"
else
    record "docs" FAILED "see above"
    exit 1
fi
echo "== deploy script (scripts/deploy.sh against a fake wrangler)"
if "$ROOT/tests/deploy.test.sh"; then
    record "deploy script" ok "refusals and order of work"
else
    record "deploy script" FAILED "see above"
    exit 1
fi

echo "== native unit tests"
if cargo test --locked --quiet 2>&1 | tee "$results/native"; then
    record "native unit tests" ok "$(awk '/^test result:/ { p += $4; f += $6; i += $8 }
        END { printf "%d passed, %d failed, %d ignored", p, f, i }' "$results/native")"
else
    record "native unit tests" FAILED "$(grep -E '^test .* FAILED$|^error' "$results/native" | head -n 1)"
    exit 1
fi

echo "== deploy configuration (wrangler deploy --dry-run)"
if deploy_dry_runs; then
    record "deploy dry runs" ok "production, staging"
else
    record "deploy dry runs" FAILED "see above"
    exit 1
fi

echo "== integration tests (wasm in workerd, local D1)"
# In TEST_SHARDS shards (default 2) run side by side, each a scripts/with-server.sh of its own:
# its own server, D1, mail catcher and stand-ins on free ports, its files one after another.
# The files are dealt in turn by name. Most of a file's time is waiting (TOTP steps, second
# servers starting, timers), so two shards take little more than half the time of one.
# Each shard's output is printed when it ends, whole.
shards=${TEST_SHARDS:-2}
"$ROOT/scripts/build.sh" > "$results/build.log" 2>&1 || { cat "$results/build.log" >&2; record "integration tests" FAILED "the build"; exit 1; }
files=(tests/*.test.mjs)
pids=()
for ((shard = 0; shard < shards; shard++)); do
    mine=()
    for i in "${!files[@]}"; do
        if [ $((i % shards)) = "$shard" ]; then mine+=("${files[$i]}"); fi
    done
    echo "shard $((shard + 1)) of $shards: ${#mine[@]} files (${mine[*]})"
    RECIPE_API_BUILT=1 "$ROOT/scripts/with-server.sh" node --test --test-concurrency=1 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter="$ROOT/scripts/test-summary.mjs" --test-reporter-destination="$results/integration.$shard" \
        "${mine[@]}" > "$results/output.$shard" 2>&1 &
    pids+=($!)
done
status=0
for ((shard = 0; shard < shards; shard++)); do
    wait "${pids[$shard]}" || status=1
    echo "-- shard $((shard + 1)) of $shards"
    cat "$results/output.$shard"
done
# Each shard's first summary line: "N passed, M failed, …, in K files"; added up here.
counts=$(for ((shard = 0; shard < shards; shard++)); do head -n 1 "$results/integration.$shard" 2>/dev/null; done |
    node -e '
        const totals = new Map();
        for (const line of require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean)) {
            for (const [, n, what] of line.matchAll(/(\d+) (\w+)/g)) totals.set(what, (totals.get(what) ?? 0) + Number(n));
        }
        const files = totals.get("files") ?? 0;
        totals.delete("files");
        console.log([...totals].map(([what, n]) => `${n} ${what}`).join(", ") + `, in ${files} files`);
    ')
cat "$results"/integration.* 2>/dev/null | grep '^FAILED ' | sed 's/^FAILED //' > "$results/failed" || true
if [ "$status" = 0 ]; then
    record "integration tests" ok "$counts"
else
    record "integration tests" FAILED "${counts:-the server or the runner failed (see above)}"
fi
exit "$status"
