#!/usr/bin/env bash
# Brings the API up locally: installs what is missing, applies the D1 migrations to the
# local database (.wrangler/state), seeds it and serves the worker on http://127.0.0.1:${PORT:-8787}.
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
npx wrangler d1 migrations apply DB --local
"$ROOT/scripts/seed.sh" --local
echo "The superuser's email and password are in .dev.vars (FIRST_SUPERUSER, FIRST_SUPERUSER_PASSWORD)."
exec npx wrangler dev --local --ip 127.0.0.1 --port "${PORT:-8787}"
