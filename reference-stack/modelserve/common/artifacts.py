"""Where a model's files come from: resolve a model URI to a local directory.

Accepted URIs (``MSAI_NER_MODEL_URI`` / ``MSAI_VISION_MODEL_URI``):

- ``bundled:ner`` / ``bundled:vision``: the build output of ``msai models build`` in the
  models directory (``MSAI_MODELS_DIR``, default ``<repo>/.models``);
- a local directory (plain path or ``file://``): a bundled build or any standard Hugging
  Face checkpoint directory (``config.json`` + weights + tokenizer/preprocessor files);
- ``s3://bucket/prefix``: every object under ``prefix/`` is downloaded once into the cache
  (``<models dir>/cache/s3/...``, keyed by the objects' ETags so a re-published model is
  fetched again) and the cached directory is returned. The endpoint comes from
  ``MSAI_S3_ENDPOINT_URL`` or boto3's own ``AWS_ENDPOINT_URL`` (moto in tests and locally).

Downloads land in a temporary directory renamed into place, so a crash never leaves a
half-written model that a later start would trust.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from modelserve.common.errors import ModelLoadError
from modelserve.common.settings import env_field, load_settings

__all__ = [
    "ArtifactSettings",
    "default_models_dir",
    "parse_s3_uri",
    "resolve_model_uri",
    "s3_client",
]

_COMPLETE = ".complete"


def default_models_dir() -> Path:
    """``<repo>/.models`` for a source checkout (this file is reference-stack/modelserve/...)."""
    return Path(__file__).resolve().parents[3] / ".models"


@dataclass(frozen=True)
class ArtifactSettings:
    """Model artifact locations (prefix ``MSAI_``; shared by the servers and the build)."""

    models_dir: str = env_field("", "bundled model builds; empty means <repo>/.models")
    cache_dir: str = env_field("", "downloaded s3:// models; empty means <models dir>/cache")
    s3_endpoint_url: str = env_field(
        "", "S3 endpoint (moto locally); empty defers to boto3 (AWS_ENDPOINT_URL or AWS)"
    )

    @classmethod
    def from_env(cls) -> ArtifactSettings:
        return load_settings(cls, "MSAI_")

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else self.models_path / "cache"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``; raises ModelLoadError when malformed."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ModelLoadError(f"{uri!r}: expected s3://bucket/prefix")
    return parsed.netloc, parsed.path.strip("/")


def s3_client(endpoint_url: str = "") -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None)


def resolve_model_uri(uri: str, settings: ArtifactSettings | None = None) -> Path:
    """A local directory holding the model that ``uri`` names (downloading it if needed)."""
    settings = settings or ArtifactSettings.from_env()
    if uri.startswith("bundled:"):
        name = uri.removeprefix("bundled:").strip("/")
        path = settings.models_path / name
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{uri}: no build at {path} (run `msai models build` or set MSAI_MODELS_DIR)"
            )
        return path
    if uri.startswith("s3://"):
        return _fetch_s3(uri, settings)
    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{uri}: not a directory (expected a model dir, bundled: or s3://)")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path}: no config.json (not a Hugging Face checkpoint directory)")
    return path


def _fetch_s3(uri: str, settings: ArtifactSettings) -> Path:
    bucket, prefix = parse_s3_uri(uri)
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(settings.s3_endpoint_url)
    try:
        objects: list[dict[str, Any]] = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else ""):
            objects.extend(page.get("Contents", []))
    except (BotoCoreError, ClientError) as exc:
        raise ModelLoadError(f"{uri}: cannot list objects: {exc}") from exc
    if not objects:
        raise ModelLoadError(f"{uri}: no objects under this prefix")
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: str(o["Key"])):
        digest.update(f"{obj['Key']}\0{obj.get('ETag', '')}\0{obj.get('Size', 0)}\n".encode())
    target = settings.cache_path / "s3" / bucket / prefix / digest.hexdigest()[:16]
    if (target / _COMPLETE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        for obj in objects:
            key = str(obj["Key"])
            rel = key[len(prefix) :].lstrip("/") if prefix else key
            if not rel or rel.endswith("/") or ".." in Path(rel).parts:
                continue  # folder markers; never write outside the target
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(dest))
        (tmp / _COMPLETE).write_text(uri + "\n")
        if target.exists():  # a stale partial from a crash without the marker
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / _COMPLETE).is_file():  # another replica did not win the race
                raise
    except (BotoCoreError, ClientError, OSError) as exc:
        raise ModelLoadError(f"{uri}: download failed: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not (target / "config.json").is_file():
        raise ModelLoadError(f"{uri}: downloaded, but no config.json under the prefix")
    return target
