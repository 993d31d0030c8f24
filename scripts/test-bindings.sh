#!/usr/bin/env bash
# The mobile API from other languages: builds the library (with the test-only panic hook),
# generates its Python and Kotlin bindings with uniffi-bindgen, starts a real sync server on
# loopback with a case allocated, and runs the pytest and Kotlin suites against it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
scripts/install-bindings-deps.sh

# The whole workspace with the hook, as scripts/test-all.sh builds it (no -p: see there why).
cargo build -q --workspace --features fieldbook-ffi/test-hooks --locked
lib="$root/target/debug/libfieldbook_ffi.so"
out="$root/target/bindings"
rm -rf "$out"
target/debug/uniffi-bindgen generate --library "$lib" --language python --out-dir "$out/python" >/dev/null
target/debug/uniffi-bindgen generate --library "$lib" --language kotlin --out-dir "$out/kotlin" >/dev/null
cp "$lib" "$out/python/"

# A server on a free loopback port, with static tokens.
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/tokens.json" <<JSON
{"tokens": [
  {"token": "tok-amara", "subject": "amara", "role": "worker", "team": "north"},
  {"token": "tok-cms", "subject": "case-system", "role": "integration", "team": "ops"}
]}
JSON
echo "{\"audience\": \"fieldbook\", \"static_tokens\": \"$work/tokens.json\"}" >"$work/auth.json"
# Every Python and Kotlin test opens a store of its own as amara, each a device key of hers: more
# than the 16 keys a worker may register by default (--max-keys-per-worker), so this test server
# allows more.
RUST_LOG=warn target/debug/fieldbook-server --listen "127.0.0.1:$port" --sqlite "$work/server.db" \
  --auth "$work/auth.json" --max-keys-per-worker 256 >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port"
python3 - "$url" <<'PY'
import json, sys, time, urllib.request
url = sys.argv[1]
for _ in range(200):
    try:
        urllib.request.urlopen(url + "/health", timeout=1)
        break
    except Exception:
        time.sleep(0.05)
for case, local in [("case-py", "LCPY"), ("case-kt", "LCKT")]:
    summary = {"local_child_id": local, "name": "Child " + local, "date_of_birth": None, "sex": None,
               "ethnicity": "", "disabilities": [], "address": "", "legal_status": None,
               "allocated_worker": "amara", "team": "north", "child_in_need": None,
               "child_protection": {"start_date": "2026-03-02", "category": None,
                                    "initial_conference_date": "2026-03-02",
                                    "core_group_dates": [], "review_conference_dates": [],
                                    "end_date": None},
               "looked_after": None, "private_fostering": None,
               "last_visit_date": None, "last_seen_date": None}
    body = json.dumps({"summary": summary, "allocated_worker": "amara", "team": "north"}).encode()
    req = urllib.request.Request(f"{url}/api/v1/cases/{case}", data=body, method="PUT",
                                 headers={"Authorization": "Bearer tok-cms",
                                          "Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 204
PY
export FIELDBOOK_TEST_SERVER_URL="$url"

echo "== Python (pytest) against $url"
FIELDBOOK_PY_BINDINGS="$out/python" python3 -m pytest -q tests/bindings/python -p no:cacheprovider

echo "== Kotlin against $url"
scripts/test-kotlin.sh "$out/kotlin" "$root/target/debug"
