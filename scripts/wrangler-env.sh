# Sourced by the deploy, superuser and keys scripts: reads one environment's settings from
# wrangler.toml without wrangler (no account, no network). ENV is staging or production, or
# "local" for the top level that `make dev` and the tests use.

# The environment's table name: `toml_table local vars` is [vars], `toml_table production vars`
# is [env.production.vars]; `[[…]]` for arrays of tables.
toml_table() { # env name
    if [ "$1" = local ]; then echo "$2"; else echo "env.$1.$2"; fi
}

# A key of the first [table] / [[table]] of that name, unquoted; "" when unset.
toml_value() { # table key
    awk -v plain="[$1]" -v array="[[$1]]" -v name="$2" '
        /^[[:space:]]*\[/ { inside = ($1 == plain || $1 == array) && !seen; if (inside) seen = 1; next }
        inside && $1 == name && $2 == "=" {
            value = $0
            sub(/^[^=]*=[[:space:]]*["\047]?/, "", value)
            sub(/["\047]?[[:space:]]*(#.*)?$/, "", value)
            print value
            exit
        }' "$ROOT/wrangler.toml"
}

# A var of the environment ([env.ENV.vars], or [vars] for local).
env_var() { # env name
    toml_value "$(toml_table "$1" vars)" "$2"
}

# The environment's D1 database id and name (its [[env.ENV.d1_databases]]).
database_id() { toml_value "$(toml_table "$1" d1_databases)" database_id; }
database_name() { toml_value "$(toml_table "$1" d1_databases)" database_name; }

# Refuses (exits 1, naming the fix) when the environment's database_id is missing or still
# the placeholder wrangler.toml ships with: 00000000-… names no database, and a copied id
# would act on another environment's data.
require_database_id() { # env who
    local id
    id=$(database_id "$1")
    [ -n "$id" ] || refuse "wrangler.toml has no database_id under [[env.$1.d1_databases]]"
    case "$id" in
        00000000-*)
            refuse "the $1 database_id in wrangler.toml is still the placeholder $id;" \
                "run \`npx wrangler d1 create recipe-api-$1\` and put the id it prints into" \
                "[[env.$1.d1_databases]]" ;;
    esac
}

# The environment's PASSWORD_ITERATIONS, a whole number of at least 1000; refuses when it is
# unset, empty or anything else: the count depends on the Cloudflare plan, which only the
# operator knows (docs/deploying.md#plans-and-their-cpu-limits).
require_iterations() { # env
    local value
    value=$(env_var "$1" PASSWORD_ITERATIONS)
    if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "$value" -lt 1000 ]; then
        refuse "PASSWORD_ITERATIONS in [env.$1.vars] is \"$value\": choose it for your plan first" \
            "(Paid: 600000; Free: 10000, as its 10 ms of CPU cannot hash more; docs/deploying.md," \
            "step 1 of the first-deploy checklist)"
    fi
    echo "$value"
}
