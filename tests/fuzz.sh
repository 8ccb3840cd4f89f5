#!/usr/bin/env bash
# Runs every fuzz target of every package that has one for FUZZTIME each
# (make fuzz). A target fails when go test fails, with one exception: Go
# 1.26's fuzz coordinator can report "context deadline exceeded" when the
# -fuzztime deadline ends a run while a worker is mid-input
# (golang/go#75804, fixed in Go 1.27). That report names no failing input:
# it is treated as the end of the run when the output has that line and no
# new input was written to testdata/fuzz/TARGET; any written input fails.
set -euo pipefail
cd "$(dirname "$0")/.."
time="${FUZZTIME:-15s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
inputs() { if [[ -d $1 ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
for p in $(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u); do
  for t in $(go test -list 'Fuzz.*' "./$p/" | grep '^Fuzz'); do
    echo "fuzz: ./$p/ $t"
    corpus="$p/testdata/fuzz/$t"
    before=$(inputs "$corpus")
    if go test "./$p/" -run XXX -fuzz "^$t\$" -fuzztime "$time" 2>&1 | tee "$log"; then continue; fi
    after=$(inputs "$corpus")
    if grep -q '^    context deadline exceeded$' "$log" && ((after == before)); then
      echo "fuzz: $t: the fuzztime deadline race of Go's coordinator (golang/go#75804), no failing input written: ran its full $time"
      continue
    fi
    echo "fuzz: $t failed (a failing input, if any, is in $corpus)" >&2
    exit 1
  done
done
