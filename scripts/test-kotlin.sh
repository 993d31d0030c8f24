#!/usr/bin/env bash
# Compiles the generated Kotlin bindings with the Kotlin suite (kotlinc from the npm package
# `kotlin-compiler`, JNA from Debian) and runs it on the JVM against the host library.
#   scripts/test-kotlin.sh <generated-kotlin-dir> <dir-with-libfieldbook_ffi.so>
set -euo pipefail
cd "$(dirname "$0")/.."
generated="$1"
libdir="$2"
kotlin_home="tools/kotlin/node_modules/kotlin-compiler"
jna=/usr/share/java/jna.jar
coroutines="$kotlin_home/lib/kotlinx-coroutines-core-jvm.jar"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$kotlin_home/bin/kotlinc" -nowarn -cp "$jna:$coroutines" -d "$out/test.jar" \
  "$generated/uniffi/fieldbook_ffi/fieldbook_ffi.kt" tests/bindings/kotlin/FieldbookTest.kt 2>&1 \
  | grep -v "^warning" || true
[ -f "$out/test.jar" ] || { echo "kotlin: compilation failed" >&2; exit 1; }
java -Djna.library.path="$libdir" \
  -cp "$out/test.jar:$kotlin_home/lib/kotlin-stdlib.jar:$jna:$coroutines" FieldbookTestKt
