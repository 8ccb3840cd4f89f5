#!/usr/bin/env bash
# Obtain libtensorflow (the TensorFlow C API) from the pinned TensorFlow wheel.
#
# The TF wheel ships the C API in tensorflow/libtensorflow_cc.so.2 together with
# its headers under tensorflow/include. This script installs the wheel into a
# venv kept outside the clone (so fresh clones reuse it), checks that the C API
# is exported, and lays out what cgo needs:
#
#   $PREFIX/lib/libtensorflow.so   -> the wheel's libtensorflow_cc.so.2 (link time only)
#   $PREFIX/include                -> the wheel's headers
#   $PREFIX/env.sh                 -> CGO_* exports
#
# The binaries it builds load libtensorflow from the wheel's own tensorflow/
# folder (the first RUNPATH entry), so the wheel's $ORIGIN/../nvidia/*/lib
# search paths find CUDA and cuDNN with no LD_LIBRARY_PATH.
#
# Usage: setup.sh            install if needed, print nothing on stdout
#        setup.sh --env      same, then print shell exports for cgo and the venv
#        setup.sh --prefix   same, then print $PREFIX
#
# Environment:
#   TF_PACKAGE     pip requirement (default tensorflow-cpu==2.18.1; the GPU build is
#                  'tensorflow[and-cuda]==2.18.1')
#   SIMSIAM_CACHE  where the installs live (default ~/.cache/simsiam)
#   PYTHON         interpreter for the venv (default python3)
#
# An install counts only once it is complete: $PREFIX/.ready is written last,
# and a folder without it (an interrupted or failed install) is removed and
# installed again on the next run. A second run only checks the layout and
# takes well under a second. Every failure says what failed on stderr.
set -Eeuo pipefail

TF_PACKAGE="${TF_PACKAGE:-tensorflow-cpu==2.18.1}"
CACHE="${SIMSIAM_CACHE:-$HOME/.cache/simsiam}"
PYTHON="${PYTHON:-python3}"
EXTRA_PY=(numpy pytest pillow)
# Python packages the tests use beyond TensorFlow, installed in the same venv:
# tensorflow-datasets builds TFDS folders for tests/python/test_tfds.py;
# tensorflow-metadata 1.21 is generated for protobuf 6, which TF 2.18 (protobuf
# < 6) cannot load, so it is pinned to the last line built for protobuf 5.
TEST_PY=(tensorflow-datasets==4.9.9 tensorflow-metadata==1.17.1)

log() { printf 'libtensorflow: %s\n' "$*" >&2; }
die() { printf 'libtensorflow: error: %s\n' "$*" >&2; exit 1; }
# Any command that fails outside die() names itself and its line.
trap 'rc=$?; printf "libtensorflow: error: setup.sh line %s: \"%s\" exited with status %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit "$rc"' ERR
trap 'printf "libtensorflow: interrupted; the next run removes the partial install and starts over\n" >&2; exit 130' INT TERM

mode="${1:-}"
case "$mode" in ""|--env|--prefix) ;; *) die "unknown argument $mode (want --env or --prefix)";; esac

# Key the install by the requirement so CPU and GPU builds can live side by side.
key="$(printf '%s' "$TF_PACKAGE" | sed -e 's/==/-/g' -e 's/\[and-cuda\]/-gpu/' | tr -c 'A-Za-z0-9._-' '_')"
PREFIX="$CACHE/$key"
VENV="$PREFIX/venv"
stamp="$PREFIX/.ready"
extras="$PREFIX/.test-packages" # the TEST_PY list the venv holds

# An install made before TEST_PY changed gets the test packages added (with
# the TF requirement in the same pip call, so pip keeps TF's own pins).
test_packages_ready() { [[ -f "$extras" && "$(cat "$extras")" == "${TEST_PY[*]}" ]]; }
install_test_packages() {
  local req
  req="$(cat "$stamp")"
  req="${req%%==*}==$(. "$PREFIX/env.sh" && printf '%s' "$SIMSIAM_TF_VERSION")"
  log "installing ${TEST_PY[*]} into $VENV (next to $req)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$req" "${TEST_PY[@]}" >&2 \
    || die "pip could not install ${TEST_PY[*]} next to $req"
  printf '%s\n' "${TEST_PY[*]}" > "$extras"
}

ready() { [[ -f "$stamp" && -e "$PREFIX/lib/libtensorflow.so" && -f "$PREFIX/env.sh" && -x "$VENV/bin/python" ]]; }

install_wheel() {
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (install python3-venv)"
  log "installing $TF_PACKAGE (once; later runs reuse $VENV)"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TF_PACKAGE" "${EXTRA_PY[@]}" "${TEST_PY[@]}" >&2; then
    # 2.18.1 is the pin; fall back to 2.18.0 when the index refuses the patch release.
    local fallback="${TF_PACKAGE/2.18.1/2.18.0}"
    [[ "$fallback" != "$TF_PACKAGE" ]] || die "pip could not install $TF_PACKAGE"
    log "pip refused $TF_PACKAGE; trying $fallback"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$fallback" "${EXTRA_PY[@]}" "${TEST_PY[@]}" >&2 \
      || die "pip could not install $TF_PACKAGE nor $fallback"
  fi
}

site_tf() {
  "$VENV/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("tensorflow")
print(os.path.dirname(spec.origin) if spec and spec.origin else "")
PY
}

install() {
  if [[ -e "$PREFIX" ]]; then
    log "removing the incomplete install in $PREFIX (no .ready stamp)"
    rm -rf "$PREFIX"
  fi
  mkdir -p "$PREFIX"
  install_wheel
  local TFDIR capi cand version
  TFDIR="$(site_tf)"
  [[ -n "$TFDIR" && -d "$TFDIR" ]] || die "tensorflow is not importable from $VENV"
  # The C API lives in libtensorflow_cc.so.2 in 2.18 wheels; older layouts exported
  # it from the Python extension instead. Use whichever exports TF_NewGraph.
  capi=""
  for cand in "$TFDIR/libtensorflow_cc.so.2" "$TFDIR/python/_pywrap_tensorflow_internal.so"; do
    # (no grep -q: it would end the pipe early and pipefail would report nm's SIGPIPE)
    if [[ -f "$cand" ]] && nm -D --defined-only "$cand" 2>/dev/null | grep -cE ' T TF_NewGraph(@|$)' >/dev/null; then
      capi="$cand"; break
    fi
  done
  [[ -n "$capi" ]] || die "no library in $TFDIR exports TF_NewGraph (looked at libtensorflow_cc.so.2 and python/_pywrap_tensorflow_internal.so)"
  [[ -f "$TFDIR/libtensorflow_framework.so.2" ]] || die "$TFDIR/libtensorflow_framework.so.2 is missing"
  [[ -f "$TFDIR/include/tensorflow/c/c_api.h" ]] || die "$TFDIR/include/tensorflow/c/c_api.h is missing"
  # Only the linker sees $PREFIX/lib (-ltensorflow); at run time the binary
  # finds the library under its soname in $TFDIR, the first RUNPATH entry, so
  # the wheel's $ORIGIN-relative paths resolve against the wheel itself.
  mkdir -p "$PREFIX/lib"
  ln -sfn "$capi" "$PREFIX/lib/libtensorflow.so"
  ln -sfn "$TFDIR/include" "$PREFIX/include"
  version="$("$VENV/bin/python" -c 'import importlib.metadata as m
for d in ("tensorflow-cpu","tensorflow"):
    try: print(m.version(d)); break
    except m.PackageNotFoundError: pass')"
  [[ -n "$version" ]] || die "pip installed no tensorflow distribution into $VENV"
  cat > "$PREFIX/env.sh.tmp" <<ENV
export SIMSIAM_TF_PREFIX="$PREFIX"
export SIMSIAM_TF_VERSION="$version"
export SIMSIAM_TF_LIBDIR="$TFDIR"
export SIMSIAM_PYTHON="$VENV/bin/python"
export CGO_ENABLED=1
export CGO_CFLAGS="-I$PREFIX/include"
export CGO_LDFLAGS="-L$PREFIX/lib -Wl,--enable-new-dtags -Wl,-rpath,$TFDIR"
export TF_CPP_MIN_LOG_LEVEL="\${TF_CPP_MIN_LOG_LEVEL:-2}"
ENV
  mv "$PREFIX/env.sh.tmp" "$PREFIX/env.sh"
  printf '%s\n' "${TEST_PY[*]}" > "$extras"
  printf '%s\n' "$TF_PACKAGE" > "$stamp"
  log "ready: TensorFlow $version C API from $capi"
}

if ! ready; then
  mkdir -p "$CACHE"
  # One install at a time per cache (make -j, two clones on one machine).
  exec 9>"$CACHE/.$key.lock"
  if command -v flock >/dev/null; then flock 9; fi
  ready || install
fi
if ! test_packages_ready; then
  exec 9>"$CACHE/.$key.lock"
  if command -v flock >/dev/null; then flock 9; fi
  test_packages_ready || install_test_packages
fi

case "$mode" in
  --env) cat "$PREFIX/env.sh" ;;
  --prefix) printf '%s\n' "$PREFIX" ;;
esac
