"""The orchestrator's HTTP API (Starlette).

    GET  /v2/health/live                  200 while the process runs
    GET  /v2/health/ready                 200 ready; 503 starting or draining (never 200)
    GET  /v2                              server metadata
    GET  /v1/pipelines                    pipelines, their steps and availability
    GET  /v1/pipelines/{name}
    POST /v1/pipelines/{name}/run         synchronous: {"input": ..., "timeout_s"?} -> result
    POST /v1/pipelines/{name}/runs        asynchronous: 202 {"id", "status_url"}
    GET  /v1/runs?pipeline=&status=&limit=   recent runs (Redis)
    GET  /v1/runs/{id}                    status, steps and, once finished, result or error
    GET  /v1/history?pipeline=&limit=     finished runs (PostgreSQL)
    GET  /metrics                         Prometheus

Errors are Open Inference Protocol style, ``{"error": "...", "type": ..., "field"?: ...}``,
mapped by ``modelserve.common.http.error_response``. ``x-request-deadline-ms`` (or
``timeout_s`` in the body) sets the run deadline, which every step inherits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import prometheus_client
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelserve.common.errors import BadInput, ModelNotReady, ModelServeError, PayloadTooLarge
from modelserve.common.http import error_response, json_response
from modelserve.orchestrator.builtins import load_builtins
from modelserve.orchestrator.calls import BuiltinFn, StepCaller
from modelserve.orchestrator.engine import Engine
from modelserve.orchestrator.history import HistoryWriter
from modelserve.orchestrator.metrics import OrchestratorMetrics
from modelserve.orchestrator.settings import OrchestratorSettings, load_orchestrator_settings
from modelserve.orchestrator.spec import (
    CallStep,
    ParallelStep,
    Pipeline,
    Step,
    SwitchStep,
    load_pipelines,
)
from modelserve.orchestrator.state import StateStore

__all__ = ["OrchestratorApp", "create_app", "create_serve_app"]

log = logging.getLogger("modelserve.orchestrator")


def _describe(steps: tuple[Step, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in steps:
        if isinstance(s, CallStep):
            target = {"service": s.service, "path": s.path} if s.service else {"builtin": s.builtin}
            out.append(
                {
                    "name": s.name,
                    **target,
                    "timeout_s": s.timeout_s,
                    "retries": s.retry.attempts - 1,
                    "dependency": s.dependency,
                }
            )
        elif isinstance(s, ParallelStep):
            out.append({"name": s.name, "parallel": _describe(s.branches)})
        elif isinstance(s, SwitchStep):
            cases = {k: _describe(v) for k, v in s.cases.items()}
            out.append(
                {
                    "name": s.name,
                    "switch": {"by": s.by, "cases": cases, "default": _describe(s.default)},
                }
            )
    return out


@dataclass
class OrchestratorApp:
    """What one replica holds; built in the app's lifespan (it needs the event loop)."""

    settings: OrchestratorSettings
    pipelines: dict[str, Pipeline]
    replica_id: str
    metrics: OrchestratorMetrics = field(default_factory=OrchestratorMetrics)
    state: str = "starting"  # starting | ready | draining | stopped
    drain_started: float | None = None
    engine: Engine | None = None
    store: StateStore | None = None
    history: HistoryWriter | None = None
    builtins_missing: dict[str, str] = field(default_factory=dict)
    builtin_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _client: aiohttp.ClientSession | None = None

    async def start(self, builtins: dict[str, BuiltinFn] | None = None) -> None:
        s = self.settings
        if builtins is None:
            found, self.builtins_missing = await asyncio.to_thread(
                load_builtins, s.tesseract_bin, s.models_path, self.builtin_metadata
            )
            builtins = found
        self.store = StateStore(s.redis_url, timeout_s=s.redis_timeout_s)
        connector = aiohttp.TCPConnector(limit=512, limit_per_host=256)
        self._client = aiohttp.ClientSession(connector=connector, trust_env=False)
        caller = StepCaller(self._client, dict(s.services), builtins)
        self.engine = Engine(
            s, self.store, self.pipelines, caller, self.metrics, replica_id=self.replica_id
        )
        for name, why in self.builtins_missing.items():
            for pname, pipe in self.pipelines.items():
                if name in pipe.builtins():
                    self.engine.unavailable[pname] = f"built-in {name}: {why}"
        self.engine.start()
        if s.postgres_dsn:
            self.history = HistoryWriter(s.postgres_dsn, self.store, replica_id=self.replica_id)
            self._tasks.append(
                asyncio.create_task(
                    self.history.run(self.engine.history_wakeup, s.history_flush_interval_s)
                )
            )
            self._tasks.append(asyncio.create_task(self._record_models()))
        self.state = "ready"
        self.metrics.ready.set(1)
        log.info(
            "orchestrator ready",
            extra={
                "replica": self.replica_id,
                "pipelines": sorted(self.pipelines),
                "unavailable": self.engine.unavailable,
            },
        )

    def begin_drain(self) -> bool:
        """Readiness false at once (runs are still accepted until the listener closes);
        True the first time only. Called by ``msai serve`` on SIGTERM."""
        if self.state in ("draining", "stopped"):
            return False
        self.state = "draining"
        self.drain_started = time.monotonic()
        self.metrics.ready.set(0)
        log.info("draining", extra={"in_flight": len(self.engine.tasks) if self.engine else 0})
        return True

    async def stop(self) -> None:
        self.begin_drain()
        if self.engine is not None:
            # The drain deadline counts from the signal; the delay and HTTP drain used part.
            spent = time.monotonic() - (self.drain_started or time.monotonic())
            left_s = max(0.5, self.settings.drain_deadline_s - spent)
            finished, left = await self.engine.stop(left_s)
            log.info("stopped", extra={"drained": finished, "left_to_other_replicas": left})
        # No final history flush: the outbox is in Redis, and this replica (restarted) or any
        # other writes it; a flush racing a PostgreSQL outage could only delay the exit.
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.history is not None:
            await self.history.close()
        if self._client is not None:
            await self._client.close()
        if self.store is not None:
            await self.store.close()
        self.state = "stopped"

    async def _record_models(self) -> None:
        """Model metadata of the built-ins and of every configured service into PostgreSQL
        (best effort)."""
        assert self.history is not None
        assert self._client is not None
        for name, meta in self.builtin_metadata.items():
            try:
                await self.history.record_model(f"builtin:{name}", meta)
            except Exception as exc:  # informational, as below
                log.warning("model metadata of built-in %s not recorded: %s", name, exc)
        for service, base in self.settings.services.items():
            try:
                url = f"{base.rstrip('/')}/v2/models/{service}"
                async with self._client.get(url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    found = await resp.json() if resp.status == 200 else None
                if isinstance(found, dict):
                    await self.history.record_model(service, found)
            except Exception as exc:  # never fails the replica: metadata is informational
                log.warning("model metadata of %s not recorded: %s", service, exc)

    # -- routes ----------------------------------------------------------------------------

    def _engine(self) -> Engine:
        if self.engine is None or self.state == "starting":
            raise ModelNotReady("orchestrator is starting")
        return self.engine

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        ok = self.state == "ready"
        return json_response({"ready": ok, "state": self.state}, 200 if ok else 503)

    async def server_meta(self, request: Request) -> Response:
        return json_response(
            {
                "name": "modelserve-orchestrator",
                "version": "0.1.0",
                "extensions": ["pipelines"],
                "replica": self.replica_id,
            }
        )

    def _pipeline_view(self, pipe: Pipeline) -> dict[str, Any]:
        why = self.engine.unavailable.get(pipe.name) if self.engine else None
        return {
            "name": pipe.name,
            "description": pipe.description,
            "sync": pipe.sync,
            "timeout_s": pipe.timeout_s,
            "available": why is None,
            **({"unavailable_because": why} if why else {}),
            "input": pipe.input_schema,
            "steps": _describe(pipe.steps),
        }

    async def list_pipelines(self, request: Request) -> Response:
        return json_response(
            {"pipelines": [self._pipeline_view(p) for p in self.pipelines.values()]}
        )

    async def get_pipeline(self, request: Request) -> Response:
        name = request.path_params["name"]
        pipe = self.pipelines.get(name)
        if pipe is None:
            self._engine().pipeline(name)  # raises the 404 naming what exists
        assert pipe is not None
        return json_response(self._pipeline_view(pipe))

    async def _read_run_request(self, request: Request) -> tuple[Any, float | None]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.settings.max_body_bytes:
            raise PayloadTooLarge(f"body over {self.settings.max_body_bytes} bytes", field="body")
        raw = await request.body()
        if len(raw) > self.settings.max_body_bytes:
            raise PayloadTooLarge(f"body over {self.settings.max_body_bytes} bytes", field="body")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"body is not valid JSON: {exc}", field="body") from None
        if not isinstance(body, dict) or "input" not in body:
            raise BadInput('body must be {"input": ..., "timeout_s"?: seconds}', field="input")
        unknown = sorted(set(body) - {"input", "timeout_s"})
        if unknown:
            raise BadInput(f"unknown field {unknown[0]!r}", field=unknown[0])
        timeout = body.get("timeout_s")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < 1e6
        ):
            raise BadInput("timeout_s must be a positive number of seconds", field="timeout_s")
        header = request.headers.get("x-request-deadline-ms")
        if header is not None:
            try:
                ms = float(header)
            except ValueError:
                raise BadInput(
                    "x-request-deadline-ms must be milliseconds", field="x-request-deadline-ms"
                ) from None
            if not 0 < ms < 1e9:
                raise BadInput("x-request-deadline-ms must be > 0", field="x-request-deadline-ms")
            timeout = ms / 1000 if timeout is None else min(float(timeout), ms / 1000)
        return body["input"], None if timeout is None else float(timeout)

    async def run_sync(self, request: Request) -> Response:
        engine = self._engine()
        name = request.path_params["name"]
        pipe = engine.pipeline(name)
        data, timeout = await self._read_run_request(request)
        if not pipe.sync:
            raise BadInput(
                f"pipeline {name!r} is asynchronous only: POST .../runs", field="pipeline"
            )
        limit = self.settings.sync_max_timeout_s
        timeout = min(timeout or pipe.timeout_s or self.settings.default_timeout_s, limit)
        out = await engine.run_sync(name, data, timeout)
        body = out.to_json()
        if out.ok:
            return json_response(body)
        err = dict(out.error or {})
        err["run"] = {k: v for k, v in body.items() if k != "error"}
        return json_response(err, out.error_status)

    async def run_async(self, request: Request) -> Response:
        engine = self._engine()
        name = request.path_params["name"]
        engine.pipeline(name)
        data, timeout = await self._read_run_request(request)
        run_id = await engine.submit(name, data, timeout)
        return json_response(
            {"id": run_id, "status": "running", "status_url": f"/v1/runs/{run_id}"},
            202,
            headers={"location": f"/v1/runs/{run_id}"},
        )

    async def get_run(self, request: Request) -> Response:
        engine = self._engine()
        rec = await engine.store.get_run(request.path_params["run_id"])
        return json_response(rec.to_json())

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise BadInput("limit must be an integer from 1 to 1000", field="limit")
        return int(raw)

    async def list_runs(self, request: Request) -> Response:
        engine = self._engine()
        q = request.query_params
        status = q.get("status")
        if status is not None and status not in ("pending", "running", "succeeded", "failed"):
            raise BadInput("status must be pending, running, succeeded or failed", field="status")
        runs = await engine.store.list_runs(
            limit=self._limit(request), pipeline=q.get("pipeline"), status=status
        )
        return json_response({"runs": [r.to_json() for r in runs]})

    async def list_history(self, request: Request) -> Response:
        if self.history is None:
            raise ModelNotReady("run history is off: set MSAI_ORCH_POSTGRES_DSN")
        limit = self._limit(request)
        try:
            rows = await self.history.query(
                pipeline=request.query_params.get("pipeline"), limit=limit
            )
        except Exception as exc:
            await self.history.close()
            raise ModelNotReady(f"run history (PostgreSQL) unavailable: {exc}") from exc
        return json_response({"runs": rows})

    async def metrics_route(self, request: Request) -> Response:
        data = prometheus_client.generate_latest(self.metrics.registry)
        return Response(data, media_type=prometheus_client.CONTENT_TYPE_LATEST)


def _wrap(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rid = request.headers.get("x-request-id")
        try:
            response = await handler(request)
        except ModelServeError as exc:
            response = error_response(exc, rid)
        except Exception as exc:  # a bug: logged once with its trace, answered as a 500
            response = error_response(exc, rid)
        if rid:
            response.headers["x-request-id"] = rid
        return response

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_response(
        {"error": exc.detail, "type": "HTTPError", "field": "path"}, exc.status_code
    )


def create_app(
    settings: OrchestratorSettings,
    *,
    pipelines: dict[str, Pipeline] | None = None,
    builtins: dict[str, BuiltinFn] | None = None,
) -> Starlette:
    """The app of one replica; ``app.state.orch`` is its :class:`OrchestratorApp`. Pipelines
    are loaded here, so a bad pipeline file fails before the server starts."""
    pipes = pipelines if pipelines is not None else load_pipelines(settings.pipelines_path)
    replica = settings.replica_id or f"{socket.gethostname()}:{settings.port}:{os.getpid()}"
    orch = OrchestratorApp(settings, pipes, replica)
    routes = [
        Route("/v2/health/live", orch.live, methods=["GET"]),
        Route("/v2/health/ready", orch.ready, methods=["GET"]),
        Route("/v2", orch.server_meta, methods=["GET"]),
        Route("/metrics", orch.metrics_route, methods=["GET"]),
        Route("/v1/pipelines", _wrap(orch.list_pipelines), methods=["GET"]),
        Route("/v1/pipelines/{name}", _wrap(orch.get_pipeline), methods=["GET"]),
        Route("/v1/pipelines/{name}/run", _wrap(orch.run_sync), methods=["POST"]),
        Route("/v1/pipelines/{name}/runs", _wrap(orch.run_async), methods=["POST"]),
        Route("/v1/runs", _wrap(orch.list_runs), methods=["GET"]),
        Route("/v1/runs/{run_id}", _wrap(orch.get_run), methods=["GET"]),
        Route("/v1/history", _wrap(orch.list_history), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        t0 = time.perf_counter()
        await orch.start(builtins)
        log.info("started in %.2fs", time.perf_counter() - t0)
        try:
            yield
        finally:
            await orch.stop()

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.orch = orch
    return app


def create_serve_app(on_fatal: Callable[[str], None] | None = None) -> Starlette:
    """The ``msai serve orchestrator`` factory (``modelserve.cli.SERVERS``): settings from
    ``MSAI_ORCH_*``; ``state.lifecycle`` drains on SIGTERM, ``state.settings`` has the drain
    times. Nothing here is fatal after start-up: a missing built-in or service makes only the
    pipelines that need it unavailable (listed with the reason)."""
    settings = load_orchestrator_settings()
    app = create_app(settings)
    app.state.lifecycle = app.state.orch
    app.state.settings = settings
    return app
