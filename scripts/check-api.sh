#!/usr/bin/env bash
# Checks the served API against its own OpenAPI document with schemathesis (PyPI): generated
# requests to every operation, default checks (no 5xx, documented status codes, content types
# and headers, responses matching their schemas, ...). Runs against a fresh local server.
#
#   scripts/check-api.sh [extra schemathesis options, e.g. --max-examples 200]
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

venv="$TOOLS_DIR/venv"
SCHEMATHESIS_VERSION=4.32.5
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "check-api: installing schemathesis $SCHEMATHESIS_VERSION"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SCHEMATHESIS="$venv/bin/schemathesis"
exec "$ROOT/scripts/with-server.sh" bash "$ROOT/checks/schemathesis.sh" "$@"
