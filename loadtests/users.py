"""Locust users for every route, for stock Locust runs and the closed-loop baseline.

    locust -f loadtests/users.py --host http://127.0.0.1:18080 NerUser VisionUser
    MSAI_LOAD_ENDPOINTS="ner=http://gw/ner,vision=http://gw/vision,orchestrator=http://gw/orch" \\
        locust -f loadtests/users.py MixUser

Importing this module imports Locust, which monkey-patches the process with gevent: import it
only in a process of its own (``locust -f``, :mod:`loadtests.stock`), never in the harness or
a test process. The open-loop generator (:mod:`loadtests.generator`) is what the harness uses
for honest latency; these users are closed-loop (each waits for its answer before the next
request), the way stock Locust measures.

Routes, bodies and URLs come from the same route table and payload data as the open-loop
generator (``loadtests/data``). Base URLs: ``MSAI_LOAD_ENDPOINTS`` (``name=url,...``, the
endpoint names of the route table), else Locust's ``--host`` for every endpoint.
``MSAI_LOAD_MIX`` (``route=weight,...``) sets :class:`MixUser`'s weights.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, ClassVar

from locust import FastHttpUser, constant, task

from loadtests.routes import Target, build_targets, load_routes

__all__ = [
    "DocumentEntitiesUser",
    "ImageTriageUser",
    "MixUser",
    "NerOipUser",
    "NerUser",
    "RouteUser",
    "TextInsightsUser",
    "VisionOipUser",
    "VisionUser",
    "parse_pairs",
]

DEFAULT_MIX = {"ner": 0.5, "vision": 0.3, "text-insights": 0.1, "image-triage": 0.1}


def parse_pairs(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}``."""
    out = {}
    for part in text.split(","):
        if part.strip():
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"expected name=value, got {part!r}")
            out[key.strip()] = value.strip()
    return out


_TARGETS: dict[tuple[str, ...], dict[str, Target]] = {}


def _targets(routes: tuple[str, ...], host: str | None) -> dict[str, Target]:
    key = (*routes, host or "")
    if key not in _TARGETS:
        endpoints = parse_pairs(os.environ.get("MSAI_LOAD_ENDPOINTS", ""))
        url = None if endpoints else host
        if not endpoints and not host:
            raise ValueError("set --host or MSAI_LOAD_ENDPOINTS")
        _TARGETS[key] = build_targets(routes, endpoints, routes=load_routes(), url=url)
    return _TARGETS[key]


class RouteUser(FastHttpUser):
    """Calls its ``routes`` in turn by ``weights``, back to back (closed loop)."""

    abstract = True
    wait_time = constant(0)
    # FastHttpUser needs a base host even when every URL is absolute: any endpoint will do.
    host = next(iter(parse_pairs(os.environ.get("MSAI_LOAD_ENDPOINTS", "")).values()), None)
    routes: ClassVar[tuple[str, ...]] = ()
    weights: ClassVar[tuple[float, ...]] = ()

    def on_start(self) -> None:
        self._targets = _targets(self.routes, self.host)
        self._n = itertools.count()
        weights = self.weights or (1.0,) * len(self.routes)
        # A fixed deterministic rotation following the weights (x100 slots).
        slots = [
            r for r, w in zip(self.routes, weights, strict=True) for _ in range(round(w * 100))
        ]
        self._order = itertools.cycle(slots or list(self.routes))

    def call(self, route: str) -> None:
        target = self._targets[route]
        body = target.bodies[next(self._n) % len(target.bodies)]
        self.client.request(
            target.method, target.url, data=body.decode(), headers=target.headers, name=route
        )

    @task
    def next_request(self) -> None:
        self.call(next(self._order))


def _user(name: str, route: str) -> type[RouteUser]:
    cls: Any = type(name, (RouteUser,), {"routes": (route,), "abstract": False})
    cls.__doc__ = f"Closed-loop user of the {route!r} route."
    cls.__module__ = __name__
    return cls  # type: ignore[no-any-return]


NerUser = _user("NerUser", "ner")
VisionUser = _user("VisionUser", "vision")
NerOipUser = _user("NerOipUser", "ner-oip")
VisionOipUser = _user("VisionOipUser", "vision-oip")
DocumentEntitiesUser = _user("DocumentEntitiesUser", "document-entities")
TextInsightsUser = _user("TextInsightsUser", "text-insights")
ImageTriageUser = _user("ImageTriageUser", "image-triage")

_mix = {r: float(w) for r, w in parse_pairs(os.environ.get("MSAI_LOAD_MIX", "")).items()}
_mix = _mix or DEFAULT_MIX


class MixUser(RouteUser):
    """A weighted mix of routes (``MSAI_LOAD_MIX``, default ner/vision/pipelines)."""

    abstract = False
    routes = tuple(_mix)
    weights = tuple(_mix.values())
