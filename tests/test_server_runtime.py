"""Execution-provider choice (CUDA first when this ONNX Runtime has it, CPU otherwise), with a
stand-in ``onnxruntime`` module: this machine's build has no CUDA provider."""

from __future__ import annotations

import logging
import sys
import types

import pytest
from modelserve.common import runtime
from modelserve.common.errors import ConfigError


class _Ort(types.ModuleType):
    def __init__(self, providers: list[str], preload_fails: bool = False) -> None:
        super().__init__("onnxruntime")
        self.providers = providers
        self.preloads = 0
        self.preload_fails = preload_fails

    def get_available_providers(self) -> list[str]:
        return self.providers

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
