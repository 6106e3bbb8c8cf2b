"""The NER server: :class:`NerModel` behind the common server.

``POST /v1/ner``: ``{"text": "..."}``, or ``{"texts": ["...", ...]}`` (strings or
``{"text": ...}`` objects). Settings: ``MSAI_NER_*`` (server: batching, drain, faults;
model: weights, text limit, execution provider).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette

from modelserve.common.app import JsonRoute
from modelserve.common.app import create_app as _create_app
from modelserve.common.server_settings import ServerSettings, load_server_settings

__all__ = ["ROUTE", "create_app", "server_settings"]

ROUTE = JsonRoute(path="/v1/ner", many="texts", one=None, wrap="text")


def server_settings() -> ServerSettings:
    # 4 on a CPU (the chart's ner.batching.maxBatchSize says why); MSAI_NER_MAX_BATCH_SIZE
    # raises it on a GPU.
    return load_server_settings("MSAI_NER_", max_batch_size=4)


def create_app(on_fatal: Callable[[str], None] | None = None) -> Starlette:
    from modelserve.ner.model import NerModel

    return _create_app(NerModel(), server_settings(), ROUTE, on_fatal=on_fatal)
