"""Route table, payload data (committed, reproducible) and rendered request bodies."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import ConfigError
from harness.platform.base import Endpoint
from loadtests.payloads import DATA_DIR, digit_images, document_images, load_payloads, read_texts
from loadtests.routes import build_targets, load_routes


def test_texts_are_realistic_lengths() -> None:
    texts = read_texts()
    assert len(texts) >= 40
    tokens = [len(t.split()) for t in texts]
    assert 24 <= sum(tokens) / len(tokens) <= 36


def test_committed_images_are_what_the_builder_makes() -> None:
    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)))

    built = digit_images()
    files = sorted((DATA_DIR / "digits").glob("*.png"))
    assert len(files) == len(built) == 20
    labels = json.loads((DATA_DIR / "digits" / "labels.json").read_text())
    for path, (label, png) in zip(files, built, strict=True):
        assert np.array_equal(pixels(path.read_bytes()), pixels(png)), path
        assert labels[path.name] == label
    docs = document_images(read_texts())
    doc_files = sorted((DATA_DIR / "documents").glob("*.png"))
    assert len(doc_files) == len(docs)
    for path, png in zip(doc_files, docs, strict=True):
        assert np.array_equal(pixels(path.read_bytes()), pixels(png)), path


def test_every_route_renders_json_bodies_for_its_endpoint() -> None:
    routes = load_routes()
    assert {"ner", "vision", "document-entities", "text-insights", "image-triage"} <= set(routes)
    endpoints = {
        name: Endpoint(name, f"http://127.0.0.1:9/{name}", name)
        for name in ("ner", "vision", "orchestrator")
    }
    targets = build_targets(routes, {k: e.url for k, e in endpoints.items()})
    assert targets["ner"].url == "http://127.0.0.1:9/ner/v1/ner"
    assert targets["text-insights"].url.endswith("/orchestrator/v1/pipelines/text-insights/run")
    ner = json.loads(targets["ner"].bodies[0])
    assert ner == {"text": read_texts()[0]}
    vision = json.loads(targets["vision"].bodies[3])
    Image.open(io.BytesIO(base64.b64decode(vision["image_b64"]))).verify()
    assert len(targets["vision"].bodies) == 20
    doc = json.loads(targets["document-entities"].bodies[0])
    assert set(doc["input"]) == {"image"}


def test_bad_route_tables_and_missing_endpoints_are_named(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("ner: {endpoint: ner, path: /v1/ner, body: {text: $poem}}\n")
    with pytest.raises(ConfigError, match=r"routes.yaml \[ner.body\].*poem"):
        load_routes(path)
    path.write_text("ner: {endpoint: ner, pth: /x}\n")
    with pytest.raises(ConfigError, match=r"\[ner.pth\]"):
        load_routes(path)
    path.write_text("ner: [unclosed\n")
    with pytest.raises(ConfigError, match="not YAML"):
        load_routes(path)
    with pytest.raises(ConfigError, match=r"unknown route\(s\) \['nope'\]"):
        build_targets(["nope"], {})
    with pytest.raises(ConfigError, match="needs endpoint 'orchestrator'"):
        build_targets(["text-insights"], {"ner": "http://x"})
    with pytest.raises(ConfigError, match="unknown payload kind"):
        load_payloads({"video"})
