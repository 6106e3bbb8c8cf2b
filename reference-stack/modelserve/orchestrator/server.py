"""Run one orchestrator replica in the foreground (``msai serve orchestrator --port N``).

SIGTERM / SIGINT: readiness goes false at once; requests are still served for the drain
delay (so load balancers move away); then the server stops accepting, lets in-flight HTTP
requests finish, gives asynchronous runs until the drain deadline, and exits 0. Runs that
are still going at the deadline keep their state in Redis and another replica resumes them
once their lease expires. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType
from typing import Any

import uvicorn

from modelserve.common.logging import configure_logging
from modelserve.orchestrator.api import OrchestratorApp, create_app
from modelserve.orchestrator.settings import OrchestratorSettings, load_orchestrator_settings

__all__ = ["DrainingServer", "main", "serve"]


class DrainingServer(uvicorn.Server):
    """uvicorn with the drain sequence above instead of an immediate stop."""

    def __init__(self, config: uvicorn.Config, orch: OrchestratorApp, delay_s: float) -> None:
        super().__init__(config)
        self.orch = orch
        self.delay_s = delay_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signalled = False

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: uvicorn would re-raise it and exit by signal.
        if self._signalled or self._loop is None:
            self.should_exit = True
            self.force_exit = self._signalled
            return
        self._signalled = True
        loop = self._loop
        loop.call_soon_threadsafe(self.orch.begin_drain)
        loop.call_soon_threadsafe(loop.call_later, self.delay_s, self._stop)

    def _stop(self) -> None:
        self.should_exit = True


def serve(settings: OrchestratorSettings, *, log_level: str = "info") -> int:
    """Serve until a signal; returns the exit status (0 after a drain)."""
    configure_logging(log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_deadline_s)),
        lifespan="on",
    )
    server = DrainingServer(config, app.state.orch, settings.drain_delay_s)
    server.run()
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m modelserve.orchestrator --port N`` (what ``msai serve orchestrator`` runs)."""
    import argparse

    parser = argparse.ArgumentParser(prog="modelserve.orchestrator", description=__doc__)
    parser.add_argument("--port", type=int, help="HTTP port (MSAI_ORCH_PORT)")
    parser.add_argument("--host", help="bind address (MSAI_ORCH_HOST)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("port", args.port), ("host", args.host)) if v is not None}
    settings = load_orchestrator_settings(**overrides)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return serve(settings, log_level=args.log_level)
