"""Shared fixtures of the model tests: the cached bundled build and a moto S3 server.

Imported by ``tests/test_models_*.py``. ``models_dir`` builds what is missing (minutes, once;
``scripts/setup`` normally did it already) and is a no-op when the manifest is current.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from modelserve.common.artifacts import ArtifactSettings

from harness.ports import free_port


def ensure_built(name: str) -> Path:
    from modelserve.models.build import build_models

    models = ArtifactSettings.from_env().models_path
    build_models(models, [name], log=lambda _msg: None)
    return models


@pytest.fixture(scope="session")
def vision_models_dir() -> Path:
    return ensure_built("vision")


@pytest.fixture(scope="session")
def ner_models_dir() -> Path:
    return ensure_built("ner")


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real moto S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
