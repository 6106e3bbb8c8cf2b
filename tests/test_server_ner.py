"""The NER model behind the server: texts in, entities out, and every bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from modelserve.common.app import create_app
from modelserve.common.errors import ModelServeError
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import wait_until
from modelserve.ner.app import ROUTE
from starlette.testclient import TestClient

TEXT = "Angela Merkel met Tim Cook of Apple in Paris on Tuesday."


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    from modelserve.ner.model import NerModel
    from modelserve.ner.settings import NerSettings

    model = NerModel(NerSettings(max_text_chars=300, threads=1))
    try:
        model.load()
    except ModelServeError as exc:
        pytest.skip(f"NER model not built (run `msai models build`): {exc}")
    settings = ServerSettings(drain_delay_s=0, drain_deadline_s=2, max_body_bytes=20_000)
    with TestClient(create_app(model, settings, ROUTE)) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200, timeout=60)
        yield c


def test_entities_with_offsets(client: TestClient) -> None:
    r = client.post("/v1/ner", json={"text": TEXT})
    assert r.status_code == 200, r.text
    entities = r.json()["entities"]
    assert entities
    for e in entities:
        assert TEXT[e["start"] : e["end"]] == e["text"]
        assert e["label"] in {"PER", "ORG", "LOC", "MISC"}
        assert 0 <= e["score"] <= 1


def test_lists_of_texts_as_strings_or_objects(client: TestClient) -> None:
    r = client.post("/v1/ner", json={"texts": [TEXT, {"text": "Siemens opened in Munich."}]})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 2
    single = client.post("/v1/ner", json={"text": TEXT}).json()
    assert r.json()["results"][0] == single  # batching changes nothing


def test_v2_bytes(client: TestClient) -> None:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": [TEXT, TEXT]}]}
    r = client.post("/v2/models/ner/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [2]


BAD: list[tuple[str, Any, int, str]] = [
    ("json", {"text": ""}, 400, "body.text"),
    ("json", {"text": "   "}, 400, "body.text"),
    ("json", {"text": 7}, 400, "body.text"),
    ("json", {"text": "x" * 301}, 413, "body.text"),
    ("json", {"texts": ["fine", ""]}, 400, "texts[1]"),
    ("json", {"texts": ["fine", ["nested"]]}, 400, "texts[1]"),
    ("json", {"texts": ["y" * 400]}, 413, "texts[0]"),
    ("json", {"texts": "not a list"}, 400, "texts"),
    ("json", {"txt": "typo"}, 400, "body.txt"),
    ("json", {"text": "z" * 25_000}, 413, "body"),
    (
        "v2",
        {"inputs": [{"name": "text", "datatype": "INT64", "shape": [1], "data": [1]}]},
        400,
        "inputs[0].datatype",
    ),
    (
        "v2",
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": ["a"]}]},
        400,
        "inputs[0].shape",
    ),
    (
        "v2",
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [""]}]},
        400,
        "text.data[0]",
    ),
]


@pytest.mark.parametrize(("kind", "payload", "status", "field"), BAD)
def test_bad_text(client: TestClient, kind: str, payload: Any, status: int, field: str) -> None:
    path = "/v1/ner" if kind == "json" else "/v2/models/ner/infer"
    r = client.post(path, json=payload)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert client.get("/v2/health/live").status_code == 200


@pytest.mark.gpu
def test_serves_on_cuda_when_asked(tmp_path: Any) -> None:
    """With a CUDA build of ONNX Runtime the server runs the model on the GPU."""
    import httpx
    from modelserve.common.testing import http_ready, start_replica

    from harness.ports import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_replica("ner", port, {"MSAI_NER_DEVICE": "cuda"}, str(tmp_path / "log"))
    try:
        wait_until(lambda: http_ready(base) or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, (tmp_path / "log").read_text()[-2000:]
        assert httpx.get(f"{base}/v2/models/ner").json()["extra"]["device"] == "cuda"
        r = httpx.post(f"{base}/v1/ner", json={"texts": [TEXT] * 32})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
