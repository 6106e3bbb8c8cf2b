"""A fake model and helpers shipped with the server, for tests and ``msai serve fake``.

:class:`FakeModel` implements the :class:`~modelserve.common.model.Model` protocol with a
cost model instead of a network: one forward pass takes ``batch_cost_ms + item_cost_ms * n``
of wall time (sleep, or busy CPU when ``burn_cpu``), so batching, shedding and drain behave
as with a real model. Items are texts; a text containing ``poison`` makes the forward pass
raise (the server must retry singly so only that item fails); ``item_fails`` makes it raise
even alone. Outputs: the upper-cased text and its length.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from modelserve.common.app import JsonRoute, create_app
from modelserve.common.errors import BadInput, ModelLoadError, ModelServeError, PayloadTooLarge
from modelserve.common.json_body import check_text
from modelserve.common.model import ModelMetadata, TensorSpec
from modelserve.common.server_settings import ServerSettings, load_server_settings
from modelserve.common.settings import env_field, load_settings

__all__ = [
    "FAKE_ROUTE",
    "FakeModel",
    "FakeOutput",
    "FakeSettings",
    "create_fake_app",
    "http_ready",
    "start_replica",
    "wait_until",
]

FAKE_ROUTE = JsonRoute(path="/v1/echo", many="texts", one="text")
POISON = "poison"


@dataclass(frozen=True)
class FakeSettings:
    name: str = env_field("fake", "model name in OIP routes")
    load_s: float = env_field(0.0, "time load() takes (s)")
    fail_load: bool = env_field(False, "load() raises ModelLoadError")
    batch_cost_ms: float = env_field(2.0, "fixed cost of one forward pass (ms)")
    item_cost_ms: float = env_field(0.2, "extra cost per item in a forward pass (ms)")
    burn_cpu: bool = env_field(False, "spend the cost busy on the CPU instead of sleeping")
    max_text_chars: int = env_field(1000, "longest accepted text (characters); 413 above")
    interruptible: bool = env_field(
        True, "a running forward pass stops when interrupted (as ONNX Runtime's does)"
    )


@dataclass(frozen=True)
class FakeOutput:
    text: str
    length: int


class FakeModel:
    """Upper-cases texts at a configurable cost; see the module docstring."""

    def __init__(self, settings: FakeSettings | None = None) -> None:
        self.settings = settings or FakeSettings()
        self.name = self.settings.name
        self.loaded = False
        self.batches: list[int] = []  # sizes of the forward passes, for tests
        self._stop = threading.Event()

    def load(self) -> None:
        if self.settings.load_s:
            time.sleep(self.settings.load_s)
        if self.settings.fail_load:
            raise ModelLoadError("fake: fail_load is set")
        self.loaded = True

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            name=self.name,
            versions=["1"],
            platform="fake",
            inputs=[TensorSpec("text", "BYTES", [-1])],
            outputs=[TensorSpec("upper", "BYTES", [-1]), TensorSpec("length", "INT64", [-1])],
            extra={"max_text_chars": self.settings.max_text_chars},
        )

    def _check(self, text: Any, field: str) -> str:
        if not isinstance(text, str):
            kind = "null" if text is None else type(text).__name__
            raise BadInput(f"expected a string, got {kind}", field=field)
        if not text.strip():
            raise BadInput("text is empty", field=field)
        if len(text) > self.settings.max_text_chars:
            raise PayloadTooLarge(
                f"text has {len(text)} characters; the limit is {self.settings.max_text_chars}",
                field=field,
            )
        return check_text(text, field)

    def parse_json(self, item: Any, field: str) -> str:
        return self._check(item, field)

    def parse_v2(self, inputs: list[dict[str, Any]]) -> list[str]:
        (tensor,) = inputs
        return [self._check(t, f"inputs[0].data[{i}]") for i, t in enumerate(tensor["data"])]

    def predict(self, batch: Sequence[str]) -> list[FakeOutput]:
        s = self.settings
        cost = (s.batch_cost_ms + s.item_cost_ms * len(batch)) / 1000.0
        if s.burn_cpu:
            end = time.perf_counter() + cost
            while time.perf_counter() < end and not self._stop.is_set():
                pass
        elif cost > 0 and s.interruptible:
            self._stop.wait(cost)
        elif cost > 0:
            time.sleep(cost)
        if self._stop.is_set():
            raise ModelServeError("fake: forward pass interrupted")
        self.batches.append(len(batch))
        if any(POISON in t for t in batch):
            raise ValueError("fake: a poison item in the batch")
        return [FakeOutput(t.upper(), len(t)) for t in batch]

    def interrupt(self) -> bool:
        """Stop the running pass and every later one, unless ``interruptible`` is off."""
        if self.settings.interruptible:
            self._stop.set()
        return self.settings.interruptible

    def to_json(self, out: FakeOutput) -> dict[str, Any]:
        return {"upper": out.text, "length": out.length}

    def to_v2(self, outs: Sequence[FakeOutput]) -> list[dict[str, Any]]:
        n = len(outs)
        return [
            {"name": "upper", "datatype": "BYTES", "shape": [n], "data": [o.text for o in outs]},
            {"name": "length", "datatype": "INT64", "shape": [n], "data": [o.length for o in outs]},
        ]


def create_fake_app(
    settings: ServerSettings | None = None,
    fake: FakeSettings | None = None,
    on_fatal: Any = None,
) -> Starlette:
    """The fake model's server; settings from ``MSAI_FAKE_*`` when not given."""
    fake = fake or load_settings(FakeSettings, "MSAI_FAKE_")
    settings = settings or load_server_settings("MSAI_FAKE_")
    return create_app(FakeModel(fake), settings, FAKE_ROUTE, on_fatal=on_fatal)


def wait_until(check: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``check()`` until it is truthy; AssertionError naming the wait on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {check!r}")


def start_replica(
    kind: str, port: int, env: dict[str, str] | None = None, log_path: str | None = None
) -> subprocess.Popen[bytes]:
    """``msai serve KIND --port PORT`` as a child process (stderr to ``log_path``)."""
    argv = [sys.executable, "-m", "modelserve", "serve", kind, "--port", str(port)]
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            argv, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        if log_path:
            out.close()  # type: ignore[union-attr]


def http_ready(base_url: str) -> bool:
    """True when ``/v2/health/ready`` answers 200."""
    import httpx

    try:
        return httpx.get(f"{base_url}/v2/health/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
