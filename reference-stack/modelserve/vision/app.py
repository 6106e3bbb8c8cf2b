"""The image classifier's server: :class:`VisionModel` behind the common server.

``POST /v1/classify``: ``{"image_b64": "...", "top_k": 3}``, ``{"images": [{...}, ...]}``
or a ``multipart/form-data`` upload with one or more image files.
Settings: ``MSAI_VISION_*`` (server: batching, drain, faults; model: weights, limits).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette

from modelserve.common.app import JsonRoute
from modelserve.common.app import create_app as _create_app
from modelserve.common.server_settings import ServerSettings, load_server_settings

__all__ = ["ROUTE", "create_app", "server_settings"]

ROUTE = JsonRoute(path="/v1/classify", many="images", one=None, multipart=True)


def server_settings() -> ServerSettings:
    # values.yaml: vision batches up to 32 (small images; a bigger batch pays off).
    return load_server_settings("MSAI_VISION_", max_batch_size=32)


def create_app(on_fatal: Callable[[str], None] | None = None) -> Starlette:
    from modelserve.vision.model import VisionModel

    return _create_app(VisionModel(), server_settings(), ROUTE, on_fatal=on_fatal)
