"""The local stack is locked down: its control API wants the token only its owner can read,
every socket it listens on is bound to loopback, and Alertmanager pages and tickets by
severity, inhibits what a bigger alert explains, and delivers to the right receiver.

One stack (minimal profile, stand-in replicas) for the module; teardown brings it down.
"""

from __future__ import annotations

import json
import socket
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import loopback
from harness.platform.base import StackSpec
from harness.platform.local import LocalPlatform
from harness.platform.local.control_token import read_token, token_path

pytestmark = pytest.mark.slow

FAKE = "{python} -m harness.platform.local.fakereplica {service} --port {port}"
LOOPBACK_IPS = {"127.0.0.1", "::1"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    home = tmp_path_factory.mktemp("msai") / "local"
    models = tmp_path_factory.mktemp("models")
    (models / "ner").mkdir()
    (models / "ner" / "config.json").write_text('{"fake": true}')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MSAI_LOCAL_REPLICA_COMMAND", FAKE)
        mp.setenv("MSAI_MODELS_DIR", str(models))
        mp.setenv("MSAI_HOME", str(home.parent))
        p = LocalPlatform(home, tied=True)
        try:
            p.up(StackSpec(profile="minimal"))
            yield p
        finally:
            p.down()


def _call(
    url: str, *, token: str | None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with loopback.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        with exc:
            raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"text": raw.decode(errors="replace")}


def _wait(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------------ control token
def test_the_token_file_is_the_owners_alone(stack: LocalPlatform) -> None:
    mode = stat.S_IMODE(token_path(stack.home).stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(read_token(stack.home)) >= 32


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/state", None),
        ("/metrics", None),
        ("/alerts", None),
        ("/kill", {"service": "ner", "count": 1}),
        ("/shutdown", {}),
        ("/webhook/pager", {"version": "4", "status": "firing", "alerts": []}),
    ],
)
def test_the_control_api_refuses_requests_without_the_token(
    stack: LocalPlatform, path: str, body: dict[str, Any] | None
) -> None:
    base = f"http://127.0.0.1:{stack.state()['ports']['control']}"
    for token in (None, "wrong", read_token(stack.home)[:-1]):
        status, answer = _call(base + path, token=token, body=body)
        assert status == 401, (path, token, answer)
        assert "bearer token" in answer["error"]
        assert answer["type"] == "PlatformError"
    # Nothing refused was done: the stack still runs with every replica.
    assert stack.state()["phase"] == "ready"
    status, _ = _call(base + "/state", token=read_token(stack.home))
    assert status == 200


def test_prometheus_scrapes_the_controller_with_the_token(stack: LocalPlatform) -> None:
    def platform_up() -> bool:
        status, answer = _call(
            f"{stack.prometheus_url}/api/v1/query?query=up%7Bjob%3D%22platform%22%7D", token=None
        )
        result = answer.get("data", {}).get("result", [])
        return status == 200 and bool(result) and result[0]["value"][1] == "1"

    _wait("Prometheus scraping the controller's /metrics", platform_up)


# ------------------------------------------------------------------------ listeners
def _stack_processes(p: LocalPlatform) -> list[psutil.Process]:
    procs: dict[int, psutil.Process] = {}
    for entry in p.ledger.entries():
        try:
            proc = psutil.Process(entry.pid)
            procs[proc.pid] = proc
            for child in proc.children(recursive=True):
                procs[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return list(procs.values())


def test_every_listener_of_the_stack_is_on_loopback(stack: LocalPlatform) -> None:
    listening: list[tuple[str, str, int]] = []
    for proc in _stack_processes(stack):
        try:
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.NoSuchProcess:
            continue
        for c in conns:
            # TCP in LISTEN, and every bound UDP socket (UDP has no LISTEN state).
            udp = c.type == socket.SOCK_DGRAM
            if (c.status == psutil.CONN_LISTEN or (udp and not c.raddr)) and c.laddr:
                listening.append((name, c.laddr.ip, c.laddr.port))
    exposed = [entry for entry in listening if entry[1] not in LOOPBACK_IPS]
    assert not exposed, f"listening beyond loopback: {exposed}"
    # The check saw the stack: every port the controller allocated is among the listeners.
    ports = {port for _, _, port in listening}
    state = stack.state()
    wanted = {
        v for k, v in state["ports"].items() if isinstance(v, int) and v and k != "control"
    } | {state["ports"]["control"]}
    assert wanted <= ports, f"ports not seen listening: {sorted(wanted - ports)}"


# ------------------------------------------------------------------------ paging
def _post_alerts(p: LocalPlatform, *labels: dict[str, str]) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    alerts = [
        {"labels": lab, "annotations": {"summary": "test"}, "startsAt": now} for lab in labels
    ]
    req = urllib.request.Request(
        f"{p.alertmanager_url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
    )
    with loopback.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _receivers(p: LocalPlatform, since: float, name: str, service: str) -> set[str]:
    return {
        a["receiver"]
        for a in p.alerts(since)
        if a["name"] == name and a["labels"].get("service") == service and a["status"] == "firing"
    }


def test_each_severity_reaches_its_own_receiver(stack: LocalPlatform) -> None:
    since = time.time()
    _post_alerts(
        stack,
        {"alertname": "RouteProbePage", "service": "route-probe", "severity": "critical"},
        {"alertname": "RouteProbeTicket", "service": "route-probe", "severity": "warning"},
        {"alertname": "RouteProbeUnlabelled", "service": "route-probe"},
    )

    def delivered() -> bool:
        return all(
            _receivers(stack, since, n, "route-probe")
            for n in ("RouteProbePage", "RouteProbeTicket", "RouteProbeUnlabelled")
        )

    _wait("every probe alert delivered", delivered)
    time.sleep(2)  # two group intervals: a copy to the wrong receiver would be here by now
    assert _receivers(stack, since, "RouteProbePage", "route-probe") == {"pager"}
    assert _receivers(stack, since, "RouteProbeTicket", "route-probe") == {"ticket"}
    assert _receivers(stack, since, "RouteProbeUnlabelled", "route-probe") == {"ticket"}


def test_no_ready_replicas_inhibits_the_same_services_symptoms(stack: LocalPlatform) -> None:
    since = time.time()
    _post_alerts(stack, {"alertname": "NoReadyReplicas", "service": "inh", "severity": "critical"})
    _wait(
        "the source alert paged", lambda: bool(_receivers(stack, since, "NoReadyReplicas", "inh"))
    )
    _post_alerts(
        stack,
        {"alertname": "HighLatencyP99", "service": "inh", "severity": "warning"},
        # the same symptom of another service: nothing explains it, so it is delivered
        {"alertname": "HighLatencyP99", "service": "inh-other", "severity": "warning"},
    )
    _wait(
        "the other service's latency ticket",
        lambda: bool(_receivers(stack, since, "HighLatencyP99", "inh-other")),
    )
    time.sleep(3)  # three group intervals past the one that was delivered
    assert _receivers(stack, since, "HighLatencyP99", "inh") == set()


# ------------------------------------------------------------------------ secrecy
def test_the_token_is_in_no_log_or_state_file(stack: LocalPlatform) -> None:
    token = read_token(stack.home)
    assert token not in json.dumps(stack.state())
    files = [f for f in Path(stack.home).rglob("*") if f.is_file() and f != token_path(stack.home)]
    assert any(f.suffix == ".log" for f in files)
    leaking = []
    for f in files:
        try:
            if token.encode() in f.read_bytes():
                leaking.append(str(f))
        except OSError:
            continue
    # The Prometheus and Alertmanager configs name the token's file, never the token.
    assert not leaking, f"the control token appears in {leaking}"
