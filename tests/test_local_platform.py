"""The local platform live: real Envoy, Redis, PostgreSQL, moto, Prometheus, Alertmanager,
with stand-in replicas (``harness.platform.local.fakereplica``) so no model is needed.

One stack for the module (minimal profile, 1 s intervals); every test reverts what it
injects, and teardown proves no process is left behind.
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.errors import FaultError, Unsupported
from harness.platform.base import Injection, Platform, StackSpec
from harness.platform.local import LocalPlatform
from harness.platform.local.control_token import read_token

pytestmark = pytest.mark.slow

FAKE = "{python} -m harness.platform.local.fakereplica {service} --port {port}"
OVERRIDES: dict[str, Any] = {
    "modelDefaults.drain.delaySeconds": 0.3,
    "modelDefaults.drain.deadlineSeconds": 3,
    "ner.canary.enabled": True,
    "ner.canary.weight": 50,
    "vision.autoscaling.hpa.enabled": False,
    "vision.autoscaling.keda.enabled": True,
    "vision.autoscaling.keda.cooldownPeriod": 3,
    "vision.autoscaling.keda.pollingInterval": 1,
    "ner.autoscaling.hpa.behavior.scaleDown.stabilizationWindowSeconds": 2,
    # shorter than vision's cold start (MSAI_FAKE_LOAD_S_VISION): held requests must outlast it
    "mesh.retries.perTryTimeout": "0.8s",
    # small enough that a burst overflows the circuit breaker (DestinationRule connectionPool)
    "mesh.connectionPool.tcp.maxConnections": 4,
    "mesh.connectionPool.http.http1MaxPendingRequests": 2,
}


def _wait(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read()
            try:
                return resp.status, json.loads(raw or b"{}")
            except ValueError:
                return resp.status, {"raw": raw.decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        body = exc.read()
        exc.close()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:
            return exc.code, {"raw": body.decode(errors="replace")}


def _auth(stack: Stack) -> dict[str, str]:
    """The control API's bearer token, as every client of the controller sends it."""
    return {"Authorization": "Bearer " + read_token(stack.p.home)}


class Stack:
    def __init__(self, platform: LocalPlatform) -> None:
        self.p = platform
        self.pids: set[tuple[int, float]] = set()

    def remember_pids(self) -> None:
        for e in self.p.ledger.entries():
            self.pids.add((e.pid, e.create_time))

    def url(self, route: str) -> str:
        return self.p.endpoints()[route].url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("msai") / "local"
    models = tmp_path_factory.mktemp("models")
    (models / "ner").mkdir()
    (models / "ner" / "config.json").write_text('{"fake": true}')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MSAI_LOCAL_REPLICA_COMMAND", FAKE)
        mp.setenv("MSAI_MODELS_DIR", str(models))
        mp.setenv("MSAI_HOME", str(home.parent))
        mp.setenv("MSAI_FAKE_LOAD_S_VISION", "1.5")
        p = LocalPlatform(home, tied=True)
        s = Stack(p)
        try:
            p.up(StackSpec(profile="minimal", overrides=OVERRIDES))
            s.remember_pids()
            yield s
        finally:
            s.remember_pids()
            p.down()
    alive = []
    for pid, created in s.pids:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append((pid, proc.name()))
        except psutil.Error:
            pass
    assert not alive, f"processes left after down(): {alive}"
    assert p.ledger.entries() == []


@pytest.fixture(autouse=True)
def _no_fault_outlives_its_test(stack: Stack) -> Iterator[None]:
    yield
    # A failed test must not leave its fault to break the next ones: take back what is left.
    for data in stack.p.state()["injections"]:
        stack.p.revert(Injection.from_json(data))
    stack.remember_pids()


def test_is_a_platform(stack: Stack) -> None:
    assert isinstance(stack.p, Platform)


def test_up_serves_through_the_gateway(stack: Stack) -> None:
    st = stack.p.state()
    assert st["phase"] == "ready"
    assert set(stack.p.services()) == {"ner", "vision"}
    assert {n.name for n in stack.p.nodes()} == {"general-a", "general-b", "spot-a"}
    status, body = _get(stack.url("ner") + "/v2/models/ner/infer")
    assert status == 200
    assert body["service"] == "ner"
    assert body["path"] == "/v2/models/ner/infer"  # the route prefix is rewritten away


def test_model_artifacts_are_in_the_versioned_bucket(stack: Stack) -> None:
    import boto3

    st = stack.p.state()
    s3 = boto3.client(
        "s3",
        endpoint_url=st["urls"]["s3"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    obj = s3.get_object(Bucket="modelserve-artifacts", Key="ner/1/config.json")
    assert json.loads(obj["Body"].read()) == {"fake": True}
    versioning = s3.get_bucket_versioning(Bucket="modelserve-artifacts")
    assert versioning["Status"] == "Enabled"


def test_prometheus_scrapes_replicas_with_labels(stack: Stack) -> None:
    prom = stack.p.prometheus_url

    def labelled() -> bool:
        q = urllib.parse.quote('up{job="modelserve"} == 1')
        _, data = _get(f"{prom}/api/v1/query?query={q}")
        rows = [r["metric"] for r in data["data"]["result"]]
        return any(
            r.get("service") == "ner"
            and r.get("version") in ("stable", "canary")
            and r.get("node")
            and r.get("replica", "").startswith("ner-")
            for r in rows
        )

    _wait("replica targets with service/node/replica/version labels", labelled)
    q = urllib.parse.quote('modelserve_replicas_desired{service="ner"}')
    _wait(
        "platform gauges", lambda: bool(_get(f"{prom}/api/v1/query?query={q}")[1]["data"]["result"])
    )
    assert _get(stack.p.alertmanager_url + "/-/ready")[0] == 200


def test_canary_weight_splits_traffic(stack: Stack) -> None:
    seen = collections.Counter()
    for _ in range(200):
        _, body = _get(stack.url("ner") + "/x")
        seen[body["replica"].split("-")[1]] += 1
    assert 60 <= seen["canary"] <= 140, seen  # weight 50 of 200, generous bounds


def test_canary_weight_shifts_traffic_back(stack: Stack) -> None:
    assert stack.p.set_canary_weight("ner", 0) == 50
    try:
        time.sleep(0.3)  # the listener update lands
        seen = {_get(stack.url("ner") + "/x")[1]["replica"].split("-")[1] for _ in range(40)}
        assert seen == {"stable"}
    finally:
        stack.p.set_canary_weight("ner", 50)
    with pytest.raises(FaultError, match="no canary"):
        stack.p.set_canary_weight("vision", 0)


def test_circuit_breaker_sheds_a_burst(stack: Stack) -> None:
    import threading

    n = 40
    barrier = threading.Barrier(n)
    statuses: collections.Counter[int] = collections.Counter()

    def one() -> None:
        # 600 ms: below the per-try timeout, so nothing is retried or timed out
        req = urllib.request.Request(stack.url("ner") + "/x", headers={"x-sleep-ms": "600"})
        barrier.wait()
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                statuses[int(resp.status)] += 1
        except urllib.error.HTTPError as exc:
            statuses[int(exc.code)] += 1
            exc.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # 2 clusters x (4 connections + 2 pending) can be in the gateway; the rest is shed at once
    assert statuses[503] >= 10, statuses
    assert statuses[200] >= 6, statuses
    admin = stack.p.state()["urls"]["envoy_admin"]
    with urllib.request.urlopen(admin + "/stats?filter=upstream_rq_pending_overflow") as resp:
        text = resp.read().decode()
    overflow = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line)
    assert overflow >= 10


def test_a_rollback_alert_shifts_the_canary_back(stack: Stack) -> None:
    port = stack.p.state()["ports"]["control"]
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "CanaryHighErrorRatio",
            "service": "ner",
            "action": "rollback-canary",
        },
    }
    body = json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook/pager", data=body, headers=_auth(stack)
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        assert stack.p.state()["canary_weights"]["ner"] == 0
        assert any(e["kind"] == "canary_rollback" for e in stack.p.events())
    finally:
        stack.p.set_canary_weight("ner", 50)
    assert "canary_rollback" in stack.p.features


def test_mesh_abort_and_revert_from_another_process(stack: Stack) -> None:
    inj = stack.p.mesh_fault("ner", abort_status=418, percent=100)
    assert _get(stack.url("ner") + "/x")[0] == 418
    assert _get(stack.url("vision") + "/x")[0] == 200  # only the named route
    # A later process knows the fault only as JSON (the chaos ledger): that is enough.
    later = LocalPlatform(stack.p.home)
    later.revert(Injection.from_json(json.loads(json.dumps(inj.to_json()))))
    assert _get(stack.url("ner") + "/x")[0] == 200
    later.revert(inj)  # idempotent


def test_partial_abort_hits_about_that_share(stack: Stack) -> None:
    inj = stack.p.mesh_fault("ner", abort_status=418, percent=30)
    try:
        codes = collections.Counter(_get(stack.url("ner") + "/x")[0] for _ in range(300))
    finally:
        stack.p.revert(inj)
    assert 45 <= codes[418] <= 135, codes  # 30% of 300 = 90, wide bounds
    assert codes[200] == 300 - codes[418]


def test_overlapping_mesh_faults_stack(stack: Stack) -> None:
    first = stack.p.mesh_fault("ner", abort_status=418, percent=100)
    second = stack.p.mesh_fault("ner", abort_status=429, percent=100)
    assert _get(stack.url("ner") + "/x")[0] == 429
    stack.p.revert(second)
    assert _get(stack.url("ner") + "/x")[0] == 418  # the first is still in force
    stack.p.revert(first)
    assert _get(stack.url("ner") + "/x")[0] == 200


def test_mesh_delay_for_a_window(stack: Stack) -> None:
    inj = stack.p.mesh_fault("ner", delay_ms=300, percent=100, duration_s=1.5)
    assert inj.expires is not None
    t = time.perf_counter()
    _get(stack.url("ner") + "/x")
    assert time.perf_counter() - t >= 0.29
    _wait("delay window to end", lambda: not stack.p.state()["injections"], timeout=5)
    t = time.perf_counter()
    _get(stack.url("ner") + "/x")
    assert time.perf_counter() - t < 0.25


def test_bad_fault_requests_are_refused(stack: Stack) -> None:
    with pytest.raises(FaultError, match="percent"):
        stack.p.mesh_fault("ner", abort_status=503, percent=150)
    with pytest.raises(FaultError, match="unknown route"):
        stack.p.mesh_fault("nope", abort_status=503)
    with pytest.raises(FaultError, match="unknown service"):
        stack.p.kill("nope")
    with pytest.raises(Unsupported, match="moto"):
        stack.p.outage("s3", mode="stop")


def test_control_api_names_bad_fields(stack: Stack) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="missing field 'service'"):
        stack.p._post("/kill", {})
    port = stack.p.state()["ports"]["control"]
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook/harness",
        data=b"not json",
        method="POST",
        headers=_auth(stack),
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    assert "JSON" in err.value.read().decode()
    err.value.close()


def _stable(stack: Stack, service: str) -> list[Any]:
    return [r for r in stack.p.replicas(service) if r.version == "stable"]


def test_kill_is_reconciled(stack: Stack) -> None:
    before = {r.name for r in stack.p.replicas("ner")}
    killed = stack.p.kill("ner", 1)
    assert len(killed) == 1
    version = killed[0].split("-")[1]
    _wait(
        "a replacement replica",
        lambda: any(
            r.ready and r.name not in before and r.version == version
            for r in stack.p.replicas("ner")
        ),
    )
    assert killed[0] not in {r.name for r in stack.p.replicas("ner")}
    stack.remember_pids()
    before = {r.name for r in stack.p.replicas("ner")}
    graceful = stack.p.kill("ner", 1, graceful=True)
    _wait(
        "a replacement after a graceful kill",
        lambda: (
            any(r.ready and r.name not in before for r in stack.p.replicas("ner"))
            and graceful[0] not in {r.name for r in stack.p.replicas("ner")}
        ),
    )
    stack.remember_pids()


class _Traffic:
    """Requests through the gateway in a loop on a thread; every status is kept."""

    def __init__(self, url: str) -> None:
        import threading

        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            req = urllib.request.Request(self.url, headers={"x-sleep-ms": "30"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    self.statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                self.statuses.append(exc.code)
                exc.close()
            except OSError:
                self.statuses.append(0)

    def __enter__(self) -> _Traffic:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=15)


def test_drain_moves_replicas_without_failing_requests(stack: Stack) -> None:
    node = _stable(stack, "ner")[0].node
    with _Traffic(stack.url("ner") + "/x") as traffic:
        time.sleep(0.3)
        inj = stack.p.drain(node)
        _wait(
            "replicas off the drained node",
            lambda: (
                all(r.node != node for r in stack.p.replicas("ner"))
                and any(r.ready for r in _stable(stack, "ner"))
            ),
        )
        time.sleep(0.5)
    assert len(traffic.statuses) > 20
    assert set(traffic.statuses) == {200}, collections.Counter(traffic.statuses)
    assert not next(n for n in stack.p.nodes() if n.name == node).schedulable
    stack.p.revert(inj)
    assert next(n for n in stack.p.nodes() if n.name == node).schedulable
    stack.remember_pids()


def test_rebalance_recommendation_drains_the_node(stack: Stack) -> None:
    node = _stable(stack, "ner")[0].node
    inj = stack.p.rebalance_recommendation(node)
    _wait(
        "the node cordoned",
        lambda: not next(n for n in stack.p.nodes() if n.name == node).schedulable,
        timeout=5,
    )
    _wait("ner off the node", lambda: all(r.node != node for r in stack.p.replicas("ner")))
    stack.p.revert(inj)
    assert next(n for n in stack.p.nodes() if n.name == node).schedulable
    stack.remember_pids()


def test_hpa_scales_on_pending_requests(stack: Stack) -> None:
    import threading

    rep = _stable(stack, "ner")[0]

    def slow() -> None:
        for _ in range(3):
            req = urllib.request.Request(rep.url + "/x", headers={"x-sleep-ms": "2000"})
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=10).read()

    threads = [threading.Thread(target=slow, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    # 20 pending on one replica, target 8: ceil(1 * 20/8) = 3, limited to +2 per 15 s -> 3
    _wait(
        "the HPA to scale ner up", lambda: stack.p.state()["desired"]["ner/stable"] >= 2, timeout=15
    )
    _wait("new ner replicas ready", lambda: sum(r.ready for r in _stable(stack, "ner")) >= 2)
    for t in threads:
        t.join(timeout=30)
    # load gone: back to minReplicas after the 2 s stabilization window (1 Pod per 15 s)
    _wait(
        "the HPA to scale ner down",
        lambda: stack.p.state()["desired"]["ner/stable"] == 1,
        timeout=40,
    )
    stack.remember_pids()


def test_spot_interruption_drains_before_the_notice_expires(stack: Stack) -> None:
    node = _stable(stack, "ner")[0].node
    t0 = time.time()
    inj = stack.p.spot_interrupt(node, notice_s=8)
    imds = next(n for n in stack.p.state()["nodes"] if n["name"] == node)["imds"]
    req = urllib.request.Request(
        imds + "/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
    )
    token = urllib.request.urlopen(req, timeout=2).read().decode()
    req = urllib.request.Request(
        imds + "/latest/meta-data/spot/instance-action", headers={"X-aws-ec2-metadata-token": token}
    )
    action = json.loads(urllib.request.urlopen(req, timeout=2).read())
    assert action["action"] == "terminate"
    _wait(
        "the node's replicas rescheduled",
        lambda: (
            all(r.node != node for r in stack.p.replicas("ner"))
            and any(r.ready for r in _stable(stack, "ner"))
        ),
        timeout=8,
    )
    assert time.time() - t0 < 8, "replicas must be moved before the notice expires"
    assert _get(stack.url("ner") + "/x")[0] == 200
    _wait(
        "the NodeSpotInterruption alert at the webhook",
        lambda: any(
            a["name"] == "NodeSpotInterruption" and a["status"] == "firing"
            for a in stack.p.alerts()
        ),
        timeout=20,
    )
    _wait(
        "termination",
        lambda: next(n for n in stack.p.state()["nodes"] if n["name"] == node)["terminated"],
        timeout=12,
    )
    stack.p.revert(inj)
    assert next(n for n in stack.p.nodes() if n.name == node).schedulable
    stack.remember_pids()


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.parametrize("mode", ["freeze", "cut", "stop"])
def test_redis_outage_and_recovery(stack: Stack, mode: str) -> None:
    link = stack.p.state()["links"]["harness->redis"]
    assert _redis_ping(link)
    inj = stack.p.outage("redis", mode=mode)
    assert not _redis_ping(link)
    stack.p.revert(inj)
    _wait("redis back", lambda: _redis_ping(link), timeout=10)
    stack.p.revert(inj)  # idempotent
    stack.remember_pids()


@pytest.mark.parametrize("mode", ["freeze", "stop"])
def test_postgresql_outage_shows_in_the_dependency_gauge(stack: Stack, mode: str) -> None:
    metrics = f"http://127.0.0.1:{stack.p.state()['ports']['control']}/metrics"

    def pg_up() -> bool:
        req = urllib.request.Request(metrics, headers=_auth(stack))
        with urllib.request.urlopen(req, timeout=5) as resp:
            text = resp.read().decode()
        return 'modelserve_dependency_up{dependency="postgresql"} 1' in text

    _wait("postgresql up", pg_up)
    inj = stack.p.outage("postgresql", mode=mode, duration_s=60)
    _wait("postgresql down in the gauge", lambda: not pg_up(), timeout=10)
    stack.p.revert(inj)
    _wait("postgresql up again", pg_up, timeout=30)
    stack.remember_pids()


def test_partition_gateway_from_a_service(stack: Stack) -> None:
    inj = stack.p.partition("gateway", "ner")
    assert _get(stack.url("ner") + "/x")[0] == 503
    stack.p.revert(inj)
    _wait("route back", lambda: _get(stack.url("ner") + "/x")[0] == 200, timeout=5)
    with pytest.raises(FaultError, match="known pairs"):
        stack.p.partition("ner", "vision")


def test_partition_a_service_from_s3(stack: Stack) -> None:
    link = stack.p.state()["links"]["ner->s3"]
    url = f"http://127.0.0.1:{link}/modelserve-artifacts?versioning"
    assert _get(url)[0] == 200
    inj = stack.p.partition("ner", "s3", duration_s=30)
    with pytest.raises(OSError, match="timed out"):
        urllib.request.urlopen(url, timeout=0.5)  # black-holed, as a partition drops packets
    stack.p.revert(inj)
    assert _get(url)[0] == 200
    assert not stack.p.state()["injections"]


def test_backup_and_restore_postgresql(stack: Stack) -> None:
    import psycopg

    url = stack.p.state()["urls"]["postgresql"]
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("INSERT INTO model_versions (model, version, uri) VALUES ('ner', '1', 's3://x')")
    bid = stack.p.backup("postgresql")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM model_versions")
    stack.p.restore("postgresql", bid)
    with psycopg.connect(url) as c:
        assert c.execute("SELECT model, version FROM model_versions").fetchall() == [("ner", "1")]


def test_backup_and_restore_redis(stack: Stack) -> None:
    import redis

    r = redis.Redis.from_url(stack.p.state()["urls"]["redis"])
    r.set("k", "before")
    bid = stack.p.backup("redis")
    r.set("k", "after")
    stack.p.restore("redis", bid)
    r = redis.Redis.from_url(stack.p.state()["urls"]["redis"])
    assert r.get("k") == b"before"
    assert r.config_get("appendonly")["appendonly"] == "yes"
    stack.remember_pids()


def test_backup_and_restore_s3_versions(stack: Stack) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.p.state()["urls"]["s3"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = "modelserve-artifacts"
    bid = stack.p.backup("s3")
    s3.put_object(Bucket=bucket, Key="ner/1/config.json", Body=b'{"fake": "overwritten"}')
    s3.put_object(Bucket=bucket, Key="ner/1/new.bin", Body=b"x")
    stack.p.restore("s3", bid)
    body = s3.get_object(Bucket=bucket, Key="ner/1/config.json")["Body"].read()
    assert json.loads(body) == {"fake": True}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "ner/1/new.bin" not in keys
    with pytest.raises(FaultError, match="no backup"):
        stack.p.restore("s3", "nope")


def test_scale_to_zero_holds_requests_until_ready(stack: Stack) -> None:
    _wait("vision to scale to zero", lambda: not stack.p.replicas("vision"), timeout=30)
    assert stack.p.state()["desired"]["vision/stable"] == 0
    status, body = _get(stack.url("vision") + "/v2/models/vision/infer", timeout=30)
    assert status == 200
    assert body["service"] == "vision"
    colds = stack.p.state()["cold_starts"]
    assert colds
    assert colds[-1]["service"] == "vision"
    assert 1.5 < colds[-1]["seconds"] < 30  # longer than the per-try timeout, yet it held
    stack.remember_pids()


def test_home_is_isolated(stack: Stack) -> None:
    assert (Path(stack.p.home) / "ledger.json").exists()
