"""Durability against real processes: a SIGKILLed replica's runs are resumed by another with
no step lost or applied twice; a Redis outage refuses new runs (503) and loses none of the
accepted ones; SIGTERM drains; finished runs reach PostgreSQL even across its outage."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from modelserve.orchestrator.testing import StepServiceThread

from harness.scratch_stores import ScratchPostgres, ScratchRedis
from tests import _orch_support as support
from tests._orch_support import OrchestratorProcess, OrchestratorThread, pipeline, settings_for

redis_server, redis_url, steps = support.redis_server, support.redis_url, support.steps
postgres = support.postgres

PIPE_YAML = """
name: abc
steps:
  - {name: a, service: svc, path: /v1/a, input: {n: $input.n}}
  - {name: b, service: svc, path: /v1/b, input: {prev: $steps.a.input.n}, timeout_s: 10}
  - {name: c, service: svc, path: /v1/c, input: {prev: $steps.b.input.prev}}
"""
PIPE = pipeline(PIPE_YAML)


def behave(steps: StepServiceThread, **routes: dict[str, object]) -> None:
    httpx.post(steps.url + "/admin/behaviour", json=routes).raise_for_status()


def service_calls(steps: StepServiceThread) -> dict[str, Any]:
    return httpx.get(steps.url + "/admin/calls").json()  # type: ignore[no-any-return]


def wait_finished(client: httpx.Client, run_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        runs = [client.get(f"/v1/runs/{r}").json() for r in run_ids]
        if all(r.get("status") in ("succeeded", "failed") for r in runs):
            return runs
        assert time.monotonic() < end, f"runs not finished: {[r.get('status') for r in runs]}"
        time.sleep(0.1)


def test_killed_replica_runs_resume_elsewhere_exactly_once(
    redis_url: str, steps: StepServiceThread, tmp_path: Path
) -> None:
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "abc.yaml").write_text(PIPE_YAML)
    behave(steps, b={"latency_ms": 1500})
    env = {
        "MSAI_ORCH_REDIS_URL": redis_url,
        "MSAI_ORCH_SERVICES": f"svc={steps.url}",
        "MSAI_ORCH_PIPELINES_DIR": str(tmp_path / "pipes"),
        "MSAI_ORCH_LEASE_S": "1",
        "MSAI_ORCH_RECOVERY_INTERVAL_S": "0.2",
        "MSAI_ORCH_MODELS_DIR": str(tmp_path / "no-models"),
    }
    with OrchestratorProcess(env, tmp_path / "a.log") as a:
        ids = [
            httpx.post(f"{a.url}/v1/pipelines/abc/runs", json={"input": {"n": i}}).json()["id"]
            for i in range(5)
        ]
        end = time.monotonic() + 10
        while sum(c["route"] == "b" for c in service_calls(steps)["calls"]) < 5:
            assert time.monotonic() < end, "replica A never reached step b"
            time.sleep(0.02)
        a.signal(signal.SIGKILL)  # mid-step: b is running on A for all five runs
        assert a.wait(10) == -signal.SIGKILL
    settings = settings_for(redis_url, {"svc": steps.url}, lease_s=1.0, recovery_interval_s=0.2)
    with OrchestratorThread(settings, {"abc": PIPE}) as b_replica:
        runs = wait_finished(b_replica.client, ids, timeout=20)
    assert [r["status"] for r in runs] == ["succeeded"] * 5
    assert all(r["claims"] == 2 for r in runs)  # created on A, resumed on B
    applied = service_calls(steps)["applied"]
    calls = service_calls(steps)["calls"]
    for r in runs:
        for step in ("a", "b", "c"):
            assert applied[f"{r['id']}:{step}"] == 1, (r["id"], step)  # none applied twice
        # a was done before the kill: never called again; b was re-sent with the same key
        assert sum(c["key"] == f"{r['id']}:a" for c in calls) == 1
        assert sum(c["key"] == f"{r['id']}:b" for c in calls) == 2
        assert r["result"]["c"]["input"] == {"prev": r["result"]["a"]["input"]["n"]}


def test_redis_outage_refuses_new_runs_and_keeps_accepted_ones(
    redis_server: ScratchRedis, redis_url: str, steps: StepServiceThread
) -> None:
    behave(steps, b={"latency_ms": 600})
    settings = settings_for(redis_url, {"svc": steps.url}, lease_s=5.0, redis_timeout_s=0.5)
    with OrchestratorThread(settings, {"abc": PIPE}) as o:
        accepted = o.client.post("/v1/pipelines/abc/runs", json={"input": {"n": 1}}).json()["id"]
        end = time.monotonic() + 5
        while not any(c["route"] == "b" for c in service_calls(steps)["calls"]):
            assert time.monotonic() < end
            time.sleep(0.02)
        redis_server.stop()  # while step b runs
        t0 = time.perf_counter()
        r = o.client.post("/v1/pipelines/abc/run", json={"input": {"n": 2}})
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["type"] == "StateUnavailable"
        assert "Redis" in r.json()["error"]
        assert time.perf_counter() - t0 < 3, "a down Redis must be refused quickly"
        assert o.client.get(f"/v1/runs/{accepted}").status_code == 503
        time.sleep(0.8)  # b finishes meanwhile; its outcome cannot be stored yet
        redis_server.start()  # same port, same append-only file
        (run,) = wait_finished(o.client, [accepted], timeout=15)
    assert run["status"] == "succeeded", run
    assert service_calls(steps)["applied"][f"{accepted}:b"] == 1
    assert service_calls(steps)["applied"][f"{accepted}:c"] == 1


def test_sigterm_drains_and_exits_zero(
    redis_url: str, steps: StepServiceThread, tmp_path: Path
) -> None:
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "abc.yaml").write_text(PIPE_YAML)
    behave(steps, b={"latency_ms": 3000})  # still running when the 2 s drain delay ends
    env = {
        "MSAI_ORCH_REDIS_URL": redis_url,
        "MSAI_ORCH_SERVICES": f"svc={steps.url}",
        "MSAI_ORCH_PIPELINES_DIR": str(tmp_path / "pipes"),
        "MSAI_ORCH_DRAIN_DELAY_S": "2",
        "MSAI_ORCH_DRAIN_DEADLINE_S": "10",
        "MSAI_ORCH_MODELS_DIR": str(tmp_path / "no-models"),
    }
    with OrchestratorProcess(env, tmp_path / "o.log") as o:
        run_id = httpx.post(f"{o.url}/v1/pipelines/abc/runs", json={"input": {"n": 1}}).json()["id"]
        o.signal(signal.SIGTERM)
        end = time.monotonic() + 1.5  # within the drain delay (2 s): still serving
        while (ready := httpx.get(f"{o.url}/v2/health/ready")).status_code == 200:
            assert time.monotonic() < end, "readiness did not turn false after SIGTERM"
            time.sleep(0.02)
        assert ready.status_code == 503
        assert ready.json()["state"] == "draining"
        assert httpx.get(f"{o.url}/v2/health/live").status_code == 200  # still serving
        assert o.wait(20) == 0
    log = (tmp_path / "o.log").read_text()
    assert '"drained": 1' in log
    settings = settings_for(redis_url, {"svc": steps.url})
    with OrchestratorThread(settings, {"abc": PIPE}) as reader:
        assert reader.client.get(f"/v1/runs/{run_id}").json()["status"] == "succeeded"


def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def test_history_reaches_postgres_even_across_its_outage(
    redis_url: str, steps: StepServiceThread, postgres: ScratchPostgres
) -> None:
    settings = settings_for(
        redis_url, {"svc": steps.url}, postgres_dsn=postgres.dsn, history_flush_interval_s=0.2
    )
    with OrchestratorThread(settings, {"abc": PIPE}) as o:
        ok = o.client.post("/v1/pipelines/abc/run", json={"input": {"n": 1}}).json()["id"]
        behave(steps, c={"fail": [400]})
        bad = o.client.post("/v1/pipelines/abc/run", json={"input": {"n": 2}}).json()["run"]["id"]
        postgres.stop()
        during = o.client.post("/v1/pipelines/abc/run", json={"input": {"n": 3}})
        assert during.status_code == 200  # history is off the request path
        time.sleep(0.5)
        postgres.start()
        end = time.monotonic() + 10
        while len(_rows(postgres.dsn, "SELECT run_id FROM orchestrator_runs")) < 3:
            assert time.monotonic() < end, "history rows never arrived"
            time.sleep(0.1)
        rows = dict(_rows(postgres.dsn, "SELECT run_id, status FROM orchestrator_runs"))
        assert rows == {ok: "succeeded", bad: "failed", during.json()["id"]: "succeeded"}
        (steps_json,) = _rows(
            postgres.dsn, f"SELECT steps FROM orchestrator_runs WHERE run_id='{ok}'"
        )[0]
        assert steps_json["b"]["status"] == "done"
        assert steps_json["b"]["attempts"] == 1
        models = _rows(postgres.dsn, "SELECT service, model, version FROM model_metadata")
        assert ("svc", "svc", "1") in models
        listed = o.client.get("/v1/history", params={"pipeline": "abc", "limit": 10}).json()["runs"]
        assert {r["run_id"] for r in listed} == set(rows)


@pytest.fixture(autouse=True)
def _no_orphans() -> Any:
    import psutil

    def replicas() -> set[int]:  # the stores are the module fixtures' to stop
        out = set()
        for p in psutil.Process().children(recursive=True):
            try:
                if "modelserve.orchestrator" in " ".join(p.cmdline()) and p.status() != "zombie":
                    out.add(p.pid)
            except psutil.NoSuchProcess:
                continue
        return out

    yield
    assert not replicas(), "orchestrator processes left behind"
