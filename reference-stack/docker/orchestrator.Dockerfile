# The pipeline orchestrator: `python -m modelserve serve orchestrator`, with Tesseract for the
# `ocr` built-in step and ONNX Runtime for the `sentiment`/`topic` built-ins (no torch).
# Build with build-images.sh (it stages the context, see model-server.Dockerfile).
#
# Built-in step models are not baked in: MSAI_ORCH_MODELS_DIR names a mounted folder.
ARG BASE_IMAGE=modelserve-base:bookworm

FROM ${BASE_IMAGE} AS build
COPY requirements-serve.txt requirements-orchestrator.txt constraints.txt /build/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      -c /build/constraints.txt -r /build/requirements-serve.txt -r /build/requirements-orchestrator.txt \
 && /opt/venv/bin/pip uninstall -y -q pip setuptools wheel
COPY modelserve /opt/app/modelserve
RUN /opt/venv/bin/python -m compileall -q /opt/app /opt/venv/lib

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
# Debian bookworm's Tesseract, pinned (the version the OCR step was tested with).
ARG TESSERACT_VERSION=5.3.0-2
ARG TESSERACT_ENG_VERSION=1:4.1.0-2
LABEL org.opencontainers.image.title="modelserve-orchestrator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="reference-stack/docker/orchestrator.Dockerfile"
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "tesseract-ocr=${TESSERACT_VERSION}" "tesseract-ocr-eng=${TESSERACT_ENG_VERSION}" >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /usr/share/doc/* \
 && groupadd --gid 10001 modelserve \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin modelserve
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/app /opt/app
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONPATH=/opt/app \
    MSAI_SERVE_PORT=8080
USER 10001:10001
WORKDIR /opt/app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/v2/health/ready' % os.environ['MSAI_SERVE_PORT'], timeout=2)"]
ENTRYPOINT ["python3", "-m", "modelserve"]
CMD ["serve", "orchestrator", "--host", "0.0.0.0", "--port", "8080"]
