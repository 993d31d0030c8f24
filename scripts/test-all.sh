#!/usr/bin/env bash
# The whole test suite: formatting, lints, every unit, integration and property test (on both
# server backends: a throwaway PostgreSQL is started here and stopped at the end), and a quick
# run of the benchmarks so they keep working. This is the README's test command, via .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== [$(date +%T)] PostgreSQL for the backend tests"
if [ -z "${FIELDBOOK_TEST_POSTGRES_URL:-}" ]; then
  FIELDBOOK_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
  export FIELDBOOK_TEST_POSTGRES_URL
  trap 'scripts/postgres.sh stop' EXIT
fi
echo "   $FIELDBOOK_TEST_POSTGRES_URL"

# Every cargo step selects the whole workspace with the same features, so that dependencies are
# compiled once: building a single package (`-p`) unifies features differently and recompiles
# shared dependencies, which doubled CI time. Only fieldbook-ffi differs between the two
# configurations (the test-only panic hook), and only it is rebuilt between them.
hooks=(--workspace --locked --features fieldbook-ffi/test-hooks)

section() { echo "== [$(date +%T)] $*"; }

section "the README's setup command: root without sudo, a user with sudo"
scripts/check-setup.sh
section "cargo fmt --check"
cargo fmt --all --check
section "cargo clippy (as shipped, then with the test hooks)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy "${hooks[@]}" --all-targets -- -D warnings
section "npm ci in tests/oidc: the sign-in tests' OpenID provider and the browser's driver"
# From the committed lock; the Rust OpenID tests fail (never skip) without it.
(cd tests/oidc && npm ci --no-audit --no-fund)
section "cargo test (every log line captured, then checked for planted content and tokens)"
test_log="$(mktemp "${TMPDIR:-/tmp}/fieldbook-test-log.XXXXXX")"
FIELDBOOK_TEST_LOG_FILE="$test_log" cargo test "${hooks[@]}"
scripts/check-test-logs.sh "$test_log"
rm -f "$test_log"
section "the oversight pages in Chromium: axe-core on every page, the queue by keyboard"
scripts/test-browser.sh
section "headless Chromium: sign in through the OpenID provider, authorise, a device syncs"
cargo build "${hooks[@]}" --bin fieldbook
FIELDBOOK_BIN=target/debug/fieldbook node tests/browser/oidc_flow.mjs
section "schemathesis against the served OpenAPI document (every check, zero failures)"
scripts/schemathesis.sh
section "benchmarks (quick run in the test profile: they compile and run, figures not kept)"
FIELDBOOK_BENCH_QUICK=1 cargo test "${hooks[@]}" --bench store --bench sync --bench multi_instance \
  --bench attachments --bench oversight
section "the mobile API from Python and Kotlin"
scripts/test-bindings.sh
section "the Android and iOS packages: committed bindings current, core checks for Android"
scripts/check-mobile.sh
# The fuzz run builds the core and the server a second time with libFuzzer's instrumentation
# and AddressSanitizer (and cargo-fuzz itself): on two cores that was a quarter of the suite's
# time, so it runs on request (`FIELDBOOK_FUZZ=1`, or `FIELDBOOK_LONG=1` with the other long
# runs); its figures are in docs/reliability.md, section 4, and the crash it found is a regression
# test of the core that runs above.
if [ "${FIELDBOOK_FUZZ:-}" = 1 ] || [ "${FIELDBOOK_LONG:-}" = 1 ]; then
  section "fuzz (bounded: ${FIELDBOOK_FUZZ_SECONDS:-15}s per target)"
  scripts/fuzz.sh
else
  section "fuzz: not run (FIELDBOOK_FUZZ=1 runs it: docs/reliability.md, section 4)"
fi
section "all passed"
