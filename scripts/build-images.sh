#!/usr/bin/env bash
# Builds (and with --push, pushes) the two SPaRK images from the repository root with BuildKit:
#   services  deploy/docker/services.Dockerfile  -> REGISTRY/spark-ts/spark-services:TAG  (the CPU services + trainer control plane)
#   trainer   deploy/docker/trainer.Dockerfile   -> REGISTRY/spark-ts/spark-trainer:TAG   (training Jobs, CUDA PyTorch base)
# The chart's image.repository / trainer.job.image.repository defaults are these names; set image.registry
# and trainer.job.image.registry to REGISTRY when installing.
#
#   scripts/build-images.sh [--registry REGISTRY] [--tag TAG] [--only services|trainer] [--platform linux/amd64]
#                           [--push] [--dry-run]
#
# TAG defaults to package.json's version (= the chart's appVersion). --dry-run prints the commands only
# (no Docker engine needed). Needs docker with buildx (BuildKit reads <Dockerfile>.dockerignore).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
registry=""
tag=$(node -p "require('./package.json').version")
only=""
platform=linux/amd64
push=0
dry=0
while (($#)); do
  case "$1" in
    --registry) registry=${2%/}; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --only) only=$2; shift 2
      [[ $only == services || $only == trainer ]] || { echo "build-images: --only must be services or trainer (got '$only')" >&2; exit 2; } ;;
    --platform) platform=$2; shift 2 ;;
    --push) push=1; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument '$1' (allowed: --registry, --tag, --only, --platform, --push, --dry-run)" >&2; exit 2 ;;
  esac
done
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "build-images: --tag '$tag' is not a valid image tag" >&2; exit 2; }
((push)) && [ -z "$registry" ] && { echo "build-images: --push needs --registry (where the cluster pulls from)" >&2; exit 2; }

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
source_url=$(git remote get-url origin 2>/dev/null || true)
prefix=${registry:+$registry/}
for image in services trainer; do
  [ -n "$only" ] && [ "$only" != "$image" ] && continue
  cmd=(docker buildx build --file "deploy/docker/$image.Dockerfile" --platform "$platform"
       --tag "${prefix}spark-ts/spark-$image:$tag"
       --build-arg "VERSION=$tag" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url")
  if ((push)); then cmd+=(--push); else cmd+=(--load); fi
  cmd+=(.)
  if ((dry)); then printf '%q ' "${cmd[@]}"; echo; else "${cmd[@]}"; fi
done
