#!/usr/bin/env bash
# Go vs Python (Keras) SimSiam benchmark: builds bench/gobench, then runs
# bench/driver.py, which interleaves Go and Python child processes and writes
# bench/results.json, bench/results.md and the batch-scaling plot.
#
#   bash bench/run.sh --tiny                 # smoke test, a few minutes at most
#   bash bench/run.sh [--batch N] [--width W] [--reps R] [...]
#   bash bench/run.sh --help                 # every option (bench/driver.py)
#
# Run it on a quiet machine: the results record how much CPU other processes
# used meanwhile and flag the run as "under load" when that was noticeable.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
eval "$(third_party/libtensorflow/setup.sh --env)"
: "${SIMSIAM_PYTHON:?setup.sh did not set SIMSIAM_PYTHON}"

# matplotlib draws the scaling plot; without it (e.g. offline) the plot is
# skipped and everything else still runs.
if ! "$SIMSIAM_PYTHON" -c 'import matplotlib' >/dev/null 2>&1; then
  "$SIMSIAM_PYTHON" -m pip install -q --disable-pip-version-check matplotlib >&2 \
    || echo "bench: could not install matplotlib; the plot will be skipped" >&2
fi

mkdir -p bench/.build
go build -o bench/.build/gobench ./bench/gobench
# The inference benchmark needs packages export and serve; without them the
# rest still runs and the results say why inference is missing.
goinfer=bench/.build/goinfer
rm -f "$goinfer"
if ! go build -o "$goinfer" ./bench/goinfer; then
  echo "bench: bench/goinfer does not build; inference is left out" >&2
  goinfer=""
fi
exec "$SIMSIAM_PYTHON" bench/driver.py --gobench bench/.build/gobench --goinfer "$goinfer" \
  --python "$SIMSIAM_PYTHON" "$@"
