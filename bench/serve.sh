#!/usr/bin/env bash
# Starts one more `wrangler dev` beside the one scripts/with-server.sh started, the same way
# (own port, own inspector port, own local D1, migrated), in a process group of its own, and
# prints `PORT INSPECTOR_PORT PGID` once it answers. The caller stops it by that group.
#
#   bench/serve.sh CONFIG PERSIST_DIR VARS_FILE LOG [wrangler dev args...]
set -euo pipefail
config=$1 persist=$2 vars=$3 log=$4
shift 4
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
inspector=$(free_port)
wrangler d1 migrations apply DB --local --config "$config" --persist-to "$persist" > "$log" 2>&1 ||
    { cat "$log" >&2; exit 1; }
setsid wrangler dev --config "$config" --local --ip 127.0.0.1 --port "$port" \
    --inspector-port "$inspector" --persist-to "$persist" --env-file "$vars" \
    --show-interactive-dev-session=false "$@" >> "$log" 2>&1 < /dev/null &
server=$!
for _ in $(seq 240); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
        echo "$port $inspector $server"
        exit 0
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
done
echo "bench: wrangler dev for $config did not start:" >&2
tail -n 30 "$log" >&2
kill -TERM -- "-$server" 2>/dev/null || true
exit 1
