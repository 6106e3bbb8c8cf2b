"""int8 copies of the bundled ONNX models, written beside the fp32 ``model.onnx``.

ONNX Runtime's quantizer in one of two modes, chosen per model by measurement on the CPU
the models serve on:

- ``dynamic``: int8 weights, activations quantised per forward pass at run time (no
  calibration). One activation scale spans the whole batch, so an item's output depends
  on its batch-mates (and their padding). No recipe uses it: for the NER model its
  eval-set F1 at the server's batch sizes falls more than the bound below fp32's, and
  static QDQ falls further, so NER ships fp32 only.
- ``static``: int8 weights and activations with scales calibrated on training inputs, in
  QDQ format (per-channel weights). Dynamic quantisation of convolutions runs as
  ``ConvInteger``, which ORT's CPU provider executes slower than fp32, so the ResNet uses
  this.

The build scores the int8 model on the same evaluation as the fp32 one and
:func:`check_accuracy` fails it when the drop exceeds the recipe's bound.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import chdir, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.common.errors import ModelLoadError

__all__ = ["MODES", "QuantizationError", "check_accuracy", "quantize"]

MODES = ("dynamic", "static")


class QuantizationError(ModelLoadError):
    """The int8 model could not be written, or it misses its accuracy bound."""


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantizer logs a warning on the root logger for every tensor it leaves in fp32
    (shape arithmetic, integer index tensors): expected, and hundreds of lines."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class _Calibration:
    """``CalibrationDataReader`` over prepared feeds (the protocol is ``get_next``)."""

    def __init__(self, feeds: Iterable[Mapping[str, np.ndarray]]) -> None:
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed = next(self._it, None)
        return None if feed is None else dict(feed)


def quantize(
    src: Path,
    dst: Path,
    config: Mapping[str, Any],
    calibration: Iterable[Mapping[str, np.ndarray]] = (),
) -> None:
    """Write the int8 model of ``src`` to ``dst`` as a recipe's ``CONFIG["int8"]`` says.

    ``config``: ``mode`` (dynamic | static), ``per_channel`` (one weight scale per output
    channel), ``reduce_range`` (7-bit weights: u8 x s8 products summed in pairs stay inside
    int16 on AVX2 kernels, which otherwise saturate), ``op_types`` (what to quantise;
    absent: the quantizer's default). ``calibration`` (static only) holds the feeds whose
    activation ranges set the scales.
    """
    from onnxruntime import quantization as q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    mode = config["mode"]
    options: dict[str, Any] = {
        "weight_type": q.QuantType.QInt8,
        "per_channel": bool(config.get("per_channel", False)),
        "reduce_range": bool(config.get("reduce_range", False)),
    }
    if "op_types" in config:
        options["op_types_to_quantize"] = list(config["op_types"])
    if mode not in MODES:
        raise QuantizationError(f"quantization mode {mode!r}: expected one of {MODES}")
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".quant-") as tmp:
        # ORT's own pre-processing (shape inference, constant folding, basic fusions) lets
        # the quantizer see each MatMul/Conv with its shapes; the symbolic pass cannot
        # follow the exporter's dynamic attention-mask arithmetic, ONNX's own pass can.
        pre = Path(tmp) / "pre.onnx"
        try:
            # ORT's shape inference and calibration write scratch files into the working
            # folder: keep them in this temporary one, not in the checkout.
            with _quiet_quantizer(), chdir(tmp):
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
                if mode == "dynamic":
                    q.quantize_dynamic(pre, dst, **options)
                else:
                    q.quantize_static(
                        pre,
                        dst,
                        _Calibration(calibration),
                        quant_format=q.QuantFormat.QDQ,
                        activation_type=q.QuantType.QUInt8,
                        **options,
                    )
        except (OSError, ValueError, RuntimeError) as exc:
            dst.unlink(missing_ok=True)
            raise QuantizationError(f"{src}: {mode} int8 quantization failed: {exc}") from exc
    dst.chmod(0o644)


def check_accuracy(model: str, metric: str, fp32: float, int8: float, bound: float) -> float:
    """The drop ``fp32 - int8`` (in points, 0..100); raises when it exceeds ``bound`` points."""
    drop = round((fp32 - int8) * 100, 4)
    if drop > bound:
        raise QuantizationError(
            f"{model}: int8 {metric} {int8:.4f} is {drop:.2f} points below fp32 {fp32:.4f} "
            f"(bound {bound} points); the int8 model is not shipped"
        )
    return drop
