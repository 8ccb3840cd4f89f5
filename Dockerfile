# GPU image of the simsiam command.
#
#   docker build -t simsiam:gpu .
#   docker run --gpus all -v simsiam-cuda-cache:/cache/cuda \
#       -v /data:/data -v "$PWD/runs:/work/runs" simsiam:gpu \
#       train --preset stl10_resnet18 --set data.dir=/data/stl10_binary
#
# The program runs as uid 10001 (build arg SIMSIAM_UID); to write into a
# bind-mounted folder you own, add --user "$(id -u):$(id -g)".
#
# Every RUN step calls the project's own scripts (the build stage runs the same
# setup.sh and `make build` as CI), so the image cannot drift from what is tested.
# TF_PACKAGE selects the wheel; the default is the CUDA-enabled build of the
# pinned TensorFlow (tensorflow-cpu==2.18.1 gives a CPU-only image).
#
# Base images are named in full: Podman and Buildah refuse short names.
ARG TF_PACKAGE="tensorflow[and-cuda]==2.18.1"

FROM docker.io/library/golang:1.26-bookworm AS build
ARG TF_PACKAGE
# PIP_NO_CACHE_DIR: the wheels are installed once per layer; a pip cache would
# only double the size of this stage.
ENV TF_PACKAGE=${TF_PACKAGE} SIMSIAM_CACHE=/opt/simsiam/cache PIP_NO_CACHE_DIR=1
WORKDIR /src
# One script per layer, so a change to the sources reuses the wheel install.
COPY third_party/docker/build-deps.sh third_party/docker/
RUN third_party/docker/build-deps.sh
COPY third_party/libtensorflow/setup.sh third_party/libtensorflow/
RUN third_party/libtensorflow/setup.sh
COPY . .
# bin/simsiam's RUNPATH is the wheel's tensorflow/ folder under SIMSIAM_CACHE;
# keep-runtime.sh installs it to /opt/simsiam/bin and deletes everything under
# SIMSIAM_CACHE that it does not load (all of Python), leaving the two TF
# libraries and, for the GPU wheel, site-packages/nvidia at their paths.
RUN make build && third_party/docker/keep-runtime.sh

FROM docker.io/library/debian:bookworm-slim
# ARG values reach RUN as environment variables (runtime.sh reads SIMSIAM_UID).
ARG SIMSIAM_UID=10001
# NVIDIA_*: the NVIDIA container toolkit mounts the host's driver (libcuda,
# nvidia-smi) and every GPU. TensorFlow 2.18's wheel has Hopper (sm_90) kernels
# only as PTX, so on an H100/H200 the driver JIT-compiles them at start;
# CUDA_CACHE_PATH keeps the result: mount a volume there
# (-v simsiam-cuda-cache:/cache/cuda) and only the first run pays; 4 GiB holds
# the kernels of several models. TF_CPP_MIN_LOG_LEVEL=2 keeps TensorFlow's info
# lines off the terminal from the first instruction (see docs/gpu.md).
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CUDA_CACHE_PATH=/cache/cuda \
    CUDA_CACHE_MAXSIZE=4294967296 \
    TF_CPP_MIN_LOG_LEVEL=2
COPY third_party/docker/runtime.sh /usr/local/lib/simsiam/runtime.sh
RUN /usr/local/lib/simsiam/runtime.sh prepare
# The binary, libtensorflow and (GPU) the CUDA/cuDNN pip libraries, at the same
# absolute paths as in the build stage.
COPY --from=build /opt/simsiam /opt/simsiam
RUN /usr/local/lib/simsiam/runtime.sh check
VOLUME /cache/cuda
USER ${SIMSIAM_UID}:${SIMSIAM_UID}
WORKDIR /work
ENTRYPOINT ["/opt/simsiam/bin/simsiam"]
CMD ["version"]
