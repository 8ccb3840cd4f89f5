#!/usr/bin/env bash
# Runtime entry point of the Docker image: puts TensorFlow's (and, for the GPU
# build, CUDA's) libraries on the path, then runs simsiam with the arguments.
set -euo pipefail
prefix="$(cat /opt/simsiam/tf-prefix)"
# shellcheck disable=SC1091
source "$prefix/env.sh"
exec /opt/simsiam/bin/simsiam "$@"
