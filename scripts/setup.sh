#!/usr/bin/env bash
# Installs what building Fieldbook needs on a fresh Debian or Ubuntu machine (the README's first
# command, and .ci/run, call this): the system libcrypto headers and pkg-config that rusqlite's
# build script compiles SQLCipher against, and a C compiler. With `--fuzz`, also a C++ compiler
# (libFuzzer, for cargo-fuzz). With `--browser`, Node.js, npm and Debian's Chromium: the local
# OpenID provider of the sign-in tests (tests/oidc) and the headless browser of the browser tests
# (tests/browser), which scripts/test-all.sh runs. Only what is missing is installed.
#
# Works for root on a machine without sudo (a fresh container) and for a user with sudo.
set -euo pipefail

fuzz=false
browser=false
for arg in "$@"; do
  case "$arg" in
    --fuzz) fuzz=true ;;
    --browser) browser=true ;;
    *) echo "usage: scripts/setup.sh [--fuzz] [--browser]" >&2; exit 2 ;;
  esac
done

# Root runs apt-get itself; anyone else needs sudo. `env` carries DEBIAN_FRONTEND through sudo,
# which would otherwise reset the environment (and apt-get could stop to ask questions).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    env DEBIAN_FRONTEND=noninteractive "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo env DEBIAN_FRONTEND=noninteractive "$@"
  else
    echo "setup: installing ${need[*]} needs root: run this as root, or install sudo" >&2
    exit 1
  fi
}

need=()
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if $fuzz; then
  command -v c++ >/dev/null 2>&1 || need+=(g++)
fi
if $browser; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  # A Node.js from elsewhere (with its own npm) is kept: Debian's npm would conflict with it.
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "setup: build dependencies present"
  exit 0
fi
echo "setup: installing ${need[*]}"
# A fresh machine has no package lists yet: install would find nothing without the update.
as_root apt-get update -q
as_root apt-get install -y -q "${need[@]}"
