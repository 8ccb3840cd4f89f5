#!/usr/bin/env bash
# End-to-end smoke run of every simsiam subcommand the README and docs/ show, on a
# tiny slice of the real Fashion-MNIST: train, resume, knn, linear-eval,
# export, embed, predict, serve, preview, config, version, doctor. Run by CI (make smoke).
set -euo pipefail
BIN="${BIN:-bin/simsiam}"
OUT="$(mktemp -d)"
first=""
srv=""
trap 'for p in $first $srv; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$OUT"' EXIT
tiny=(--set model.width=4 --set model.proj_dim=32 --set model.proj_hidden=32 --set model.pred_hidden=8
      --set data.limit=512 --set eval.limit_train=512 --set eval.limit_test=256 --set optim.batch_size=64
      --set optim.epochs=2 --set train.log_every=4 --set train.knn_every=1 --set train.knn_k=20
      --set linear.epochs=2 --set "output_dir=$OUT/run")
step() { printf '\n== simsiam %s\n' "$*"; }

step version;        "$BIN" version | tee "$OUT/version.txt"
# The binary loads libtensorflow from the wheel (its first RUNPATH entry),
# with an empty environment too.
env -i "$BIN" version > "$OUT/version-env-i.txt"
grep -q "^libtensorflow: .*/site-packages/tensorflow/libtensorflow_cc.so.2$" "$OUT/version-env-i.txt"
grep -q "^CPU: .*cores" "$OUT/version.txt"
# No TensorFlow notice at load time (the oneDNN banner) without a log level set.
env -u TF_CPP_MIN_LOG_LEVEL "$BIN" version 2> "$OUT/version.err" > /dev/null
! grep -q "oneDNN custom operations" "$OUT/version.err"
step doctor;         "$BIN" doctor --dir "$OUT" | tee "$OUT/doctor.txt"
for c in libtensorflow devices "train /device:CPU:0" precision all-reduce memory disk; do grep -q "^ok   $c:" "$OUT/doctor.txt"; done
step config show;    "$BIN" config show "${tiny[@]}" > "$OUT/shown.yaml"
step config validate; "$BIN" config validate --config "$OUT/shown.yaml"
step preview;        "$BIN" preview "${tiny[@]}" --n 3 --out "$OUT/grid.png"; test -s "$OUT/grid.png"
step train;          "$BIN" train "${tiny[@]}" --set train.max_steps=0 --set optim.epochs=1 | tee "$OUT/train.log"
# The first line names the device: the first GPU when there is one, else the CPU.
if grep -q "(GPU)" "$OUT/version.txt"; then want=GPU; else want=CPU; fi
head -1 "$OUT/train.log" | grep -q "^simsiam: training on /device:$want:0"
step train on a device TensorFlow does not see
if "$BIN" train "${tiny[@]}" --set 'runtime.devices=[/device:GPU:7]' --set "output_dir=$OUT/run_gpu7" 2> "$OUT/gpu7.err"; then
  echo "smoke: training on a missing GPU succeeded" >&2; exit 1
fi
cat "$OUT/gpu7.err"
grep -q "runtime.devices names /device:GPU:7, which TensorFlow does not see; it sees .*device:CPU:0" "$OUT/gpu7.err"
test ! -e "$OUT/run_gpu7/checkpoints"
# runtime.onednn (default true) restarts the process with TF_ENABLE_ONEDNN_OPTS
# set whatever the caller's environment says; false turns it off the same way.
grep -q "oneDNN on" "$OUT/train.log"
step train onednn=false
TF_ENABLE_ONEDNN_OPTS=1 "$BIN" train "${tiny[@]}" --set runtime.onednn=false --set train.max_steps=1 \
  --set train.knn_every=0 --set "output_dir=$OUT/run_eigen" | tee "$OUT/train_eigen.log"
grep -q "oneDNN off" "$OUT/train_eigen.log"
step train --resume; "$BIN" train "${tiny[@]}" --resume
test -f "$OUT/run/saved_model/saved_model.pb"
ls "$OUT/run/logs" | grep -q events.out.tfevents
step train on a used output_dir
if "$BIN" train "${tiny[@]}" 2> "$OUT/used.err"; then
  echo "smoke: a fresh train over another run's files succeeded" >&2; exit 1
fi
cat "$OUT/used.err"
grep -q "already holds another run's files (checkpoints/, config.yaml, config-history.jsonl, config.resume-1.yaml, metrics.jsonl, saved_model/, logs/): pass --resume to continue that run, or --force" "$OUT/used.err"
step train --resume of a complete run whose SavedModel is missing
rm -rf "$OUT/run/saved_model"
"$BIN" train "${tiny[@]}" --resume | tee "$OUT/complete.log"
grep -q "saved_model/ is missing: exporting it from ckpt-16" "$OUT/complete.log"
grep -q "^done: the run was already complete at step 16, nothing trained" "$OUT/complete.log"
test -f "$OUT/run/saved_model/saved_model.pb"
step train while another run holds output_dir
long=("${tiny[@]}" --set train.knn_every=0 --set optim.epochs=1000 --set train.log_every=1 --set "output_dir=$OUT/run_lock")
"$BIN" train "${long[@]}" > "$OUT/first.log" 2>&1 &
first=$!
for _ in $(seq 1200); do
  grep -q "^step 1/" "$OUT/first.log" && break
  kill -0 "$first" || { cat "$OUT/first.log"; exit 1; }
  sleep 0.1
done
grep -q "^step 1/" "$OUT/first.log"
if "$BIN" train "${long[@]}" --resume 2> "$OUT/second.err"; then
  echo "smoke: a second run on a locked output_dir succeeded" >&2; exit 1
fi
cat "$OUT/second.err"
grep -q "output_dir $OUT/run_lock is in use: PID $first holds the lock" "$OUT/second.err"
kill -9 "$first"; wait "$first" || true; first=""
step train --force after kill -9 of the lock holder
"$BIN" train "${long[@]}" --force --set train.max_steps=2 | tee "$OUT/force.log"
grep -q -- "--force: moved .*config.yaml, metrics.jsonl, logs/ into $OUT/run_lock/.replaced-" "$OUT/force.log"
test -f "$OUT"/run_lock/.replaced-*/config.yaml
test -f "$OUT/run_lock/saved_model/saved_model.pb"
step knn;            "$BIN" knn "${tiny[@]}" --checkpoint "$OUT/run/checkpoints"
step knn random;     "$BIN" knn "${tiny[@]}" --checkpoint random
step knn pixels;     "$BIN" knn "${tiny[@]}" --pixels
step knn several k; "$BIN" knn "${tiny[@]}" --checkpoint "$OUT/run/checkpoints" --k 1,5,20 | tee "$OUT/knn_k.txt"
test "$(grep -c '^kNN top-1 .*(k=\(1\|5\|20\), T=0.1)$' "$OUT/knn_k.txt")" = 3
step linear-eval;    "$BIN" linear-eval "${tiny[@]}" --checkpoint "$OUT/run/checkpoints"
step linear-eval --pixels; "$BIN" linear-eval "${tiny[@]}" --pixels
step export;         "$BIN" export --config "$OUT/run/config.yaml" --checkpoint "$OUT/run/checkpoints" --out "$OUT/exported"
# A few real images as PNG files for embed/predict.
mkdir -p "$OUT/imgs"
"$BIN" preview "${tiny[@]}" --n 2 --out "$OUT/imgs/a.png" >/dev/null
"$BIN" preview "${tiny[@]}" --n 1 --out "$OUT/imgs/b.png" >/dev/null
step embed;          "$BIN" embed --model "$OUT/exported" --images "$OUT/imgs" --out "$OUT/emb.npy"
test -s "$OUT/emb.npy"
step predict;        "$BIN" predict --model "$OUT/run/linear/saved_model" --images "$OUT/imgs"
step serve;          "$BIN" serve --model "$OUT/exported" --port 0 > "$OUT/serve.log" 2>&1 &
srv=$!
for _ in $(seq 1200); do
  grep -q "^simsiam: serving" "$OUT/serve.log" && break
  kill -0 "$srv" || { cat "$OUT/serve.log"; exit 1; }
  sleep 0.1
done
url="$(sed -n 's|^simsiam: serving .* at \(http://[^ ]*\)$|\1|p' "$OUT/serve.log")"
status="$(curl -sf "$url")"
grep -q '"state": "AVAILABLE"' <<< "$status"
pred="$(curl -sf -d '{"instances": [{"b64": "'"$(base64 -w0 "$OUT/imgs/b.png")"'"}]}' "$url:predict")"
grep -q '^{"predictions":\[\[' <<< "$pred"
test "$(curl -s -o /dev/null -w '%{http_code}' -d '{"instances": [' "$url:predict")" = 400
kill -TERM "$srv"; wait "$srv"; srv=""
cat "$OUT/serve.log"
grep -q "^simsiam: serve stopped (got SIGTERM): 1 images in 1 batches served" "$OUT/serve.log"
echo; echo "smoke: all commands ran"
