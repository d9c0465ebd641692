#!/usr/bin/env bash
# Backs up a D1 database to a folder of SQL files, restores such a folder into a new, empty
# database, and ends every session (docs/backups.md).
#
#   scripts/backup.sh export       --env ENV [--out DIR]              ENV's database → DIR
#   scripts/backup.sh import       --env ENV --database NAME DIR      DIR → NAME, new and empty
#   scripts/backup.sh end-sessions --env ENV [--database NAME]        every token ends
#
# ENV is staging or production. `--local [--persist-to D1DIR]` in place of `--env ENV` works on
# a local D1 (make dev's, or the one in D1DIR). make backup / restore / end-sessions call this.
#
# `wrangler d1 export` refuses a database holding a virtual table ("cannot export databases
# with Virtual Tables (fts5)"), and the search index recipes_fts is one. So the export names
# every other table (d1_migrations included, so a restored database knows its migrations),
# index and trigger, and leaves out the virtual tables and their shadow tables; the virtual
# tables' own CREATE statements go to a file of their own, which the import runs after the
# tables, followed by a `rebuild` that refills each index from its content table. A folder:
#
#   tables.sql         wrangler d1 export of the tables, their rows, indexes and triggers
#   search-index.sql   CREATE VIRTUAL TABLE …; INSERT INTO … VALUES ('rebuild')
#   manifest.json      where and when it was taken, and each table's row count
#
# A restore brings back revoked sessions, old password hashes and used tokens as they were:
# the import ends every session (each user's token version goes up by one, so every access
# and refresh token, emailed link and sign-in code from before stops working), and so must a
# D1 Time Travel restore (end-sessions).
set -euo pipefail
source "$(dirname "$0")/toolchain.sh"
cd "$ROOT"
use_project_node
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

usage() {
    sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
fail() {
    echo "backup: $*" >&2
    exit 1
}
scratch=""
trap 'rm -rf "$scratch"' EXIT

command=${1:-}
[ $# -gt 0 ] && shift
env="" local=0 persist="" database="" out="" dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --env) env=${2:-}; shift 2 || usage ;;
        --local) local=1; shift ;;
        --persist-to) persist=${2:-}; shift 2 || usage ;;
        --database) database=${2:-}; shift 2 || usage ;;
        --out) out=${2:-}; shift 2 || usage ;;
        -*) usage ;;
        *) [ -z "$dir" ] || usage; dir=$1; shift ;;
    esac
done

# Where: a deployed environment's database, or a local one.
if [ "$local" = 1 ]; then
    [ -z "$env" ] || fail "--local or --env, not both"
    where=(--local)
    [ -z "$persist" ] || where+=(--persist-to "$persist")
    label=local
else
    case "$env" in
        staging | production) ;;
        "") fail "say which database: --env staging|production, or --local (make ... ENV=staging)" ;;
        *) fail "unknown environment '$env': staging or production (or --local)" ;;
    esac
    [ -z "$persist" ] || fail "--persist-to is for --local"
    where=(--remote --env "$env")
    label=$env
fi
# The environment's own database is its binding, DB; a restore names another.
db=${database:-DB}

# Runs SQL, one statement or several, and sets `results` to a JSON array holding each
# statement's rows. Exits with D1's message when D1 refuses it.
run_sql() {
    local output
    if ! output=$(wrangler d1 execute "$db" "${where[@]}" --yes --json --command "$1"); then
        fail "D1 refused a statement on $db ($label): $(node -e 'const text = require("fs").readFileSync(0, "utf8");
            try { console.log(JSON.parse(text).error.text) } catch { console.log(text) }' <<< "$output")" \
            "(the SQL began: ${1:0:160})"
    fi
    results=$(node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
        console.log(JSON.stringify(r.map((statement) => statement.results)))' <<< "$output")
}

# Runs a small JavaScript program over JSON on stdin (`input`); $1 is the program, the rest
# its arguments (process.argv[1] on). With two helpers: `ident` quotes an SQL name, and
# `countRows(tables)` is one statement answering one row, each table's row count in the
# column named by its index. (D1 allows 5 terms in a compound SELECT, but 100 columns.)
read -r -d '' JS_PRELUDE <<'JS' || true
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ident = (name) => '"' + name.replaceAll('"', '""') + '"';
const countRows = (tables) => 'SELECT '
    + tables.map((t, i) => `(SELECT count(*) FROM ${ident(t)}) AS "${i}"`).join(', ');
JS
js() {
    local program=$1
    shift
    node -e "$JS_PRELUDE
$program" "$@"
}

# Sets `counts` to each table's row count, as a JSON object {table: rows}; $1 is a JSON list
# of the tables, $2 statements to run first in the same call (optional).
row_counts() {
    local statement
    statement=$(js 'console.log(countRows(input))' <<< "$1")
    run_sql "${2:-}$statement"
    counts=$(js 'const tables = JSON.parse(process.argv[1]), row = input[input.length - 1][0];
        console.log(JSON.stringify(Object.fromEntries(tables.map((t, i) => [t, row[i]]))))' "$1" <<< "$results")
}

# Every user's token version goes up by one: each access and refresh token, emailed link,
# second step and sign-in code from before stops working (they carry or check the version).
end_sessions() {
    run_sql "UPDATE users SET token_version = token_version + 1; SELECT count(*) AS n FROM users"
    local changed
    changed=$(js 'console.log(input[1][0].n)' <<< "$results")
    echo "backup: ended every session in $db ($label): the token version of each of its $changed users is one up"
}

export_database() {
    out=${out:-backups/$label-$(date -u +%Y%m%dT%H%M%SZ)}
    [ ! -e "$out" ] || fail "$out exists already; name another with --out"
    mkdir -p "$out"
    chmod 700 "$out"
    echo "backup: exporting $db ($label) to $out"

    # Tables as SQLite lists them: `virtual` ones (the search index) and their `shadow` tables
    # are what export refuses; SQLite's own and Cloudflare's (_cf_…) are not ours to copy,
    # except sqlite_sequence, which keeps AUTOINCREMENT from reusing the ids of deleted rows.
    local names
    run_sql "PRAGMA table_list; SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL"
    names=$(js '
        const [tables, schema] = input;
        const main = tables.filter((t) => t.schema === "main");
        const skipped = new Set(main.filter((t) => t.type !== "table").map((t) => t.name));
        const kept = main.filter((t) => t.type === "table" && !skipped.has(t.name)
            && (t.name === "sqlite_sequence" || !/^(sqlite_|_cf_)/.test(t.name)));
        const keptNames = new Set(kept.map((t) => t.name));
        const rest = schema.filter((o) => ["index", "trigger", "view"].includes(o.type)
            && keptNames.has(o.tbl_name));
        const virtual = schema.filter((o) => o.type === "table" && /^CREATE VIRTUAL TABLE/i.test(o.sql));
        console.log(JSON.stringify({ tables: [...keptNames], rest: rest.map((o) => o.name), virtual }));
    ' <<< "$results")

    # Row counts, to check the restore against.
    row_counts "$(js 'console.log(JSON.stringify(input.tables))' <<< "$names")"

    local args=()
    while read -r name; do args+=(--table "$name"); done \
        < <(js 'for (const n of [...input.tables, ...input.rest]) console.log(n)' <<< "$names")
    if [ "$local" = 1 ] && [ -n "$persist" ]; then
        # `wrangler d1 export --local` reads the D1 under .wrangler/state beside its
        # configuration and takes no --persist-to: give it a copy of the configuration whose
        # .wrangler/state is the D1 asked for.
        scratch=$(mktemp -d "${TMPDIR:-/tmp}/recipe-api-backup.XXXXXX")
        mkdir -p "$scratch/.wrangler"
        ln -s "$(cd "$persist" && pwd)" "$scratch/.wrangler/state"
        cp wrangler.toml "$scratch/wrangler.toml"
        wrangler d1 export "$db" --local --config "$scratch/wrangler.toml" --output "$out/tables.sql" \
            "${args[@]}" > "$out/export.log" 2>&1 || { cat "$out/export.log" >&2; fail "export failed"; }
    else
        # Remote: D1 serves no queries while it exports (a few seconds for a small database).
        wrangler d1 export "$db" "${where[@]}" --skip-confirmation --output "$out/tables.sql" "${args[@]}" \
            > "$out/export.log" 2>&1 || { cat "$out/export.log" >&2; fail "export failed"; }
    fi
    rm -f "$out/export.log"

    js 'for (const v of input.virtual) {
            console.log(`${v.sql};`);
            console.log(`INSERT INTO ${ident(v.name)} (${ident(v.name)}) VALUES (\x27rebuild\x27);`);
        }' <<< "$names" > "$out/search-index.sql"
    js 'const names = JSON.parse(process.argv[1]);
        console.log(JSON.stringify({
            source: process.argv[2], database: process.argv[3], exported_at: new Date().toISOString(),
            rows: input,
            virtual_tables: names.virtual.map((v) => v.name),
        }, null, 2))' "$names" "$label" "$db" <<< "$counts" > "$out/manifest.json"
    chmod 600 "$out"/*
    echo "backup: $out holds $(js 'console.log(Object.keys(input.rows).length + " tables, " +
        Object.values(input.rows).reduce((a, b) => a + b, 0) + " rows")' < "$out/manifest.json");" \
        "it has password hashes and emails: keep it as you keep the database"
}

import_backup() {
    [ -n "$dir" ] || fail "name the backup folder: scripts/backup.sh import ... DIR (make restore FROM=DIR)"
    local file
    for file in tables.sql search-index.sql manifest.json; do
        [ -f "$dir/$file" ] || fail "$dir/$file is missing: not a folder made by scripts/backup.sh export"
    done
    [ "$local" = 1 ] || [ -n "$database" ] \
        || fail "name the new database to restore into: --database NAME (make restore DATABASE=NAME);" \
            "create it with \`npx wrangler d1 create NAME\`"

    # Only into an empty database: tables.sql creates every table, and a restore over live
    # data would mix two states.
    run_sql "SELECT count(*) AS n FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'"
    local present
    present=$(js 'console.log(input[0][0].n)' <<< "$results")
    [ "$present" = 0 ] \
        || fail "$db ($label) is not empty ($present tables, indexes or triggers): restore into a new" \
            "database (npx wrangler d1 create NAME), or use D1 Time Travel (docs/backups.md)"

    echo "backup: restoring $dir into $db ($label)"
    wrangler d1 execute "$db" "${where[@]}" --yes --file "$dir/tables.sql" > /dev/null \
        || fail "importing tables.sql failed (see above); $db is partly restored: delete it and start again"
    echo "backup: tables restored; rebuilding the search index"
    wrangler d1 execute "$db" "${where[@]}" --yes --file "$dir/search-index.sql" > /dev/null \
        || fail "search-index.sql failed (see above)"

    # The restore is checked: each search index agrees with its content table (FTS5's
    # integrity-check, whose rank 1 compares an external-content index with its table: an
    # index left empty fails it), and every table holds the rows the export counted.
    local expected checks wrong
    expected=$(js 'console.log(JSON.stringify(input.rows))' < "$dir/manifest.json")
    checks=$(js 'for (const v of input.virtual_tables)
        console.log(`INSERT INTO ${ident(v)} (${ident(v)}, rank) VALUES (\x27integrity-check\x27, 1);`)' < "$dir/manifest.json")
    row_counts "$(js 'console.log(JSON.stringify(Object.keys(input)))' <<< "$expected")" "$checks"
    wrong=$(js 'const actual = JSON.parse(process.argv[1]);
        console.log(Object.entries(input).filter(([t, n]) => actual[t] !== n)
            .map(([t, n]) => `${t}: ${actual[t]} rows, the backup has ${n}`).join("; "))' "$counts" <<< "$expected")
    [ -z "$wrong" ] || fail "the restored rows differ from the backup's: $wrong"
    echo "backup: every table holds the rows of the backup; the search index is whole"

    end_sessions
    if [ "$local" = 0 ]; then
        echo "backup: next, point [[env.$env.d1_databases]] in wrangler.toml at $db (its database_id" \
            "and database_name), commit, and make deploy ENV=$env (docs/backups.md)"
    fi
}

case "$command" in
    export) [ -z "$dir" ] || usage; export_database ;;
    import) import_backup ;;
    end-sessions) [ -z "$dir" ] || usage; end_sessions ;;
    *) usage ;;
esac
