#!/usr/bin/env bash
# Fault suite: the real binary under the faults an operator meets, on a tiny
# run (width 4, batch 32, 2,000 Fashion-MNIST images). Run by CI after the
# smoke run (make faults). Each check prints one "fault: ... -> outcome" line
# with what was measured; the table is printed again at the end with the
# suite's time. Every process it starts is stopped by its PID; the tmpfs it
# mounts (disk full; needs root, as in CI) is unmounted. Where mounting is
# refused the suite fails and says so: it never skips.
#
#   KILL_ROUNDS=N   kill -9 rounds (default 12, at least 10)
#   FAULTS_ONLY="signals knn eval kill9 export disk nan two crash memory resume"   a subset (while debugging)
set -euo pipefail
BIN="${BIN:-bin/simsiam}"
PY="${SIMSIAM_PYTHON:-python3}"
ROUNDS="${KILL_ROUNDS:-12}"
OUT="$(mktemp -d)"
MNT="$OUT/tmpfs"
RESULTS="$OUT/results.txt"
pids=()
start=$SECONDS
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || true; fi
  rm -rf "$OUT"
}
trap cleanup EXIT
tiny=(--set model.width=4 --set model.proj_dim=32 --set model.proj_hidden=32 --set model.pred_hidden=8
      --set data.limit=2000 --set optim.batch_size=32 --set eval.limit_train=1000 --set eval.limit_test=500
      --set train.knn_every=0 --set train.knn_k=20 --set linear.epochs=2 --set train.log_every=1)
fail() { echo "faults: FAIL: $*" >&2; exit 1; }
record() { printf '%s\n' "$*" | tee -a "$RESULTS"; }
section() { printf '\n== %s\n' "$*"; }
oom_hint='If you want to see a list of allocated tensors when OOM happens'
want() { [[ -z "${FAULTS_ONLY:-}" || " $FAULTS_ONLY " == *" $1 "* ]]; }

# wait_for FILE REGEX SECONDS [PID]: polls FILE until a line matches; fails
# if PID exits first or the time runs out.
wait_for() {
  local file=$1 re=$2 secs=$3 pid=${4:-}
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if grep -qE -- "$re" "$file" 2>/dev/null; then return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      cat "$file" >&2; fail "process $pid exited before printing /$re/"
    fi
    sleep 0.05
  done
  cat "$file" >&2; fail "no line matching /$re/ in $file within $secs s"
}

# bg LOG ARGS...: starts the binary in the background, output to LOG; sets PID.
bg() {
  local log=$1; shift
  "$BIN" "$@" > "$log" 2>&1 &
  PID=$!
  pids+=("$PID")
}

# wait_exit PID SECONDS: waits for PID and sets CODE (fails on timeout).
wait_exit() {
  local pid=$1 secs=$2 end=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || { kill -9 "$pid"; fail "process $pid still running after $secs s"; }
    sleep 0.05
  done
  CODE=0; { wait "$pid"; } 2>/dev/null || CODE=$?  # no "Killed" notice
}

# export_begun RUN: polls until the process $PID has begun the SavedModel
# export of the run folder RUN (RUN/saved_model.tmp-* exists); returns 1 when
# the process ended first, fails after 300 s.
export_begun() {
  local end=$((SECONDS + 300))
  until compgen -G "$1/saved_model.tmp-*" > /dev/null; do
    kill -0 "$PID" 2>/dev/null || return 1
    ((SECONDS < end)) || fail "no export of $1 seen within 300 s"
    sleep 0.002
  done
}

now_ms() { date +%s%3N; }

# A checkpoint prefix's tensors are all finite and readable with TensorFlow.
check_finite() {
  "$PY" - "$@" <<'EOF'
import sys, numpy as np, tensorflow as tf
for prefix in sys.argv[1:]:
    r = tf.train.load_checkpoint(prefix)
    bad = [n for n in r.get_variable_to_shape_map()
           if r.get_variable_to_dtype_map()[n].is_floating and not np.isfinite(r.get_tensor(n)).all()]
    assert not bad, f"{prefix}: non-finite {bad[:3]}"
    assert r.get_tensor("simsiam/model_config"), prefix
print(f"{len(sys.argv) - 1} checkpoints load in TensorFlow, all finite")
EOF
}

# metrics.jsonl's loss records: each step once, in order, from 1 up to $2.
check_metrics() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
steps = [r["step"] for r in map(json.loads, open(sys.argv[1])) if "loss" in r]
assert len(steps) == len(set(steps)), f"duplicate steps: {len(steps) - len(set(steps))}"
assert steps == sorted(steps), "steps out of order"
assert steps == list(range(1, int(sys.argv[2]) + 1)), f"steps {steps[:3]}..{steps[-3:]}, want 1..{sys.argv[2]}"
print(f"metrics.jsonl: {len(steps)} steps, no duplicates")
EOF
}

if want signals; then
section "signals during training: SIGINT, SIGTERM, SIGHUP"
for sig in INT TERM HUP; do
  run="$OUT/sig_$sig"
  bg "$OUT/sig_$sig.log" train "${tiny[@]}" --set optim.epochs=50 --set "output_dir=$run"
  wait_for "$OUT/sig_$sig.log" '^step 3/' 300 "$PID"
  t0=$(now_ms); kill -s "$sig" "$PID"; wait_exit "$PID" 60; t1=$(now_ms)
  [[ $CODE == 0 ]] || { cat "$OUT/sig_$sig.log"; fail "SIG$sig: exit $CODE, want 0"; }
  line=$(grep -E '^simsiam: stopped at step [0-9]+ \(checkpoint .*\); resume with: simsiam train --config .* --resume$' "$OUT/sig_$sig.log") \
    || { cat "$OUT/sig_$sig.log"; fail "SIG$sig: no resume command"; }
  step=$(sed -E 's/^simsiam: stopped at step ([0-9]+).*/\1/' <<<"$line")
  test -f "$run/checkpoints/ckpt-$step.index" || fail "SIG$sig: ckpt-$step missing"
  record "fault: SIG$sig during training -> exit 0 after $((t1 - t0)) ms, checkpoint ckpt-$step, resume command printed"
  if [[ $sig == TERM ]]; then
    resume=${line#*resume with: simsiam }
    # shellcheck disable=SC2086
    bg "$OUT/sig_resume.log" $resume
    wait_for "$OUT/sig_resume.log" "^step $((step + 2))/" 300 "$PID"
    kill -TERM "$PID"; wait_exit "$PID" 60
    [[ $CODE == 0 ]] || fail "the printed resume command: exit $CODE"
    grep -q "resuming from $run/checkpoints/ckpt-$step at step $step" "$OUT/sig_resume.log" || fail "the resume did not start at step $step"
    record "fault: the printed resume command -> continued from step $step"
  fi
done
fi

if want knn; then
section "signal during the kNN monitor"
run="$OUT/sig_knn"
bg "$OUT/sig_knn.log" train "${tiny[@]}" --set data.limit=320 --set optim.epochs=3 --set train.knn_every=1 \
  --set eval.limit_train=0 --set eval.limit_test=0 --set "output_dir=$run"
wait_for "$OUT/sig_knn.log" '^step 10/' 600 "$PID"
sleep 1
t0=$(now_ms); kill -INT "$PID"; wait_exit "$PID" 60; t1=$(now_ms)
[[ $CODE == 0 ]] || { cat "$OUT/sig_knn.log"; fail "SIGINT in the kNN monitor: exit $CODE"; }
! grep -q 'kNN top-1' "$OUT/sig_knn.log" || fail "the monitor finished before the signal: nothing measured"
grep -q 'resume with:' "$OUT/sig_knn.log" || fail "no resume command after the kNN monitor"
record "fault: SIGINT during the kNN monitor -> exit 0 after $((t1 - t0)) ms, epoch checkpoint ckpt-10 kept"
fi

if want eval; then
section "signal during linear-eval and export"
test -f "$run/checkpoints/ckpt-10.index" || fail "no epoch checkpoint after the kNN monitor's stop"
bg "$OUT/sig_lin.log" linear-eval "${tiny[@]}" --set data.limit=320 --set linear.epochs=200 --checkpoint "$run/checkpoints" --out "$OUT/lin"
wait_for "$OUT/sig_lin.log" '^linear epoch 1/' 600 "$PID"
t0=$(now_ms); kill -TERM "$PID"; wait_exit "$PID" 60; t1=$(now_ms)
[[ $CODE == 130 ]] || { cat "$OUT/sig_lin.log"; fail "SIGTERM in linear-eval: exit $CODE, want 130"; }
grep -q 'interrupted by SIGTERM' "$OUT/sig_lin.log" || fail "linear-eval does not name the signal"
record "fault: SIGTERM during linear-eval -> exit 130 after $((t1 - t0)) ms"
# An export killed at a random moment, then run again: no OUT.tmp-* left.
ex=(export --config "$(ls "$run"/config*.yaml | tail -1)" --checkpoint "$run/checkpoints" --out "$OUT/exported")
bg "$OUT/export1.log" "${ex[@]}"
sleep "$(awk 'BEGIN{srand(); printf "%.2f", 1 + 3*rand()}')"
kill -9 "$PID" 2>/dev/null || true; wait_exit "$PID" 30
mkdir -p "$OUT/exported.tmp-left-by-a-kill"   # as a kill inside the write leaves it
"$BIN" "${ex[@]}" --overwrite > "$OUT/export2.log" 2>&1 || { cat "$OUT/export2.log"; fail "export after a killed export"; }
left=$( (compgen -G "$OUT/exported.tmp-*" || true; compgen -G "$OUT/exported.old-*" || true) | wc -l)
[[ $left == 0 ]] || fail "export left $left temporary folders"
test -f "$OUT/exported/saved_model.pb" || fail "no SavedModel"
record "fault: kill -9 during export, export again -> SavedModel written, 0 OUT.tmp-* left"
fi

if want kill9; then
section "kill -9 loop ($ROUNDS rounds, checkpoint every step)"
((ROUNDS >= 10)) || fail "KILL_ROUNDS=$ROUNDS: at least 10"
run="$OUT/k9"
# 200 steps: enough that the rounds (each a few steps past the newest
# checkpoint, plus up to 1.5 s) never finish the run on a fast machine.
last=200
k9=(train "${tiny[@]}" --set optim.epochs=4 --set train.max_steps=$last --set train.checkpoint_every=1 --set train.keep_checkpoints=3 --set "output_dir=$run")
inside=0; resumed=0
for ((i = 1; i <= ROUNDS; i++)); do
  flag=(); ((i > 1)) && flag=(--resume)
  newest=$(ls "$run/checkpoints" 2>/dev/null | sed -nE 's/^ckpt-([0-9]+)\.index$/\1/p' | sort -n | tail -1 || true)
  bg "$OUT/k9_$i.log" "${k9[@]}" "${flag[@]}"
  # Let 1 to 3 steps past the newest checkpoint pass (each round makes
  # progress), then kill.
  ahead=$(( ${newest:-0} + 1 + RANDOM % 3 ))
  wait_for "$OUT/k9_$i.log" "^step $ahead/" 300 "$PID"
  if ((i % 2 == 0)); then
    # Inside a checkpoint write: the moment its temporary folder exists.
    end=$((SECONDS + 60))
    until compgen -G "$run/checkpoints/.tmp-ckpt-*" > /dev/null; do
      ((SECONDS < end)) || fail "round $i: no checkpoint write seen"; sleep 0.005; done
    kill -9 "$PID"; inside=$((inside + 1))
  else
    sleep "$(awk -v s="$i" 'BEGIN{srand(s); printf "%.2f", 1.5*rand()}')"
    kill -9 "$PID" 2>/dev/null || true
  fi
  wait_exit "$PID" 30
  # The run resumed from the newest checkpoint the previous kill left (or
  # said there was none).
  if [[ -n $newest ]]; then
    grep -q "resuming from $run/checkpoints/ckpt-$newest at step $newest" "$OUT/k9_$i.log" \
      || { cat "$OUT/k9_$i.log"; fail "round $i: did not resume from ckpt-$newest"; }
    resumed=$((resumed + 1))
  elif ((i > 1)); then
    grep -q "no checkpoint in $run/checkpoints, starting from step 0" "$OUT/k9_$i.log" || fail "round $i: no checkpoint, and not said"
  fi
done
"$BIN" "${k9[@]}" --resume > "$OUT/k9_final.log" 2>&1 || { cat "$OUT/k9_final.log"; fail "the final resume failed"; }
grep -q "^done: step $last " "$OUT/k9_final.log" || { cat "$OUT/k9_final.log"; fail "the final resume did not finish at step $last"; }
left=$(compgen -G "$run/checkpoints/.tmp-*" | wc -l || true)
[[ $left == 0 ]] || fail "$left .tmp-ckpt-* folders left"
check_metrics "$run/metrics.jsonl" "$last"
mapfile -t ckpts < <(compgen -G "$run/checkpoints/ckpt-*.index")
check_finite "${ckpts[@]%.index}"
record "fault: kill -9 x $ROUNDS ($inside inside checkpoint writes) -> each of the $resumed resumes with a checkpoint started from the newest one; final run done at step $last, metrics.jsonl without duplicates, 0 .tmp-ckpt-* left"
fi

if want export; then
section "kill -9 during the final SavedModel export, then --resume"
run="$OUT/k9_export"
bg "$OUT/k9e.log" train "${tiny[@]}" --set train.max_steps=3 --set "output_dir=$run"
export_begun "$run" || fail "the run ended before its export was seen"
kill -9 "$PID"; wait_exit "$PID" 30
test ! -e "$run/saved_model" || fail "a SavedModel appeared although the export was killed"
"$BIN" train "${tiny[@]}" --set train.max_steps=3 --set "output_dir=$run" --resume > "$OUT/k9e2.log" 2>&1 \
  || { cat "$OUT/k9e2.log"; fail "resume after the killed export"; }
grep -q 'saved_model/ is missing: exporting it from ckpt-3' "$OUT/k9e2.log" || fail "the resume did not say it exports"
test -f "$run/saved_model/saved_model.pb" || fail "no SavedModel after the resume"
record "fault: kill -9 inside the final export, --resume -> SavedModel exported, run complete"
fi

if want disk; then
section "disk full (tmpfs)"
mkdir -p "$MNT"
if [[ $(id -u) != 0 ]]; then fail "disk full: needs root to mount a tmpfs (CI runs as root); not run"; fi
mount -t tmpfs -o size=256k tmpfs "$MNT" || fail "disk full: mount -t tmpfs was refused; the disk-full checks were not run"
if "$BIN" train "${tiny[@]}" --set "output_dir=$MNT/run" > "$OUT/df_small.log" 2>&1; then fail "a run on a 256 KiB disk started"; fi
grep -q 'preflight: output_dir .* free, the run needs about' "$OUT/df_small.log" || { cat "$OUT/df_small.log"; fail "no preflight line"; }
record "fault: output_dir on a 256 KiB tmpfs -> refused before training: $(grep -o 'has .* free, the run needs about [0-9.]* MiB' "$OUT/df_small.log")"
umount "$MNT"
mount -t tmpfs -o size=8m tmpfs "$MNT"
bg "$OUT/df.log" train "${tiny[@]}" --set optim.epochs=50 --set train.checkpoint_every=1 --set "output_dir=$MNT/run"
wait_for "$OUT/df.log" '^step 3/' 300 "$PID"
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true    # fills the disk
wait_exit "$PID" 120
[[ $CODE == 1 ]] || { cat "$OUT/df.log"; fail "disk full: exit $CODE, want 1"; }
grep -qiE 'no space left on device|resource exhausted' "$OUT/df.log" || { cat "$OUT/df.log"; fail "disk full: the error does not say so"; }
last=$(ls "$MNT/run/checkpoints" | sed -nE 's/^ckpt-([0-9]+)\.index$/\1/p' | sort -n | tail -1)
rm -f "$MNT/filler"
mkdir -p "$OUT/df_copy"; cp "$MNT/run/checkpoints/ckpt-$last".* "$OUT/df_copy/"
check_finite "$OUT/df_copy/ckpt-$last"
bg "$OUT/df2.log" train "${tiny[@]}" --set optim.epochs=50 --set train.checkpoint_every=1 --set "output_dir=$MNT/run" --resume
wait_for "$OUT/df2.log" "^step $((last + 1))/" 300 "$PID"
kill -TERM "$PID"; wait_exit "$PID" 60
grep -q "resuming from $MNT/run/checkpoints/ckpt-$last at step $last" "$OUT/df2.log" || fail "disk full: resume did not start from ckpt-$last"
record "fault: disk filled during training -> exit 1 naming 'no space left on device'; ckpt-$last intact, resume continued from it after space was freed"
grep -q "$oom_hint" "$OUT/df.log" && fail "disk full: the error carries TensorFlow's OOM advice"
# The disk fills once the final export has begun (its saved_model.tmp-*
# folder exists). If the export wins the race and finishes first, the run
# is redone, at most 3 times.
rm -rf "$MNT/run"
for attempt in 1 2 3; do
  bg "$OUT/dfe.log" train "${tiny[@]}" --set train.max_steps=3 --set "output_dir=$MNT/run"
  export_begun "$MNT/run" || true   # ended first: the check below redoes the run
  dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
  wait_exit "$PID" 120
  [[ $CODE == 0 && -e "$MNT/run/saved_model" ]] || break
  echo "faults: the export finished before the disk filled (attempt $attempt); again" >&2
  rm -rf "$MNT/run" "$MNT/filler"
done
[[ $CODE == 1 ]] || { cat "$OUT/dfe.log"; fail "disk full in the export: exit $CODE, want 1"; }
grep -q "SavedModel $MNT/run/saved_model: .*No space left on device" "$OUT/dfe.log" || { cat "$OUT/dfe.log"; fail "disk full in the export: the error does not name the SavedModel and the full disk"; }
grep -q "$oom_hint" "$OUT/dfe.log" && fail "disk full in the export: the error carries TensorFlow's OOM advice"
test ! -e "$MNT/run/saved_model" || fail "disk full in the export: a saved_model/ appeared"
! compgen -G "$MNT/run/saved_model.tmp-*" > /dev/null || fail "disk full in the export: a saved_model.tmp-* folder was left"
mkdir -p "$OUT/dfe_copy"; cp "$MNT/run/checkpoints/ckpt-3".* "$OUT/dfe_copy/"
check_finite "$OUT/dfe_copy/ckpt-3"
# Free 320 KiB: room for the export (about 180 KB), not for the two
# checkpoints and SavedModel a run that still trains is asked for (0.5 MiB):
# the preflight of a resume that only exports asks for the SavedModel alone.
rm -f "$MNT/filler"
avail=$(df -B1 --output=avail "$MNT" | tail -1)
dd if=/dev/zero of="$MNT/filler" bs=4096 count=$(( (avail - 320 * 1024) / 4096 )) 2>/dev/null
left=$(df -B1 --output=avail "$MNT" | tail -1)
(( left <= 400 * 1024 )) || fail "disk full in the export: $left bytes free after refilling, want about 320 KiB"
"$BIN" train "${tiny[@]}" --set train.max_steps=3 --set "output_dir=$MNT/run" --resume > "$OUT/dfe2.log" 2>&1 \
  || { cat "$OUT/dfe2.log"; fail "disk full in the export: resume with $left bytes free"; }
grep -q 'saved_model/ is missing: exporting it from ckpt-3' "$OUT/dfe2.log" || fail "disk full in the export: the resume did not say it exports"
test -f "$MNT/run/saved_model/saved_model.pb" || fail "disk full in the export: no SavedModel after the resume"
# A run that still has steps to train is refused on the same space.
if "$BIN" train "${tiny[@]}" --set train.max_steps=6 --set "output_dir=$MNT/run" --resume > "$OUT/dfe3.log" 2>&1; then
  fail "disk full in the export: a resume with steps to train started with $left bytes free"
fi
grep -q 'preflight: output_dir .* the run needs about .* (two checkpoints of' "$OUT/dfe3.log" || { cat "$OUT/dfe3.log"; fail "disk full in the export: the refusal does not say what the run needs"; }
record "fault: disk filled during the final export (attempt $attempt) -> exit 1 naming the SavedModel and 'No space left on device', no OOM advice, no saved_model/ or temp folder left, ckpt-3 intact; resume with $left bytes free exported it (a resume with steps left is refused on that space)"
umount "$MNT"
fi

if want nan; then
section "NaN injection (optim.base_lr=1e6)"
run="$OUT/nan"
if "$BIN" train "${tiny[@]}" --set optim.base_lr=1e6 --set train.checkpoint_every=1 --set "output_dir=$run" > "$OUT/nan.log" 2>&1; then
  fail "a run at lr 1e6 succeeded"
fi
msg=$(grep -oE 'step [0-9]+: the .* are not finite' "$OUT/nan.log") || { cat "$OUT/nan.log"; fail "no non-finite error"; }
mapfile -t ckpts < <(compgen -G "$run/checkpoints/ckpt-*.index" || true)
if ((${#ckpts[@]} > 0)); then check_finite "${ckpts[@]%.index}"; fi
record "fault: optim.base_lr=1e6 -> exit 1, '$msg'; ${#ckpts[@]} checkpoints kept, all finite"
fi

if want two; then
section "two runs on one output_dir"
run="$OUT/two"
bg "$OUT/two1.log" train "${tiny[@]}" --set optim.epochs=50 --set "output_dir=$run"
first=$PID
wait_for "$OUT/two1.log" '^step 1/' 300 "$first"
if "$BIN" train "${tiny[@]}" --set optim.epochs=50 --set "output_dir=$run" --resume > "$OUT/two2.log" 2>&1; then fail "a second run on a locked folder started"; fi
grep -q "is in use: PID $first holds the lock" "$OUT/two2.log" || { cat "$OUT/two2.log"; fail "the second run does not name PID $first"; }
if "$BIN" linear-eval "${tiny[@]}" --set "output_dir=$run" --checkpoint random > "$OUT/two3.log" 2>&1; then fail "linear-eval wrote into a locked run folder"; fi
grep -q "is in use: PID $first holds the lock" "$OUT/two3.log" || { cat "$OUT/two3.log"; fail "linear-eval does not name PID $first"; }
record "fault: second train and linear-eval on a running run's folder -> refused, naming PID $first"
fi

if want crash; then
section "crash visibility (SIGQUIT during training)"
run="$OUT/crash"
bg "$OUT/crash.log" train "${tiny[@]}" --set optim.epochs=50 --set "output_dir=$run"
pid=$PID
wait_for "$OUT/crash.log" '^step 2/' 300 "$pid"
kill -QUIT "$pid"; wait_exit "$pid" 60
[[ $CODE == 2 ]] || fail "SIGQUIT: exit $CODE, want 2 (Go's crash status)"
grep -q 'SIGQUIT: quit' "$OUT/crash.log" && grep -q '^goroutine ' "$OUT/crash.log" && grep -q 'main.main()' "$OUT/crash.log" \
  || { cat "$OUT/crash.log"; fail "the goroutine dump did not reach stderr"; }
record "fault: SIGQUIT (a crash) during training -> exit 2 with the full goroutine dump ($(grep -c '^goroutine ' "$OUT/crash.log") goroutines) on stderr"
fi

if want memory; then
section "configs whose step cannot fit in memory"
printf 'output_dir: %s\n' "$OUT/mem_defaults" > "$OUT/only_output_dir.yaml"
t0=$(now_ms)
if "$BIN" train --config "$OUT/only_output_dir.yaml" > "$OUT/mem1.log" 2>&1; then fail "the built-in defaults (ResNet-50, 224 px, batch 512) started"; fi
t1=$(now_ms)
grep -qE 'preflight: one training step at batch 512 needs about [0-9.]+ GiB .* optim.batch_size [0-9]+ would fit' "$OUT/mem1.log" \
  || { cat "$OUT/mem1.log"; fail "the defaults' refusal does not give the estimate and a batch that fits"; }
if "$BIN" train "${tiny[@]}" --set data.image_size=100000 --set "output_dir=$OUT/mem_huge" > "$OUT/mem2.log" 2>&1; then fail "data.image_size=100000 started"; fi
t2=$(now_ms)
grep -q 'no batch fits' "$OUT/mem2.log" || { cat "$OUT/mem2.log"; fail "data.image_size=100000: no refusal naming the memory"; }
! compgen -G "$OUT/mem_defaults/checkpoints/ckpt-*" > /dev/null || fail "a refused run wrote a checkpoint"
record "fault: a config of only output_dir (ResNet-50, 224 px, batch 512) -> exit 1 in $((t1 - t0)) ms, '$(grep -oE 'needs about [0-9.]+ GiB' "$OUT/mem1.log")', $(grep -oE 'optim.batch_size [0-9]+ would fit' "$OUT/mem1.log"); data.image_size=100000 -> exit 1 in $((t2 - t1)) ms, no batch fits"
fi

if want resume; then
section "resume from a corrupt, config-less or moved run folder"
# flip FILE: flips the middle byte of FILE, as a bad disk or a stray write would.
flip() { "$PY" -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0x40; open(p, "wb").write(b)' "$1"; }
run="$OUT/res"
rs=(train "${tiny[@]}" --set train.checkpoint_every=3 --set train.keep_checkpoints=5 --set "output_dir=$run")
"$BIN" "${rs[@]}" --set train.max_steps=12 > "$OUT/res1.log" 2>&1 || { cat "$OUT/res1.log"; fail "the run whose checkpoint is corrupted"; }
flip "$run/checkpoints/ckpt-12.data-00000-of-00001"
t0=$(now_ms); CODE=0
"$BIN" "${rs[@]}" --set train.max_steps=15 --resume > "$OUT/res2.log" 2>&1 || CODE=$?
t1=$(now_ms)
[[ $CODE == 0 ]] || { cat "$OUT/res2.log"; fail "resume with a corrupt newest checkpoint: exit $CODE, want 0"; }
skip=$(grep -E '^resume: skipping checkpoints/ckpt-12: tensor .+: crc32c mismatch .*; using ckpt-9$' "$OUT/res2.log") \
  || { cat "$OUT/res2.log"; fail "no line naming the corrupt ckpt-12 and the ckpt-9 used"; }
grep -q "resuming from $run/checkpoints/ckpt-9 at step 9" "$OUT/res2.log" && grep -q '^done: step 15 ' "$OUT/res2.log" \
  || { cat "$OUT/res2.log"; fail "the resume did not go from ckpt-9 to step 15"; }
record "fault: a flipped byte in ckpt-12.data, --resume -> exit 0 after $((t1 - t0)) ms, trained from ckpt-9 to 15: '${skip%%: crc32c*}: crc32c mismatch ...; using ckpt-9'"
# A truncated data file and a truncated index: both skipped, with the reason.
truncate -s -100 "$run/checkpoints/ckpt-15.data-00000-of-00001"
truncate -s 30 "$run/checkpoints/ckpt-12.index"
CODE=0; "$BIN" "${rs[@]}" --set train.max_steps=18 --resume > "$OUT/res3.log" 2>&1 || CODE=$?
[[ $CODE == 0 ]] || { cat "$OUT/res3.log"; fail "resume with a truncated data file and index: exit $CODE, want 0"; }
grep -qE '^resume: skipping checkpoints/ckpt-15: tensor .+truncated file\?\); using ckpt-9$' "$OUT/res3.log" \
  && grep -qE '^resume: skipping checkpoints/ckpt-12: ckpt-12.index: not a valid TensorFlow checkpoint index: .*; using ckpt-9$' "$OUT/res3.log" \
  && grep -q '^done: step 18 ' "$OUT/res3.log" || { cat "$OUT/res3.log"; fail "the truncated ckpt-15.data and ckpt-12.index were not both skipped"; }
record "fault: ckpt-15.data cut by 100 bytes and ckpt-12.index cut to 30 bytes, --resume -> exit 0, both skipped with the reason, trained from ckpt-9 to 18"
# Evaluation and export on the folder name a corrupt newest checkpoint
# and the newest intact one, before any work.
flip "$run/checkpoints/ckpt-18.data-00000-of-00001"
for cmd in knn export; do
  extra=(); [[ $cmd == export ]] && extra=(--out "$OUT/res_export")
  CODE=0; t0=$(now_ms)
  "$BIN" "$cmd" "${tiny[@]}" --checkpoint "$run/checkpoints" "${extra[@]}" > "$OUT/res_$cmd.log" 2>&1 || CODE=$?
  t1=$(now_ms)
  [[ $CODE == 1 ]] || { cat "$OUT/res_$cmd.log"; fail "$cmd on a folder with a corrupt newest checkpoint: exit $CODE, want 1"; }
  grep -q "the newest checkpoint $run/checkpoints/ckpt-18 is corrupt: tensor .*crc32c mismatch.*; the newest intact one is $run/checkpoints/ckpt-15" "$OUT/res_$cmd.log" \
    || { cat "$OUT/res_$cmd.log"; fail "$cmd does not name the corrupt ckpt-18 and the intact ckpt-15"; }
  record "fault: $cmd --checkpoint RUN/checkpoints with ckpt-18 corrupt -> exit 1 after $((t1 - t0)) ms naming ckpt-18, the tensor, and ckpt-15 to use"
done
# Nothing intact: refused, naming each; nothing deleted.
for s in 6 9 12 15; do flip "$run/checkpoints/ckpt-$s.data-00000-of-00001"; done  # ckpt-18 is already
before=$(ls "$run/checkpoints" | wc -l)
CODE=0; "$BIN" "${rs[@]}" --set train.max_steps=21 --resume > "$OUT/res4.log" 2>&1 || CODE=$?
[[ $CODE == 1 ]] || { cat "$OUT/res4.log"; fail "resume with no intact checkpoint: exit $CODE, want 1"; }
grep -q "cannot resume: none of the 5 checkpoints in $run/checkpoints is intact" "$OUT/res4.log" || { cat "$OUT/res4.log"; fail "the refusal does not name the checkpoints"; }
[[ $(ls "$run/checkpoints" | wc -l) == "$before" ]] || fail "the refused resume changed checkpoints/"
record "fault: every checkpoint corrupt, --resume -> exit 1 naming all 5, checkpoints/ unchanged"

# A moved run folder resumes where its config.yaml is.
mv_from="$OUT/res_x"; mv_to="$OUT/res_y"
"$BIN" train "${tiny[@]}" --set train.max_steps=3 --set "output_dir=$mv_from" > "$OUT/res_mv1.log" 2>&1 || { cat "$OUT/res_mv1.log"; fail "the run to move"; }
mv "$mv_from" "$mv_to"
CODE=0; t0=$(now_ms)
"$BIN" train --config "$mv_to/config.yaml" --set train.max_steps=6 --resume > "$OUT/res_mv2.log" 2>&1 || CODE=$?
t1=$(now_ms)
[[ $CODE == 0 ]] || { cat "$OUT/res_mv2.log"; fail "resume of a moved run: exit $CODE, want 0"; }
grep -q "^resume: using the run folder $mv_to, where --config $mv_to/config.yaml is (it records output_dir $mv_from" "$OUT/res_mv2.log" \
  && grep -q "resuming from $mv_to/checkpoints/ckpt-3 at step 3" "$OUT/res_mv2.log" && grep -q '^done: step 6 ' "$OUT/res_mv2.log" \
  || { cat "$OUT/res_mv2.log"; fail "the moved run did not resume in $mv_to from ckpt-3"; }
test ! -e "$mv_from" || fail "the resume of the moved run wrote into $mv_from"
record "fault: mv runs/x runs/y, train --config runs/y/config.yaml --resume -> exit 0 after $((t1 - t0)) ms, resumed in runs/y from ckpt-3 (one line says so), runs/x not created"
CODE=0; "$BIN" train --config "$mv_to/config.yaml" --set "output_dir=$OUT/res_z" --resume > "$OUT/res_mv3.log" 2>&1 || CODE=$?
[[ $CODE == 1 ]] && grep -q "is the config of the run in $mv_to, but output_dir is $OUT/res_z" "$OUT/res_mv3.log" \
  || { cat "$OUT/res_mv3.log"; fail "a resume with a run's config and another output_dir: exit $CODE, want 1 naming both"; }
record "fault: --config runs/y/config.yaml --set output_dir=runs/z --resume -> exit 1 naming both folders"

# Without config*.yaml the checkpoint's own record keeps the rules.
rm "$mv_to"/config*.yaml
CODE=0; t0=$(now_ms)
"$BIN" train "${tiny[@]}" --set train.max_steps=6 --set "output_dir=$mv_to" --set seed=7 --set optim.batch_size=16 --set data.limit=1000 --resume > "$OUT/res_rec.log" 2>&1 || CODE=$?
t1=$(now_ms)
[[ $CODE == 1 ]] || { cat "$OUT/res_rec.log"; fail "resume without config.yaml, other seed, batch and limit: exit $CODE, want 1"; }
for k in "seed: 0 (checkpoint ckpt-6) -> 7" "optim.batch_size: 32 (checkpoint ckpt-6) -> 16" "data.limit: 2000 (checkpoint ckpt-6) -> 1000"; do
  grep -qF "$k" "$OUT/res_rec.log" || { cat "$OUT/res_rec.log"; fail "the refusal does not name '$k'"; }
done
record "fault: rm config*.yaml, --resume with another seed, optim.batch_size and data.limit -> exit 1 after $((t1 - t0)) ms naming the 3 keys against checkpoint ckpt-6's record"

# A refused resume leaves no TensorBoard event file behind.
events=$(ls "$mv_to"/logs/events.out.tfevents.* | wc -l)
for i in 1 2; do
  CODE=0; "$BIN" train "${tiny[@]}" --set train.max_steps=6 --set "output_dir=$mv_to" --set model.width=8 --resume > "$OUT/res_ev$i.log" 2>&1 || CODE=$?
  [[ $CODE == 1 ]] && grep -q 'model.width: checkpoint 4, config 8' "$OUT/res_ev$i.log" || { cat "$OUT/res_ev$i.log"; fail "resume with another width: exit $CODE, want 1 naming model.width"; }
done
[[ $(ls "$mv_to"/logs/events.out.tfevents.* | wc -l) == "$events" ]] || fail "the refused resumes left event files ($events before, $(ls "$mv_to"/logs/events.out.tfevents.* | wc -l) after)"
record "fault: two resumes refused at the checkpoint check (model.width) -> exit 1, $events event files before and after"
fi

printf '\n== fault suite: %d checks passed in %d s\n' "$(wc -l < "$RESULTS")" "$((SECONDS - start))"
cat "$RESULTS"
