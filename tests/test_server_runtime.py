"""Execution-provider choice (CUDA first when this ONNX Runtime has it, CPU otherwise), with a
stand-in ``onnxruntime`` module: this machine's build has no CUDA provider. Graph rewrites
left out on the CPU, with the real one."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as real_ort
import pytest
from modelserve.common import runtime
from modelserve.common.errors import ConfigError
from onnx import TensorProto, helper, numpy_helper


class _Ort(types.ModuleType):
    def __init__(self, providers: list[str], preload_fails: bool = False) -> None:
        super().__init__("onnxruntime")
        self.providers = providers
        self.preloads = 0
        self.preload_fails = preload_fails

    def get_available_providers(self) -> list[str]:
        return self.providers

    class SessionOptions:
        pass

    class GraphOptimizationLevel:
        ORT_ENABLE_ALL = 99

    def InferenceSession(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return {"path": path, **kwargs}

    def preload_dlls(self) -> None:
        self.preloads += 1
        if self.preload_fails:
            raise OSError("libcudnn.so.9: cannot open shared object file")


@pytest.fixture(autouse=True)
def _fresh_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_preloaded", False)


def _install(monkeypatch: pytest.MonkeyPatch, ort: _Ort) -> _Ort:
    monkeypatch.setitem(sys.modules, "onnxruntime", ort)
    return ort


def test_cuda_first_when_present_and_its_libraries_preloaded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ort = _install(monkeypatch, _Ort(["CUDAExecutionProvider", "CPUExecutionProvider"]))
    assert runtime.onnx_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runtime.onnx_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert ort.preloads == 1
    assert runtime.onnx_providers("cpu") == ["CPUExecutionProvider"]


def test_cpu_build_falls_back_or_refuses_an_explicit_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    ort = _install(monkeypatch, _Ort(["AzureExecutionProvider", "CPUExecutionProvider"]))
    assert runtime.onnx_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(ConfigError, match="no CUDAExecutionProvider"):
        runtime.onnx_providers("cuda")
    with pytest.raises(ConfigError, match="expected one of"):
        runtime.onnx_providers("tpu")
    assert ort.preloads == 0


def test_a_failed_preload_is_logged_and_cuda_still_tried(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ort = _install(monkeypatch, _Ort(["CUDAExecutionProvider", "CPUExecutionProvider"], True))
    with caplog.at_level(logging.WARNING, logger="modelserve.common.runtime"):
        assert runtime.onnx_providers("auto")[0] == "CUDAExecutionProvider"
    assert ort.preloads == 1
    assert "preload_dlls failed" in caplog.text


def test_skip_layer_norm_fusion_is_left_out_on_cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, _Ort(["CUDAExecutionProvider", "CPUExecutionProvider"]))
    assert runtime.onnx_session(Path("m.onnx"), device="cuda")["disabled_optimizers"] == []
    cpu = runtime.onnx_session(Path("m.onnx"), device="cpu")
    assert cpu["disabled_optimizers"] == ["SkipLayerNormFusion"]
    assert cpu["providers"] == ["CPUExecutionProvider"]


def _residual_layer_norm(path: Path, width: int = 8) -> None:
    """x + skip -> LayerNormalization: the pattern SkipLayerNormFusion rewrites."""
    io = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", "t", width])
        for n in ("x", "skip", "y")
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["x", "skip"], ["s"]),
            helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1),
        ],
        "residual",
        io[:2],
        io[2:],
        [
            numpy_helper.from_array(np.ones(width, np.float32), "gamma"),
            numpy_helper.from_array(np.zeros(width, np.float32), "beta"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_the_real_onnxruntime_honours_the_optimizer_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ORT ignores names it does not know, so a renamed rewrite would silently come back:
    # check the optimized graph itself, against a session that fuses (the control).
    src = tmp_path / "m.onnx"
    _residual_layer_norm(src)
    saved = tmp_path / "optimized.onnx"

    class Options(real_ort.SessionOptions):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.optimized_model_filepath = str(saved)

    def ops() -> list[str]:
        return [n.op_type for n in onnx.load(saved).graph.node]

    real_ort.InferenceSession(str(src), Options(), providers=["CPUExecutionProvider"])
    assert ops() == ["SkipLayerNormalization"]
    monkeypatch.setattr(real_ort, "SessionOptions", Options)
    session = runtime.onnx_session(src, threads=1, device="cpu")
    assert ops() == ["Add", "LayerNormalization"]
    x = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    (y,) = session.run(None, {"x": x, "skip": x})
    assert np.allclose(y.mean(-1), 0, atol=1e-5)
