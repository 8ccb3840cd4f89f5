# GPU image of the simsiam command.
#
#   docker build -t simsiam:gpu .
#   docker run --gpus all -v /data:/data -v $PWD/runs:/work/runs simsiam:gpu \
#       train --preset stl10_resnet18 --set data.dir=/data/stl10_binary
#
# Every RUN step calls the project's own scripts (the same ones CI runs), so the
# image cannot drift from what is tested. TF_PACKAGE selects the wheel; the
# default is the CUDA-enabled build of the pinned TensorFlow.
ARG TF_PACKAGE="tensorflow[and-cuda]==2.18.1"

FROM golang:1.26-bookworm AS build
ARG TF_PACKAGE
ENV TF_PACKAGE=${TF_PACKAGE} SIMSIAM_CACHE=/opt/simsiam/cache
WORKDIR /src
COPY third_party/ third_party/
RUN third_party/docker/build-deps.sh
RUN third_party/libtensorflow/setup.sh
COPY . .
RUN make build && mkdir -p /opt/simsiam/bin && cp bin/simsiam /opt/simsiam/bin/ \
 && third_party/libtensorflow/setup.sh --prefix > /opt/simsiam/tf-prefix \
 && cp third_party/docker/entrypoint.sh /opt/simsiam/entrypoint.sh

FROM debian:bookworm-slim
# The venv under /opt/simsiam/cache holds libtensorflow and, for the GPU build,
# the CUDA/cuDNN libraries from their pip packages; the NVIDIA driver comes from
# the host through the NVIDIA container toolkit (--gpus all).
COPY --from=build /opt/simsiam /opt/simsiam
WORKDIR /work
ENTRYPOINT ["/opt/simsiam/entrypoint.sh"]
CMD ["version"]
