#!/usr/bin/env bash
# Hostile input at scale against the public API: schemathesis (pinned, from
# PyPI in a virtual environment) generates requests from
# /api/v1/openapi.json, authenticated with an admin API key, against the
# server started on a fresh SQLite database with a seeded organisation
# (two children, so a master too). Fails on any server error (5xx), any
# answer that breaks the documented schema, status code or content type.
# Bounded: SCHEMATHESIS_SECONDS (default 150) for the whole run.
#
# Environment: TRIBUTARY_BIN (default: the debug build, built first),
# SCHEMATHESIS_VENV (default: target/schemathesis-venv),
# SCHEMATHESIS_SECONDS, SCHEMATHESIS_WORKERS (default 2), SCHEMATHESIS_SEED
# (fixed by default, so that a run is repeatable; any other explores anew).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${TRIBUTARY_BIN:-$TARGET/debug/tributary}
BUDGET=${SCHEMATHESIS_SECONDS:-150}
WORKERS=${SCHEMATHESIS_WORKERS:-2}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$VERSION')" 2>/dev/null; then
    "$VENV/bin/pip" install -q "schemathesis==$VERSION"
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
base="http://127.0.0.1:$port"
export DATABASE_URL="sqlite://$work/schemathesis.db"
export TRIBUTARY_TODAY=2026-03-01
export RUST_LOG=${RUST_LOG:-warn}
unset BIND_ADDR TRIBUTARY_SECRET_KEY JWT_SECRET

EMAIL=fuzz@example.com
PASSWORD=schemathesis-password
"$BIN" user add --email "$EMAIL" --password "$PASSWORD" --organisation "Fuzz" >/dev/null
"$BIN" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!

# Seeds through the API with Python's standard library only: a token, two
# children with a warehouse, a variant and a sale each, and an admin API key.
KEY=$("$VENV/bin/python" - "$base" "$EMAIL" "$PASSWORD" <<'PY'
import json, sys, time, urllib.request
base, email, password = sys.argv[1:4]
def call(method, path, body=None, token=None, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None
for _ in range(200):
    try:
        call("GET", "/api/v1/openapi.json")
        break
    except Exception:
        time.sleep(0.1)
token = call("POST", "/api/v1/auth/token", {"email": email, "password": password})["token"]
for name in ("Shop", "Outlet"):
    acc = call("POST", "/api/v1/accounts", {"name": name, "currency": "EUR"}, token)["id"]
    call("PUT", f"/api/v1/accounts/{acc}/warehouses", [{"id": "W1", "name": "Main"}], token)
    call("PUT", f"/api/v1/accounts/{acc}/variants", [{"id": "V1", "sku": "SKU-1", "title": "One"}], token)
    call("PUT", f"/api/v1/accounts/{acc}/sales-orders", [{"id": "SO-1", "ordered_at": "2026-02-01T10:00:00Z",
        "warehouse_id": "W1", "lines": [{"id": "1", "variant_id": "V1", "quantity": 2}]}], token)
print(call("POST", "/api/v1/api-keys", {"name": "schemathesis"}, token)["key"])
PY
)

status=0
export NO_COLOR=1
"$VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $KEY" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --phases examples,coverage,fuzzing \
    --max-time "$BUDGET" \
    --workers "$WORKERS" \
    --request-timeout 30 \
    --suppress-health-check all \
    --seed "${SCHEMATHESIS_SEED:-20261207}" \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "== server log (last 50 lines)" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
