#!/usr/bin/env bash
# System packages the build stage of the Dockerfile needs on top of the Go image
# (Debian bookworm): a Python venv for the TensorFlow wheel, and make.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv make binutils ca-certificates
rm -rf /var/lib/apt/lists/*
