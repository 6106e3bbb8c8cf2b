"""``msai serve KIND --port N``: one model-server replica in the foreground (uvicorn).

Kinds come from :data:`SERVERS` (``name -> (module, factory)``); the orchestrator adds
itself with one entry. A factory takes ``on_fatal`` (called with the reason when the replica
cannot go on, e.g. the model failed to load) and returns an ASGI app whose ``state`` holds
``lifecycle`` (with ``begin_drain() -> bool``) and ``settings`` (with ``drain_delay_s``,
``drain_deadline_s``, ``log_level``).

Signals: the first SIGTERM (or SIGINT) turns readiness false at once and keeps serving for
``drain_delay_s`` so load balancers notice; then the listener closes and in-flight requests
get until ``drain_deadline_s`` (counted from the signal) to finish; the replica logs the
drained and dropped counts and exits 0. A second signal skips the delay; a second SIGINT
forces exit. A model that fails to load exits 1.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

__all__ = ["SERVERS", "serve", "uvicorn_config"]

SERVERS: dict[str, tuple[str, str]] = {
    "ner": ("modelserve.ner.app", "create_app"),
    "vision": ("modelserve.vision.app", "create_app"),
    "fake": ("modelserve.common.testing", "create_fake_app"),
    "orchestrator": ("modelserve.orchestrator.api", "create_serve_app"),
}


def uvicorn_config(app: Any, *, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """The ``uvicorn.Config`` a replica of ``app`` runs under (tests start servers with it).

    ``app.state`` holds ``settings`` and, for the model servers, ``server`` (a
    ``ModelServer``), whose JSON route is then answered from the protocol (``modelserve.direct``).
    """
    import uvicorn

    from modelserve.direct import direct_protocol
    from modelserve.limits import HttpLimits, limited_protocol

    settings = app.state.settings
    model_server = getattr(app.state, "server", None)
    if model_server is not None:
        protocol, limits = direct_protocol(model_server), model_server.http_limits
    else:
        limits = HttpLimits()
        protocol = limited_protocol(limits)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=limits.idle_timeout_s,  # uvicorn passes it to call_later: a float works
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="on",
        access_log=False,  # the app logs one JSON line per request itself
        log_config=None,
        proxy_headers=False,  # nothing here reads the client address; saves work per request
        server_header=False,
        # The drain deadline counts from the signal; the delay has used part of it.
        timeout_graceful_shutdown=max(1, int(settings.drain_deadline_s - settings.drain_delay_s)),
    )


def _replica_server(config: Any, lifecycle: Any, drain_delay_s: float) -> Any:
    import uvicorn

    class Replica(uvicorn.Server):
        """uvicorn.Server whose signal handling drains first (and re-raises nothing)."""

        exit_code = 0
        _timer: threading.Timer | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self._timer is not None or self.should_exit:  # a second signal
                self.should_exit = True
                if sig == signal.SIGINT:
                    self.force_exit = True
                return
            lifecycle.begin_drain()
            self._timer = threading.Timer(drain_delay_s, self._stop_accepting)
            self._timer.daemon = True
            self._timer.start()

        def _stop_accepting(self) -> None:
            self.should_exit = True

        def fatal(self, reason: str) -> None:
            self.exit_code = 1
            self.should_exit = True

    return Replica(config)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("kind", type=click.Choice(sorted(SERVERS)), metavar="KIND")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
def serve(kind: str, port: int, host: str) -> int:
    """Run one replica of KIND (ner, vision or orchestrator) in the foreground until SIGTERM
    (then drain and exit 0; a replica that cannot start exits 1).

    Settings come from environment variables with the kind's prefix (MSAI_NER_,
    MSAI_VISION_, MSAI_FAKE_): MAX_BATCH_SIZE, MAX_QUEUE_DELAY_MS, QUEUE_CAPACITY,
    DEFAULT_DEADLINE_MS, DRAIN_DELAY_S, DRAIN_DEADLINE_S, FAULT_HOOKS, ADMIN_TOKEN, ...
    """
    from modelserve.common.lifecycle import abandoned_threads
    from modelserve.common.logging import configure_logging, flush_logs

    module, attr = SERVERS[kind]
    factory = getattr(importlib.import_module(module), attr)
    holder: dict[str, Any] = {}

    def on_fatal(reason: str) -> None:
        server = holder.get("server")
        if server is not None:
            server.fatal(reason)

    app = factory(on_fatal=on_fatal)
    settings = app.state.settings
    configure_logging(settings.log_level)
    # Python's default (700 net allocations) ran the young-generation collector ~900 times in
    # a 15 s vision saturation run, 0.47 s of CPU (~20 us a request); at 10,000 it ran 9
    # times, 0.025 s. A request's objects die by reference count, not by the collector.
    gc.set_threshold(10_000, 10, 10)
    config = uvicorn_config(app, host=host, port=port)
    server = _replica_server(config, app.state.lifecycle, settings.drain_delay_s)
    holder["server"] = server
    server.run()
    if not server.started and server.exit_code == 0:
        server.exit_code = 1  # could not bind, or start-up failed (uvicorn logged why)
    if abandoned_threads():
        # A forward pass still runs in native code: the interpreter's finalisation and the
        # library's static destructors would run under it (ONNX Runtime aborts the process).
        # Every request has its answer and the logs are written, so leave at once.
        flush_logs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(server.exit_code)
    sys.exit(server.exit_code)
