"""The server's routes, states and bad-input answers, against the shipped FakeModel."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from modelserve.common.server_settings import ServerSettings, load_server_settings
from modelserve.common.testing import FakeSettings, create_fake_app, wait_until
from starlette.testclient import TestClient

V2 = "/v2/models/fake/infer"


def _client(**fake: Any) -> TestClient:
    settings = ServerSettings(max_body_bytes=4096, drain_delay_s=0, drain_deadline_s=2)
    return TestClient(create_fake_app(settings, FakeSettings(**fake)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with _client(max_text_chars=50) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        yield c


def _tensor(data: Any, shape: Any = None, datatype: str = "BYTES", name: str = "text") -> dict:
    return {
        "name": name,
        "shape": [len(data)] if shape is None else shape,
        "datatype": datatype,
        "data": data,
    }


def test_loading_answers_503_never_200_then_ready() -> None:
    with _client(load_s=1.5) as c:
        r = c.get("/v2/health/ready")
        assert r.status_code == 503
        assert r.json() == {"ready": False, "state": "loading"}
        assert r.headers["retry-after"] == "1"
        assert c.get("/v2/models/fake/ready").status_code == 503
        assert c.post("/v1/echo", json={"text": "hi"}).status_code == 503
        assert c.get("/v2/models/fake").status_code == 503
        assert c.get("/v2/health/live").status_code == 200
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        assert c.get("/v2/models/fake/ready").json() == {"ready": True}


def test_failed_load_stays_503_and_names_the_error() -> None:
    with _client(fail_load=True) as c:
        wait_until(lambda: c.get("/v2/health/ready").json().get("state") == "failed")
        body = c.get("/v2/health/ready").json()
        assert "fail_load" in body["error"]
        r = c.post("/v1/echo", json={"text": "hi"})
        assert r.status_code == 503
        assert r.json()["field"] == "model"


def test_metadata_routes(client: TestClient) -> None:
    assert client.get("/v2").json()["name"] == "modelserve"
    meta = client.get("/v2/models/fake").json()
    assert meta["name"] == "fake"
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["state"] == "ready"


def test_v2_infer_and_list_of_inputs(client: TestClient) -> None:
    r = client.post(V2, json={"id": "r1", "inputs": [_tensor(["ab", "cde"])]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "fake"
    assert body["id"] == "r1"
    outs = {o["name"]: o for o in body["outputs"]}
    assert outs["upper"]["data"] == ["AB", "CDE"]
    assert outs["length"] == {"name": "length", "datatype": "INT64", "shape": [2], "data": [2, 3]}
    r = client.post(V2, json={"inputs": [_tensor(["x"])], "outputs": [{"name": "length"}]})
    assert [o["name"] for o in r.json()["outputs"]] == ["length"]


def test_json_route_one_and_many(client: TestClient) -> None:
    assert client.post("/v1/echo", json={"text": "hey"}).json() == {"upper": "HEY", "length": 3}
    r = client.post("/v1/echo", json={"texts": ["a", "bb"]})
    assert r.json() == {"results": [{"upper": "A", "length": 1}, {"upper": "BB", "length": 2}]}


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    r = client.post("/v1/echo", json={"text": "a"}, headers={"x-request-id": "abc-1"})
    assert r.headers["x-request-id"] == "abc-1"
    made = client.post("/v1/echo", json={"text": "a"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    err = client.post("/v1/echo", content=b"{", headers={"x-request-id": "abc-2"})
    assert err.json()["request_id"] == "abc-2"
    # A repeated header counts once, with its first value (as Starlette's Headers.get).
    twice = [("x-request-id", "first"), ("x-request-id", "second")]
    r = client.post("/v1/echo", json={"text": "a"}, headers=twice)
    assert r.headers.get_list("x-request-id") == ["first"]


BAD_JSON_ROUTE = [
    # (body bytes or json, status, field)
    (b"{not json", 400, "body"),
    (b"", 400, "body"),
    (b"[1, 2]", 400, "body"),
    ({"text": 12}, 400, "text"),
    ({"text": None}, 400, "text"),
    ({"text": ""}, 400, "text"),
    ({"text": "   "}, 400, "text"),
    ({"text": "x" * 51}, 413, "text"),
    ({"texts": "abc"}, 400, "texts"),
    ({"texts": []}, 400, "texts"),
    ({"texts": ["ok", 3]}, 400, "texts[1]"),
    ({"texts": ["ok", "y" * 60]}, 413, "texts[1]"),
    ({"text": "a", "texts": ["b"]}, 400, "texts"),
    ({"other": "a"}, 400, "text"),
    ({"text": "z" * 5000}, 413, "body"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_JSON_ROUTE)
def test_bad_input_on_json_route(client: TestClient, body: Any, status: int, field: str) -> None:
    if isinstance(body, bytes):
        r = client.post("/v1/echo", content=body, headers={"content-type": "application/json"})
    else:
        r = client.post("/v1/echo", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert r.json()["error"]
    assert client.get("/v2/health/live").status_code == 200  # nothing crashed


BAD_V2 = [
    ({"inputs": []}, 400, "inputs"),
    ({"inputs": "x"}, 400, "inputs"),
    ({}, 400, "inputs"),
    ({"inputs": [_tensor(["a"], datatype="FP32")]}, 400, "inputs[0].datatype"),
    ({"inputs": [_tensor(["a", "b"], shape=[1, 2])]}, 400, "inputs[0].shape"),
    ({"inputs": [_tensor(["a", "b"], shape=[3])]}, 400, "inputs[0].data"),
    ({"inputs": [_tensor(["a"], shape=[-1])]}, 400, "inputs[0].shape"),
    ({"inputs": [_tensor([1])]}, 400, "inputs[0].data[0]"),
    ({"inputs": [_tensor(["a"], name="nope")]}, 400, "inputs[0].name"),
    ({"inputs": [_tensor(["a"], datatype="STRING")]}, 400, "inputs[0].datatype"),
    ({"inputs": [_tensor(["a"]), _tensor(["b"])]}, 400, "inputs[1].name"),
    ({"inputs": [_tensor([""])]}, 400, "inputs[0].data[0]"),
    ({"inputs": [_tensor(["q" * 51])]}, 413, "inputs[0].data[0]"),
    ({"inputs": [_tensor(["a"])], "outputs": [{"name": "nope"}]}, 400, "outputs"),
    ({"inputs": [_tensor(["a"])], "id": 5}, 400, "id"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_V2)
def test_bad_input_on_v2_route(client: TestClient, body: Any, status: int, field: str) -> None:
    r = client.post(V2, json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field


def test_unknown_model_and_path_are_json_404(client: TestClient) -> None:
    for r in (
        client.post("/v2/models/other/infer", json={"inputs": [_tensor(["a"])]}),
        client.get("/v2/models/other"),
        client.get("/v2/models/other/ready"),
    ):
        assert r.status_code == 404
        assert r.json()["field"] == "model"
    r = client.get("/no/such/path")
    assert r.status_code == 404
    assert r.json()["field"] == "path"
    assert client.get(V2).status_code == 405


def test_deadline_headers_are_checked(client: TestClient) -> None:
    for name, value in [
        ("x-request-deadline-ms", "soon"),
        ("x-request-deadline-ms", "-5"),
        ("grpc-timeout", "10x"),
        ("x-envoy-expected-rq-timeout-ms", "nan"),
    ]:
        r = client.post("/v1/echo", json={"text": "a"}, headers={name: value})
        assert r.status_code == 400, (name, value)
        assert r.json()["field"] == name
    ok = client.post("/v1/echo", json={"text": "a"}, headers={"grpc-timeout": "500m"})
    assert ok.status_code == 200


def test_a_request_that_would_be_shed_is_refused_before_its_body_is_parsed() -> None:
    with _client(batch_cost_ms=50) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        assert c.post("/v1/echo", json={"text": "warm"}).status_code == 200  # a pass: ~50 ms

        def malformed(deadline_ms: str) -> Any:
            headers = {"content-type": "application/json", "x-request-deadline-ms": deadline_ms}
            return c.post("/v1/echo", content=b"{not json", headers=headers)

        hurried = malformed("5")
        # One pass ahead (~50 ms) is over its 5 ms: shed as such, without reading the JSON.
        assert hurried.status_code == 503
        assert hurried.json()["reason"] == "deadline"
        assert hurried.headers["retry-after"] == "1"
        patient = malformed("5000")
        assert patient.status_code == 400  # admitted, then parsed: the body's own error
        assert patient.json()["field"] == "body"


def test_item_failing_in_the_model_names_its_field(client: TestClient) -> None:
    r = client.post("/v1/echo", json={"texts": ["fine", "poison pill"]})
    assert r.status_code == 500
    assert r.json()["field"] == "texts[1]"
    assert "poison" in r.json()["error"]


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not exported")


def test_metrics_follow_the_contract(client: TestClient) -> None:
    before = client.get("/metrics").text
    # Pre-initialised so rate() sees the first error.
    for code in ("200", "400", "413", "429", "500", "503"):
        for route in ("v2", "json"):
            assert _metric(before, "modelserve_requests_total", code=code, route=route) == 0
    for reason in ("queue_full", "deadline", "draining"):
        assert _metric(before, "modelserve_shed_total", reason=reason) == 0
    assert _metric(before, "modelserve_model_ready", model="fake") == 1
    assert _metric(before, "modelserve_pending_requests", model="fake") == 0
    assert _metric(before, "modelserve_model_load_seconds", model="fake") >= 0
    assert _metric(before, "modelserve_fault_injections_total", fault="latency") == 0
    client.post("/v1/echo", json={"texts": ["a", "b", "c"]})
    client.post("/v1/echo", json={"text": 1})
    after = client.get("/metrics").text
    assert _metric(after, "modelserve_requests_total", code="200", route="json") == 1
    assert _metric(after, "modelserve_requests_total", code="400", route="json") == 1
    assert _metric(after, "modelserve_request_duration_seconds_count", route="json") == 2
    assert _metric(after, "modelserve_batch_size_sum", model="fake") == 3
    assert _metric(after, "modelserve_queue_wait_seconds_count", model="fake") == 3
    assert _metric(after, "modelserve_inference_seconds_count", model="fake") >= 1


def test_settings_follow_values_yaml_names() -> None:
    env = {
        "MSAI_NER_MAX_BATCH_SIZE": "8",
        "MSAI_NER_MAX_QUEUE_DELAY_MS": "2.5",
        "MSAI_NER_QUEUE_CAPACITY": "64",
        "MSAI_NER_DEFAULT_DEADLINE_MS": "300",
    }
    s = load_server_settings("MSAI_NER_", env, max_batch_size=32)
    assert (s.max_batch_size, s.max_queue_delay_ms, s.queue_capacity, s.default_deadline_ms) == (
        8,
        2.5,
        64,
        300,
    )
    assert load_server_settings("MSAI_VISION_", {}, max_batch_size=32).max_batch_size == 32
    from modelserve.common.errors import ConfigError

    with pytest.raises(ConfigError, match="MSAI_NER_QUEUE_CAPACITY"):
        load_server_settings("MSAI_NER_", {"MSAI_NER_QUEUE_CAPACITY": "many"})
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        load_server_settings("MSAI_NER_", {"MSAI_NER_FAULT_HOOKS": "1"})


def test_multipart_upload_uses_the_models_bytes_parser() -> None:
    # The fake has no parse_bytes: uploads reach parse_json as base64 text.
    from modelserve.common.app import JsonRoute, create_app
    from modelserve.common.testing import FakeModel

    route = JsonRoute(path="/v1/echo", many="texts", one="text", multipart=True)
    app = create_app(FakeModel(), ServerSettings(), route)
    with TestClient(app) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        r = c.post("/v1/echo", files={"text": ("a.txt", b"hello", "text/plain")})
        assert r.status_code == 200, r.text
        assert r.json()["upper"] == base64.b64encode(b"hello").decode().upper()
        files = [("texts", ("a", b"x", "text/plain")), ("texts", ("b", b"yy", "text/plain"))]
        assert len(c.post("/v1/echo", files=files).json()["results"]) == 2


def test_version_routes(client: TestClient) -> None:
    body = {"inputs": [_tensor(["a"])]}
    assert client.post("/v2/models/fake/versions/1/infer", json=body).status_code == 200
    assert client.get("/v2/models/fake/versions/1/ready").json() == {"ready": True}
    assert client.get("/v2/models/fake/versions/1").json()["name"] == "fake"
    r = client.post("/v2/models/fake/versions/9/infer", json=body)
    assert r.status_code == 404
    assert r.json()["field"] == "version"


def test_parse_pool_gives_the_same_answers_and_errors() -> None:
    # Every body over 0 bytes is parsed on the pool.
    settings = ServerSettings(
        parse_workers=2, inline_parse_bytes=0, max_body_bytes=4096, drain_delay_s=0
    )
    with TestClient(create_fake_app(settings, FakeSettings(max_text_chars=50))) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        assert c.post("/v1/echo", json={"texts": ["a", "b"]}).json()["results"][1]["upper"] == "B"
        bad = c.post("/v1/echo", json={"texts": ["a", "x" * 60]})
        assert (bad.status_code, bad.json()["field"]) == (413, "texts[1]")
        r = c.post(V2, json={"inputs": [_tensor(["q"])]})
        assert r.json()["outputs"][0]["data"] == ["Q"]


def test_inference_posts_skip_starlettes_stack_and_nothing_else_does(client: TestClient) -> None:
    """The short way (``_ServerApp``) is taken by exactly the inference POSTs; the rest still
    reach Starlette's middleware and router, and unmatched look-alikes get its answers."""
    app: Any = client.app
    app.middleware_stack = app.build_middleware_stack()
    seen: list[str] = []
    stack = app.middleware_stack

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        seen.append(f"{scope.get('method')} {scope['path']}")
        await stack(scope, receive, send)

    app.middleware_stack = spy
    body = {"inputs": [_tensor(["a"])]}
    assert client.post("/v1/echo", json={"text": "a"}).status_code == 200
    assert client.post(V2, json=body).status_code == 200
    assert client.post("/v2/models/fake/versions/1/infer", json=body).status_code == 200
    assert client.post("/v2/models/other/infer", json=body).json()["field"] == "model"
    assert seen == []
    for path in (
        "/v2/models//infer",
        "/v2/models/fake/extra/infer",
        "/v2/models/fake/versions//infer",
        "/v2/models/fake/versions/1/x/infer",
    ):
        r = client.post(path, json=body)
        assert (r.status_code, r.json()["field"]) == (404, "path"), path
    assert client.get(V2).status_code == 405
    assert client.get("/v2/health/ready").status_code == 200
    assert seen == [
        "POST /v2/models//infer",
        "POST /v2/models/fake/extra/infer",
        "POST /v2/models/fake/versions//infer",
        "POST /v2/models/fake/versions/1/x/infer",
        f"GET {V2}",
        "GET /v2/health/ready",
    ]


def test_a_single_item_failing_in_the_model_names_its_field(client: TestClient) -> None:
    r = client.post("/v1/echo", json={"text": "poison pill"})
    assert r.status_code == 500
    assert r.json()["field"] == "text"
    assert client.post("/v1/echo", json={"text": "fine"}).status_code == 200
