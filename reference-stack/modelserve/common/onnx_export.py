"""PyTorch -> ONNX export with dynamic axes, written atomically.

Its own module because the bundled builds hash it as a build input: changes to session
handling (``runtime``) must not force a retrain, changes to the export must.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["export_onnx"]


def export_onnx(
    module: Any,
    example: Mapping[str, Any],
    path: Path,
    *,
    dynamic: Mapping[str, Sequence[int]],
    output_names: Sequence[str] = ("logits",),
) -> None:
    """Export ``module(**example)`` to ``path`` (one self-contained file, written atomically).

    ``dynamic`` maps each input name to its dynamic axes; axes with the same index share a
    name (``batch`` for 0, ``seq`` for 1), which is what lets ORT take any batch or length.
    """
    import torch

    names = {0: "batch", 1: "seq", 2: "height", 3: "width"}
    dims = {i: torch.export.Dim(n) for i, n in names.items()}
    shapes = {k: {ax: dims[ax] for ax in axes} for k, axes in dynamic.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" lines are noise
    try:
        with warnings.catch_warnings():
            # The exporter's own deprecation chatter (pytree LeafSpec, axis-name merging)
            # is not ours to fix; tests run with warnings as errors.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (),
                tmp,
                kwargs=dict(example),
                dynamo=True,
                input_names=list(example),
                output_names=list(output_names),
                dynamic_shapes=shapes,
                external_data=False,
                verbose=False,
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; servers may run as another user
        os.replace(tmp, path)
    finally:
        exporter_log.setLevel(level)
        Path(tmp).unlink(missing_ok=True)
