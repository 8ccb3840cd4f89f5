#!/usr/bin/env bash
# The Fashion-MNIST demo preset trained in fp32 and in bf16 (same seed, same
# machine), measured with one protocol and compared:
#
#   results/precision.sh [fp32] [bf16] [-- --set key=value ...]
#
# For each precision named (default: both) it trains the preset into
# $PRECISION_DIR/PRECISION (default /tmp/simsiam-precision) with its kNN
# monitor after every epoch, in the run's own precision. It then measures
# the final weights in fp32 with `simsiam results measure` (kNN k=1/20/200,
# linear 10/30/90 epochs; a SavedModel of a bf16 run serves fp32 too) into
# results/precision/0-fp32.json or 1-bf16.json. Last, `simsiam results
# compare` writes the precision table of docs/precision.md and
# docs/precision_curves.svg from every file in results/precision/.
# Overrides after -- apply to the training and the measurement of every
# run named.
#
# Where the CPU has no AMX-BF16 or AVX512-BF16, TensorFlow emulates the
# bfloat16 kernels: the arithmetic is bfloat16's, the speed is not what
# bfloat16 hardware gives. Needs bin/simsiam (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
precisions=()
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    fp32 | bf16) precisions+=("$1") ;;
    *) echo "usage: $0 [fp32] [bf16] [-- --set key=value ...]" >&2; exit 2 ;;
  esac
  shift
done
[[ ${1:-} == -- ]] && shift
[[ ${#precisions[@]} -gt 0 ]] || precisions=(fp32 bf16)
out=${PRECISION_DIR:-/tmp/simsiam-precision}
eval "$(third_party/libtensorflow/setup.sh --env)"
mkdir -p results/precision "$out"
for p in "${precisions[@]}"; do
  run=$out/$p
  f=results/precision/0-fp32.json
  [[ $p == bf16 ]] && f=results/precision/1-bf16.json
  rm -rf "$run"
  echo "precision: training $p into $run (log $run.train.log)" >&2
  ./bin/simsiam train --preset fashion_mnist_demo "$@" --set runtime.precision=$p \
    --set output_dir="$run" >"$run.train.log" 2>&1 || { tail -20 "$run.train.log" >&2; exit 1; }
  echo "precision: measuring $p in fp32 into $f" >&2
  ./bin/simsiam results measure --config "$run/config.yaml" --run "$run" --out "$f" "$@" \
    --set runtime.precision=fp32 --k 1,20,200 --linear-epochs 10,30,90 \
    >"$run.measure.log" 2>&1 || { tail -20 "$run.measure.log" >&2; exit 1; }
done
shopt -s nullglob
files=(results/precision/*.json)
if [[ ${#files[@]} -ge 2 ]]; then
  ./bin/simsiam results compare --in "$(IFS=,; echo "${files[*]}")" --name precision \
    --readme docs/precision.md --plot docs/precision_curves.svg \
    --title "Fashion-MNIST demo preset: fp32 and bf16 training (kNN monitor k=200)"
fi
