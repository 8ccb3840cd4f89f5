#!/usr/bin/env bash
# Runtime stage of the Dockerfile (Debian bookworm-slim, no Python).
#
#   runtime.sh prepare   before /opt/simsiam is copied in: the user SIMSIAM_UID that
#                        runs the program, owning /work, and the CUDA compute cache
#                        folder /cache/cuda
#   runtime.sh check     after it is copied: every library bin/simsiam needs
#                        resolves, libtensorflow from the wheel's folder, no Python
#                        is installed, and `simsiam version` runs as that user
#
# Besides the wheel's two libraries, libtensorflow needs only glibc, libstdc++6 and
# libgcc-s1 (its NEEDED entries). Slim images always carry the last two because
# apt itself is C++, so nothing is installed here; `check` fails the build if that
# ever stops being true.
#
# Environment: SIMSIAM_UID (default 10001), also the group id.
set -Eeuo pipefail

USER_ID="${SIMSIAM_UID:-10001}"
BIN=/opt/simsiam/bin/simsiam

log() { printf 'runtime: %s\n' "$*" >&2; }
die() { printf 'runtime: error: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; printf "runtime: error: line %s: \"%s\" exited with status %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit "$rc"' ERR

prepare() {
  # --no-log-init: no lastlog/faillog entry (a sparse file sized by the uid).
  groupadd --gid "$USER_ID" simsiam
  useradd --uid "$USER_ID" --gid "$USER_ID" --home-dir /work --no-create-home \
    --shell /usr/sbin/nologin --no-log-init simsiam
  install -d -o "$USER_ID" -g "$USER_ID" -m 0755 /work
  # The driver's JIT cache (CUDA_CACHE_PATH). Sticky and world-writable like /tmp,
  # so a volume mounted here also works under `docker run --user <other uid>`.
  install -d -o "$USER_ID" -g "$USER_ID" -m 1777 /cache/cuda
}

check() {
  [[ -x "$BIN" ]] || die "$BIN is missing"
  local deps
  deps="$(ldd "$BIN")"
  if grep -F 'not found' <<<"$deps" >&2; then die "$BIN needs libraries this image does not have"; fi
  # (readelf is not in slim images; ldd shows where the RUNPATH led.)
  grep -E '^\s*libtensorflow_cc\.so\.2 => /opt/simsiam/' <<<"$deps" >/dev/null \
    || die "libtensorflow_cc.so.2 does not come from /opt/simsiam: $deps"
  local py
  for py in python3 python; do
    if command -v "$py" >/dev/null; then die "$(command -v "$py") is installed; the runtime image carries no Python"; fi
  done
  log "simsiam version, as uid $USER_ID:"
  setpriv --reuid="$USER_ID" --regid="$USER_ID" --clear-groups env HOME=/work "$BIN" version
}

case "${1:-}" in
  prepare) prepare ;;
  check) check ;;
  *) die "usage: runtime.sh prepare|check" ;;
esac
