#!/usr/bin/env bash
# The whole test suite: formatting, lints, every unit, integration and property test (on both
# server backends: a throwaway PostgreSQL is started here and stopped at the end), and a quick
# run of the benchmarks so they keep working. This is the README's test command, via .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== PostgreSQL for the backend tests"
if [ -z "${FIELDBOOK_TEST_POSTGRES_URL:-}" ]; then
  FIELDBOOK_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
  export FIELDBOOK_TEST_POSTGRES_URL
  trap 'scripts/postgres.sh stop' EXIT
fi
echo "   $FIELDBOOK_TEST_POSTGRES_URL"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (every log line captured, then checked for planted content and tokens)"
test_log="$(mktemp "${TMPDIR:-/tmp}/fieldbook-test-log.XXXXXX")"
FIELDBOOK_TEST_LOG_FILE="$test_log" cargo test --workspace --locked
scripts/check-test-logs.sh "$test_log"
rm -f "$test_log"
echo "== the mobile API from Python and Kotlin"
cargo clippy -p fieldbook-ffi --features test-hooks --all-targets --locked -- -D warnings
cargo test -p fieldbook-ffi --features test-hooks --locked
scripts/test-bindings.sh
echo "== the Android and iOS packages: committed bindings current, core checks for Android"
scripts/check-mobile.sh
echo "== benchmarks (quick run)"
FIELDBOOK_BENCH_QUICK=1 cargo bench -p fieldbook-core --bench store --locked
FIELDBOOK_BENCH_QUICK=1 cargo bench -p fieldbook-tests --bench sync --locked
echo "== fuzz (bounded: ${FIELDBOOK_FUZZ_SECONDS:-15}s per target)"
scripts/fuzz.sh
