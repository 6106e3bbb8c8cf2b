"""The contract between a server and the model it serves.

The server (``modelserve.common.app``) owns HTTP, the Open Inference Protocol envelope,
batching, metrics and drain. A :class:`Model` owns parsing one input, one batched forward
pass and shaping one output. Keeping parsing per item is what lets a bad input fail alone
instead of poisoning its batch: the server parses every item before it is queued.

Lifecycle: ``load()`` (slow; the server reports ``loading`` meanwhile) -> ``predict()`` many
times. ``load`` raises :class:`~modelserve.common.errors.ModelLoadError` naming the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["Interruptible", "Model", "ModelMetadata", "TensorSpec"]

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output in Open Inference Protocol metadata."""

    name: str
    datatype: str  # OIP datatype: BYTES, FP32, INT64 ...
    shape: list[int]  # -1 for variable dimensions


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str  # "onnxruntime" | "pytorch"
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    extra: dict[str, Any] = field(default_factory=dict)  # labels, max lengths, build info


@runtime_checkable
class Model(Protocol[In, Out]):
    """One servable model (``modelserve.ner.model``, ``modelserve.vision.model``)."""

    name: str

    def load(self) -> None:
        """Load weights and warm up. Raises ModelLoadError naming what failed."""
        ...

    def metadata(self) -> ModelMetadata: ...

    def parse_json(self, item: Any, field: str) -> In:
        """Validate one item of the plain JSON route; raise BadInput(field=field) if wrong."""
        ...

    def parse_v2(self, inputs: list[dict[str, Any]]) -> list[In]:
        """Validate OIP ``inputs`` into items; raise BadInput naming the input."""
        ...

    def predict(self, batch: Sequence[In]) -> list[Out]:
        """One batched forward pass; returns one output per item, in order."""
        ...

    def to_json(self, out: Out) -> dict[str, Any]:
        """One output for the plain JSON route."""
        ...

    def to_v2(self, outs: Sequence[Out]) -> list[dict[str, Any]]:
        """OIP ``outputs`` tensors for a list of outputs."""
        ...


@runtime_checkable
class Interruptible(Protocol):
    """A model whose running forward pass can be stopped from another thread (the drain
    deadline does): the pass then raises instead of returning."""

    def interrupt(self) -> bool:
        """Ask the running pass to stop; False when this model's runtime cannot."""
        ...
