"""``msai serve`` as a real process: SIGTERM drain, exit codes, TCP_NODELAY."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from modelserve.common.testing import http_ready, start_replica, wait_until

from harness.ports import free_port


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert all(p.poll() is not None for p in started)  # no orphans


def _log_events(path: Path) -> list[dict]:
    events = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return events


def _pending(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("modelserve_pending_requests{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sigterm_drains_in_flight_work_and_exits_0(tmp_path: Path, procs: list) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "replica.log"
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "600",
        "MSAI_FAKE_DRAIN_DELAY_S": "3",
        "MSAI_FAKE_DRAIN_DEADLINE_S": "6",
        "MSAI_FAKE_MAX_BATCH_SIZE": "2",
    }
    proc = start_replica("fake", port, env, str(log))
    procs.append(proc)
    wait_until(lambda: http_ready(base), timeout=20)

    codes: list[int] = []

    def call(text: str) -> None:
        with httpx.Client(timeout=10) as c:
            codes.append(c.post(f"{base}/v1/echo", json={"text": text}).status_code)

    workers = [threading.Thread(target=call, args=(f"t{i}",)) for i in range(6)]
    for w in workers:
        w.start()
    # In flight when the signal comes (any of the six still unsent is sent during the delay).
    wait_until(lambda: _pending(base) >= 4, timeout=10)
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    wait_until(lambda: httpx.get(f"{base}/v2/health/ready").status_code == 503, timeout=2)
    assert time.monotonic() - t0 < 2  # readiness false at once (well inside the 3 s delay)
    state = httpx.get(f"{base}/v2/health/ready").json()
    assert state == {"ready": False, "state": "draining"}
    # Still serving during the drain delay (endpoints may not have updated yet).
    late = httpx.post(f"{base}/v1/echo", json={"text": "late"}, timeout=10)
    assert late.status_code == 200
    assert late.headers["connection"] == "close"
    for w in workers:
        w.join(10)
    assert codes == [200] * 6
    assert proc.wait(15) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/v2/health/live", timeout=1)
    stopped = [e for e in _log_events(log) if e.get("msg") == "stopped"]
    assert stopped, log.read_text()[-2000:]
    assert stopped[-1]["drained"] >= 7
    assert stopped[-1]["dropped"] == 0


def test_work_past_the_drain_deadline_is_dropped_and_counted(tmp_path: Path, procs: list) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "replica.log"
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "5000",
        "MSAI_FAKE_DRAIN_DELAY_S": "0",
        "MSAI_FAKE_DRAIN_DEADLINE_S": "1",
    }
    proc = start_replica("fake", port, env, str(log))
    procs.append(proc)
    wait_until(lambda: http_ready(base), timeout=20)
    answers: list[httpx.Response] = []

    def call() -> None:
        answers.append(httpx.post(f"{base}/v1/echo", json={"text": "slow"}, timeout=10))

    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: _pending(base) >= 1, timeout=10)  # the request is in the forward pass
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    t.join(10)
    # The client is told, retryably, that its request was cut off.
    assert [a.status_code for a in answers] == [503]
    assert answers[0].json()["reason"] == "draining"
    assert answers[0].headers["retry-after"] == "1"
    assert "Traceback" not in log.read_text()
    stopped = [e for e in _log_events(log) if e.get("msg") == "stopped"]
    assert stopped[-1]["dropped"] == 1


def _drain_under_load(
    kind: str, env: dict[str, str], body: dict, n: int, log: Path, pending: int
) -> tuple[int, list[int], float]:
    """Start ``kind``, send ``n`` requests, SIGTERM once ``pending`` items wait; return the
    exit code, the answers' statuses (0: not connected; 503: cut off by the drain deadline,
    1503: another 503), and seconds from the signal to the exit."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_replica(kind, port, env, str(log))
    try:
        wait_until(lambda: http_ready(base) or proc.poll() is not None, timeout=90)
        if proc.poll() is not None:
            pytest.skip(f"{kind} did not start (model not built?): {log.read_text()[-300:]}")
        route = {"fake": "/v1/echo", "ner": "/v1/ner"}[kind]
        codes: list[int] = []

        def call() -> None:
            with httpx.Client(timeout=60) as c:
                try:
                    r = c.post(f"{base}{route}", json=body)
                except httpx.TransportError:  # sent after the listener closed
                    codes.append(0)
                    return
                # A drain cut-off as 503, any other 503 (a refusal while stopping) as 1503.
                cut = r.status_code == 503 and r.json().get("type") == "DrainCutOff"
                codes.append(r.status_code if cut or r.status_code != 503 else 1503)

        callers = [threading.Thread(target=call) for _ in range(n)]
        for c in callers:
            c.start()
        wait_until(lambda: _pending(base) >= pending, timeout=30)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        rc = proc.wait(30)
        took = time.monotonic() - t0
        for c in callers:
            c.join(30)
        return rc, codes, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _stopped(log: Path) -> dict:
    stopped = [e for e in _log_events(log) if e.get("msg") == "stopped"]
    assert stopped, log.read_text()[-2000:]
    return stopped[-1]


def test_the_drain_deadline_interrupts_the_pass_and_counts_every_cut_off(tmp_path: Path) -> None:
    log = tmp_path / "replica.log"
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "3000",
        "MSAI_FAKE_MAX_BATCH_SIZE": "2",
        "MSAI_FAKE_DEFAULT_DEADLINE_MS": "60000",
        "MSAI_FAKE_DRAIN_DELAY_S": "0",
        "MSAI_FAKE_DRAIN_DEADLINE_S": "1",
    }
    rc, codes, took = _drain_under_load("fake", env, {"text": "slow"}, 10, log, pending=10)
    assert rc == 0
    assert took < 3  # the 3 s pass was interrupted, not waited out
    assert sorted(codes) == [503] * 10  # two in the pass, eight queued
    assert _stopped(log)["dropped"] == 10
    assert _stopped(log)["drained"] == 0
    text = log.read_text()
    assert "forward pass interrupted" in text
    assert "retrying items singly" not in text


def test_a_pass_that_cannot_stop_is_abandoned_and_the_replica_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "replica.log"
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "8000",
        "MSAI_FAKE_INTERRUPTIBLE": "0",
        "MSAI_FAKE_DRAIN_DELAY_S": "0",
        "MSAI_FAKE_DRAIN_DEADLINE_S": "1",
        "MSAI_FAKE_INTERRUPT_GRACE_S": "0.5",
    }
    rc, codes, took = _drain_under_load("fake", env, {"text": "stuck"}, 3, log, pending=3)
    assert rc == 0
    assert took < 6
    assert sorted(codes) == [503] * 3
    assert _stopped(log) == {**_stopped(log), "drained": 0, "dropped": 3}
    assert "thread abandoned at the drain deadline" in log.read_text()


def test_ner_drain_cutting_off_an_onnx_pass_exits_0(tmp_path: Path) -> None:
    # ONNX Runtime aborted the process (SIGABRT) when the interpreter finalised around a
    # pass still running at the deadline; the pass is now interrupted first.
    log = tmp_path / "replica.log"
    env = {
        "MSAI_NER_MAX_BATCH_SIZE": "64",
        "MSAI_NER_DEFAULT_DEADLINE_MS": "60000",
        "MSAI_NER_DRAIN_DELAY_S": "0",
        "MSAI_NER_DRAIN_DEADLINE_S": "1",
    }
    text = ("Angela Merkel met Tim Cook of Apple in Paris on Tuesday. " * 30)[:1500]
    rc, codes, _ = _drain_under_load("ner", env, {"text": text}, 40, log, pending=30)
    assert rc == 0, log.read_text()[-2000:]
    assert "terminate called" not in log.read_text()
    assert "forward pass interrupted" in log.read_text()  # the case this test is for
    assert _stopped(log)["dropped"] == codes.count(503)
    assert codes.count(503) > 0


def test_failed_model_load_exits_1(tmp_path: Path, procs: list) -> None:
    proc = start_replica("fake", free_port(), {"MSAI_FAKE_FAIL_LOAD": "1"}, str(tmp_path / "log"))
    procs.append(proc)
    assert proc.wait(20) == 1
    assert "model load failed" in (tmp_path / "log").read_text()


def test_bad_setting_names_the_variable(tmp_path: Path, procs: list) -> None:
    proc = start_replica(
        "fake", free_port(), {"MSAI_FAKE_MAX_BATCH_SIZE": "lots"}, str(tmp_path / "log")
    )
    procs.append(proc)
    assert proc.wait(20) != 0
    assert "MSAI_FAKE_MAX_BATCH_SIZE" in (tmp_path / "log").read_text()


def test_crash_fault_kills_the_process(tmp_path: Path, procs: list) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MSAI_FAKE_FAULT_HOOKS": "1", "MSAI_FAKE_ADMIN_TOKEN": "t"}
    proc = start_replica("fake", port, env, str(tmp_path / "log"))
    procs.append(proc)
    wait_until(lambda: http_ready(base), timeout=20)
    r = httpx.post(f"{base}/admin/faults", json={"crash": True}, headers={"x-admin-token": "t"})
    assert r.status_code == 200
    assert proc.wait(10) == 3


def test_accepted_sockets_have_tcp_nodelay() -> None:
    import asyncio

    import uvicorn
    from modelserve.common.server_settings import ServerSettings
    from modelserve.common.testing import FakeSettings, create_fake_app
    from modelserve.transport import CoalescingTransport, NoDelayHttpProtocol

    port = free_port()
    app = create_fake_app(ServerSettings(drain_delay_s=0, drain_deadline_s=1), FakeSettings())
    config = uvicorn.Config(
        app, port=port, http=NoDelayHttpProtocol, loop="uvloop", log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    flags: list[int] = []
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: http_ready(f"http://127.0.0.1:{port}"), timeout=10)
        with httpx.Client() as c:
            assert c.get(f"http://127.0.0.1:{port}/v2/health/live").status_code == 200
            for conn in list(server.server_state.connections):
                assert isinstance(conn.transport, CoalescingTransport)  # type: ignore[attr-defined]
                sock = conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]
                flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        server.should_exit = True
        thread.join(10)
    assert flags
    assert all(flags)
    assert not thread.is_alive()


def test_keep_alive_round_trips_are_not_held_by_nagle(procs: list) -> None:
    # Nagle + delayed ACK shows as ~40 ms per request on a kept-alive connection.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "0",
        "MSAI_FAKE_ITEM_COST_MS": "0",
        "MSAI_FAKE_MAX_QUEUE_DELAY_MS": "0",
    }
    procs.append(start_replica("fake", port, env))
    wait_until(lambda: http_ready(base), timeout=20)
    times = []
    with httpx.Client() as c:
        for _ in range(40):
            t0 = time.perf_counter()
            assert c.post(f"{base}/v1/echo", json={"text": "x" * 900}).status_code == 200
            times.append(time.perf_counter() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.035, times  # Nagle: >= 40 ms


def test_sigterm_while_loading_exits_0_and_never_serves(tmp_path: Path, procs: list) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MSAI_FAKE_LOAD_S": "3", "MSAI_FAKE_DRAIN_DELAY_S": "0.5"}
    proc = start_replica("fake", port, env, str(tmp_path / "log"))
    procs.append(proc)

    def up() -> bool:
        try:
            return httpx.get(f"{base}/v2/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=20)
    assert httpx.get(f"{base}/v2/health/ready").json()["state"] == "loading"
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: httpx.get(f"{base}/v2/health/ready").json()["state"] == "draining")
    r = httpx.post(f"{base}/v1/echo", json={"text": "early"})
    assert r.status_code == 503
    assert "not loaded" in r.json()["error"]
    assert proc.wait(15) == 0


def test_port_in_use_exits_nonzero_naming_the_port(tmp_path: Path, procs: list) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start_replica("fake", port, {}, str(tmp_path / "log"))
        procs.append(proc)
        assert proc.wait(20) != 0
    text = (tmp_path / "log").read_text()
    assert str(port) in text
    assert "address already in use" in text.lower()


_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _envoy_config(listen: int, upstream: int) -> dict:
    def address(port: int) -> dict:
        return {"socket_address": {"address": "127.0.0.1", "port_value": port}}

    route = {"match": {"prefix": "/"}, "route": {"cluster": "replica"}}
    manager = {
        "@type": _HCM + "HttpConnectionManager",
        "stat_prefix": "t",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "address": address(listen),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "replica",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "replica",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": address(upstream)}}]}
                        ],
                    },
                }
            ],
        }
    }


def test_round_trips_through_envoy_are_not_held_by_nagle(tmp_path: Path, procs: list) -> None:
    # FIELD-NOTES: a Python upstream without TCP_NODELAY showed 44 ms p50 through Envoy.
    from harness.binaries import find
    from harness.errors import MissingBinary

    try:
        envoy = find("envoy")
    except MissingBinary as exc:
        pytest.skip(str(exc))
    upstream, listen = free_port(), free_port()
    env = {
        "MSAI_FAKE_BATCH_COST_MS": "0",
        "MSAI_FAKE_ITEM_COST_MS": "0",
        "MSAI_FAKE_MAX_QUEUE_DELAY_MS": "0",
        "MSAI_FAKE_ACCESS_LOG": "0",
    }
    procs.append(start_replica("fake", upstream, env))
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(_envoy_config(listen, upstream)))
    log = (tmp_path / "envoy.log").open("wb")
    procs.append(
        subprocess.Popen(
            [envoy, "-c", str(config), "--base-id", str(listen), "-l", "error"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    )
    log.close()
    base = f"http://127.0.0.1:{listen}"
    wait_until(lambda: http_ready(base), timeout=30)
    times = []
    with httpx.Client() as c:
        for _ in range(40):
            t0 = time.perf_counter()
            assert c.post(f"{base}/v1/echo", json={"text": "y" * 900}).status_code == 200
            times.append(time.perf_counter() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.035, times  # Nagle: >= 40 ms
