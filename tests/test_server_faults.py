"""Built-in fault hooks: off by default, token-guarded, removable, seeded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import FakeSettings, create_fake_app, wait_until
from starlette.testclient import TestClient

TOKEN = {"x-admin-token": "s3cret"}


def _client(**server: Any) -> TestClient:
    settings = ServerSettings(
        fault_hooks=True,
        admin_token="s3cret",
        fault_seed=7,
        drain_delay_s=0,
        drain_deadline_s=1,
        stall_after_s=0.3,
        **server,
    )
    return TestClient(create_fake_app(settings, FakeSettings(batch_cost_ms=0, item_cost_ms=0)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with _client() as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        yield c
        c.delete("/admin/faults", headers=TOKEN)


def test_admin_routes_absent_by_default() -> None:
    app = create_fake_app(ServerSettings(), FakeSettings())
    with TestClient(app) as c:
        assert c.post("/admin/faults", json={"error_ratio": 1}, headers=TOKEN).status_code == 404
        assert c.get("/admin/faults").status_code == 404


def test_admin_needs_the_token(client: TestClient) -> None:
    for headers in ({}, {"x-admin-token": "wrong"}):
        r = client.post("/admin/faults", json={"error_ratio": 1.0}, headers=headers)
        assert r.status_code == 401
        assert r.json()["field"] == "x-admin-token"
    assert client.post("/v1/echo", json={"text": "a"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error_ratio": 2}, "error_ratio"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": "slow"}, "latency_ms"),
        ({"hang": 1}, "hang"),
        ({"explode": True}, "explode"),
        ({"seed": "x"}, "seed"),
        ([1], "body"),
    ],
)
def test_bad_fault_bodies_name_the_field(client: TestClient, body: Any, field: str) -> None:
    r = client.post("/admin/faults", json=body, headers=TOKEN)
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert client.get("/admin/faults", headers=TOKEN).json()["faults"]["error_ratio"] == 0


def test_added_latency_and_removal(client: TestClient) -> None:
    client.post("/admin/faults", json={"latency_ms": 400}, headers=TOKEN)
    t0 = time.perf_counter()
    assert client.post("/v1/echo", json={"text": "a"}).status_code == 200
    assert time.perf_counter() - t0 >= 0.4
    assert (
        client.delete("/admin/faults/latency_ms", headers=TOKEN).json()["faults"]["latency_ms"] == 0
    )
    t0 = time.perf_counter()
    client.post("/v1/echo", json={"text": "a"})
    assert time.perf_counter() - t0 < 0.3
    metrics = client.get("/metrics").text
    assert 'modelserve_fault_injections_total{fault="latency",model="fake"} 1.0' in metrics


def _codes(client: TestClient, seed: int) -> list[int]:
    client.post("/admin/faults", json={"error_ratio": 0.5, "seed": seed}, headers=TOKEN)
    return [client.post("/v1/echo", json={"text": "a"}).status_code for _ in range(30)]


def test_error_ratio_is_seeded_and_repeats(client: TestClient) -> None:
    first = _codes(client, seed=3)
    assert set(first) == {200, 500}
    assert 5 <= first.count(500) <= 25
    assert _codes(client, seed=3) == first
    assert _codes(client, seed=4) != first
    client.delete("/admin/faults", headers=TOKEN)
    assert {client.post("/v1/echo", json={"text": "a"}).status_code for _ in range(10)} == {200}
    r = client.get("/admin/faults", headers=TOKEN).json()
    assert r["faults"]["error_ratio"] == 0


def test_injected_errors_are_500_with_a_type(client: TestClient) -> None:
    client.post("/admin/faults", json={"error_ratio": 1.0}, headers=TOKEN)
    r = client.post("/v1/echo", json={"text": "a"})
    assert r.status_code == 500
    assert r.json()["type"] == "FaultInjected"


def test_hang_blocks_inference_fails_liveness_until_removed(client: TestClient) -> None:
    import threading

    client.post("/admin/faults", json={"hang": True}, headers=TOKEN)
    result: dict[str, int] = {}
    t = threading.Thread(
        target=lambda: result.setdefault(
            "code", client.post("/v1/echo", json={"text": "a"}).status_code
        )
    )
    t.start()
    wait_until(lambda: client.get("/v2/health/live").status_code == 503, timeout=5)
    assert "code" not in result  # still hanging
    client.delete("/admin/faults/hang", headers=TOKEN)
    t.join(5)
    assert result["code"] == 200
    assert client.get("/v2/health/live").status_code == 200


def test_timed_hang_ends_by_itself(client: TestClient) -> None:
    client.post("/admin/faults", json={"hang": True, "hang_s": 0.2}, headers=TOKEN)
    t0 = time.perf_counter()
    assert client.post("/v1/echo", json={"text": "a"}).status_code == 200
    assert 0.15 <= time.perf_counter() - t0 < 2
    assert client.get("/admin/faults", headers=TOKEN).json()["faults"]["hang"] is False


def test_slow_load_is_a_start_setting() -> None:
    with _client(fault_slow_load_s=1.0) as c:
        t0 = time.perf_counter()
        assert c.get("/v2/health/ready").status_code == 503
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        assert time.perf_counter() - t0 >= 0.8
        assert 'fault="slow_load",model="fake"} 1.0' in c.get("/metrics").text


def test_a_new_replica_starts_with_no_faults() -> None:
    with _client() as c:
        c.post("/admin/faults", json={"error_ratio": 1.0}, headers=TOKEN)
    with _client() as c:  # "restart": state is per process, nothing persisted
        assert c.get("/admin/faults", headers=TOKEN).json()["faults"]["error_ratio"] == 0
