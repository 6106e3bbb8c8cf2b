# A model server replica (NER or vision): `python -m modelserve serve KIND`, served with ONNX
# Runtime (no torch, no transformers). Build with build-images.sh, which stages the context:
#   requirements-serve.txt, constraints.txt (= requirements/constraints.txt), modelserve/
#
#   docker build -f model-server.Dockerfile --build-arg BASE_IMAGE=modelserve-base:bookworm \
#     --build-arg SERVER=ner -t modelserve-ner:0.1.0 CONTEXT
#
# Models are not baked in: MSAI_<KIND>_MODEL_URI names a directory (mounted volume) or s3://.
#
# ORT_GPU (build-images.sh --gpu): a requirement for ONNX Runtime's CUDA build, installed in
# place of the CPU one, e.g. "onnxruntime-gpu[cuda,cudnn]==1.31.1" (the extras bring CUDA 13
# and cuDNN as pip packages; the server preloads them). The chart runs these images on GPU
# nodes (gpu.imageSuffix); on a node without a GPU they fall back to the CPU provider.
ARG BASE_IMAGE=modelserve-base:bookworm

FROM ${BASE_IMAGE} AS build
ARG ORT_GPU=""
# Dependencies first (their layer is shared by every image and survives code changes).
COPY requirements-serve.txt constraints.txt /build/
# With ORT_GPU the CUDA build takes the CPU wheel's line (the two must not share a venv:
# both own the onnxruntime package), so one resolve under the same constraints installs it.
RUN python3 -m venv /opt/venv \
 && if [ -n "$ORT_GPU" ]; then \
      grep -qx onnxruntime /build/requirements-serve.txt \
      && grep -vx onnxruntime /build/requirements-serve.txt > /build/requirements.txt \
      && printf '%s\n' "$ORT_GPU" >> /build/requirements.txt; \
    else cp /build/requirements-serve.txt /build/requirements.txt; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      -c /build/constraints.txt -r /build/requirements.txt \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools wheel
COPY modelserve /opt/app/modelserve
# Byte-compile here: the root filesystem is read-only at run time (chart securityContext).
RUN /opt/venv/bin/python -m compileall -q /opt/app /opt/venv/lib

FROM ${BASE_IMAGE} AS runtime
ARG SERVER=ner
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="modelserve-${SERVER}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="reference-stack/docker/model-server.Dockerfile"
# The chart runs as 10001 (runAsUser, fsGroup): the same uid owns nothing but its cache.
RUN groupadd --gid 10001 modelserve \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin modelserve \
 && mkdir -p /var/cache/modelserve && chown 10001:10001 /var/cache/modelserve
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONPATH=/opt/app \
    MSAI_CACHE_DIR=/var/cache/modelserve \
    MSAI_SERVE_KIND=${SERVER} \
    MSAI_SERVE_PORT=8080
USER 10001:10001
WORKDIR /opt/app
EXPOSE 8080
# Ready = model loaded and not draining (503 while loading or draining).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ['MSAI_SERVE_PORT'], timeout=2)"]
# The chart passes args ["serve", KIND, "--host", "0.0.0.0", "--port", N]; python is PID 1
# and handles SIGTERM itself (drain, then exit 0).
ENTRYPOINT ["python3", "-m", "modelserve"]
CMD ["serve", "ner", "--host", "0.0.0.0", "--port", "8080"]
