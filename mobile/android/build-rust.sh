#!/usr/bin/env bash
# Builds libfieldbook_ffi.so for the three Android ABIs into <out>/<abi>/.
# Needs: the Android NDK (ANDROID_NDK_HOME), `cargo install cargo-ndk`, and
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
# SQLCipher is built with OpenSSL compiled in (Android has no system OpenSSL for apps).
set -euo pipefail
out="${1:-build/rustJniLibs}"
cd "$(dirname "$0")/../.."
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -P 26 -o "$out" \
  build --release -p fieldbook-ffi --no-default-features --features sqlcipher-vendored --locked
