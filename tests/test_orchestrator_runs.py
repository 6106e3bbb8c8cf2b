"""Pipelines run end to end against real Redis and real HTTP step services: patterns
(sequence, parallel, switch), output -> input mapping, retries, dependencies, deadlines."""

from __future__ import annotations

import time

import httpx
import pytest
from modelserve.orchestrator.testing import StepServiceThread

from harness.ports import free_port
from tests import _orch_support as support
from tests._orch_support import OrchestratorThread, pipeline, settings_for

redis_server, redis_url, steps = support.redis_server, support.redis_url, support.steps

SEQ = pipeline("""
    name: seq
    input: {type: object, required: [text], properties: {text: {type: string}}}
    steps:
      - name: first
        service: svc
        path: /v1/first
        input: {text: $input.text, tag: "$$literal"}
      - name: second
        service: svc
        path: /v1/second
        input: {prev: $steps.first.input.text, calls: $steps.first.calls}
    output: {echoed: $steps.second.input.prev, tag: $steps.first.input.tag}
""")

PAR = pipeline("""
    name: par
    steps:
      - name: both
        parallel:
          - {name: left, service: svc, path: /v1/left, input: {x: $input.x}}
          - {name: right, service: svc, path: /v1/right, input: {x: $input.x}}
      - name: join
        service: svc
        path: /v1/join
        input: {l: $steps.left.input.x, r: $steps.both.right.input.x}
""")

SWITCH = pipeline("""
    name: sw
    steps:
      - {name: classify, service: svc, path: /v1/classify, input: {}}
      - name: route
        switch:
          by: $steps.classify.label
          cases:
            - when: [cat, lion]
              steps: [{name: feline, service: svc, path: /v1/feline, input: {}}]
            - when: [dog]
              steps: [{name: canine, service: svc, path: /v1/canine, input: {}}]
          default:
            - {name: other, service: svc, path: /v1/other, input: {}}
""")

RETRY = pipeline("""
    name: retry
    steps:
      - name: flaky
        service: svc
        path: /v1/flaky
        input: {}
        timeout_s: 1
        retries: {attempts: 3, backoff_s: 0.01, max_backoff_s: 0.02}
""")

SOFT = pipeline("""
    name: soft
    steps:
      - {name: opt, service: svc, path: /v1/opt, input: {}, dependency: soft}
      - {name: after, service: svc, path: /v1/after, input: {got: $steps.opt}}
""")

SLOW = pipeline("""
    name: slow
    timeout_s: 0.5
    steps:
      - {name: a, service: svc, path: /v1/a, input: {}, timeout_s: 5}
      - {name: b, service: svc, path: /v1/b, input: {}, timeout_s: 5}
""")

ALL = {p.name: p for p in (SEQ, PAR, SWITCH, RETRY, SOFT, SLOW)}


@pytest.fixture
def orch(redis_url: str, steps: StepServiceThread):  # type: ignore[no-untyped-def]
    with OrchestratorThread(settings_for(redis_url, {"svc": steps.url}), ALL) as o:
        yield o


def behave(steps: StepServiceThread, **routes: dict[str, object]) -> None:
    httpx.post(steps.url + "/admin/behaviour", json=routes).raise_for_status()


def calls(steps: StepServiceThread) -> dict[str, object]:
    return httpx.get(steps.url + "/admin/calls").json()  # type: ignore[no-any-return]


def test_sequence_maps_outputs_to_inputs(
    orch: OrchestratorThread, steps: StepServiceThread
) -> None:
    r = orch.client.post("/v1/pipelines/seq/run", json={"input": {"text": "hello"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded"
    assert body["result"] == {"echoed": "hello", "tag": "$literal"}
    assert set(body["timing"]["step_ms"]) == {"first", "second"}
    seen = calls(steps)["calls"]
    assert [c["route"] for c in seen] == ["first", "second"]
    # one idempotency key per step call, and the deadline travels with every call
    keys = [c["key"] for c in seen]
    assert keys == [f"{body['id']}:first", f"{body['id']}:second"]
    assert all(0 < int(c["deadline_ms"]) <= 30_000 for c in seen)


def test_parallel_branches_run_at_once(orch: OrchestratorThread, steps: StepServiceThread) -> None:
    behave(steps, left={"latency_ms": 300}, right={"latency_ms": 300})
    r = orch.client.post("/v1/pipelines/par/run", json={"input": {"x": 7}})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["join"]["input"] == {"l": 7, "r": 7}
    arrived = {c["route"]: c["t"] for c in calls(steps)["calls"]}
    # one after the other, the second would arrive >= 300 ms after the first
    assert abs(arrived["left"] - arrived["right"]) < 0.15
    timing = r.json()["timing"]
    # the critical path counts the slower branch once, not both
    assert timing["steps_ms"] < timing["step_ms"]["left"] + timing["step_ms"]["right"]


@pytest.mark.parametrize(
    ("label", "taken", "case"),
    [
        ("lion", "feline", "lion"),
        ("dog", "canine", "dog"),
        ("fish", "other", "default"),
    ],
)
def test_switch_on_a_previous_output(
    orch: OrchestratorThread, steps: StepServiceThread, label: str, taken: str, case: str
) -> None:
    behave(steps, classify={"reply": {"label": label}})
    r = orch.client.post("/v1/pipelines/sw/run", json={"input": {}})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["route"] == {"case": case, "value": label}
    assert [c["route"] for c in calls(steps)["calls"]] == ["classify", taken]


def test_5xx_is_retried_with_the_same_key(
    orch: OrchestratorThread, steps: StepServiceThread
) -> None:
    behave(steps, flaky={"fail": [503, 500]})
    r = orch.client.post("/v1/pipelines/retry/run", json={"input": {}})
    assert r.status_code == 200, r.text
    seen = calls(steps)["calls"]
    assert [c["status"] for c in seen] == [503, 500, 200]
    assert len({c["key"] for c in seen}) == 1
    run = orch.client.get(f"/v1/runs/{r.json()['id']}").json()
    assert run["steps"]["flaky"]["attempts"] == 3
    metrics = orch.client.get("/metrics").text
    assert 'orchestrator_step_retries_total{pipeline="retry",step="flaky"} 2.0' in metrics


def test_4xx_is_not_retried(orch: OrchestratorThread, steps: StepServiceThread) -> None:
    behave(steps, flaky={"fail": [422, 422]})
    r = orch.client.post("/v1/pipelines/retry/run", json={"input": {}})
    assert r.status_code == 502
    body = r.json()
    assert body["type"] == "StepFailed"
    assert body["field"] == "steps.flaky"
    assert "422" in body["error"]
    assert len(calls(steps)["calls"]) == 1


def test_timeouts_are_not_retried(orch: OrchestratorThread, steps: StepServiceThread) -> None:
    behave(steps, flaky={"latency_ms": 1500})
    r = orch.client.post("/v1/pipelines/retry/run", json={"input": {}})
    assert r.status_code == 502, r.text
    assert "no answer within" in r.json()["error"]
    assert len(calls(steps)["calls"]) == 1


def test_connection_errors_are_retried(redis_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    with OrchestratorThread(settings_for(redis_url, {"svc": dead}), ALL) as o:
        r = o.client.post("/v1/pipelines/retry/run", json={"input": {}})
        assert r.status_code == 502
        run = o.client.get(f"/v1/runs/{r.json()['run']['id']}").json()
        assert run["status"] == "failed"
        assert run["steps"]["flaky"]["attempts"] == 3
        assert "Cannot connect" in run["steps"]["flaky"]["error"]


def test_soft_dependency_failure_gives_null(
    orch: OrchestratorThread, steps: StepServiceThread
) -> None:
    behave(steps, opt={"fail": [400]})
    r = orch.client.post("/v1/pipelines/soft/run", json={"input": {}})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["opt"] is None
    assert r.json()["result"]["after"]["input"] == {"got": None}


def test_deadline_bounds_every_step(orch: OrchestratorThread, steps: StepServiceThread) -> None:
    behave(steps, a={"latency_ms": 350}, b={"latency_ms": 350})
    r = orch.client.post("/v1/pipelines/slow/run", json={"input": {}})
    assert r.status_code == 504, r.text
    seen = calls(steps)["calls"]
    assert int(seen[0]["deadline_ms"]) <= 500
    if len(seen) > 1:  # on a slow machine the deadline may pass before b is even sent
        assert int(seen[1]["deadline_ms"]) <= 150  # what was left, not the step's 5 s


def test_async_run_and_listing(orch: OrchestratorThread, steps: StepServiceThread) -> None:
    behave(steps, first={"latency_ms": 200})
    r = orch.client.post("/v1/pipelines/seq/runs", json={"input": {"text": "a"}})
    assert r.status_code == 202
    run_id = r.json()["id"]
    assert orch.client.get(f"/v1/runs/{run_id}").json()["status"] in ("running", "pending")
    deadline = time.monotonic() + 5
    while (run := orch.client.get(f"/v1/runs/{run_id}").json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert run["status"] == "succeeded"
    assert run["result"] == {"echoed": "a", "tag": "$literal"}
    assert run["steps"]["first"]["status"] == "done"
    listed = orch.client.get("/v1/runs", params={"pipeline": "seq"}).json()["runs"]
    assert [x["id"] for x in listed] == [run_id]
    assert orch.client.get("/v1/runs", params={"status": "failed"}).json()["runs"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/pipelines/nope/run", {"input": {}}, 404, "pipeline"),
        ("/v1/pipelines/seq/run", {"input": {}}, 400, "input"),
        ("/v1/pipelines/seq/run", {"input": {"text": 3}}, 400, "input.text"),
        ("/v1/pipelines/seq/run", {"inputs": {}}, 400, "input"),
        ("/v1/pipelines/seq/run", {"input": {"text": "x"}, "timeout_s": -1}, 400, "timeout_s"),
        ("/v1/pipelines/seq/run", "not json", 400, "body"),
    ],
)
def test_bad_requests_name_the_field(
    orch: OrchestratorThread, path: str, body: object, status: int, field: str
) -> None:
    if isinstance(body, str):
        r = orch.client.post(path, content=body)
    else:
        r = orch.client.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert "error" in r.json()


def test_unknown_run_is_404(orch: OrchestratorThread) -> None:
    r = orch.client.get("/v1/runs/doesnotexist")
    assert r.status_code == 404
    assert r.json()["type"] == "RunNotFound"


def test_metrics_and_health(orch: OrchestratorThread) -> None:
    assert orch.client.get("/v2/health/live").status_code == 200
    assert orch.client.get("/v2/health/ready").json() == {"ready": True, "state": "ready"}
    orch.client.post("/v1/pipelines/seq/run", json={"input": {"text": "m"}})
    orch.client.post("/v1/pipelines/seq/run", json={"input": {}})
    text = orch.client.get("/metrics").text
    assert 'orchestrator_runs_total{outcome="succeeded",pipeline="seq"} 1.0' in text
    assert 'orchestrator_runs_total{outcome="rejected",pipeline="seq"} 1.0' in text
    assert 'orchestrator_step_duration_seconds_count{pipeline="seq",step="first"} 1.0' in text
    assert 'orchestrator_run_overhead_seconds_count{pipeline="seq"} 1.0' in text


def test_pipelines_listing(orch: OrchestratorThread) -> None:
    body = orch.client.get("/v1/pipelines").json()
    names = {p["name"]: p for p in body["pipelines"]}
    assert set(names) == set(ALL)
    assert names["sw"]["steps"][1]["switch"]["by"] == "$steps.classify.label"
    assert all(p["available"] for p in names.values())


def test_any_json_body_gets_a_clear_answer_never_a_500(
    orch: OrchestratorThread, steps: StepServiceThread
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.integers()
        | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["input", "timeout_s", "text", "x"]), inner, max_size=3
            )
        ),
        max_leaves=8,
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=json_values)
    def check(body: object) -> None:
        r = orch.client.post("/v1/pipelines/seq/run", json=body)
        assert r.status_code in (200, 400, 504), r.text  # 504: a timeout_s too short
        if r.status_code != 200:
            assert r.json()["field"]
            assert r.json()["error"]

    check()
