#!/usr/bin/env bash
# What the binding tests need on a fresh Debian machine: pytest, a JDK, JNA, and the Kotlin
# compiler from the npm registry (it carries kotlin-stdlib and kotlinx-coroutines).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
need=()
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -f /usr/share/java/jna.jar ] || need+=(libjna-java libjna-jni)
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${need[@]}"
fi
if [ ! -x tools/kotlin/node_modules/kotlin-compiler/bin/kotlinc ]; then
  mkdir -p tools/kotlin
  npm install --silent --prefix tools/kotlin kotlin-compiler >/dev/null
fi
