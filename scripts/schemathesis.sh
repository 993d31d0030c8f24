#!/usr/bin/env bash
# Property-based tests of the served OpenAPI document against the server itself: schemathesis
# (from PyPI, pinned) generates requests from /openapi.json, valid and invalid, sends them to a
# real server on 127.0.0.1 with a case-system token, and runs every check it has (`--checks all`:
# no 5xx, documented status codes and content types, responses that fit their schemas, valid data
# accepted, invalid data refused, authentication not ignored, ...). Zero failures is the bar.
# Bounded: FIELDBOOK_SCHEMATHESIS_EXAMPLES (default 40) examples per operation, and a fixed seed
# (FIELDBOOK_SCHEMATHESIS_SEED to try others).
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
cbor2_version=5.6.5
venv="${FIELDBOOK_SCHEMATHESIS_VENV:-target/schemathesis-venv}"
examples="${FIELDBOOK_SCHEMATHESIS_EXAMPLES:-40}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version" ||
  ! "$venv/bin/python" -c "import cbor2" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" \
    "cbor2==$cbor2_version"
fi

cargo build --workspace --locked --features fieldbook-ffi/test-hooks --bin fieldbook-server
server=target/debug/fieldbook-server

work="$(mktemp -d "${TMPDIR:-/tmp}/fieldbook-schemathesis.XXXXXX")"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Fresh tokens each run: the case system (the role the JSON API is for) and a worker (the sync
# endpoint's).
new_token() { echo "st-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"; }
token="$(new_token)"
worker="$(new_token)"
cat >"$work/tokens.json" <<EOF
{"tokens": [{"token": "$token", "subject": "case-system", "role": "integration"},
            {"token": "$worker", "subject": "amara", "role": "worker", "team": "north"}]}
EOF
cat >"$work/auth.json" <<EOF
{"audience": "fieldbook", "static_tokens": "$work/tokens.json"}
EOF
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
RUST_LOG=warn "$server" --listen "127.0.0.1:$port" --sqlite "$work/server.db" \
  --auth "$work/auth.json" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/server.log" >&2
    echo "the server did not start" >&2
    exit 1
  fi
  sleep 0.1
done

# The hooks teach schemathesis the sync endpoint's CBOR media type. Run from the scratch
# directory: schemathesis keeps a cache in the working directory.
scripts="$PWD/scripts"
venv="$(cd "$venv" && pwd)"
cd "$work"
run() {
  PYTHONPATH="$scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks "$venv/bin/schemathesis" \
    --config-file "$scripts/schemathesis.toml" run \
    "http://127.0.0.1:$port/openapi.json" \
    --max-examples "$examples" \
    --seed "${FIELDBOOK_SCHEMATHESIS_SEED:-20261201}" \
    --workers 1 \
    --generation-database none \
    --no-color \
    --report-dir "$work/report" \
    "$@"
}
echo "-- every operation, as the case system, every check"
run --checks all --header "Authorization: Bearer $token"
# The sync endpoint again with a worker's token, so that its bodies are decoded rather than
# refused for the role. Every check but one: its schema is "bytes" (a JSON Schema cannot state
# CBOR), so nearly every generated body is schema-valid and yet not a SyncRequest, and its 400 is
# right. That the 400 is a CBOR ErrorBody with the documented content type is still checked.
echo "-- POST /v1/sync, as a worker, every check but positive_data_acceptance"
run --checks all --exclude-checks positive_data_acceptance --include-path /v1/sync \
  --header "Authorization: Bearer $worker"
