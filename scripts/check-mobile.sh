#!/usr/bin/env bash
# What CI can verify of the Android and iOS packages without an NDK or Xcode:
#  1. the Kotlin and Swift bindings committed in mobile/ are exactly what uniffi-bindgen
#     generates from the current library (an app build never runs against stale bindings);
#  2. the core type-checks for Android (aarch64-linux-android) without its C code.
# Building the .so / XCFramework themselves needs the NDK / Xcode: see docs/android.md, docs/ios.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# The app's library: default features, no test hooks (the whole workspace, so that shared
# dependencies are not recompiled with other features; only fieldbook-ffi is rebuilt).
cargo build -q --workspace --locked
lib=target/debug/libfieldbook_ffi.so
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
target/debug/uniffi-bindgen generate --library "$lib" --language kotlin --out-dir "$gen/kotlin" >/dev/null
target/debug/uniffi-bindgen generate --library "$lib" --language swift --out-dir "$gen/swift" >/dev/null
stale=0
compare() {
  if ! diff -q "$1" "$2" >/dev/null; then
    echo "STALE: $2 differs from the generated $1 (run scripts/update-mobile-bindings.sh)" >&2
    stale=1
  fi
}
compare "$gen/kotlin/uniffi/fieldbook_ffi/fieldbook_ffi.kt" mobile/android/src/main/kotlin/uniffi/fieldbook_ffi/fieldbook_ffi.kt
compare "$gen/swift/fieldbook_ffi.swift" mobile/ios/Sources/Fieldbook/fieldbook_ffi.swift
compare "$gen/swift/fieldbook_ffiFFI.h" mobile/ios/Generated/fieldbook_ffiFFI.h
compare "$gen/swift/fieldbook_ffiFFI.modulemap" mobile/ios/Generated/module.modulemap
[ "$stale" -eq 0 ] || exit 1
echo "mobile bindings: Kotlin and Swift match the library"

if rustup target list --installed 2>/dev/null | grep -q aarch64-linux-android || \
   rustup target add aarch64-linux-android >/dev/null 2>&1; then
  cargo check -q -p fieldbook-core --no-default-features --target aarch64-linux-android --locked
  echo "fieldbook-core type-checks for aarch64-linux-android"
else
  echo "aarch64-linux-android is not installable here: skipped the Android type-check" >&2
  exit 1
fi
