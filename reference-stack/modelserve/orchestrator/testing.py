"""A real HTTP step service for tests and benchmarks, with controllable latency and failures.

Every ``POST /v1/<route>`` is a "model": it answers ``{"route", "input", "calls"}`` (or the
``reply`` set for the route) after the route's latency. It honours ``Idempotency-Key`` the
way the orchestrator expects model services to: a repeated key is answered from a cache and
not applied again (a repeat that arrives while the first is still running waits for it), so
``applied`` counts how many times each step call really took effect.

Behaviour per route, set with ``POST /admin/behaviour {"<route>": {...}}``:

    latency_ms   fixed delay before answering
    fail         list of statuses answered by the next calls, in order ([503, 503] -> two 503s)
    reply        a fixed JSON answer instead of the echo
    hang         never answer (until the client gives up)

``GET /admin/calls`` -> ``{"applied": {key: n}, "calls": [{route, key, deadline_ms, status}]}``.
``StepServiceThread`` runs it in a thread of the test process; ``python -m
modelserve.orchestrator.testing --port N`` as a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["StepService", "StepServiceThread", "main"]


@dataclass
class StepService:
    behaviour: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: Counter[str] = field(default_factory=Counter)
    cache: dict[str, tuple[int, Any]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    count: Counter[str] = field(default_factory=Counter)
    inflight: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    async def step(self, request: Request) -> Response:
        route = request.path_params["route"]
        key = request.headers.get("idempotency-key")
        record: dict[str, Any] = {
            "route": route,
            "key": key,
            "deadline_ms": request.headers.get("x-request-deadline-ms"),
            "t": time.time(),
        }
        self.calls.append(record)
        try:
            body = await request.json()
        except ValueError:
            record["status"] = 400
            return JSONResponse({"error": "body is not JSON", "field": "body"}, 400)
        if key is not None and key in self.inflight:  # a repeat while the first still runs
            await asyncio.shield(self.inflight[key])
        if key is not None and key in self.cache:  # a repeat: answer, do not apply again
            status, reply = self.cache[key]
            record["status"] = status
            record["cached"] = True
            return JSONResponse(reply, status)
        if key is None:
            return await self._apply(route, body, key, record)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inflight[key] = done
        try:
            return await self._apply(route, body, key, record)
        finally:
            del self.inflight[key]
            done.set_result(None)

    async def _apply(
        self, route: str, body: Any, key: str | None, record: dict[str, Any]
    ) -> Response:
        b = self.behaviour.get(route, {})
        if b.get("hang"):
            await asyncio.sleep(3600)
        if b.get("latency_ms"):
            await asyncio.sleep(float(b["latency_ms"]) / 1000)
        fails = b.get("fail") or []
        if fails:
            status = int(fails.pop(0))
            record["status"] = status
            return JSONResponse({"error": f"injected {status}"}, status)
        self.count[route] += 1
        reply = b.get("reply")
        if reply is None:
            reply = {"route": route, "input": body, "calls": self.count[route]}
        if key is not None:
            self.applied[key] += 1
            self.cache[key] = (200, reply)
        record["status"] = 200
        return JSONResponse(reply)

    async def set_behaviour(self, request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected {route: behaviour}"}, 400)
        self.behaviour.update(body)
        return JSONResponse(self.behaviour)

    async def get_calls(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.calls.clear()
            self.applied.clear()
            self.cache.clear()
            self.count.clear()
            self.behaviour.clear()
        return JSONResponse({"applied": dict(self.applied), "calls": self.calls})

    async def model_meta(self, request: Request) -> Response:
        name = request.path_params["model"]
        return JSONResponse(
            {"name": name, "versions": ["1"], "platform": "test", "inputs": [], "outputs": []}
        )

    async def ready(self, request: Request) -> Response:
        return JSONResponse({"ready": True})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/{route:path}", self.step, methods=["POST"]),
                Route("/admin/behaviour", self.set_behaviour, methods=["POST"]),
                Route("/admin/calls", self.get_calls, methods=["GET", "DELETE"]),
                Route("/v2/models/{model}", self.model_meta, methods=["GET"]),
                Route("/v2/health/ready", self.ready, methods=["GET"]),
            ]
        )


class StepServiceThread:
    """A :class:`StepService` served by uvicorn in a thread, on ``port``."""

    def __init__(self, port: int, service: StepService | None = None) -> None:
        self.port = port
        self.service = service or StepService()
        config = uvicorn.Config(
            self.service.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name=f"step-service-{port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> StepServiceThread:
        self.thread.start()
        end = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError(f"step service on {self.port} did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="modelserve.orchestrator.testing", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--behaviour", default="{}", help="initial behaviour JSON")
    args = parser.parse_args(argv)
    service = StepService(behaviour=json.loads(args.behaviour))
    from modelserve.transport import NoDelayHttpProtocol  # Nagle would add ~40 ms per call

    uvicorn.run(
        service.app(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        http=NoDelayHttpProtocol,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
