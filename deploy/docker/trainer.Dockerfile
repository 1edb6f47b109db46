# syntax=docker/dockerfile:1.7
# Image of the training Jobs on the GPU node pool: Node 20 + the libtorch addon built against the CUDA
# libtorch inside PyTorch's own install (LIBTORCH_DIR, with its C++11 ABI flag), by the same
# scripts/build-native.sh as every other build. The trainer control plane launches it with
# `train ...` arguments (charts/spark, trainer.job).
# Build from the repository root with scripts/build-images.sh (BuildKit reads trainer.Dockerfile.dockerignore).

# Bases pinned to exact releases: PyTorch 2.5.1 / CUDA 12.4 / cuDNN 9 (devel to compile, runtime to run)
# and the Node 20 release the code is tested on.
ARG TORCH_DEVEL_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel
ARG TORCH_RUNTIME_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${TORCH_DEVEL_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make \
 && rm -rf /var/lib/apt/lists/*
# Node from the official image (its binaries need glibc >= 2.28; Ubuntu 22.04 has 2.35).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
COPY --from=node /usr/local/include/node /usr/local/include/node
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY bin ./bin
COPY proto ./proto
COPY scripts ./scripts
COPY services ./services
# LIBTORCH_DIR is torch's package folder (include/ and lib/); build-native.sh asks torch for the ABI flag
# and links -ltorch_cuda -lc10_cuda when lib/libtorch_cuda.so is there.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN LIBTORCH_DIR="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')" \
    NODE_GYP_NODEDIR=/usr/local bash scripts/build-native.sh \
 && npx tsc -p tsconfig.json \
 && npm prune --omit=dev

FROM ${TORCH_RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="spark-trainer" \
      org.opencontainers.image.description="SPaRK training Jobs: offline step-wise PPO / SFT with QLoRA on CUDA libtorch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}"
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 spark \
 && useradd --system --uid 10001 --gid spark --home-dir /app --shell /usr/sbin/nologin spark
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
# The addon's rpath points at the same torch folder, which the runtime image has at the same place.
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/proto ./proto
COPY --from=build --chown=root:root /app/services ./services
ENV NODE_ENV=production \
    SPARK_ARTIFACT_ROOT=/var/lib/spark/artifacts \
    CUDA_CACHE_PATH=/tmp/cuda-cache
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/spark.js"]
CMD ["--help"]
