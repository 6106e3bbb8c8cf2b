"""The image classifier: PNG/JPEG in, top-k labels with scores out.

Inputs
  JSON route: ``{"image_b64": "<base64 PNG/JPEG, data: URL prefix allowed>", "top_k": 3}``
  (``top_k`` optional, 1..``max_top_k``). Multipart or raw uploads: the server passes the
  file's bytes to :meth:`VisionModel.parse_bytes`.
  OIP v2: one input named ``image``, either ``BYTES`` with shape ``[N]`` (each element
  base64 text, or raw bytes with the binary extension), or ``FP32`` with shape
  ``[N, 3, H, W]`` already preprocessed (H, W as in the model metadata). ``top_k`` may be
  given in the input's ``parameters``.

Outputs
  JSON route: ``{"predictions": [{"label": "7", "score": 0.98}, ...]}`` (best first).
  OIP v2: ``predictions`` (``BYTES`` ``[N]``, each a JSON list as above) and
  ``probabilities`` (``FP32`` ``[N, C]``, softmax over every label).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.common.artifacts import ArtifactSettings, resolve_model_uri
from modelserve.common.errors import BadInput, ModelLoadError, PayloadTooLarge
from modelserve.common.json_body import brief
from modelserve.common.model import ModelMetadata, TensorSpec
from modelserve.common.precision import open_int8_backend
from modelserve.common.runtime import Backend, open_backend
from modelserve.vision.preprocess import ImagePreprocessor, decode_image
from modelserve.vision.settings import VisionSettings

__all__ = ["VisionInput", "VisionModel", "VisionOutput"]


@dataclass(frozen=True)
class VisionInput:
    pixels: np.ndarray  # float32 (3, H, W), preprocessed
    top_k: int


@dataclass(frozen=True)
class VisionOutput:
    top: list[tuple[str, float]]  # best first
    probabilities: np.ndarray  # float32 (C,)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float32)


class VisionModel:
    """ResNet (or any ``*ForImageClassification`` checkpoint) behind the Model protocol."""

    def __init__(
        self, settings: VisionSettings | None = None, artifacts: ArtifactSettings | None = None
    ) -> None:
        self.settings = settings or VisionSettings.from_env()
        self.artifacts = artifacts or ArtifactSettings.from_env()
        self.name = self.settings.name
        self.labels: list[str] = []
        self.preprocess = ImagePreprocessor()
        self.model_dir: Path | None = None
        self.build_info: dict[str, Any] = {}
        self.load_seconds = 0.0
        self._backend: Backend | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        start = time.perf_counter()
        model_dir = resolve_model_uri(self.settings.model_uri, self.artifacts)
        try:
            config = json.loads((model_dir / "config.json").read_text())
            id2label = config.get("id2label") or {}
            self.labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{model_dir}/config.json: unreadable labels: {exc}") from exc
        if not self.labels:
            raise ModelLoadError(f"{model_dir}/config.json: no id2label")
        self.preprocess = ImagePreprocessor.from_dir(model_dir)
        pre = self.preprocess

        def load_torch(path: Path) -> Any:
            from transformers import AutoModelForImageClassification

            return AutoModelForImageClassification.from_pretrained(path)

        def example() -> dict[str, Any]:
            import torch

            return {"pixel_values": torch.zeros(2, 3, pre.height, pre.width)}

        self._backend = (
            open_int8_backend(model_dir, threads=self.settings.threads, device=self.settings.device)
            if self.settings.precision == "int8"
            else open_backend(
                model_dir,
                runtime=self.settings.runtime,
                device=self.settings.device,
                threads=self.settings.threads,
                load_torch=load_torch,
                example=example,
                dynamic={"pixel_values": [0]},
                cache_dir=self.artifacts.cache_path,
            )
        )
        info = model_dir / "build_info.json"
        self.build_info = json.loads(info.read_text()) if info.is_file() else {}
        self.model_dir = model_dir
        self._backend.run({"pixel_values": np.zeros((1, 3, pre.height, pre.width), np.float32)})
        self.load_seconds = time.perf_counter() - start

    def interrupt(self) -> bool:
        """Stop a running forward pass (:class:`~modelserve.common.model.Interruptible`)."""
        return self._backend.interrupt() if self._backend is not None else False

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise ModelLoadError(f"model {self.name!r} is not loaded")
        return self._backend

    def metadata(self) -> ModelMetadata:
        h, w = self.preprocess.height, self.preprocess.width
        return ModelMetadata(
            name=self.name,
            versions=[str(self.build_info.get("inputs_hash", "1"))[:12]],
            platform="onnxruntime" if self.settings.runtime == "onnxruntime" else "pytorch",
            inputs=[
                TensorSpec("image", "BYTES", [-1]),
                TensorSpec("image", "FP32", [-1, 3, h, w]),
            ],
            outputs=[
                TensorSpec("predictions", "BYTES", [-1]),
                TensorSpec("probabilities", "FP32", [-1, len(self.labels)]),
            ],
            extra={
                "labels": self.labels,
                "image_size": [h, w],
                "max_image_bytes": self.settings.max_image_bytes,
                "top_k": self.settings.top_k,
                "max_top_k": self.settings.max_top_k,
                "device": self._backend.device if self._backend else None,
                "precision": self.settings.precision,
                "model_uri": self.settings.model_uri,
                "build": self.build_info,
            },
        )

    # -- parsing --------------------------------------------------------------------------
    def _top_k(self, raw: Any, field: str) -> int:
        if raw is None:
            return min(self.settings.top_k, len(self.labels) or self.settings.top_k)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadInput(f"top_k must be an integer, got {type(raw).__name__}", field=field)
        if not 1 <= raw <= self.settings.max_top_k:
            raise BadInput(
                f"top_k must be in 1..{self.settings.max_top_k}, got {brief(raw)}", field=field
            )
        return min(raw, len(self.labels)) if self.labels else raw

    def _b64(self, text: str, field: str) -> bytes:
        if text.startswith("data:"):
            _, sep, text = text.partition(",")
            if not sep:
                raise BadInput("data: URL without a comma", field=field)
        # 4 base64 characters carry 3 bytes: refuse before decoding a huge string.
        if len(text) // 4 * 3 > self.settings.max_image_bytes + 3:
            raise PayloadTooLarge(
                f"image is over {self.settings.max_image_bytes} bytes", field=field
            )
        try:
            return base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadInput(f"not valid base64: {exc}", field=field) from exc

    def parse_bytes(self, data: bytes, field: str = "image", top_k: Any = None) -> VisionInput:
        """One encoded image (multipart part or raw body) -> model input."""
        k = self._top_k(top_k, f"{field}.top_k" if field != "image" else "top_k")
        img = decode_image(
            data,
            field,
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            request_pixels=self.settings.max_request_pixels,
        )
        return VisionInput(self.preprocess(img), k)

    def parse_json(self, item: Any, field: str) -> VisionInput:
        if not isinstance(item, dict):
            raise BadInput(
                f"expected an object with image_b64, got {type(item).__name__}", field=field
            )
        unknown = sorted(set(item) - {"image_b64", "top_k"})
        if unknown:
            raise BadInput(f"unknown key {brief(unknown[0])}", field=f"{field}.{unknown[0]}")
        raw = item.get("image_b64")
        fname = f"{field}.image_b64"
        if raw is None:
            raise BadInput("image_b64 is required", field=fname)
        if not isinstance(raw, str):
            raise BadInput(f"image_b64 must be a string, got {type(raw).__name__}", field=fname)
        k = self._top_k(item.get("top_k"), f"{field}.top_k")
        return self.parse_bytes(self._b64(raw, fname), fname, k)

    def parse_v2(self, inputs: list[dict[str, Any]]) -> list[VisionInput]:
        if not isinstance(inputs, list) or not inputs:
            raise BadInput("inputs must be a non-empty list", field="inputs")
        tensor = None
        for i, t in enumerate(inputs):
            if not isinstance(t, dict):
                raise BadInput("each input must be an object", field=f"inputs[{i}]")
            if t.get("name") != "image":
                raise BadInput(
                    f"unknown input {brief(t.get('name'))}; this model takes 'image'",
                    field=f"inputs[{i}].name",
                )
            tensor = t
        if tensor is None or len(inputs) != 1:
            raise BadInput("exactly one input named 'image' is expected", field="inputs")
        params = tensor.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadInput("parameters must be an object", field="image.parameters")
        k = self._top_k(params.get("top_k"), "image.parameters.top_k")
        shape, datatype, data = tensor.get("shape"), tensor.get("datatype"), tensor.get("data")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise BadInput("shape must be a list of non-negative integers", field="image.shape")
        if not isinstance(data, list):
            raise BadInput("data must be a list", field="image.data")
        if datatype == "BYTES":
            return self._v2_bytes(shape, data, k)
        if datatype == "FP32":
            return self._v2_fp32(shape, data, k)
        raise BadInput(
            f"datatype {brief(datatype)} not supported; use BYTES [N] or FP32 [N,3,H,W]",
            field="image.datatype",
        )

    def _v2_bytes(self, shape: list[int], data: list[Any], k: int) -> list[VisionInput]:
        if len(shape) != 1 or shape[0] != len(data) or not data:
            raise BadInput(
                f"BYTES input needs shape [N] matching {len(data)} data elements, "
                f"got {brief(shape)}",
                field="image.shape",
            )
        items = []
        for i, el in enumerate(data):
            field = f"image.data[{i}]"
            if isinstance(el, (bytes, bytearray)):
                raw = bytes(el)
            elif isinstance(el, str):
                raw = self._b64(el, field)
            else:
                raise BadInput("each element must be base64 text or bytes", field=field)
            items.append(self.parse_bytes(raw, field, k))
        return items

    def _v2_fp32(self, shape: list[int], data: list[Any], k: int) -> list[VisionInput]:
        h, w = self.preprocess.height, self.preprocess.width
        if len(shape) != 4 or shape[1:] != [3, h, w] or shape[0] < 1:
            raise BadInput(
                f"FP32 input needs shape [N,3,{h},{w}], got {brief(shape)}", field="image.shape"
            )
        try:
            arr = np.asarray(data, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise BadInput("FP32 data must be numbers", field="image.data") from exc
        if arr.size != math.prod(shape):
            raise BadInput(
                f"{arr.size} values do not fill shape {brief(shape)}", field="image.data"
            )
        if not np.isfinite(arr).all():
            raise BadInput("FP32 data must be finite", field="image.data")
        arr = arr.reshape(shape)
        return [VisionInput(np.ascontiguousarray(a), k) for a in arr]

    # -- inference ------------------------------------------------------------------------
    def predict(self, batch: Sequence[VisionInput]) -> list[VisionOutput]:
        if not batch:
            return []
        pixels = np.stack([b.pixels for b in batch]).astype(np.float32, copy=False)
        probs = _softmax(self.backend.run({"pixel_values": pixels}).astype(np.float32))
        # One sort and one conversion to Python numbers for the whole batch, not per item.
        orders = np.argsort(-probs, axis=1, kind="stable").tolist()
        rows = probs.tolist()
        labels = self.labels
        return [
            VisionOutput([(labels[i], row[i]) for i in order[: item.top_k]], p)
            for item, order, row, p in zip(batch, orders, rows, probs, strict=True)
        ]

    def to_json(self, out: VisionOutput) -> dict[str, Any]:
        return {"predictions": [{"label": lab, "score": round(s, 6)} for lab, s in out.top]}

    def to_v2(self, outs: Sequence[VisionOutput]) -> list[dict[str, Any]]:
        preds = [json.dumps(self.to_json(o)["predictions"]) for o in outs]
        probs = np.stack([o.probabilities for o in outs]) if outs else np.zeros((0, 0))
        return [
            {"name": "predictions", "datatype": "BYTES", "shape": [len(preds)], "data": preds},
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": list(probs.shape),
                "data": [round(float(x), 6) for x in probs.ravel()],
            },
        ]
