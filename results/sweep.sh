#!/usr/bin/env bash
# One sweep run on Fashion-MNIST, appended as a row of results/sweeps.csv.
#
#   results/sweep.sh proxy|full NAME [--set key=value ...]
#
# proxy: pretrain on the first $PROXY_IMAGES training images (default
# 12800) for the preset's epochs, then kNN (k=20 and 200, T=0.1) and the
# linear classifier with a 10000-image bank / training set and the first
# 5000 test images: minutes instead of the full run, for comparing levers.
# full: the whole demo protocol (60000 / 10000 images).
# Runs under nice -n 10; needs bin/simsiam (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=$1 name=$2
shift 2
sets=("$@")
out=${SWEEP_DIR:-/tmp/simsiam-sweeps}/$name
rm -rf "$out"
mkdir -p "$(dirname "$out")"
limits=()
if [[ $kind == proxy ]]; then
  limits=(--set "data.limit=${PROXY_IMAGES:-12800}" --set eval.limit_train=10000 --set eval.limit_test=5000 --set train.knn_every=0)
elif [[ $kind != full ]]; then
  echo "usage: $0 proxy|full NAME [--set key=value ...]" >&2
  exit 2
fi
eval "$(third_party/libtensorflow/setup.sh --env)"
run() { nice -n 10 ./bin/simsiam "$@"; }
t0=$(date +%s)
run train "${sets[@]}" "${limits[@]}" --set output_dir="$out" >"$out.train.log" 2>&1
t1=$(date +%s)
knn=$(run knn "${sets[@]}" "${limits[@]}" --set output_dir="$out" --checkpoint "$out/checkpoints" --k 20,200 2>/dev/null)
lin=$(run linear-eval "${sets[@]}" "${limits[@]}" --set output_dir="$out" --checkpoint "$out/checkpoints" 2>/dev/null)
t2=$(date +%s)
k20=$(sed -n 's/^kNN top-1 \([0-9.]*\)%.*(k=20,.*/\1/p' <<<"$knn")
k200=$(sed -n 's/^kNN top-1 \([0-9.]*\)%.*(k=200,.*/\1/p' <<<"$knn")
l1=$(sed -n 's/^linear evaluation: top-1 \([0-9.]*\)%.*/\1/p' <<<"$lin")
cpu=$(sed -n 's/^measured on: \([^,]*\),.*/\1/p' <<<"$knn")
csv=results/sweeps.csv
[[ -f $csv ]] || echo "date,kind,name,overrides,train_seconds,eval_seconds,load_avg_1min,cpu,knn_k20,knn_k200,linear_top1" >"$csv"
load=$(cut -d' ' -f1 /proc/loadavg)
printf '%s,%s,%s,"%s",%d,%d,%s,"%s",%s,%s,%s\n' "$(date -u +%FT%TZ)" "$kind" "$name" "${sets[*]}" $((t1 - t0)) $((t2 - t1)) "$load" "$cpu" "$k20" "$k200" "$l1" >>"$csv"
tail -1 "$csv"
