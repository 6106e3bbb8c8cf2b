"""Fixtures of the orchestrator tests: real Redis and PostgreSQL processes, the test step
service (``modelserve.orchestrator.testing``), and orchestrator replicas in a thread or as
processes of their own (``python -m modelserve.orchestrator``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
import pytest
import redis
import uvicorn
from modelserve.orchestrator.api import create_app
from modelserve.orchestrator.calls import BuiltinFn
from modelserve.orchestrator.settings import OrchestratorSettings, load_orchestrator_settings
from modelserve.orchestrator.spec import Pipeline, parse_pipeline
from modelserve.orchestrator.testing import StepServiceThread

from harness.ports import free_port
from harness.scratch_stores import ScratchPostgres, ScratchRedis

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchRedis]:
    with ScratchRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server
    assert server.proc is None


@pytest.fixture
def redis_url(redis_server: ScratchRedis) -> str:
    """A clean Redis for each test (the server is shared by the module)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()  # a test stopped it
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="module")
def postgres() -> Iterator[ScratchPostgres]:
    with ScratchPostgres() as server:
        yield server


@pytest.fixture
def steps() -> Iterator[StepServiceThread]:
    with StepServiceThread(free_port()) as service:
        yield service


def pipeline(doc: str) -> Pipeline:
    return parse_pipeline(__import__("yaml").safe_load(textwrap.dedent(doc)), "test.yaml")


class OrchestratorThread:
    """One replica in a thread of the test process (fast; shares the test's event loops)."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        pipelines: dict[str, Pipeline],
        builtins: dict[str, BuiltinFn] | None = None,
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, pipelines=pipelines, builtins=builtins or {})
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def orch(self) -> Any:
        return self.app.state.orch

    def __enter__(self) -> OrchestratorThread:
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("orchestrator thread did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "orchestrator thread did not stop"


def settings_for(redis_url: str, services: dict[str, str], **kw: Any) -> OrchestratorSettings:
    kw.setdefault("drain_deadline_s", 5.0)  # a test's leftover run must not hold the exit
    return load_orchestrator_settings(
        port=free_port(), redis_url=redis_url, services=services, **kw
    )


class OrchestratorProcess:
    """One replica as a process of its own (``python -m modelserve.orchestrator``), so a test
    can SIGKILL or SIGTERM it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "MSAI_ORCH_PORT": str(self.port)}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OrchestratorProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelserve.orchestrator", "--port", str(self.port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"orchestrator exited {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"orchestrator not ready: {self.log.read_text()[-2000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None:
            assert (
                not psutil.pid_exists(self.proc.pid)
                or psutil.Process(self.proc.pid).status() == psutil.STATUS_ZOMBIE
            )

    def __enter__(self) -> OrchestratorProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()  # a replica that never got ready is not left running
            raise

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
