#!/usr/bin/env bash
# The StockTrim client check: installs the published Python client
# (stocktrim-openapi-client, pinned) in a virtual environment, starts the
# server on a free port over a fresh SQLite database with TRIBUTARY_TODAY
# fixed, creates a user with the command line, and runs
# tests/compat/stocktrim_client.py against it. Exits non-zero on failure.
#
# Environment: TRIBUTARY_BIN (default: target/debug/tributary, built
# first), COMPAT_VENV (default: target/compat-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENT_VERSION=0.14.1
VENV=${COMPAT_VENV:-target/compat-venv}
BIN=${TRIBUTARY_BIN:-target/debug/tributary}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('stocktrim-openapi-client') != '$CLIENT_VERSION')" 2>/dev/null; then
    "$VENV/bin/pip" install -q "stocktrim-openapi-client==$CLIENT_VERSION"
fi
if [ -z "${TRIBUTARY_BIN:-}" ]; then
    cargo build -q
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$("$VENV/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
export DATABASE_URL="sqlite://$work/compat.db"
export TRIBUTARY_TODAY=2026-03-01
export RUST_LOG=${RUST_LOG:-warn}
unset BIND_ADDR TRIBUTARY_SECRET_KEY JWT_SECRET

EMAIL=compat@example.com
PASSWORD=compat-check-password
"$BIN" user add --email "$EMAIL" --password "$PASSWORD" --organisation "Compat check" >/dev/null
"$BIN" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import httpx, sys; httpx.get('http://127.0.0.1:$port/api/v1/openapi.json').raise_for_status()" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        echo "the server did not start" >&2
        exit 1
    fi
    sleep 0.2
done

status=0
"$VENV/bin/python" tests/compat/stocktrim_client.py "http://127.0.0.1:$port" "$EMAIL" "$PASSWORD" || status=$?
if [ "$status" -ne 0 ]; then
    echo "== server log (last 50 lines)" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
