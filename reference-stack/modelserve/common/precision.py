"""Numeric precision of a served ONNX model: the fp32 export or its int8 copy beside it.

``msai models build`` writes ``model.onnx`` (fp32) and ``model.int8.onnx`` (quantised by
ONNX Runtime, held to an accuracy bound at build time) into each bundled model directory.
A server picks one with its ``PRECISION`` setting; int8 exists only for ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

from modelserve.common.errors import ConfigError, ModelLoadError
from modelserve.common.runtime import Backend, OnnxBackend

__all__ = ["FP32_FILE", "INT8_FILE", "PRECISIONS", "check_precision", "open_int8_backend"]

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
PRECISIONS = ("fp32", "int8")


def check_precision(precision: str, runtime: str, prefix: str) -> None:
    """Raise :class:`ConfigError` naming ``<prefix>PRECISION`` for a value that cannot load."""
    var = f"{prefix}PRECISION"
    if precision not in PRECISIONS:
        raise ConfigError(f"{var}={precision!r}: expected one of {PRECISIONS}", field=var)
    if precision == "int8" and runtime != "onnxruntime":
        raise ConfigError(
            f"{var}=int8 needs {prefix}RUNTIME=onnxruntime (the int8 model is ONNX only), "
            f"got {runtime!r}",
            field=var,
        )


def open_int8_backend(model_dir: Path, *, threads: int, device: str) -> Backend:
    """The int8 model of a bundled build; a checkpoint without one is a load error."""
    path = model_dir / INT8_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"{path}: no int8 model (built by `msai models build` for the bundled models); "
            "serve this checkpoint with PRECISION=fp32"
        )
    return OnnxBackend(path, threads=threads, device=device)
