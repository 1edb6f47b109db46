# syntax=docker/dockerfile:1.7
# Image of the four CPU services (dataset, judge, trajectory, evaluator) and the trainer control plane:
# `node bin/spark.js serve <name>` (the chart passes `serve <name>` as args). It also carries Debian's CPU
# libtorch and the addon built against it, so the trainer can train a small model in-process
# (trainer.executor=local, e.g. on kind); GPU training runs in trainer.Dockerfile's image.
# Build from the repository root with scripts/build-images.sh (BuildKit reads services.Dockerfile.dockerignore).

# Bases pinned to exact releases (Node 20 on Debian 12, the platform the code is tested on).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# Compilers and libtorch headers for the addon (DESIGN.md §9: always the pthread OpenBLAS).
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 libtorch-dev libopenblas0-pthread \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first: this layer is reused until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY bin ./bin
COPY proto ./proto
COPY scripts ./scripts
COPY services ./services
# Node's headers live under /usr/local in this image.
RUN npx tsc -p tsconfig.json \
 && NODE_GYP_NODEDIR=/usr/local bash scripts/build-native.sh \
 && npm prune --omit=dev

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="spark-services" \
      org.opencontainers.image.description="SPaRK gRPC services (dataset, judge, trajectory, trainer control plane, evaluator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}"
ENV DEBIAN_FRONTEND=noninteractive
# Runtime libraries: CPU libtorch + OpenBLAS (trainer), Python with numpy/scipy/sympy for the python and
# equation_solver tools, bubblewrap + util-linux (prlimit, setpriv) for their sandbox, tini as PID 1.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libtorch1.13 libopenblas0-pthread \
      python3 python3-numpy python3-scipy python3-sympy bubblewrap util-linux tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 spark \
 && useradd --system --uid 10001 --gid spark --home-dir /app --shell /usr/sbin/nologin spark
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/proto ./proto
COPY --from=build --chown=root:root /app/services ./services
ENV NODE_ENV=production \
    SPARK_HOST=0.0.0.0 \
    SPARK_ARTIFACT_ROOT=/var/lib/spark/artifacts \
    MALLOC_MMAP_THRESHOLD_=131072
USER 10001:10001
EXPOSE 50051-50055 9461-9465
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/spark.js"]
CMD ["--help"]
