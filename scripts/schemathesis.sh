#!/usr/bin/env bash
# Runs Schemathesis (PyPI) against a live `cairn serve` on a fresh SQLite file: every operation
# of /api/openapi.json, with the checks for server errors, status codes, content types and
# response schemas, a bounded number of examples per operation. The server has an API token,
# which every request carries: an open server would close itself mid-run the moment
# `POST /api/setup` created its first owner.
#   scripts/schemathesis.sh [CAIRN_BINARY] [EXAMPLES]   (default: target/debug/cairn, 50)
# Installs schemathesis with pip when it is missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/debug/cairn}"
EXAMPLES="${2:-50}"
if ! command -v schemathesis >/dev/null; then
  python3 -m pip install --quiet schemathesis
fi
DIR="$(mktemp -d)"
PORT="${CAIRN_SCHEMATHESIS_PORT:-18931}"
TOKEN="schemathesis-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
CAIRN_API_TOKEN="$TOKEN" "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "sqlite://$DIR/cairn.db?mode=rwc" >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null
# "Schema-valid request rejected" is left out: a flow, a time zone or a country code can be
# well-formed JSON and still not exist or not compile, which a JSON Schema cannot say.
( cd "$DIR" && schemathesis run "http://127.0.0.1:$PORT/api/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    -H "Authorization: Bearer $TOKEN" \
    --max-examples "$EXAMPLES" --seed 1 --no-color --request-timeout 10 )
if grep -q "panicked" "$DIR/serve.log"; then
  echo "cairn serve panicked during the run:"; grep -A5 panicked "$DIR/serve.log"; exit 1
fi
