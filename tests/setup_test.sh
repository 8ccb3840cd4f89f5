#!/usr/bin/env bash
# Failure paths of third_party/libtensorflow/setup.sh, each in a cache of its
# own: every failure names what failed, and an install without its .ready
# stamp (interrupted, failed) is removed rather than taken as ready. The
# success path from an empty cache is what .ci/run itself does first.
set -uo pipefail
cd "$(dirname "$0")/.."
SETUP=third_party/libtensorflow/setup.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # name, expected exit status (nonzero), stderr pattern, command...
  local name="$1" pattern="$2"; shift 2
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [[ $rc -ne 0 && "$err" =~ $pattern ]]; then
    pass=$((pass + 1)); echo "ok: $name"
  else
    fail=$((fail + 1)); printf 'FAIL: %s: exit %s, stderr:\n%s\n' "$name" "$rc" "$err"
  fi
}

# No usable interpreter: die() names it.
check "no python" "could not create a venv with /bin/false" \
  env SIMSIAM_CACHE="$tmp/a" PYTHON=/bin/false "$SETUP"

# A half-installed venv (no .ready) is removed, not reused.
mkdir -p "$tmp/b/tensorflow-cpu-2.18.1/venv/bin" "$tmp/b/tensorflow-cpu-2.18.1/lib"
printf '#!/bin/sh\nexit 0\n' > "$tmp/b/tensorflow-cpu-2.18.1/venv/bin/python"
chmod +x "$tmp/b/tensorflow-cpu-2.18.1/venv/bin/python"
check "partial install removed" "removing the incomplete install" \
  env SIMSIAM_CACHE="$tmp/b" PYTHON=/bin/false "$SETUP"
if [[ -e "$tmp/b/tensorflow-cpu-2.18.1/venv/bin/python" ]]; then
  fail=$((fail + 1)); echo "FAIL: the half-installed venv is still there"
else
  pass=$((pass + 1)); echo "ok: the half-installed venv is gone"
fi

# An unexpected failure (the cache cannot be created) names the line and command.
check "unexpected failure names its line" 'setup\.sh line [0-9]+: "mkdir -p .*" exited with status 1' \
  env SIMSIAM_CACHE=/proc/simsiam-no-such-dir "$SETUP"

# Bad argument.
check "unknown argument" "unknown argument --bogus" "$SETUP" --bogus

# A stamp without its layout is not ready either (the library vanished).
mkdir -p "$tmp/c/tensorflow-cpu-2.18.1"
echo tensorflow-cpu==2.18.1 > "$tmp/c/tensorflow-cpu-2.18.1/.ready"
check "stamp without libraries" "removing the incomplete install" \
  env SIMSIAM_CACHE="$tmp/c" PYTHON=/bin/false "$SETUP"

echo "setup: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
