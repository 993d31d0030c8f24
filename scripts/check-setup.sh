#!/usr/bin/env bash
# Checks scripts/setup.sh (the README's first command) takes the right road for who runs it:
# root on a machine without sudo runs apt-get itself; a user with sudo goes through sudo; a user
# without it is told what to do. apt-get, dpkg and sudo are fakes that record their calls, and
# PATH holds nothing else, so every package looks missing and nothing is installed. As root (CI),
# the user cases really run as `nobody`.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/fieldbook-setup-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
# A copy `nobody` can read wherever the checkout is (CI's may sit in root's home).
setup="$work/setup.sh"
cp scripts/setup.sh "$setup"
chmod 755 "$setup"

make_bin() { # make_bin DIR [with-sudo]
  mkdir -p "$1"
  printf '#!/bin/sh\nexit 1\n' >"$1/dpkg"
  printf '#!/bin/sh\necho "apt-get $* uid=$(id -u) frontend=$DEBIAN_FRONTEND" >>"$CALLS"\n' >"$1/apt-get"
  if [ "${2:-}" = with-sudo ]; then
    printf '#!/bin/sh\necho "sudo $*" >>"$CALLS"\nexec "$@"\n' >"$1/sudo"
  fi
  chmod 755 "$1"/*
  ln -s "$(command -v env)" "$1/env"
  ln -s "$(command -v id)" "$1/id"
}

# run_as WHO BIN CALLS [ARG]: runs setup.sh [ARG] with PATH=BIN; WHO is root or user.
run_as() {
  local who="$1" bin="$2" calls="$3" arg="${4:-}"
  : >"$calls"
  chmod 666 "$calls"
  local cmd="CALLS='$calls' PATH='$bin' /bin/bash '$setup' $arg"
  if [ "$who" = user ] && [ "$(id -u)" -eq 0 ]; then
    su nobody -s /bin/bash -c "$cmd"
  elif [ "$who" = root ] && [ "$(id -u)" -ne 0 ]; then
    # Not root here: the root road is taken with an `id` that says 0.
    rm "$bin/id"
    printf '#!/bin/sh\necho 0\n' >"$bin/id"
    chmod 755 "$bin/id"
    bash -c "$cmd"
  else
    bash -c "$cmd"
  fi
}

fail() { echo "check-setup: $*" >&2; exit 1; }

make_bin "$work/root-bin"
run_as root "$work/root-bin" "$work/root.calls" >"$work/out" 2>&1 || fail "root without sudo failed: $(cat "$work/out")"
grep -q '^apt-get update -q uid=0 frontend=noninteractive$' "$work/root.calls" || fail "root: no apt-get update: $(cat "$work/root.calls")"
grep -q '^apt-get install -y -q libssl-dev pkg-config gcc uid=0 frontend=noninteractive$' "$work/root.calls" || fail "root: wrong install: $(cat "$work/root.calls")"
grep -q '^sudo' "$work/root.calls" && fail "root used sudo"
make_bin "$work/sudo-bin" with-sudo
run_as user "$work/sudo-bin" "$work/sudo.calls" >"$work/out" 2>&1 || fail "user with sudo failed: $(cat "$work/out")"
grep -q '^sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libssl-dev pkg-config gcc$' "$work/sudo.calls" || fail "user: install not through sudo: $(cat "$work/sudo.calls")"
grep -q '^apt-get install -y -q libssl-dev pkg-config gcc uid=[0-9]* frontend=noninteractive$' "$work/sudo.calls" || fail "user: apt-get lost its settings: $(cat "$work/sudo.calls")"

# --browser adds Chromium, Node.js and npm (nothing here has them), after the build's packages.
# (/usr/bin/chromium is looked for by path: on a machine that has it, it is rightly not asked for.)
run_as root "$work/root-bin" "$work/browser.calls" --browser >"$work/out" 2>&1 || fail "root --browser failed: $(cat "$work/out")"
want='libssl-dev pkg-config gcc chromium nodejs npm'
[ -x /usr/bin/chromium ] && want='libssl-dev pkg-config gcc nodejs npm'
grep -q "^apt-get install -y -q $want uid=0 frontend=noninteractive\$" "$work/browser.calls" || fail "root --browser: wrong install: $(cat "$work/browser.calls")"

make_bin "$work/nosudo-bin"
if run_as user "$work/nosudo-bin" "$work/nosudo.calls" >"$work/out" 2>&1; then
  fail "a user without sudo was not stopped"
fi
grep -q 'needs root' "$work/out" || fail "no explanation for a user without sudo: $(cat "$work/out")"
[ -s "$work/nosudo.calls" ] && fail "apt-get ran without root: $(cat "$work/nosudo.calls")"
echo "   setup.sh: root without sudo, a user with sudo, a user without it: each as expected"
