"""Property tests of the Open Inference Protocol request parser."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.common.errors import BadInput
from modelserve.common.model import TensorSpec
from modelserve.common.oip import flatten, parse_infer_request
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import FakeSettings, create_fake_app, wait_until
from starlette.testclient import TestClient

SPECS = [TensorSpec("text", "BYTES", [-1]), TensorSpec("pixels", "FP32", [-1, 2, 3])]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


def _nest(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) <= 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], list[float]]:
    n = draw(st.integers(1, 5))
    texts = draw(st.lists(st.text(max_size=8), min_size=n, max_size=n))
    m = draw(st.integers(1, 3))
    pixels = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=m * 6, max_size=m * 6))
    nested = draw(st.booleans())
    body = {
        "id": draw(st.none() | st.text(max_size=5)),
        "inputs": [
            {"name": "text", "shape": [n], "datatype": "BYTES", "data": texts},
            {
                "name": "pixels",
                "shape": [m, 2, 3],
                "datatype": "FP32",
                "data": _nest(pixels, [m, 2, 3]) if nested else pixels,
            },
        ],
    }
    if draw(st.booleans()):
        body["inputs"].reverse()
    return body, texts, pixels


@given(valid_requests())
def test_valid_requests_parse_to_flat_data(
    case: tuple[dict[str, Any], list[str], list[float]],
) -> None:
    body, texts, pixels = case
    req = parse_infer_request(json.loads(json.dumps(body)), SPECS)
    by_name = {t["name"]: t for t in req.inputs}
    assert by_name["text"]["data"] == texts
    assert by_name["pixels"]["data"] == pixels
    assert math.prod(by_name["pixels"]["shape"]) == len(pixels)
    assert req.id == body["id"]


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_is_refused_with_a_field_or_accepted(body: Any) -> None:
    error: BadInput | None = None
    try:
        parse_infer_request(body, SPECS)
    except BadInput as exc:
        error = exc
    if error is not None:
        assert error.status == 400
        assert error.field
        assert error.field.split("[")[0].split(".")[0] in {
            "body",
            "id",
            "inputs",
            "parameters",
            "outputs",
        }


@given(valid_requests(), st.data())
def test_corrupting_one_tensor_is_refused_naming_it(
    case: tuple[dict[str, Any], list[str], list[float]], data: st.DataObject
) -> None:
    body, _, _ = case
    i = data.draw(st.integers(0, 1))
    tensor = body["inputs"][i]
    how = data.draw(st.sampled_from(["shape", "datatype", "count", "element", "name"]))
    if how == "shape":
        tensor["shape"] = [*tensor["shape"], 1, 2]
    elif how == "datatype":
        tensor["datatype"] = data.draw(st.sampled_from(["INT32", "BOOL", "FP16", "TEXT"]))
    elif how == "count":
        tensor["data"] = [*flatten(tensor["data"], "x"), tensor["data"][0]]
    elif how == "element":
        tensor["data"] = [{"x": 1}, *flatten(tensor["data"], "x")[1:]]
    else:
        tensor["name"] = "nope"
    with pytest.raises(BadInput) as err:
        parse_infer_request(body, SPECS)
    assert err.value.field is not None
    assert err.value.field.startswith(f"inputs[{i}]"), (how, err.value.field)


@given(st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=3), max_leaves=30))
def test_flatten_keeps_row_major_order(data: Any) -> None:
    def walk(x: Any) -> list[Any]:
        return [y for item in x for y in walk(item)] if isinstance(x, list) else [x]

    assert flatten(data, "d") == walk(data)


@pytest.fixture(scope="module")
def fake_client() -> Iterator[TestClient]:
    app = create_fake_app(
        ServerSettings(max_body_bytes=4096), FakeSettings(batch_cost_ms=0, item_cost_ms=0)
    )
    with TestClient(app) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200)
        yield c


@settings(max_examples=150, deadline=None)
@given(body=json_values)
def test_any_json_on_any_route_is_answered_never_a_500(fake_client: TestClient, body: Any) -> None:
    for path in ("/v1/echo", "/v2/models/fake/infer"):
        r = fake_client.post(path, json=body)
        assert r.status_code in (200, 400, 413), (path, body, r.text)
        if r.status_code != 200:
            assert r.json()["field"]


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_answered_never_a_500(fake_client: TestClient, raw: bytes) -> None:
    r = fake_client.post("/v1/echo", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 413)
    if r.status_code != 200:
        assert r.json()["field"] == "body" or r.json()["field"].startswith("text")
