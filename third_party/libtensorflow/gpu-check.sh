#!/usr/bin/env bash
# make gpu-check: the GPU build, checked on any machine (a GPU is not needed).
#
#  1. installs tensorflow[and-cuda]==2.18.1 (about 4.6 GB, once) through setup.sh;
#  2. builds bin/gpu/simsiam against it and checks that the binary's first
#     RUNPATH entry is the wheel's tensorflow/ folder;
#  3. runs `env -i bin/gpu/simsiam version` with LD_DEBUG=libs and checks that
#     the dynamic loader found libcudart.so.12 in the wheel's nvidia/ tree
#     with an empty environment (no LD_LIBRARY_PATH);
#  4. writes internal/placement/gpu-kernels.tsv, every kernel the GPU
#     build registers for GPUs (kernels.py), which the placement tests read.
# Not in CI (the download); commit the table when it changes.
set -Eeuo pipefail
trap 'printf "gpu-check: error: line %s: \"%s\" exited with status %s\n" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
cd "$(dirname "$0")/../.."
export TF_PACKAGE="${GPU_TF_PACKAGE:-tensorflow[and-cuda]==2.18.1}"
fail() { printf 'gpu-check: FAIL: %s\n' "$*" >&2; exit 1; }

eval "$(third_party/libtensorflow/setup.sh --env)"
echo "gpu-check: TensorFlow $SIMSIAM_TF_VERSION from $SIMSIAM_TF_LIBDIR"
[[ -d "$SIMSIAM_TF_LIBDIR/../nvidia/cuda_runtime/lib" ]] || fail "$TF_PACKAGE brought no nvidia/cuda_runtime (is it the CUDA build?)"

go build -o bin/gpu/simsiam ./cmd/simsiam
runpath="$(readelf -d bin/gpu/simsiam | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
echo "gpu-check: bin/gpu/simsiam RUNPATH: $runpath"
[[ "${runpath%%:*}" == "$SIMSIAM_TF_LIBDIR" ]] || fail "the first RUNPATH entry is ${runpath%%:*}, not the wheel's $SIMSIAM_TF_LIBDIR"
if readelf -d bin/gpu/simsiam | grep -q '(RPATH)'; then fail "bin/gpu/simsiam has a DT_RPATH (it would override LD_LIBRARY_PATH)"; fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
env -i LD_DEBUG=libs bin/gpu/simsiam version > "$log" 2>&1 || fail "env -i bin/gpu/simsiam version failed: $(tail -5 "$log")"
cudart="$(sed -n 's/.*calling init: \(.*libcudart\.so\.12\)$/\1/p' "$log" | head -1)"
[[ -n "$cudart" ]] || fail "with an empty environment the loader did not load libcudart.so.12 (LD_DEBUG=libs output in $log)"
echo "gpu-check: env -i bin/gpu/simsiam version loads $(readlink -f "$cudart")"
for lib in libcudnn.so.9 libcublas.so.12; do
  found="$(find "$SIMSIAM_TF_LIBDIR/../nvidia" -name "$lib" | head -1)"
  [[ -n "$found" ]] || fail "$lib is not in the wheel's nvidia/ tree"
done
grep -v '^ *[0-9]*:' "$log" | grep -E '^(simsiam|TensorFlow|devices|CPU|libtensorflow|CUDA)' || true

table=internal/placement/gpu-kernels.tsv
"$SIMSIAM_PYTHON" third_party/libtensorflow/kernels.py GPU > "$table.tmp" 2>"$log" || fail "kernels.py: $(tail -5 "$log")"
mv "$table.tmp" "$table"
echo "gpu-check: $table: $(grep -vc '^#' "$table") GPU kernels of $(grep -v '^#' "$table" | cut -f1 | sort -u | wc -l) ops"
git diff --stat -- "$table"
echo "gpu-check: ok"
