"""``msai models``: a second build is a no-op that names what it skipped; publish uploads."""

from __future__ import annotations

import time
from pathlib import Path

from _models_support import moto_s3, vision_models_dir  # noqa: F401  (fixtures)
from click.testing import CliRunner
from modelserve.common.artifacts import s3_client
from modelserve.models.cli import models
from modelserve.models.manifest import read_manifest


def test_help_lists_the_subcommands() -> None:
    result = CliRunner().invoke(models, ["--help"])
    assert result.exit_code == 0
    for name in ("build", "publish", "bench"):
        assert name in result.output


def test_second_build_is_skipped(vision_models_dir: Path) -> None:  # noqa: F811
    start = time.perf_counter()
    result = CliRunner().invoke(models, ["build", "--only", "vision"])
    assert result.exit_code == 0, result.output
    assert "vision: up to date" in result.output
    assert time.perf_counter() - start < 10
    entry = read_manifest(vision_models_dir)["models"]["vision"]
    assert entry["metrics"]["held_out_accuracy"] >= 0.95
    assert (vision_models_dir / "vision" / "model.onnx").stat().st_size == entry["files"][
        "model.onnx"
    ]


def test_publish_to_a_versioned_bucket(vision_models_dir: Path, moto_s3: str) -> None:  # noqa: F811
    args = ["publish", "--bucket", "artifacts", "--endpoint-url", moto_s3, "--only", "vision"]
    result = CliRunner().invoke(models, [*args, "--version", "3"])
    assert result.exit_code == 0, result.output
    assert "s3://artifacts/vision/3" in result.output
    client = s3_client(moto_s3)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="artifacts")["Contents"]}
    assert {"vision/3/config.json", "vision/3/model.onnx", "vision/3/build_info.json"} <= keys
    assert client.get_bucket_versioning(Bucket="artifacts")["Status"] == "Enabled"
