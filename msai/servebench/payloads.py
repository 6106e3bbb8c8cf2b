"""Request bodies for each model kind: seeded, built offline, the same for every server.

NER texts are about 30 tokens (the issue's latency target is stated for ~30-token inputs);
vision images are scikit-learn's bundled digits as PNG; the fake model gets short texts.
"""

from __future__ import annotations

import base64
import io
import json
import random
from typing import Any

__all__ = ["KINDS", "bodies", "json_items", "model_item"]

KINDS = ("ner", "vision", "fake")

_PEOPLE = [
    "Angela Merkel",
    "Tim Cook",
    "Maria Garcia",
    "Kenji Watanabe",
    "Olivia Brown",
    "Pierre Dubois",
    "Sofia Rossi",
    "Liam O'Connor",
]
_ORGS = [
    "Siemens",
    "Apple",
    "the United Nations",
    "Deutsche Bank",
    "Toyota",
    "Reuters",
    "the World Health Organization",
    "Microsoft",
]
_PLACES = ["Paris", "Munich", "Tokyo", "New York", "Madrid", "Nairobi", "Toronto", "Lisbon"]
_TEMPLATES = [
    "{p} met executives from {o} in {l} on Tuesday to discuss the new factory that the "
    "company plans to open next spring near the river.",
    "After the conference in {l}, {p} told reporters that {o} would double its research "
    "budget and hire several hundred engineers this year.",
    "{o} confirmed on Friday that {p} will lead its office in {l}, replacing a manager who "
    "retired after twenty years with the firm.",
]


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        rng.choice(_TEMPLATES).format(
            p=rng.choice(_PEOPLE), o=rng.choice(_ORGS), l=rng.choice(_PLACES)
        )
        for _ in range(n)
    ]


def _digits(n: int) -> list[str]:
    from PIL import Image
    from sklearn.datasets import load_digits

    images = load_digits().images
    out = []
    for i in range(n):
        buf = io.BytesIO()
        pixels = (images[i % len(images)] * (255.0 / 16.0)).astype("uint8")
        Image.fromarray(pixels).save(buf, "PNG")
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def json_items(kind: str, n: int = 64, seed: int = 7) -> list[Any]:
    """``n`` single items, each the JSON body of one request to the kind's JSON route."""
    if kind == "ner":
        return [{"text": t} for t in _texts(n, seed)]
    if kind == "vision":
        return [{"image_b64": b} for b in _digits(n)]
    if kind == "fake":
        return [{"text": t[:60]} for t in _texts(n, seed)]
    raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")


def bodies(kind: str, n: int = 64) -> list[str]:
    return [json.dumps(item) for item in json_items(kind, n)]


def model_item(kind: str, body: Any) -> Any:
    """What the JSON route hands the model's ``parse_json`` for ``body`` (one item)."""
    return body["text"] if kind == "fake" else body
