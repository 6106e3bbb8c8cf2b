"""Check an ONNX export against the PyTorch model it came from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.common.errors import ModelLoadError
from modelserve.common.runtime import OnnxBackend

__all__ = ["ONNX_TOLERANCE", "compare_onnx"]

ONNX_TOLERANCE = 1e-3  # max |logit| difference; fp32 kernels differ in summation order


def compare_onnx(module: Any, path: Path, examples: Sequence[Mapping[str, Any]]) -> float:
    """Largest |logit| gap between torch and ORT over ``examples``; raises if over tolerance
    or if any predicted class differs."""
    import torch

    backend = OnnxBackend(path, device="cpu")
    worst = 0.0
    module.eval()
    for ex in examples:
        with torch.inference_mode():
            ref = module(**ex).logits.numpy()
        got = backend.run({k: v.numpy() for k, v in ex.items()})
        if got.shape != ref.shape:
            raise ModelLoadError(f"{path}: ONNX output shape {got.shape} != torch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
        if (got.argmax(-1) != ref.argmax(-1)).any() or worst > ONNX_TOLERANCE:
            raise ModelLoadError(
                f"{path}: ONNX disagrees with torch (max |diff| {worst:.2e} > {ONNX_TOLERANCE})"
            )
    return round(worst, 8)
