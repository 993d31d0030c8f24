#!/usr/bin/env bash
# Builds build/FieldbookFFI.xcframework: the static library for iOS devices (arm64) and the
# simulator (arm64 + x86_64), with the generated C header and module map.
# Needs macOS with Xcode, and:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
features=(--no-default-features --features sqlcipher-vendored --locked)
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo build --release -p fieldbook-ffi --target "$target" "${features[@]}"
done
build="$here/build"
rm -rf "$build" && mkdir -p "$build/headers" "$build/sim"
cp "$here/Generated/fieldbook_ffiFFI.h" "$here/Generated/module.modulemap" "$build/headers/"
lipo -create target/aarch64-apple-ios-sim/release/libfieldbook_ffi.a \
  target/x86_64-apple-ios/release/libfieldbook_ffi.a -output "$build/sim/libfieldbook_ffi.a"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libfieldbook_ffi.a -headers "$build/headers" \
  -library "$build/sim/libfieldbook_ffi.a" -headers "$build/headers" \
  -output "$build/FieldbookFFI.xcframework"
echo "built $build/FieldbookFFI.xcframework"
