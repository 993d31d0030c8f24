#!/usr/bin/env bash
# Regenerates the Kotlin and Swift bindings committed in mobile/ after the FFI changed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p fieldbook-ffi --locked
lib=target/debug/libfieldbook_ffi.so
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
cargo run -q -p uniffi-bindgen --locked -- generate --library "$lib" --language kotlin --out-dir mobile/android/src/main/kotlin
cargo run -q -p uniffi-bindgen --locked -- generate --library "$lib" --language swift --out-dir "$gen"
cp "$gen/fieldbook_ffi.swift" mobile/ios/Sources/Fieldbook/
cp "$gen/fieldbook_ffiFFI.h" mobile/ios/Generated/
cp "$gen/fieldbook_ffiFFI.modulemap" mobile/ios/Generated/module.modulemap
