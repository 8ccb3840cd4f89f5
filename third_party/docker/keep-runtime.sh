#!/usr/bin/env bash
# Build stage of the Dockerfile, after `make build`: installs bin/simsiam as
# /opt/simsiam/bin/simsiam and cuts $SIMSIAM_CACHE down to the files that binary
# loads at run time, so the runtime stage copies /opt/simsiam whole and gets no
# Python (interpreter, keras, tensorboard, numpy, pytest, TF's Python code).
#
# What stays, at the same absolute paths (the binary's RUNPATH is absolute, see
# third_party/libtensorflow/setup.sh):
#   <site-packages>/tensorflow/libtensorflow_cc.so.2        the C API
#   <site-packages>/tensorflow/libtensorflow_framework.so.2 its one TF dependency
#   <site-packages>/nvidia/                                 GPU wheel only: CUDA, cuDNN,
#       NCCL, ptxas and libdevice, which the two libraries find through their
#       $ORIGIN/../nvidia/*/lib RUNPATH entries and TF's $ORIGIN/../nvidia/cuda_nvcc
#       search for ptxas
# Everything else under $SIMSIAM_CACHE (the venv's interpreter and packages, the
# link-time lib/ and include/ links, env.sh) is deleted. Deleting leaves whiteouts
# in this layer and never copies the large files again.
set -Eeuo pipefail

DEST=/opt/simsiam
BIN=bin/simsiam

log() { printf 'keep-runtime: %s\n' "$*" >&2; }
die() { printf 'keep-runtime: error: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; printf "keep-runtime: error: line %s: \"%s\" exited with status %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit "$rc"' ERR

[[ -x "$BIN" ]] || die "$BIN is missing (run make build first)"
cache="${SIMSIAM_CACHE:?SIMSIAM_CACHE is not set}"
cache="${cache%/}"
tfenv="$(third_party/libtensorflow/setup.sh --env)"
eval "$tfenv"
tfdir="${SIMSIAM_TF_LIBDIR:?setup.sh --env set no SIMSIAM_TF_LIBDIR}"
site="$(dirname "$tfdir")"

# The binary must look for libtensorflow in exactly this folder, first.
runpath="$(readelf -d "$BIN" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p')"
[[ "${runpath%%:*}" == "$tfdir" ]] \
  || die "the first RUNPATH entry of $BIN is '${runpath%%:*}', not $tfdir"
case "$tfdir" in "$cache"/*) ;; *) die "$tfdir is outside SIMSIAM_CACHE ($cache)";; esac
case "$cache" in "$DEST"/*) ;; *) die "SIMSIAM_CACHE ($cache) is outside $DEST, which the runtime stage copies";; esac
# find -path treats these as patterns; setup.sh's paths never hold glob characters.
case "$cache$tfdir" in *[][*?\\]*) die "glob characters in $cache or $tfdir";; esac

keep=()
for lib in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  [[ -e "$tfdir/$lib" ]] || die "$tfdir/$lib is missing"
  keep+=("$tfdir/$lib")
  real="$(readlink -f "$tfdir/$lib")"   # keep a symlink's target too
  [[ "$real" == "$tfdir/$lib" ]] || keep+=("$real")
done
not_kept=()
for path in "${keep[@]}"; do not_kept+=(! -path "$path"); done

# Files and links first, then the folders left empty.
find "$cache" -mindepth 1 ! -type d "${not_kept[@]}" \
  ! -path "$site/nvidia/*" -delete
find "$cache" -mindepth 1 -depth -type d -empty -delete

install -D -m 0755 "$BIN" "$DEST/bin/simsiam"

# What the runtime stage gets must load: every NEEDED library resolves and
# libtensorflow comes from the wheel's folder.
deps="$(ldd "$DEST/bin/simsiam")"
if grep -F 'not found' <<<"$deps" >&2; then die "$DEST/bin/simsiam needs libraries that are gone"; fi
grep -F "libtensorflow_cc.so.2 => $tfdir/libtensorflow_cc.so.2" <<<"$deps" >/dev/null \
  || die "libtensorflow_cc.so.2 does not resolve to $tfdir: $deps"

log "kept for the runtime stage:"
du -sh "$DEST/bin/simsiam" "${keep[@]}" >&2
if [[ -d "$site/nvidia" ]]; then du -sh "$site/nvidia" >&2; fi
du -sh "$DEST" >&2
