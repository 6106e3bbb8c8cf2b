#!/usr/bin/env bash
# Build every modelserve image on top of the Debian base (build-base.sh), no registry needed.
#
#   reference-stack/docker/build-images.sh [--base modelserve-base:bookworm] [--tag 0.1.0] [--gpu] [IMAGE...]
#
# IMAGE: modelserve-ner, modelserve-vision, modelserve-orchestrator (default: all), the names
# values.yaml gives (ner.image, vision.image, orchestrator.image; tag global.imageTag).
# --gpu: also modelserve-ner-gpu and modelserve-vision-gpu, with ONNX Runtime's CUDA build
# ($ORT_GPU, default below) instead of the CPU one: the images the chart runs on GPU nodes.
# The build context is staged in a temporary folder holding only what the Dockerfiles copy
# (the server code and the pins), so nothing else of the checkout reaches the daemon.
# Build steps use --network host: pip inside the build reaches PyPI like the host does.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

BASE=modelserve-base:bookworm
TAG=0.1.0
GPU=0
# onnxruntime-gpu trails onnxruntime by a release on PyPI; 1.31 is built for CUDA 13.
ORT_GPU=${ORT_GPU:-onnxruntime-gpu[cuda,cudnn]==1.31.1}
IMAGES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --gpu) GPU=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "build-images: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) IMAGES+=("$1"); shift ;;
  esac
done
[ ${#IMAGES[@]} -gt 0 ] || IMAGES=(modelserve-ner modelserve-vision modelserve-orchestrator)
if [ "$GPU" = 1 ]; then
  for image in "${IMAGES[@]}"; do
    case "$image" in modelserve-ner|modelserve-vision) IMAGES+=("$image-gpu") ;; esac
  done
fi
DOCKER=${DOCKER:-docker}
"$DOCKER" image inspect "$BASE" >/dev/null 2>&1 || {
  echo "build-images: base image $BASE not found: run reference-stack/docker/build-base.sh" >&2; exit 1; }

CTX=$(mktemp -d "${TMPDIR:-/tmp}/msai-docker-ctx.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
cp "$HERE"/*.Dockerfile "$HERE"/requirements-*.txt "$CTX"/
cp "$ROOT/requirements/constraints.txt" "$CTX/constraints.txt"
tar -C "$ROOT/reference-stack" --exclude=__pycache__ --exclude='*.pyc' -cf - modelserve | tar -C "$CTX" -xf -

for image in "${IMAGES[@]}"; do
  case "$image" in
    modelserve-ner) file=model-server.Dockerfile; args=(--build-arg SERVER=ner) ;;
    modelserve-vision) file=model-server.Dockerfile; args=(--build-arg SERVER=vision) ;;
    modelserve-ner-gpu|modelserve-vision-gpu)
      kind=${image#modelserve-}; kind=${kind%-gpu}
      file=model-server.Dockerfile; args=(--build-arg SERVER="$kind" --build-arg ORT_GPU="$ORT_GPU") ;;
    modelserve-orchestrator) file=orchestrator.Dockerfile; args=() ;;
    *) echo "build-images: unknown image $image" >&2; exit 2 ;;
  esac
  start=$(date +%s)
  "$DOCKER" build -q --network host -f "$CTX/$file" \
    --build-arg BASE_IMAGE="$BASE" --build-arg VERSION="$TAG" "${args[@]}" \
    -t "$image:$TAG" "$CTX" >/dev/null
  echo "build-images: $image:$TAG in $(( $(date +%s) - start ))s"
done
