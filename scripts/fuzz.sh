#!/usr/bin/env bash
# Runs the cargo-fuzz targets for a bounded time each and prints how many inputs each executed.
#
#   scripts/fuzz.sh            # 15 s per target (what CI runs)
#   FIELDBOOK_FUZZ_SECONDS=600 scripts/fuzz.sh   # the longer runs in docs/reliability.md
#
# cargo-fuzz needs nightly-only compiler flags (the sanitizer); this machine has only the stable
# toolchain, so RUSTC_BOOTSTRAP=1 lets stable rustc accept them. A crash fails the script and
# leaves the input under fuzz/artifacts/<target>/: turn it into a regression test. Seed inputs
# (fuzz/seeds/<target>, written by fuzz/seeds/generate.py: compressed and deflated Automerge
# chunks) are read beside the working corpus.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${FIELDBOOK_FUZZ_SECONDS:-15}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1

cargo fuzz build -O
for target in protocol_decode load_document chunk_check server_sync; do
  mkdir -p "corpus/$target"
  dirs=("corpus/$target")
  [ -d "seeds/$target" ] && dirs+=("seeds/$target")
  out="$(cargo fuzz run -O "$target" "${dirs[@]}" -- -max_total_time="$SECONDS_PER_TARGET" 2>&1)" || {
    echo "$out" | tail -40
    echo "fuzz target $target FAILED" >&2
    exit 1
  }
  runs="$(echo "$out" | grep -Eo 'Done [0-9]+ runs' | grep -Eo '[0-9]+' || echo 0)"
  echo "fuzz $target: $runs executions in ${SECONDS_PER_TARGET}s, no crash"
done
