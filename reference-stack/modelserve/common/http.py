"""The ONE place errors become HTTP responses (as KServe's ``errors.py``).

Bodies follow the Open Inference Protocol error shape ``{"error": "..."}`` and add
``type`` and, for bad input, ``field`` (a JSON path naming what is wrong). Retryable
errors carry ``Retry-After`` in whole seconds (HTTP allows no fractions) and
``retry_after_s`` in the body with the precise value.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
from starlette.responses import Response

from modelserve.common.errors import ModelNotReady, ModelServeError, Overloaded

__all__ = ["JSONResponse", "error_response", "json_response", "status_of"]

_log = logging.getLogger("modelserve.http")


class JSONResponse(Response):
    """A compact JSON response; numpy scalars and arrays become plain numbers and lists."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# One encoder for every response: ``json.dumps`` with any option builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_plain)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: BaseException) -> int:
    return exc.status if isinstance(exc, ModelServeError) else 500


def error_response(exc: BaseException, request_id: str | None = None) -> Response:
    """Map any exception to its response; unexpected ones become a logged 500."""
    headers: dict[str, str] = {}
    if isinstance(exc, ModelServeError):
        body = exc.to_json()
        if isinstance(exc, Overloaded):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        elif isinstance(exc, ModelNotReady):
            headers["Retry-After"] = "1"
        status = exc.status
    else:
        _log.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
        body = {"error": f"internal error: {type(exc).__name__}", "type": "InternalError"}
        status = 500
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers)
