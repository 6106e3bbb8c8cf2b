"""The image classifier behind the server: uploads, base64, and every bad input."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from modelserve.common.app import create_app
from modelserve.common.errors import ModelServeError
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import wait_until
from modelserve.vision.app import ROUTE
from PIL import Image
from starlette.testclient import TestClient


def _png(size: int = 8, value: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    from modelserve.vision.model import VisionModel
    from modelserve.vision.settings import VisionSettings

    model = VisionModel(VisionSettings(max_image_bytes=20_000, threads=1))
    try:
        model.load()
    except ModelServeError as exc:
        pytest.skip(f"vision model not built (run `msai models build`): {exc}")
    settings = ServerSettings(drain_delay_s=0, drain_deadline_s=2, max_body_bytes=200_000)
    with TestClient(create_app(model, settings, ROUTE)) as c:
        wait_until(lambda: c.get("/v2/health/ready").status_code == 200, timeout=60)
        yield c


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_base64_json_one_and_many(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"image_b64": _b64(_png()), "top_k": 3})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 3
    assert preds[0]["score"] >= preds[1]["score"]
    r = client.post("/v1/classify", json={"images": [{"image_b64": _b64(_png())}] * 3})
    assert len(r.json()["results"]) == 3


def test_multipart_upload(client: TestClient) -> None:
    r = client.post("/v1/classify", files={"image": ("d.png", _png(), "image/png")})
    assert r.status_code == 200, r.text
    files = [("images", (f"{i}.png", _png(value=i * 40), "image/png")) for i in range(3)]
    assert len(client.post("/v1/classify", files=files).json()["results"]) == 3


def test_v2_bytes_input(client: TestClient) -> None:
    body = {
        "inputs": [
            {
                "name": "image",
                "datatype": "BYTES",
                "shape": [2],
                "data": [_b64(_png()), _b64(_png(value=9))],
            }
        ]
    }
    r = client.post("/v2/models/vision/infer", json=body)
    assert r.status_code == 200, r.text
    outs = {o["name"]: o for o in r.json()["outputs"]}
    assert outs["probabilities"]["shape"][0] == 2


BAD: list[tuple[str, Any, int, str]] = [
    ("json", {"image_b64": _b64(b"definitely not an image")}, 400, "body.image_b64"),
    ("json", {"image_b64": "%%% not base64"}, 400, "body.image_b64"),
    ("json", {"image_b64": 42}, 400, "body.image_b64"),
    ("json", {"image_b64": _b64(_png(size=400) + b"\0" * 30_000)}, 413, "body.image_b64"),
    (
        "json",
        {"images": [{"image_b64": _b64(_png())}, {"image_b64": "@@"}]},
        400,
        "images[1].image_b64",
    ),
    ("json", {"image_b64": _b64(_png()), "top_k": 0}, 400, "body.top_k"),
    ("multipart", b"not an image at all", 400, "image"),
    ("multipart", b"\x89PNG" + b"\0" * 25_000, 413, "image"),
    (
        "v2",
        {
            "inputs": [
                {"name": "image", "datatype": "FP32", "shape": [1, 3, 8, 8], "data": [0.0] * 192}
            ]
        },
        400,
        "inputs[0].shape",
    ),
    (
        "v2",
        {"inputs": [{"name": "image", "datatype": "INT32", "shape": [1], "data": [1]}]},
        400,
        "inputs[0].datatype",
    ),
    (
        "v2",
        {
            "inputs": [
                {"name": "image", "datatype": "BYTES", "shape": [1], "data": [_b64(b"GIF89a nope")]}
            ]
        },
        400,
        "image.data[0]",
    ),
]


@pytest.mark.parametrize(("kind", "payload", "status", "field"), BAD)
def test_bad_images(client: TestClient, kind: str, payload: Any, status: int, field: str) -> None:
    if kind == "json":
        r = client.post("/v1/classify", json=payload)
    elif kind == "multipart":
        r = client.post("/v1/classify", files={"image": ("x.png", payload, "image/png")})
    else:
        r = client.post("/v2/models/vision/infer", json=payload)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert client.get("/v2/health/live").status_code == 200
