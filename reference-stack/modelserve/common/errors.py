"""The one exception tree of the servers, with the HTTP status each maps to.

    ModelServeError                 500  base; anything unexpected is wrapped in it
    ├── ConfigError                 ---  bad settings at start-up (names the variable); never HTTP
    ├── ModelLoadError              ---  weights/artifacts could not be loaded (names the path)
    ├── BadInput                    400  the request is wrong; ``field`` names what is wrong
    │   └── PayloadTooLarge         413  text or image over the configured limit
    ├── ModelNotFound               404  unknown model name
    ├── ModelNotReady               503  loading or draining; retryable
    ├── ClientGone                  499  the client closed its connection first (never sent)
    ├── RequestTimeout              408  the body did not arrive within READ_TIMEOUT_S
    └── Overloaded                  429/503  shed by the batcher; carries ``retry_after_s``
        └── DrainCutOff             503  queued or running when the drain deadline passed

Errors are mapped to HTTP in exactly one place (``modelserve.common.http.error_response``),
as KServe's ``errors.py`` does. ``retryable`` tells clients (and the orchestrator's retry
policy) whether trying again can help.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "ClientGone",
    "ConfigError",
    "DrainCutOff",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "ModelServeError",
    "Overloaded",
    "PayloadTooLarge",
    "RequestTimeout",
]


class ModelServeError(Exception):
    """Base of every error the servers raise on purpose."""

    status: int = 500
    retryable: bool = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message, "type": type(self).__name__}
        if self.field is not None:
            body["field"] = self.field
        return body


class ConfigError(ModelServeError):
    """A setting is missing or malformed; the message names the environment variable."""


class ModelLoadError(ModelServeError):
    """A model directory, ONNX file or S3 object could not be loaded."""


class BadInput(ModelServeError):
    """The request is malformed; ``field`` names the offending part (a JSON path)."""

    status = 400


class PayloadTooLarge(BadInput):
    """Text or image larger than the configured limit."""

    status = 413


class ModelNotFound(ModelServeError):
    status = 404


class ModelNotReady(ModelServeError):
    status = 503
    retryable = True


class ClientGone(ModelServeError):
    """The client closed the connection before its request was answered.

    499, as nginx and Envoy count it: not the server's error, so alerts on 5xx never see
    a flaky client network. Nothing is sent; the status is for metrics and the access log.
    """

    status = 499


class RequestTimeout(ModelServeError):
    """The request's body did not arrive within the read timeout; the connection is closed."""

    status = 408


class Overloaded(ModelServeError):
    """Shed before it was queued: the predicted wait exceeds the deadline or the queue is full."""

    retryable = True

    def __init__(self, message: str, *, reason: str, retry_after_s: float, status: int = 429):
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.status = status

    def to_json(self) -> dict[str, object]:
        body = super().to_json()
        body["reason"] = self.reason
        body["retry_after_s"] = round(self.retry_after_s, 3)
        return body


class DrainCutOff(Overloaded):
    """Work cut off by the drain deadline: queued, in the forward pass, or still waiting.

    A retryable 503 (Envoy retries it on another replica), counted as dropped in the
    replica's final ``stopped`` line; every other answer given while draining counts as
    drained."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="draining", retry_after_s=1.0, status=503)
