#!/usr/bin/env bash
# Make sure Debian's dataset-fashion-mnist (the real Fashion-MNIST IDX files) is
# installed at /usr/share/datasets/fashion-mnist. The program never downloads
# data itself; this only asks the system package manager.
set -euo pipefail
DIR=/usr/share/datasets/fashion-mnist
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
have_all() { for f in "${FILES[@]}"; do [[ -s "$DIR/$f" ]] || return 1; done; }
have_all && exit 0
if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
  echo "fashion-mnist: installing Debian package dataset-fashion-mnist" >&2
  (apt-get install -y -qq dataset-fashion-mnist || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }) >&2
elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
  sudo apt-get install -y -qq dataset-fashion-mnist >&2
fi
have_all && exit 0
echo "fashion-mnist: missing. Install the Debian package dataset-fashion-mnist, or put ${FILES[*]} in $DIR." >&2
exit 1
