#!/usr/bin/env bash
# Generates an environment's keys, keeps each in a file only you can read, and sets it as the
# Worker's secret from that file: a key that goes straight from `openssl rand` into
# `wrangler secret put` is a key nobody has, and Cloudflare never shows a secret again.
#
#   scripts/keys.sh staging|production [NAME]     (make keys ENV=production [NAME=JWT_SECRET])
#
# NAME: JWT_SECRET or MFA_ENCRYPTION_KEY; both when omitted. Each is 32 random bytes as 64 hex
# characters, written to $KEYS_DIR (default ~/recipe-api-keys) as ENV-NAME-<UTC time>-<random>.key,
# mode 0600, never over another file; then `wrangler secret put NAME --env ENV < file`.
# Move each file into your password manager, then delete it.
#
# Refuses to replace a key that is set already unless NAME_PREVIOUS is set too (a rotation,
# docs/deploying.md#secrets-and-their-rotation): replacing MFA_ENCRYPTION_KEY alone makes
# every TOTP secret unreadable. REPLACE=1 replaces it anyway (a leaked JWT_SECRET).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

refuse() {
    echo "keys: refused: $*" >&2
    exit 1
}

env=${1:-}
case "$env" in
    staging | production) ;;
    *) echo "keys: say which environment: make keys ENV=production (or ENV=staging)" >&2; exit 2 ;;
esac
case "${2:-}" in
    "") names=(JWT_SECRET MFA_ENCRYPTION_KEY) ;;
    JWT_SECRET | MFA_ENCRYPTION_KEY) names=("$2") ;;
    *) echo "keys: NAME must be JWT_SECRET or MFA_ENCRYPTION_KEY (the keys this project generates;" \
        "the others come from their providers: npx wrangler secret put NAME --env $env)" >&2; exit 2 ;;
esac

export PATH="$ROOT/node_modules/.bin:$PATH" WRANGLER_SEND_METRICS=false
errors=$(mktemp "${TMPDIR:-/tmp}/recipe-api-keys.XXXXXX")
trap 'rm -f "$errors"' EXIT
if ! secrets=$(wrangler secret list --env "$env" 2> "$errors"); then
    if grep -q 'not found' "$errors" && grep -q 'new Worker' "$errors"; then
        # The first deploy: no Worker yet. The first `secret put` creates it.
        secrets="[]"
        echo "keys: no Worker for $env yet; setting the first key creates it"
    else
        cat "$errors" >&2
        refuse "could not list the $env secrets (see wrangler's message above): \`npx wrangler login\`" \
            "first (or CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID)"
    fi
fi
has_secret() { grep -q "\"$1\"" <<< "$secrets"; }
for name in "${names[@]}"; do
    if has_secret "$name" && ! has_secret "${name}_PREVIOUS" && [ "${REPLACE:-}" != 1 ]; then
        refuse "$name is set for $env already. To rotate it, first keep the current key as" \
            "${name}_PREVIOUS (docs/deploying.md#secrets-and-their-rotation); REPLACE=1 replaces" \
            "it without (a leaked key)"
    fi
done

dir=${KEYS_DIR:-$HOME/recipe-api-keys}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
# The time, and a few random characters: two runs within a second name different files.
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')
files=()
for name in "${names[@]}"; do
    file="$dir/$env-$name-$stamp.key"
    # noclobber: never over an existing file, a key someone may still need.
    (set -o noclobber; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$file") \
        || refuse "$file exists already; nothing was set"
    wrangler secret put "$name" --env "$env" < "$file"
    files+=("$file")
    echo "keys: $name for $env is set, and kept in $file (readable by you only)"
done
echo
echo "keys: Cloudflare will never show these again. Move each file into your password manager"
echo "      now (an entry named after the file), then delete the file:"
for file in "${files[@]}"; do echo "        $file"; done
echo "      The rotation runbooks (docs/deploying.md) start from those entries."
