"""int8 models: built beside fp32, chosen with ``PRECISION``, held to their accuracy bounds.

The served-path test starts the real server (``msai serve vision``) with
``PRECISION=int8`` and scores the held-out digits over HTTP, against the fp32 model's
score through the same predict path. The NER build ships no int8 model (none met its
bound at the server's batch sizes): asking for one is a load error that says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from _models_support import ner_models_dir, vision_models_dir  # noqa: F401  (fixtures)
from modelserve.common.artifacts import ArtifactSettings
from modelserve.common.errors import ConfigError, ModelLoadError
from modelserve.common.precision import FP32_FILE, INT8_FILE
from modelserve.common.testing import http_ready, start_replica, wait_until
from modelserve.models import vision_build
from modelserve.models.build import recipe_hash
from modelserve.models.digits import digit_png, load_digits_split
from modelserve.models.manifest import read_manifest
from modelserve.models.quantize import QuantizationError, check_accuracy
from modelserve.ner.model import NerModel
from modelserve.ner.settings import NerSettings
from modelserve.vision.model import VisionModel
from modelserve.vision.settings import VisionSettings

from harness.ports import free_port

VISION_BOUND_POINTS = 0.5


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``msai serve KIND`` with extra env; yields the starter, kills what it started."""
    started: list[subprocess.Popen[bytes]] = []

    def start(kind: str, env: dict[str, str]) -> str:
        port = free_port()
        log = tmp_path / f"{kind}.log"
        proc = start_replica(kind, port, env, str(log))
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ready(base) or proc.poll() is not None, timeout=180)
        assert proc.poll() is None, log.read_text()[-2000:]  # exited: its log says why
        return base

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "cls"), [("MSAI_NER_", NerSettings), ("MSAI_VISION_", VisionSettings)]
)
def test_precision_setting_is_checked_at_load(
    prefix: str, cls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{prefix}PRECISION", "int8")
    assert cls.from_env().precision == "int8"
    monkeypatch.setenv(f"{prefix}PRECISION", "fp16")
    with pytest.raises(ConfigError, match=f"{prefix}PRECISION='fp16'"):
        cls.from_env()
    monkeypatch.setenv(f"{prefix}PRECISION", "int8")
    monkeypatch.setenv(f"{prefix}RUNTIME", "torch")
    with pytest.raises(ConfigError, match=f"{prefix}PRECISION=int8 needs {prefix}RUNTIME"):
        cls.from_env()


def test_int8_without_an_int8_file_is_a_load_error(
    vision_models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    built = vision_models_dir / "vision"
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("config.json", "preprocessor_config.json", FP32_FILE):
        (plain / name).symlink_to(built / name)
    settings = VisionSettings(model_uri=str(plain), threads=1, precision="int8")
    model = VisionModel(settings, ArtifactSettings(cache_dir=str(tmp_path / "cache")))
    with pytest.raises(ModelLoadError, match="no int8 model"):
        model.load()


# -- build -----------------------------------------------------------------------------


def test_accuracy_bound_fails_when_exceeded() -> None:
    assert check_accuracy("m", "F1", 0.90, 0.895, 1.0) == pytest.approx(0.5)
    assert check_accuracy("m", "F1", 0.90, 0.91, 1.0) == pytest.approx(-1.0)
    with pytest.raises(QuantizationError, match=r"m: int8 F1 0.8800 is 2.00 points below"):
        check_accuracy("m", "F1", 0.90, 0.88, 1.0)


def test_quantization_settings_are_part_of_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = vision_build
    before = recipe_hash(mod.NAME)
    monkeypatch.setitem(mod.CONFIG, "int8", {**mod.CONFIG["int8"], "max_drop_points": 9.0})
    assert recipe_hash(mod.NAME) != before
    assert any(p.name == "quantize.py" for p in mod.input_files())


def test_build_writes_a_quantised_model_within_its_bound(
    vision_models_dir: Path,  # noqa: F811
) -> None:
    entry = read_manifest(vision_models_dir)["models"]["vision"]
    assert INT8_FILE in entry["files"]
    assert entry["metrics"]["int8_accuracy_drop_points"] <= VISION_BOUND_POINTS
    int8 = vision_models_dir / "vision" / INT8_FILE
    # int8 weights: well under half the fp32 file, and the graph quantises activations.
    assert int8.stat().st_size < 0.4 * (vision_models_dir / "vision" / FP32_FILE).stat().st_size
    ops = {node.op_type for node in onnx.load(str(int8), load_external_data=False).graph.node}
    assert "QuantizeLinear" in ops, sorted(ops)


# -- served path -----------------------------------------------------------------------


def test_ner_int8_is_a_load_error_naming_the_missing_file(
    ner_models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = NerSettings(model_uri=str(ner_models_dir / "ner"), threads=1, precision="int8")
    model = NerModel(settings, ArtifactSettings(cache_dir=str(tmp_path / "cache")))
    with pytest.raises(ModelLoadError, match=r"model\.int8\.onnx: no int8 model"):
        model.load()


def test_vision_int8_accuracy_through_the_server(
    vision_models_dir: Path,  # noqa: F811
    tmp_path: Path,
    serve: Any,
) -> None:
    _, _, images, labels = load_digits_split()
    pngs = [digit_png(img) for img in images]
    fp32 = VisionModel(
        VisionSettings(model_uri=str(vision_models_dir / "vision"), threads=1),
        ArtifactSettings(cache_dir=str(tmp_path / "cache")),
    )
    fp32.load()
    outs = fp32.predict([fp32.parse_bytes(p) for p in pngs])
    want = sum(o.top[0][0] == str(y) for o, y in zip(outs, labels, strict=True)) / len(labels)

    base = serve(
        "vision", {"MSAI_MODELS_DIR": str(vision_models_dir), "MSAI_VISION_PRECISION": "int8"}
    )
    meta = httpx.get(f"{base}/v2/models/vision", timeout=10).json()
    assert meta["extra"]["precision"] == "int8", meta["extra"]
    correct = 0
    with httpx.Client(timeout=60) as client:
        for start in range(0, len(pngs), 16):
            chunk = pngs[start : start + 16]
            files = [("images", (f"{i}.png", png, "image/png")) for i, png in enumerate(chunk)]
            r = client.post(f"{base}/v1/classify", files=files)
            assert r.status_code == 200, r.text
            for res, y in zip(r.json()["results"], labels[start : start + 16], strict=True):
                correct += res["predictions"][0]["label"] == str(y)
    got = correct / len(labels)
    assert len(labels) >= 300
    assert (want - got) * 100 <= VISION_BOUND_POINTS, (want, got)


# -- bench -----------------------------------------------------------------------------


def test_bench_reports_int8_against_fp32_raw_throughput() -> None:
    from msai.servebench.precision import int8_lines

    fp32 = {"raw_items_s": 100.0, "predict_items_s": 90.0}
    fast = "\n".join(int8_lines({"offline": {"raw_items_s": 200.0}, "offline_fp32": fp32}))
    assert "fp32 raw runtime" in fast
    assert "int8 / fp32 raw              2.00x  target >= 1.6x: MEETS" in fast
    slow = "\n".join(int8_lines({"offline": {"raw_items_s": 120.0}, "offline_fp32": fp32}))
    assert "1.20x  target >= 1.6x: MISSES" in slow
    assert int8_lines({"offline": {"raw_items_s": 120.0}}) == []


def test_bench_refuses_int8_for_the_fake_model() -> None:
    from click.testing import CliRunner

    from msai.servebench.command import bench_serve

    result = CliRunner().invoke(bench_serve, ["--model", "fake", "--precision", "int8"])
    assert result.exit_code == 2
    assert "fake model has no int8 variant" in result.output
