#!/usr/bin/env bash
# The oversight pages in a real browser (tests/browser, docs/oversight.md "Browser tests"):
# axe-core on every page and the authorisation queue by keyboard, in Debian's Chromium
# (scripts/setup.sh --browser installs it) driven by playwright-core over `fieldbook demo
# --keep-serving`. playwright-core never downloads a browser; npm installs only the two locked
# packages. About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary the tests start, built as the test script builds everything (a no-op after its
# `cargo test`).
cargo build --workspace --locked --features fieldbook-ffi/test-hooks --bin fieldbook
export FIELDBOOK_BIN="$PWD/target/debug/fieldbook"
cd tests/browser
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
npm test
