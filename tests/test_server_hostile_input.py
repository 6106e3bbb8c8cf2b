"""Hostile request bodies: every one is answered 4xx naming a field, never 5xx.

Property-based over the parsers every request goes through (the JSON body, the JSON route's
items, the OIP envelope, each model's own parser), with the classes of input that broke
them: lone surrogates, integers past Python's 4,300-digit conversion limit, nesting past
the recursion limit, non-finite numbers, wrong types in every position, bytes that are not
UTF-8. Bodies are written as JSON text, since most of these cannot be built as Python values
and serialised.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.common.app import JsonRoute, ModelServer
from modelserve.common.errors import BadInput
from modelserve.common.http import error_response
from modelserve.common.json_body import check_text, decode_json
from modelserve.common.oip import parse_infer_request
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import FAKE_ROUTE, FakeModel, http_ready, start_replica, wait_until

from harness.ports import free_port

KEYS = [
    "text", "texts", "image_b64", "images", "top_k", "inputs", "outputs", "id", "name",
    "shape", "datatype", "data", "parameters",
]  # fmt: skip


def _escape(codes: list[int]) -> str:
    """A JSON string literal of these code points; surrogates stay lone ``\\u`` escapes."""
    out = []
    for c in codes:
        if 0x20 <= c < 0x7F and chr(c) not in '"\\':
            out.append(chr(c))
        elif c > 0xFFFF:
            high, low = divmod(c - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(f"\\u{c:04x}")
    return '"' + "".join(out) + '"'


code_points = st.one_of(
    st.integers(0x20, 0x7E), st.integers(0xD800, 0xDFFF), st.integers(0, 0x10FFFF)
)
strings = st.one_of(
    st.sampled_from(['"hello"', '"Angela Merkel visited Paris."', '"AAAA"', '"BYTES"', '"FP32"']),
    st.sampled_from(['"text"', '"image"', '"\\ud800"', '"a\\udfffb"', '"\\ud83d\\ude00"']),
    st.lists(code_points, max_size=12).map(_escape),
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-0", "1", "3", "1.5", "1e999", "-1e999", "NaN", "Infinity"]),
    st.integers(4_200, 6_000).map(lambda n: "9" * n),
    st.integers(4_200, 6_000).map(lambda n: "-" + "1" * n),
)
deep = st.integers(900, 3_000).map(lambda n: "[" * n + "]" * n)
leaves = st.one_of(st.sampled_from(["null", "true", "false", "[]", "{}"]), numbers, strings, deep)


def _obj(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}"


fragments = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(_obj),
    ),
    max_leaves=12,
)
small_ints = st.integers(0, 4).map(str)
shapes = st.one_of(
    fragments,
    st.lists(st.one_of(small_ints, numbers), max_size=4).map(lambda xs: f"[{','.join(xs)}]"),
)


@st.composite
def oip_bodies(draw: st.DrawFn) -> str:
    tensor = {
        "name": draw(st.one_of(st.sampled_from(['"text"', '"image"']), fragments)),
        "shape": draw(shapes),
        "datatype": draw(st.one_of(st.sampled_from(['"BYTES"', '"FP32"', '"INT64"']), fragments)),
        "data": draw(
            st.one_of(
                st.lists(st.one_of(strings, numbers), max_size=4).map(
                    lambda xs: f"[{','.join(xs)}]"
                ),
                fragments,
            )
        ),
    }
    if draw(st.booleans()):
        tensor["parameters"] = draw(
            st.one_of(
                st.lists(st.tuples(st.just("top_k"), numbers), max_size=1).map(_obj), fragments
            )
        )
    pairs = [("inputs", "[" + _obj(list(tensor.items())) + "]")]
    if draw(st.booleans()):
        pairs.append(("outputs", draw(fragments)))
    if draw(st.booleans()):
        pairs.append(("id", draw(fragments)))
    return _obj(pairs)


@st.composite
def json_route_bodies(draw: st.DrawFn) -> str:
    item = st.one_of(
        strings,
        fragments,
        st.lists(
            st.tuples(st.sampled_from(["text", "image_b64", "top_k"]), st.one_of(strings, numbers)),
            max_size=3,
        ).map(_obj),
    )
    key = draw(st.sampled_from(["text", "image_b64", "texts", "images"]))
    if key in ("texts", "images"):
        value = "[" + ",".join(draw(st.lists(item, max_size=4))) + "]"
    else:
        value = draw(item)
    pairs = [(key, value)]
    if draw(st.booleans()):
        pairs.append(("top_k", draw(numbers)))
    return _obj(pairs)


@st.composite
def text_bodies(draw: st.DrawFn) -> str:
    """Well-formed text requests (JSON route, one or many; OIP BYTES with a matching shape),
    so that what the texts hold decides the answer."""
    texts = draw(st.lists(strings, min_size=1, max_size=4))
    form = draw(st.sampled_from(["one", "many", "oip"]))
    if form == "one":
        return _obj([("text", texts[0])])
    if form == "many":
        return _obj([("texts", "[" + ",".join(texts) + "]")])
    tensor = _obj(
        [
            ("name", '"text"'),
            ("shape", f"[{len(texts)}]"),
            ("datatype", '"BYTES"'),
            ("data", "[" + ",".join(texts) + "]"),
        ]
    )
    return _obj([("inputs", f"[{tensor}]")])


bodies = st.one_of(
    text_bodies().map(str.encode),
    oip_bodies().map(str.encode),
    json_route_bodies().map(str.encode),
    fragments.map(str.encode),
    st.binary(max_size=64),
    json_route_bodies().map(lambda b: b.encode()[: len(b) // 2]),
    st.just(b'{"text": "\xed\xa0\x80"}'),  # a surrogate in raw UTF-8: not UTF-8 at all
)


def _servers() -> list[tuple[str, ModelServer, JsonRoute]]:
    from modelserve.ner.app import ROUTE as NER_ROUTE
    from modelserve.ner.model import NerModel
    from modelserve.ner.settings import NerSettings
    from modelserve.vision.app import ROUTE as VISION_ROUTE
    from modelserve.vision.model import VisionModel
    from modelserve.vision.settings import VisionSettings

    settings = ServerSettings(queue_capacity=8)
    vision = VisionModel(VisionSettings())
    return [
        ("fake", ModelServer(FakeModel(), settings, FAKE_ROUTE), FAKE_ROUTE),
        ("ner", ModelServer(NerModel(NerSettings()), settings, NER_ROUTE), NER_ROUTE),
        (
            "vision",
            ModelServer(vision, settings, VISION_ROUTE),
            VISION_ROUTE,
        ),
    ]


SERVERS = _servers()


def _tokenize() -> Callable[[str], Any]:
    """The NER model's own windowing (its tokenizer), where the model is built; else the UTF-8
    encoding every tokenizer starts with. Whatever the parsers accept must pass it, or it would
    fail inside a forward pass shared with other requests."""
    from modelserve.common.errors import ModelServeError
    from modelserve.ner.model import NerModel
    from modelserve.ner.settings import NerSettings

    model = NerModel(NerSettings(threads=1))
    try:
        model.load()
    except ModelServeError:
        return lambda text: text.encode("utf-8")
    return model.windows


TOKENIZE = _tokenize()


def _refused_cleanly(run: Callable[[], Any]) -> Any:
    """``run()``'s value, or None after checking it raised a 4xx naming a field."""
    try:
        return run()
    except BadInput as exc:
        refused = exc
    assert refused.field, refused
    response = error_response(refused)
    assert 400 <= response.status_code < 500
    assert json.loads(bytes(response.body))["field"] == refused.field
    return None


def _accepted_texts(items: Any) -> list[str]:
    return [
        i if isinstance(i, str) else i.text
        for i in items
        if hasattr(i, "text") or isinstance(i, str)
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_no_body_gets_past_the_parsers_as_anything_but_a_named_400(body: bytes) -> None:
    for _, server, route in SERVERS:
        value = _refused_cleanly(lambda: decode_json(body))
        if value is None:
            continue
        items = _refused_cleanly(lambda: server._json_items(value, route))  # noqa: B023
        for text in _accepted_texts(items or []):
            TOKENIZE(text)  # a lone surrogate failed here, in the batch
        meta = server.model.metadata()
        req = _refused_cleanly(lambda: parse_infer_request(value, meta.inputs))  # noqa: B023
        if req is not None:
            items = _refused_cleanly(lambda: server.model.parse_v2(req.inputs))  # noqa: B023
            for text in _accepted_texts(items or []):
                TOKENIZE(text)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"text": "a", "top_k": ' + b"9" * 5000 + b"}", "top_k"),
        (b'{"inputs": [{"shape": [' + b"1" * 4301 + b"]}]}", "inputs[0].shape[0]"),
        (b'{"x": [[[' + b"-" + b"7" * 9000 + b"]]]}", "x[0][0][0]"),
        (b"[" * 100_000, "body"),
        (b"{" * 50 + b'"a": 1', "body"),
    ],
)
def test_decode_json_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(BadInput) as info:
        decode_json(body)
    assert info.value.field == field, info.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"text": "\\ud800 hello"}', "body.text"),
        (b'{"texts": ["ok", "a\\udc00"]}', "texts[1]"),
        (b'{"texts": [{"text": "ok"}, {"text": "\\udfff"}]}', "texts[1].text"),
    ],
)
def test_a_lone_surrogate_is_refused_before_the_batch(body: bytes, field: str) -> None:
    _, server, route = SERVERS[1]  # NER: its tokenizer fails on a surrogate
    with pytest.raises(BadInput) as info:
        server._json_items(decode_json(body), route)
    assert info.value.field == field
    assert "surrogate" in info.value.message


def test_check_text_passes_real_text_through() -> None:
    for text in ("plain", "Zürich 東京 😀", "\u00e9" * 1000):
        assert check_text(text, "text") is text


# -- the same cases over a real socket, against real `msai serve ner|vision` ---------------------

_BIG = b"9" * 5000
_WIRE_CASES = {
    "ner": [
        ("/v1/ner", b'{"text": "\\ud800 hello"}', "body.text"),
        ("/v1/ner", b'{"texts": ["Angela Merkel", "\\ud800 hello", "Paris"]}', "texts[1]"),
        ("/v1/ner", b'{"text": ' + _BIG + b"}", "text"),
        ("/v1/ner", b'{"text": "a", "n": ' + _BIG + b"}", "n"),
        ("/v1/ner", b"[" * 100_000, "body"),
        (
            "/v2/models/ner/infer",
            b'{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["\\udc00"]}]}',
            "inputs[0].data[0]",
        ),
        (
            "/v2/models/ner/infer",
            b'{"inputs":[{"name":"text","shape":[' + _BIG + b'],"datatype":"BYTES","data":["x"]}]}',
            "inputs[0].shape[0]",
        ),
        (
            "/v2/models/ner/infer",
            b'{"inputs":[{"name":"text","shape":[1],"datatype":[],"data":["x"]}]}',
            "inputs[0].datatype",
        ),
    ],
    "vision": [
        ("/v1/classify", b'{"image_b64": "AAAA", "top_k": ' + _BIG + b"}", "top_k"),
        ("/v1/classify", b'{"image_b64": "\\ud800"}', "body.image_b64"),
        (
            "/v2/models/vision/infer",
            b'{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","data":["AAAA"],'
            b'"parameters":{"top_k":' + _BIG + b"}}]}",
            "inputs[0].parameters.top_k",
        ),
        (
            "/v2/models/vision/infer",
            b'{"inputs":[{"name":"image","shape":[1,3,8,8],"datatype":"FP32","data":['
            + _BIG
            + b"]}]}",
            "inputs[0].data[0]",
        ),
    ],
}


def _post_raw(port: int, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    head = (
        f"POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("kind", ["ner", "vision"])
def test_each_hostile_case_is_a_named_400_from_a_real_server(kind: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "replica.log"
    prefix = f"MSAI_{kind.upper()}_"
    proc = start_replica(kind, port, {prefix + "THREADS": "1"}, str(log))
    try:
        try:
            wait_until(lambda: http_ready(base) or proc.poll() is not None, timeout=90)
        except AssertionError:
            pytest.fail(log.read_text()[-2000:])
        if proc.poll() is not None:
            pytest.skip(f"{kind} model not built (run `msai models build`)")
        for path, body, field in _WIRE_CASES[kind]:
            # The JSON route answers from the protocol; with a query string, through ASGI.
            for target in (path, path + "?via=asgi"):
                status, answer = _post_raw(port, target, body)
                assert status == 400, (target, body[:80], answer)
                assert answer["field"] == field, (target, body[:80], answer)
        # Good batch-mates of a refused request are still served in one batch.
        good = b'{"texts": ["Angela Merkel", "Paris"]}' if kind == "ner" else None
        if good is not None:
            status, answer = _post_raw(port, "/v1/ner", good)
            assert status == 200, answer
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert "retrying items singly" not in text
