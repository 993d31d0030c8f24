#!/usr/bin/env bash
# The whole test suite: formatting, lints, every unit, integration and property test, and a quick
# run of the benchmark so it keeps working. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== benchmark (quick run)"
FIELDBOOK_BENCH_QUICK=1 cargo bench -p fieldbook-core --bench store --locked
