"""The generator's lean HTTP client and its request timeout, against the real echo server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from loadtests.arrivals import build_schedule
from loadtests.client import HostPool, raw_request
from loadtests.routes import build_targets
from loadtests.runner import run_load
from loadtests.settings import load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import echo_server


def _in_hub(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread with its own gevent hub, as the generator does (no patching)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_raw_request_bytes() -> None:
    raw = raw_request("POST", "/v1/ner", "127.0.0.1", 80, {"content-type": "x/y"}, b"{}")
    assert raw == (
        b"POST /v1/ner HTTP/1.1\r\nHost: 127.0.0.1:80\r\ncontent-type: x/y\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )


def test_keep_alive_reuse_and_stale_connection_retry() -> None:
    with echo_server() as srv:
        raw = raw_request("POST", "/v1/ner", "127.0.0.1", srv.port, {}, b'{"text":"a"}')

        def scenario() -> tuple[list[int], int, int]:
            pool = HostPool("127.0.0.1", srv.port, max_connections=4, connect_timeout_s=2)
            codes = [pool.call(raw) for _ in range(5)]
            reused = pool.opened
            srv.configure(close_connections=True)  # the pooled connection is now stale
            codes.append(pool.call(raw))
            pool.close()
            return codes, reused, pool.opened

        codes, reused, opened = _in_hub(scenario)
        assert codes == [200] * 6
        assert reused == 1  # five requests, one connection
        assert opened == 2  # the stale one was replaced and the request sent again
        assert srv.requests_seen() == 6

        def idle_eviction() -> int:
            pool = HostPool(
                "127.0.0.1", srv.port, max_connections=4, connect_timeout_s=2, idle_s=0.0
            )
            for _ in range(3):
                pool.call(raw)
            pool.close()
            return pool.opened

        assert _in_hub(idle_eviction) == 3


def test_requests_past_the_timeout_are_ended_and_counted() -> None:
    with echo_server(latency_ms=3000) as srv:
        sched = build_schedule(ConstantRate(20, 1), {"ner": 1}, seed=1)
        settings = load_settings_from_env(timeout_s=0.5, start_delay_s=0.2, grace_s=0.1)
        started = time.monotonic()
        result = run_load(
            sched, build_targets(["ner"], {}, url=srv.url), settings=settings, progress=False
        )
        took = time.monotonic() - started
    s = result.summary()
    assert s.errors == {"timeout": len(sched)}
    assert s.completed == 0
    assert took < 2.8, f"the run waited {took:.1f} s for answers due after 0.5 s"


def test_requests_beyond_max_in_flight_are_counted_not_hidden() -> None:
    with echo_server(latency_ms=1500) as srv:
        sched = build_schedule(ConstantRate(100, 1), {"ner": 1}, seed=1)
        settings = load_settings_from_env(max_in_flight=5, start_delay_s=0.2, grace_s=0.1)
        result = run_load(
            sched, build_targets(["ner"], {}, url=srv.url), settings=settings, progress=False
        )
    s = result.summary()
    assert s.completed == 5  # the first five; nothing more could go out while they waited
    assert s.errors == {"generator_overload": len(sched) - 5}
    assert s.sent == 5
