"""The NER model: text in, entities with character offsets out.

Inputs
  JSON route: ``{"text": "Angela Merkel visited Paris."}`` (the server passes the items
  of a list one by one). Empty text is 400; over ``max_text_chars`` is 413.
  OIP v2: one input named ``text``, datatype ``BYTES``, shape ``[N]``, ``data`` a list of N
  strings (or UTF-8 bytes with the binary extension).

Outputs
  JSON route: ``{"entities": [{"label": "PER", "text": "Angela Merkel", "start": 0,
  "end": 13, "score": 0.99}, ...]}``; ``text == input[start:end]`` always holds.
  OIP v2: one output ``entities``, ``BYTES`` ``[N]``: element i is the JSON list of item i's
  entities, in the shape above.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.common.artifacts import ArtifactSettings, resolve_model_uri
from modelserve.common.errors import BadInput, ModelLoadError, PayloadTooLarge
from modelserve.common.json_body import brief, check_text
from modelserve.common.model import ModelMetadata, TensorSpec
from modelserve.common.precision import open_int8_backend
from modelserve.common.runtime import Backend, open_backend
from modelserve.ner.decode import Entity, decode_entities
from modelserve.ner.encode import Window, batch_arrays, encode
from modelserve.ner.settings import NerSettings

__all__ = ["NerInput", "NerModel", "load_tokenizer"]


@dataclass(frozen=True)
class NerInput:
    text: str


def load_tokenizer(model_dir: Path) -> Any:
    """A ``tokenizers.Tokenizer`` for the checkpoint (``tokenizer.json``, else built from
    ``vocab.txt`` via transformers), with truncation and padding off: windows do that."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    try:
        if path.is_file():
            tok = Tokenizer.from_file(str(path))
        else:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(model_dir)).backend_tokenizer
    except (OSError, ValueError, Exception) as exc:
        raise ModelLoadError(f"{model_dir}: cannot load tokenizer: {exc}") from exc
    tok.no_truncation()
    tok.no_padding()
    return tok


def _is_uncased(model_dir: Path) -> bool:
    """Whether the tokenizer lower-cases (``do_lower_case`` in ``tokenizer_config.json``)."""
    try:
        cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(cfg.get("do_lower_case", False))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(z / z.sum(axis=-1, keepdims=True), dtype=np.float32)


class NerModel:
    """A BERT-family token classifier behind the Model protocol."""

    def __init__(
        self, settings: NerSettings | None = None, artifacts: ArtifactSettings | None = None
    ) -> None:
        self.settings = settings or NerSettings.from_env()
        self.artifacts = artifacts or ArtifactSettings.from_env()
        self.name = self.settings.name
        self.labels: list[str] = []
        self.case_feature = False
        self.uncased = False
        self.model_dir: Path | None = None
        self.build_info: dict[str, Any] = {}
        self.load_seconds = 0.0
        self._backend: Backend | None = None
        self._tokenizer: Any = None
        self._special = (101, 102, 0)  # cls, sep, pad; replaced from the tokenizer at load

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
        self.case_feature = bool(config.get("msai_case_feature", False))
        self.uncased = _is_uncased(model_dir)
        self._tokenizer = load_tokenizer(model_dir)
        specials = []
        for token in ("[CLS]", "[SEP]", "[PAD]"):
            tid = self._tokenizer.token_to_id(token)
            if tid is None:
                raise ModelLoadError(f"{model_dir}: tokenizer has no {token} (not a BERT vocab)")
            specials.append(int(tid))
        self._special = (specials[0], specials[1], specials[2])

        def load_torch(path: Path) -> Any:
            from transformers import AutoModelForTokenClassification

            return AutoModelForTokenClassification.from_pretrained(path)

        def example() -> dict[str, Any]:
            import torch

            ids = torch.full((2, 8), 1000, dtype=torch.long)
            mask = torch.ones(2, 8, dtype=torch.long)
            mask[1, 5:] = 0  # padding in the example, or the exporter may drop the mask
            return {"input_ids": ids, "attention_mask": mask, "token_type_ids": ids * 0}

        axes = [0, 1]
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
                dynamic={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes},
                cache_dir=self.artifacts.cache_path,
            )
        )
        info = model_dir / "build_info.json"
        self.build_info = json.loads(info.read_text()) if info.is_file() else {}
        self.model_dir = model_dir
        self.predict([NerInput("Warm-up sentence from Paris.")])
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
        kinds = sorted({lab.partition("-")[2] or lab for lab in self.labels} - {"O"})
        return ModelMetadata(
            name=self.name,
            versions=[str(self.build_info.get("inputs_hash", "1"))[:12]],
            platform="onnxruntime" if self.settings.runtime == "onnxruntime" else "pytorch",
            inputs=[TensorSpec("text", "BYTES", [-1])],
            outputs=[TensorSpec("entities", "BYTES", [-1])],
            extra={
                "labels": self.labels,
                "entity_types": kinds,
                "max_text_chars": self.settings.max_text_chars,
                "max_seq_len": self.settings.max_seq_len,
                "case_feature": self.case_feature,
                "case_edges": self.case_edges,
                "device": self._backend.device if self._backend else None,
                "precision": self.settings.precision,
                "model_uri": self.settings.model_uri,
                "build": self.build_info,
            },
        )

    # -- parsing --------------------------------------------------------------------------
    def parse_text(self, text: Any, field: str) -> NerInput:
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(f"not UTF-8: {exc.reason}", field=field) from exc
        if not isinstance(text, str):
            raise BadInput(f"text must be a string, got {type(text).__name__}", field=field)
        if len(text) > self.settings.max_text_chars:
            raise PayloadTooLarge(
                f"text is {len(text)} characters; limit is {self.settings.max_text_chars}",
                field=field,
            )
        if not text.strip():
            raise BadInput("text is empty", field=field)
        return NerInput(check_text(text, field))

    def parse_json(self, item: Any, field: str) -> NerInput:
        if not isinstance(item, dict):
            raise BadInput(f"expected an object with text, got {type(item).__name__}", field=field)
        unknown = sorted(set(item) - {"text"})
        if unknown:
            raise BadInput(f"unknown key {brief(unknown[0])}", field=f"{field}.{unknown[0]}")
        if "text" not in item:
            raise BadInput("text is required", field=f"{field}.text")
        return self.parse_text(item["text"], f"{field}.text")

    def parse_v2(self, inputs: list[dict[str, Any]]) -> list[NerInput]:
        if not isinstance(inputs, list) or len(inputs) != 1:
            raise BadInput("exactly one input named 'text' is expected", field="inputs")
        tensor = inputs[0]
        if not isinstance(tensor, dict):
            raise BadInput("each input must be an object", field="inputs[0]")
        if tensor.get("name") != "text":
            raise BadInput(
                f"unknown input {brief(tensor.get('name'))}; this model takes 'text'",
                field="inputs[0].name",
            )
        if tensor.get("datatype") != "BYTES":
            raise BadInput(
                f"datatype {brief(tensor.get('datatype'))}: text must be BYTES",
                field="text.datatype",
            )
        shape, data = tensor.get("shape"), tensor.get("data")
        if not isinstance(data, list) or not data:
            raise BadInput("data must be a non-empty list of strings", field="text.data")
        if shape != [len(data)]:
            raise BadInput(
                f"shape must be [N] matching {len(data)} data elements, got {brief(shape)}",
                field="text.shape",
            )
        return [self.parse_text(t, f"text.data[{i}]") for i, t in enumerate(data)]

    # -- inference ------------------------------------------------------------------------
    @property
    def case_edges(self) -> bool:
        """Trim lower-case edge words: asked for, and the vocabulary cannot see case."""
        return self.settings.case_edges and self.uncased

    def windows(self, text: str) -> list[Window]:
        cls_id, sep_id, _ = self._special
        return encode(
            self._tokenizer,
            text,
            max_length=self.settings.max_seq_len,
            cls_id=cls_id,
            sep_id=sep_id,
            case_feature=self.case_feature,
        )

    def predict(self, batch: Sequence[NerInput]) -> list[list[Entity]]:
        if not batch:
            return []
        per_item = [self.windows(item.text) for item in batch]
        flat = [w for ws in per_item for w in ws]
        probs = _softmax(self.backend.run(batch_arrays(flat, self._special[2])))
        outs: list[list[Entity]] = []
        row = 0
        for item, ws in zip(batch, per_item, strict=True):
            rows = [probs[row + i, : len(w.input_ids)] for i, w in enumerate(ws)]
            row += len(ws)
            entities = decode_entities(item.text, ws, rows, self.labels, case_edges=self.case_edges)
            outs.append([e for e in entities if e.score >= self.settings.min_score])
        return outs

    def to_json(self, out: list[Entity]) -> dict[str, Any]:
        return {"entities": [e.to_json() for e in out]}

    def to_v2(self, outs: Sequence[list[Entity]]) -> list[dict[str, Any]]:
        data = [json.dumps([e.to_json() for e in out]) for out in outs]
        return [{"name": "entities", "datatype": "BYTES", "shape": [len(data)], "data": data}]
