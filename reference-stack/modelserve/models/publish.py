"""Publish bundled builds to S3 as ``s3://BUCKET/<model>/<version>/<file>``.

That layout is what ``values.yaml`` points the servers at (``s3://modelserve-artifacts/
ner/1``). The bucket is created with versioning on when it does not exist, so a re-publish
keeps the previous objects as restorable versions (the backup game day relies on it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve.common.artifacts import s3_client
from modelserve.common.errors import ModelLoadError

__all__ = ["PublishedModel", "ensure_bucket", "publish_model"]


@dataclass(frozen=True)
class PublishedModel:
    uri: str
    files: int
    bytes: int


def ensure_bucket(client: Any, bucket: str, log: Callable[[str], None] = print) -> None:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        log(f"publish: creating bucket {bucket} (versioned)")
        client.create_bucket(Bucket=bucket)
    status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def publish_model(
    model_dir: Path,
    bucket: str,
    name: str,
    version: str,
    *,
    endpoint_url: str = "",
    log: Callable[[str], None] = print,
) -> PublishedModel:
    """Upload every file of ``model_dir``; the build hash goes into each object's metadata."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not (model_dir / "config.json").is_file():
        raise ModelLoadError(f"{model_dir}: no config.json; build it first (msai models build)")
    client = s3_client(endpoint_url)
    info = model_dir / "build_info.json"
    build_hash = ""
    if info.is_file():
        import json

        build_hash = str(json.loads(info.read_text()).get("inputs_hash", ""))[:16]
    files = [p for p in sorted(model_dir.rglob("*")) if p.is_file()]
    total = 0
    try:
        ensure_bucket(client, bucket, log)
        for path in files:
            key = f"{name}/{version}/{path.relative_to(model_dir).as_posix()}"
            client.upload_file(
                str(path), bucket, key, ExtraArgs={"Metadata": {"msai-build": build_hash}}
            )
            total += path.stat().st_size
    except (BotoCoreError, ClientError) as exc:
        raise ModelLoadError(f"s3://{bucket}/{name}/{version}: upload failed: {exc}") from exc
    uri = f"s3://{bucket}/{name}/{version}"
    log(f"publish: {name} -> {uri} ({len(files)} files, {total / 1e6:.1f} MB)")
    return PublishedModel(uri, len(files), total)
