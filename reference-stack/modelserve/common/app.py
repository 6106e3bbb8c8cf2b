"""The model server: a Starlette app around any :class:`~modelserve.common.model.Model`.

Routes (Open Inference Protocol v2 plus one plain JSON route per model)::

    GET  /v2/health/live            200 unless the inference thread is stuck
    GET  /v2/health/ready           200 only when ready; 503 loading / draining / failed
    GET  /v2                        server metadata
    GET  /v2/models/{m}             model metadata (404 unknown, 503 not loaded)
    GET  /v2/models/{m}/ready       as /v2/health/ready, for one model
    POST /v2/models/{m}/infer       OIP inference request -> response
         /v2/models/{m}/versions/{v}[/ready|/infer]   the same for one version (404 other)
    POST <json route>               {"<one>": item} | {"<many>": [items]} (| multipart files)
    GET  /metrics                   Prometheus exposition
    GET|POST|DELETE /admin/faults   fault hooks (only with fault hooks on; x-admin-token)

Every inference request: parse and check all items, on the event loop or, when that is
costly, on the parse pool (:mod:`modelserve.common.parsing`; bad input -> 400/413 naming
the field, before queueing), apply fault hooks, queue on the :class:`Batcher`, answer.
Errors become responses only in :mod:`modelserve.common.http`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from modelserve import __version__
from modelserve.common.batching import Batcher, BatchSettings
from modelserve.common.errors import (
    BadInput,
    ClientGone,
    DrainCutOff,
    ModelNotFound,
    ModelNotReady,
    ModelServeError,
    PayloadTooLarge,
    RequestTimeout,
)
from modelserve.common.faults import Faults
from modelserve.common.http import error_response, json_response
from modelserve.common.json_body import decode_json
from modelserve.common.lifecycle import Lifecycle, State
from modelserve.common.logging import flush_logs, log_fast, request_id_var
from modelserve.common.metrics import ServerMetrics
from modelserve.common.model import Interruptible, Model, ModelMetadata, TensorSpec
from modelserve.common.oip import InferRequest, parse_infer_request
from modelserve.common.parsing import ParseOffLoop, ParsePool, parse_inline
from modelserve.common.server_settings import ServerSettings
from modelserve.limits import TIMED_OUT, HttpLimits
from modelserve.transport import CLIENT_GONE

__all__ = [
    "AdminDenied",
    "JsonRoute",
    "ModelServer",
    "create_app",
    "headers_dict",
    "parse_deadline",
]

_T = TypeVar("_T")
_log = logging.getLogger("modelserve.server")
_access = logging.getLogger("modelserve.access")


_HEADERS = "modelserve.headers"  # scope key: the request's headers as one dict


def headers_dict(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw (lower-cased) header pairs as a plain dict; a repeated name keeps its first value,
    as Starlette's ``Headers.get`` does."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(raw)}


def request_headers(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict (:func:`headers_dict`), built once per request.

    Starlette's ``Headers.get`` scans and decodes the raw list on every call and raises and
    catches a KeyError on a miss; an inference request reads six names, most of them absent
    (deadline headers, ``x-request-id``).
    """
    scope = request.scope
    headers: dict[str, str] | None = scope.get(_HEADERS)
    if headers is None:
        headers = scope[_HEADERS] = headers_dict(scope["headers"])
    return headers


def _new_request_id() -> str:
    # Not uuid4: it reads os.urandom, a ~100 us system call per request on some VMs. Request
    # ids need uniqueness, not unpredictability; Envoy's own ids arrive in x-request-id.
    return f"{random.getrandbits(128):032x}"


def _cut_off_response(rid: str) -> Response:
    return error_response(DrainCutOff("drain deadline passed before this request finished"), rid)


def _name_item(exc: Exception, item_field: Callable[[int], str]) -> None:
    """Name the failed item's field (the batcher sets ``item_index``) where none is named."""
    index = getattr(exc, "item_index", None)
    if isinstance(exc, ModelServeError) and exc.field is None and index is not None:
        exc.field = item_field(index)


_GRPC_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


class AdminDenied(ModelServeError):
    """Missing or wrong admin token on an admin route."""

    status = 401


@dataclass(frozen=True)
class JsonRoute:
    """The model's plain JSON route.

    ``{many: [item, ...]}`` sends a list; ``{one: item}`` sends one item, or, with
    ``one=None``, the whole body is the item. ``multipart``: file parts of a
    ``multipart/form-data`` body are items too (the model's ``parse_bytes`` reads them).
    """

    path: str
    many: str
    one: str | None = None
    multipart: bool = False
    wrap: str | None = None
    """List elements that are not objects become ``{wrap: element}`` (``"texts": ["..."]``)."""


def _item_field(route: JsonRoute, single: bool) -> Callable[[int], str]:
    """The field that names item ``i`` of a JSON route request, for errors."""
    one = route.one or "body"
    return lambda i: one if single else f"{route.many}[{i}]"


# Scope key: when (time.perf_counter) the request's deadline passes; set by ModelServer.serve.
_DEADLINE = "modelserve.deadline"


def parse_deadline(headers: Any, default_s: float) -> float:
    """Seconds the caller gives this request: ``x-request-deadline-ms``, ``grpc-timeout``
    (``100m``, ``2S``) or Envoy's ``x-envoy-expected-rq-timeout-ms``; else ``default_s``."""
    for name in ("x-request-deadline-ms", "x-envoy-expected-rq-timeout-ms"):
        raw = headers.get(name)
        if raw is not None:
            try:
                ms = float(raw)
            except ValueError:
                raise BadInput(f"{name} must be a number of milliseconds", field=name) from None
            if not 0 < ms < float("inf"):  # also refuses NaN
                raise BadInput(f"{name} must be > 0", field=name)
            return ms / 1000.0
    raw = headers.get("grpc-timeout")
    if raw is not None:
        value, unit = raw[:-1], raw[-1:]
        if unit not in _GRPC_UNITS or not value.isdigit() or len(value) > 8 or int(value) == 0:
            raise BadInput(
                "grpc-timeout must be 1-8 digits and a unit of HMSmun", field="grpc-timeout"
            )
        return int(value) * _GRPC_UNITS[unit]
    return default_s


class ModelServer:
    """Everything one replica holds: model, settings, batcher, state, metrics, faults."""

    def __init__(
        self,
        model: Model[Any, Any],
        settings: ServerSettings,
        json_route: JsonRoute | None = None,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.settings = settings
        self.json_route = json_route
        self.on_fatal = on_fatal
        self.metrics = ServerMetrics(model.name)
        self.lifecycle = Lifecycle(model.name, self.metrics)
        self.faults = Faults(settings.fault_hooks, settings.fault_seed, self.metrics)
        self.batcher: Batcher[Any, Any] = Batcher(
            model.predict,
            BatchSettings(
                max_batch_size=settings.max_batch_size,
                max_queue_delay_s=settings.max_queue_delay_ms / 1000.0,
                max_batch_s=settings.max_batch_ms / 1000.0,
                queue_capacity=settings.queue_capacity,
            ),
            self.metrics,
            before_batch=self.faults.before_batch if settings.fault_hooks else None,
            interrupt=model.interrupt if isinstance(model, Interruptible) else None,
        )
        self.meta: ModelMetadata | None = None
        self._loader: threading.Thread | None = None
        # Requests served without ASGI that wait on the batcher (their answer functions).
        self._direct: set[Callable[[Response | None], None]] = set()
        self._parse_pool = (
            ParsePool(settings.parse_workers, settings.parse_backlog)
            if settings.parse_workers > 0
            else None
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start_loading(self) -> None:
        self._loader = threading.Thread(target=self._load, name="model-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        t0 = time.monotonic()
        try:
            if self.settings.fault_hooks and self.settings.fault_slow_load_s > 0:
                self.metrics.fault_fired("slow_load")
                time.sleep(self.settings.fault_slow_load_s)
            self.model.load()
            self.meta = self.model.metadata()
        except Exception as exc:
            msg = f"{type(exc).__name__}: {exc}"
            _log.error("model load failed", extra={"model": self.name, "error": msg})
            self.lifecycle.failed(msg)
            if self.on_fatal is not None:
                self.on_fatal(msg)
            return
        seconds = time.monotonic() - t0
        self.batcher.start()
        self.lifecycle.loaded(seconds)
        device = self.meta.extra.get("device") if self.meta else None
        _log.info(
            "model ready",
            extra={"model": self.name, "load_seconds": round(seconds, 3), "device": device},
        )

    async def shutdown(self) -> None:
        """Stop the batcher within what is left of the drain deadline; log the counts."""
        self.lifecycle.begin_drain()
        self.faults.release()
        started = self.lifecycle.drain_started or time.monotonic()
        left = max(0.0, self.settings.drain_deadline_s - (time.monotonic() - started))
        stopped = await asyncio.to_thread(self.batcher.stop, left, self.settings.interrupt_grace_s)
        await asyncio.sleep(0)  # the answers batcher.stop gave land first
        await asyncio.sleep(0)  # and the callbacks their futures scheduled
        while self._direct:  # the rest are cut off, as uvicorn cancels tasks
            self._direct.pop()(None)
        if self._parse_pool is not None:
            self._parse_pool.shutdown()
        if self.batcher.cut_off_items or not stopped:
            _log.warning(
                "items cut off at the drain deadline",
                extra={"cut_off_items": self.batcher.cut_off_items, "thread_stopped": stopped},
            )
        self.lifecycle.stopped()

    # -- request plumbing ------------------------------------------------------------------
    async def serve(
        self, request: Request, route: str, handler: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Run an inference handler with request id, accounting, metrics and error mapping."""
        t0 = time.perf_counter()
        headers = request_headers(request)
        rid = headers.get("x-request-id") or _new_request_id()
        token = request_id_var.set(rid)
        self.lifecycle.enter()
        status: int | None = None  # None: no response was produced
        cut_off = False  # a response, but only because the drain deadline passed
        try:
            try:
                budget = self._admit(headers)
                request.scope[_DEADLINE] = t0 + budget  # read by infer_items
                response = await handler(request)
            except Exception as exc:
                response = error_response(exc, rid)
                cut_off = isinstance(exc, DrainCutOff)
            except asyncio.CancelledError:
                # uvicorn cancels what is left at the drain deadline: answer a retryable 503
                # (Envoy retries it elsewhere) instead of an ASGI error.
                if self.lifecycle.state not in (State.DRAINING, State.STOPPED):
                    raise
                cut_off = True
                response = _cut_off_response(rid)
            status = self._stamp(response, rid).status_code
            gone = request.scope.get(CLIENT_GONE)  # set by the HTTP protocol
            if gone is not None and gone() and TIMED_OUT not in request.scope:
                status = ClientGone.status  # nothing reaches the client: not a 200 or a 5xx
            return response
        finally:
            self._account(
                route, request.scope["path"], t0, status, status is not None and not cut_off
            )
            request_id_var.reset(token)

    def _admit(self, headers: dict[str, str]) -> float:
        """The request's time budget in seconds, after the batcher's admission check.

        Shed before parsing: a request refused after its JSON and images were decoded costs
        nearly what a served one does, and under overload the refusals would crowd out the
        work (``Batcher.admit``)."""
        budget = parse_deadline(headers, self.settings.default_deadline_ms / 1e3)
        self.batcher.admit(1, budget)
        return budget

    def _stamp(self, response: Response, rid: str) -> Response:
        # Appended to the raw list: handlers never set these two, and a MutableHeaders view
        # would scan the list for an existing value first.
        response.raw_headers.append((b"x-request-id", rid.encode("latin-1")))
        if self.lifecycle.state is State.DRAINING:
            response.raw_headers.append((b"connection", b"close"))  # clients move off
        return response

    def _account(
        self, route: str, path: str, t0: float | None, status: int | None, served: bool
    ) -> None:
        """After an inference request: drain accounting, request metrics (when answered) and
        the access line. ``t0`` None: the request's start is not known."""
        self.lifecycle.leave(served)
        elapsed = None if t0 is None else time.perf_counter() - t0
        if status is not None:
            self.metrics.observe_request(route, status, elapsed)
        if self.settings.access_log:
            log_fast(
                _access,
                logging.INFO,
                "request",
                {
                    "model": self.name,
                    "route": route,
                    "path": path,
                    "status": status if status is not None else "cancelled",
                    "duration_ms": None if elapsed is None else round(elapsed * 1000, 3),
                },
            )

    @property
    def serves_json_directly(self) -> bool:
        """Whether :meth:`serve_json_now` may answer the JSON route (:mod:`modelserve.direct`).

        Off with fault hooks (their delays await): those requests take the ASGI path."""
        s = self.settings
        return s.direct_http and self.json_route is not None and not s.fault_hooks

    def serve_json_now(
        self, headers: dict[str, str], body: bytes, respond: Callable[[Response], bool]
    ) -> None:
        """The JSON route without ASGI (:mod:`modelserve.direct`): what :meth:`serve` and
        :meth:`infer_json` do for a JSON body, with the same answers, calling
        ``respond(response)`` once: now, or from the batch's callback. ``respond`` returns
        False when the client has gone (the request then counts as 499).

        As on the ASGI path, a client that goes away does not cancel its items; the answer
        is dropped when it is ready. At the drain deadline, :meth:`shutdown` answers what is
        still waiting (uvicorn cancels the ASGI path's tasks there; these have none)."""
        route = self.json_route
        assert route is not None  # only called when serves_json_directly
        t0 = time.perf_counter()
        rid = headers.get("x-request-id") or _new_request_id()
        self.lifecycle.enter()
        single = False

        def finish(response: Response | None, served: bool = True) -> None:
            """Answer; None: cut off at the drain deadline (as is ``served`` False)."""
            served = served and response is not None
            response = response if response is not None else _cut_off_response(rid)
            status = self._stamp(response, rid).status_code
            if not respond(response):
                status = ClientGone.status
            self._account("json", route.path, t0, status, served)

        def done(outs: list[Any] | None, exc: Exception | None) -> None:
            if finish not in self._direct:  # cut off already
                return
            self._direct.discard(finish)
            if exc is None:
                assert outs is not None
                try:
                    response = self._json_response(outs, single)
                except Exception as failed:  # the model's to_json: a 500, as on the ASGI path
                    exc = failed
                else:
                    finish(response)
                    return
            _name_item(exc, _item_field(route, single))
            finish(error_response(exc, rid), not isinstance(exc, DrainCutOff))

        token = request_id_var.set(rid)
        try:
            deadline = t0 + self._admit(headers)
            self.lifecycle.check_serving()
            try:
                items, single = self.parse_now(len(body), self._json_work, body, route)
            except ParseOffLoop:
                assert self._parse_pool is not None  # only signalled with a pool

                def parsed(future: Future[tuple[list[Any], bool]]) -> None:
                    """On the loop, once the parse pool has parsed the request."""
                    nonlocal single
                    if finish not in self._direct:  # cut off by the drain meanwhile
                        return
                    token = request_id_var.set(rid)
                    try:
                        items, single = future.result()
                        left = deadline - time.perf_counter()
                        self.batcher.submit_callback(items, max(left, 0.0), done)
                    except Exception as exc:
                        self._direct.discard(finish)
                        finish(error_response(exc, rid))
                    finally:
                        request_id_var.reset(token)

                future = self._parse_pool.submit(self._json_work, body, route)
                self._direct.add(finish)  # the drain answers it while it parses
                loop = asyncio.get_running_loop()
                future.add_done_callback(lambda f: _call_soon(loop, parsed, f))
                return
            self._direct.add(finish)
            self.batcher.submit_callback(items, max(deadline - time.perf_counter(), 0.0), done)
        except Exception as exc:
            self._direct.discard(finish)
            finish(error_response(exc, rid))
        finally:
            request_id_var.reset(token)

    def count_unread(self, path: str, status: int) -> None:
        """Count a JSON-route request whose body never arrived (direct path: nothing else of
        it ran): 499, its client left; 408, the read timed out. The ASGI path counts the
        same from ``read_body``."""
        self.lifecycle.enter()
        self._account("json", path, None, status, True)

    @property
    def http_limits(self) -> HttpLimits:
        s = self.settings
        return HttpLimits(
            max_connections=s.max_connections,
            max_url_bytes=s.max_url_bytes,
            max_header_bytes=s.max_header_bytes,
            max_headers=s.max_headers,
            read_timeout_s=s.read_timeout_s,
            idle_timeout_s=s.keep_alive_s,
        )

    def _body_limit(self, request: Request) -> int:
        """``MAX_BODY_BYTES``, after refusing (413) a body whose declared length is over it."""
        limit = self.settings.max_body_bytes
        declared = request_headers(request).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}", field="body")
        return limit

    async def read_body(self, request: Request) -> bytes:
        limit = self._body_limit(request)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body is over the limit of {limit} bytes", field="body")
                chunks.append(chunk)
        except ClientDisconnect:
            if request.scope.get(TIMED_OUT):
                raise RequestTimeout(
                    f"body not received within {self.settings.read_timeout_s:g} s",
                    field="body",
                ) from None
            raise ClientGone(
                f"client closed the connection after {size} bytes of its body", field="body"
            ) from None
        return b"".join(chunks)

    async def read_json(self, request: Request) -> Any:
        return self.decode_json(await self.read_body(request))

    decode_json = staticmethod(decode_json)

    def check_model(self, name: str, version: str | None = None) -> None:
        if name != self.name:
            raise ModelNotFound(
                f"unknown model {name!r}; this server has {self.name!r}", field="model"
            )
        if version is not None:
            versions = self.meta.versions if self.meta else []
            if version not in versions and version != self.settings.model_version:
                raise ModelNotFound(
                    f"model {name!r} has no version {version!r}; it has {versions}",
                    field="version",
                )

    def metadata(self) -> ModelMetadata:
        if self.meta is None:
            raise ModelNotReady(
                f"model {self.name!r} is {self.lifecycle.state.value}", field="model"
            )
        return self.meta

    async def infer_items(
        self, items: Sequence[Any], request: Request, item_field: Callable[[int], str]
    ) -> list[Any]:
        """Fault hooks, then the batcher, within the deadline :meth:`serve` set."""
        if self.faults.enabled:
            delay = self.faults.request_delay_s()
            if delay:
                await asyncio.sleep(delay)
            self.faults.maybe_error()
        left = request.scope[_DEADLINE] - time.perf_counter()
        try:
            return await self.batcher.submit(items, max(left, 0.0))
        except ModelServeError as exc:
            _name_item(exc, item_field)
            raise

    def check_count(self, n: int, field: str) -> None:
        if n == 0:
            raise BadInput("no items given", field=field)
        if n > self.settings.queue_capacity:
            raise PayloadTooLarge(
                f"{n} items in one request; at most {self.settings.queue_capacity}", field=field
            )

    # -- handlers --------------------------------------------------------------------------
    async def infer_v2(self, request: Request) -> Response:
        self.check_model(request.path_params["model"], request.path_params.get("version"))
        self.lifecycle.check_serving()
        meta = self.metadata()
        raw = await self.read_body(request)
        req, items = await self.parse(len(raw), self._v2_work, raw, meta.inputs)
        self.check_count(len(items), "inputs")
        outs = await self.infer_items(items, request, lambda i: f"inputs[0].data[{i}]")
        outputs = self.model.to_v2(outs)
        if req.outputs is not None:
            known = {o["name"] for o in outputs}
            unknown = [n for n in req.outputs if n not in known]
            if unknown:
                raise BadInput(
                    f"unknown outputs {unknown}; the model gives {sorted(known)}", field="outputs"
                )
            outputs = [o for o in outputs if o["name"] in req.outputs]
        return json_response(
            {
                "model_name": self.name,
                "model_version": self.settings.model_version or next(iter(meta.versions), ""),
                "id": req.id or request_id_var.get(),
                "outputs": outputs,
            }
        )

    async def infer_json(self, request: Request) -> Response:
        route = self.json_route
        assert route is not None  # only mounted with a route
        self.lifecycle.check_serving()
        ctype = request_headers(request).get("content-type", "")
        if route.multipart and ctype.startswith("multipart/form-data"):
            items, single = await self._multipart_items(request, route)
        else:
            raw = await self.read_body(request)
            items, single = await self.parse(len(raw), self._json_work, raw, route)
        outs = await self.infer_items(items, request, _item_field(route, single))
        return self._json_response(outs, single)

    def _json_response(self, outs: list[Any], single: bool) -> Response:
        if single:
            return json_response(self.model.to_json(outs[0]))
        return json_response({"results": [self.model.to_json(o) for o in outs]})

    def _json_work(self, raw: bytes, route: JsonRoute) -> tuple[list[Any], bool]:
        return self._json_items(decode_json(raw), route)

    def _v2_work(self, raw: bytes, specs: Sequence[TensorSpec]) -> tuple[InferRequest, list[Any]]:
        req = parse_infer_request(decode_json(raw), specs)
        return req, self.model.parse_v2(req.inputs)

    def _json_items(self, body: Any, route: JsonRoute) -> tuple[list[Any], bool]:
        if not isinstance(body, dict):
            kind = "null" if body is None else type(body).__name__
            raise BadInput(f"body must be a JSON object, got {kind}", field="body")
        parse = self.model.parse_json
        if route.many in body:
            if route.one is not None and route.one in body:
                raise BadInput(f"give {route.one!r} or {route.many!r}, not both", field=route.many)
            raw = body[route.many]
            if not isinstance(raw, list):
                raise BadInput(f"{route.many} must be a list", field=route.many)
            self.check_count(len(raw), route.many)
            if route.wrap is None:
                return [parse(x, f"{route.many}[{i}]") for i, x in enumerate(raw)], False
            # Bare elements ("texts": ["..."]): the model's parse_text when it has one, so an
            # error names the element itself; else wrapped as {wrap: element}.
            parse_bare = getattr(self.model, "parse_text", None)
            items = []
            for i, x in enumerate(raw):
                field = f"{route.many}[{i}]"
                if isinstance(x, dict):
                    items.append(parse(x, field))
                elif parse_bare is not None:
                    items.append(parse_bare(x, field))
                else:
                    items.append(parse({route.wrap: x}, field))
            return items, False
        if route.one is None:
            return [parse(body, "body")], True
        if route.one not in body:
            raise BadInput(f"expected {route.one!r} or {route.many!r}", field=route.one)
        return [parse(body[route.one], route.one)], True

    async def _multipart_items(self, request: Request, route: JsonRoute) -> tuple[list[Any], bool]:
        limit = self._body_limit(request)
        try:
            form = await request.form(max_files=self.settings.queue_capacity, max_part_size=limit)
        except ClientDisconnect:
            raise ClientGone("client closed the connection during its body", field="body") from None
        except Exception as exc:  # python-multipart and starlette raise several types
            raise BadInput(f"malformed multipart body: {exc}", field="body") from None
        try:
            files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
            self.check_count(len(files), route.many)
            parts = []
            for i, (key, upload) in enumerate(files):
                field = key if len(files) == 1 else f"{key}[{i}]"
                parts.append((await upload.read(), field))
            size = sum(len(data) for data, _ in parts)
            return await self.parse(size, self._parse_parts, parts), len(files) == 1
        finally:
            await form.close()

    def _parse_parts(self, parts: list[tuple[bytes, str]]) -> list[Any]:
        parse_bytes = getattr(self.model, "parse_bytes", None)
        if parse_bytes is not None:
            return [parse_bytes(data, field) for data, field in parts]
        # Models without a bytes parser take base64 text, as in JSON.
        return [self.model.parse_json(base64.b64encode(d).decode(), f) for d, f in parts]

    def parse_now(self, size: int, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` (a request of ``size`` bytes) on the event loop, or
        :class:`ParseOffLoop` when it is too costly for the loop (:mod:`~.parsing`)."""
        if self._parse_pool is None:
            return fn(*args)
        if size > self.settings.inline_parse_bytes:
            raise ParseOffLoop
        return parse_inline(self.settings.inline_parse_pixels, fn, *args)

    async def parse(self, size: int, fn: Callable[..., _T], *args: Any) -> _T:
        """:meth:`parse_now`, or on the parse pool when the loop may not: image decoding
        releases the GIL, so the loop keeps serving (liveness included) meanwhile."""
        try:
            return self.parse_now(size, fn, *args)
        except ParseOffLoop:
            pass
        assert self._parse_pool is not None  # only signalled with a pool
        return await asyncio.wrap_future(self._parse_pool.submit(fn, *args))

    # -- health and metadata ---------------------------------------------------------------
    async def live(self, request: Request) -> Response:
        busy = self.batcher.busy_since
        if busy is not None and time.monotonic() - busy > self.settings.stall_after_s:
            stuck = time.monotonic() - busy
            return json_response(
                {"live": False, "error": f"one forward pass has run {stuck:.1f} s"}, 503
            )
        return json_response({"live": True})

    def _ready_body(self) -> Response:
        lc = self.lifecycle
        if lc.ready:
            return json_response({"ready": True})
        body: dict[str, Any] = {"ready": False, "state": lc.state.value}
        if lc.error:
            body["error"] = lc.error
        return json_response(body, 503, {"Retry-After": "1"})

    async def ready(self, request: Request) -> Response:
        return self._ready_body()

    async def model_ready(self, request: Request) -> Response:
        try:
            self.check_model(request.path_params["model"], request.path_params.get("version"))
        except ModelServeError as exc:
            return error_response(exc)
        return self._ready_body()

    async def server_meta(self, request: Request) -> Response:
        return json_response({"name": "modelserve", "version": __version__, "extensions": []})

    async def model_meta(self, request: Request) -> Response:
        try:
            self.check_model(request.path_params["model"], request.path_params.get("version"))
            meta = self.metadata()
        except ModelServeError as exc:
            return error_response(exc)
        body = asdict(meta)
        body["state"] = self.lifecycle.state.value
        return json_response(body)

    async def metrics_route(self, request: Request) -> Response:
        self.metrics.set_pending(self.batcher.pending)
        content, ctype = self.metrics.render()
        return Response(content, media_type=ctype)

    # -- admin (fault hooks) -----------------------------------------------------------
    async def admin_faults(self, request: Request) -> Response:
        try:
            given = request.headers.get("x-admin-token", "")
            if not hmac.compare_digest(given.encode(), self.settings.admin_token.encode()):
                raise AdminDenied("missing or wrong x-admin-token", field="x-admin-token")
            if request.method == "POST":
                spec = self.faults.set(await self.read_json(request))
                _log.warning("faults set", extra={"faults": asdict(spec)})
                if spec.crash:
                    self.metrics.fault_fired("crash")
                    _log.error("crash fault: exiting with code 3")
                    asyncio.get_running_loop().call_later(0.05, _crash)
            elif request.method == "DELETE":
                name = request.path_params.get("name")
                self.faults.clear(name)
                _log.warning("faults removed", extra={"fault": name or "all"})
            return json_response(self.faults.describe())
        except ModelServeError as exc:
            return error_response(exc)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: the replica has stopped
        loop.call_soon_threadsafe(fn, *args)


def _crash() -> None:
    flush_logs()
    os._exit(3)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {"error": exc.detail, "type": "HTTPError", "field": "path"}
    return json_response(body, exc.status_code)


class _ServerApp(Starlette):
    """Starlette, with inference requests dispatched ahead of its middleware and router.

    Those layers (two error middlewares, route matching over every route, the per-route
    wrapper) cost tens of microseconds a request, measurable against a model that runs in
    half a millisecond (``msai bench serve``). They add nothing to an inference handler:
    :meth:`ModelServer.serve` already turns every exception into a response. A ``POST`` that
    one of the ``inference`` routes matches (by that route's own pattern) goes straight to
    that route's endpoint; everything else (health, metadata, metrics, admin, a wrong method
    or an unknown path) goes through Starlette, which holds the same routes, so the answers
    are the same either way.
    """

    def __init__(self, inference: Sequence[Route], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._inference = tuple(inference)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route in self._inference:
                match = route.path_regex.match(path)
                if match is not None:
                    scope["app"] = self
                    scope["path_params"] = match.groupdict()
                    response = await route.endpoint(Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_app(
    model: Model[Any, Any],
    settings: ServerSettings,
    json_route: JsonRoute | None = None,
    on_fatal: Callable[[str], None] | None = None,
) -> Starlette:
    """A Starlette app serving ``model``; ``app.state.server`` is the :class:`ModelServer`.

    The model loads in a thread after start-up (readiness says ``loading`` meanwhile).
    ``on_fatal`` is called with the reason when loading fails (``msai serve`` exits 1).
    """
    server = ModelServer(model, settings, json_route, on_fatal)

    def wrap(route: str, handler: Callable[[Request], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            return await server.serve(request, route, handler)

        return endpoint

    infer = Route("/v2/models/{model}/infer", wrap("v2", server.infer_v2), methods=["POST"])
    infer_version = Route(
        "/v2/models/{model}/versions/{version}/infer",
        wrap("v2", server.infer_v2),
        methods=["POST"],
    )
    inference = [infer, infer_version]
    routes = [
        Route("/v2/health/live", server.live, methods=["GET"]),
        Route("/v2/health/ready", server.ready, methods=["GET"]),
        Route("/v2", server.server_meta, methods=["GET"]),
        Route("/v2/models/{model}", server.model_meta, methods=["GET"]),
        Route("/v2/models/{model}/ready", server.model_ready, methods=["GET"]),
        infer,
        Route("/v2/models/{model}/versions/{version}", server.model_meta, methods=["GET"]),
        Route("/v2/models/{model}/versions/{version}/ready", server.model_ready, methods=["GET"]),
        infer_version,
        Route("/metrics", server.metrics_route, methods=["GET"]),
    ]
    if json_route is not None:
        inference.append(Route(json_route.path, wrap("json", server.infer_json), methods=["POST"]))
        routes.append(inference[-1])
    if settings.fault_hooks:
        methods = ["GET", "POST", "DELETE"]
        routes.append(Route("/admin/faults", server.admin_faults, methods=methods))
        routes.append(Route("/admin/faults/{name}", server.admin_faults, methods=["DELETE"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.start_loading()
        try:
            yield
        finally:
            await server.shutdown()

    app = _ServerApp(
        inference, routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.server = server
    app.state.lifecycle = server.lifecycle
    app.state.settings = settings
    return app
