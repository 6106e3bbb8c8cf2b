"""The JSON route answered from the HTTP protocol (``modelserve.direct``), over real sockets.

The in-process test client never reaches a protocol, so these run uvicorn on a loopback port
with the protocol ``msai serve`` uses. The same server answers a request through ASGI when
its path carries a query string (Starlette matches the path alone), which gives each case
its reference answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from modelserve.cli import uvicorn_config
from modelserve.common.app import ModelServer
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import POISON, FakeSettings, create_fake_app, http_ready, wait_until
from modelserve.direct import DirectHttpProtocol, direct_protocol
from modelserve.limits import LimitedHttpProtocol

from harness.ports import free_port


@dataclass
class Live:
    base: str
    port: int
    server: ModelServer
    direct_calls: list[bytes]


def _serve(settings: ServerSettings, fake: FakeSettings) -> Iterator[Live]:
    port = free_port()
    app = create_fake_app(settings, fake)
    model_server: ModelServer = app.state.server
    calls: list[bytes] = []
    real = model_server.serve_json_now

    def spy(headers: dict[str, str], body: bytes, respond: Any) -> None:
        calls.append(body)
        real(headers, body, respond)

    model_server.serve_json_now = spy  # type: ignore[method-assign]
    config = uvicorn_config(app, port=port)  # as msai serve runs a replica
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ready(base), timeout=10)
        yield Live(base, port, model_server, calls)
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    settings = ServerSettings(drain_delay_s=0, drain_deadline_s=1, queue_capacity=8)
    yield from _serve(settings, FakeSettings(batch_cost_ms=1.0, item_cost_ms=0.0))


def _comparable(r: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in r.headers.items() if k != "date"}
    try:
        body = r.json()
    except json.JSONDecodeError:
        body = r.text
    return r.status_code, body, headers


CASES: list[tuple[str, bytes, dict[str, str]]] = [
    ("one", b'{"text": "hi"}', {}),
    ("many", b'{"texts": ["a", "b", "c"]}', {}),
    ("malformed", b'{"text": ', {}),
    ("empty", b"", {}),
    ("not an object", b"[1, 2]", {}),
    ("wrong type", b'{"text": 5}', {}),
    ("both keys", b'{"text": "a", "texts": ["b"]}', {}),
    ("no items", b'{"texts": []}', {}),
    ("too many items", json.dumps({"texts": ["x"] * 9}).encode(), {}),
    ("text too long", json.dumps({"text": "x" * 1001}).encode(), {}),
    ("poisoned item", json.dumps({"texts": ["ok", POISON, "fine"]}).encode(), {}),
    ("bad deadline", b'{"text": "hi"}', {"x-request-deadline-ms": "soon"}),
    ("grpc deadline", b'{"text": "hi"}', {"grpc-timeout": "2S"}),
    ("not json content type", b'{"text": "hi"}', {"content-type": "text/plain"}),
    # Over INLINE_PARSE_BYTES: decoded on the parse pool, answered from its callback.
    ("large body, parse pool", json.dumps({"text": "hi", "pad": "x" * 300_000}).encode(), {}),
    ("large bad body, parse pool", json.dumps({"text": "x" * 300_000}).encode(), {}),
]


@pytest.mark.parametrize(("name", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_direct_answers_are_the_asgi_answers(
    live: Live, name: str, body: bytes, headers: dict[str, str]
) -> None:
    headers = {"x-request-id": f"case-{name}", **headers}  # error bodies carry it
    with httpx.Client(timeout=10) as c:
        before = len(live.direct_calls)
        direct = c.post(f"{live.base}/v1/echo", content=body, headers=headers)
        assert len(live.direct_calls) == before + 1, "the request did not take the direct path"
        via_asgi = c.post(f"{live.base}/v1/echo?via=asgi", content=body, headers=headers)
        assert len(live.direct_calls) == before + 1  # a query string goes through ASGI
    assert _comparable(direct) == _comparable(via_asgi)
    assert direct.headers["x-request-id"] == f"case-{name}"
    assert "date" in direct.headers


def test_a_failing_to_json_is_the_same_500_on_both_paths(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = live.server.model
    real = model.to_json

    def to_json(out: Any) -> dict[str, Any]:
        if out.text == "BOOM":
            raise RuntimeError("to_json failed")
        return real(out)

    monkeypatch.setattr(model, "to_json", to_json)
    headers = {"x-request-id": "boom"}
    with httpx.Client(timeout=10) as c:
        direct = c.post(f"{live.base}/v1/echo", json={"text": "boom"}, headers=headers)
        via_asgi = c.post(f"{live.base}/v1/echo?via=asgi", json={"text": "boom"}, headers=headers)
        assert c.post(f"{live.base}/v1/echo", json={"text": "fine"}).status_code == 200
    assert direct.status_code == 500
    assert direct.json()["type"] == "InternalError"
    assert _comparable(direct) == _comparable(via_asgi)


def test_request_id_is_kept_and_logged_metrics_counted(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modelserve.common.app as app_module
    from modelserve.common.logging import current_request_id

    lines: list[tuple[dict[str, Any], str | None]] = []
    real_log = app_module.log_fast

    def record(logger: Any, level: int, msg: str, extra: dict[str, Any]) -> None:
        lines.append((extra, current_request_id()))
        real_log(logger, level, msg, extra)

    monkeypatch.setattr(app_module, "log_fast", record)

    def count() -> float:
        text = httpx.get(f"{live.base}/metrics").text
        for line in text.splitlines():
            labels = 'route="json"' in line and 'code="200"' in line
            if line.startswith("modelserve_requests_total{") and labels:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    r = httpx.post(f"{live.base}/v1/echo", json={"text": "a"}, headers={"x-request-id": "rid-7"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "rid-7"
    assert count() == before + 1
    # The access line, written from the batch's callback, carries the request's id.
    access = [(extra, rid) for extra, rid in lines if extra.get("route") == "json"]
    assert access
    assert access[-1][0]["status"] == 200
    assert access[-1][0]["path"] == "/v1/echo"
    assert access[-1][1] == "rid-7"


def test_fallbacks_take_the_asgi_path(live: Live) -> None:
    n = len(live.direct_calls)
    with httpx.Client(timeout=10) as c:
        # Chunked body (no length): through ASGI, same answer.
        chunked = c.post(f"{live.base}/v1/echo", content=iter([b'{"text":', b' "hi"}']))
        assert chunked.status_code == 200
        assert chunked.json() == {"upper": "HI", "length": 2}
        # Other routes and methods.
        assert c.get(f"{live.base}/v1/echo").status_code == 405
        assert c.post(f"{live.base}/v2/models/fake/infer", json={}).status_code == 400
        # Over the body limit by its declared length: the app's 413.
        big = c.post(
            f"{live.base}/v1/echo",
            content=b" " * (live.server.settings.max_body_bytes + 1),
        )
        assert big.status_code == 413
        assert big.json()["field"] == "body"
    assert len(live.direct_calls) == n


def _exchange(port: int, raw: bytes, responses: int) -> tuple[list[bytes], bool]:
    """Send ``raw`` at once; read ``responses`` answers; (their status lines, closed after)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        statuses: list[bytes] = []
        while len(statuses) < responses:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) >= length:
                    statuses.append(head.split(b"\r\n", 1)[0])
                    data = rest[length:]
                    continue
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.settimeout(0.5)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    return statuses, closed


def _post(body: bytes, path: str = "/v1/echo", extra: str = "", version: str = "1.1") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_keep_alive_and_pipelined_requests_are_answered_in_order(live: Live) -> None:
    one = _post(b'{"text": "a"}')
    health = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n"
    asgi = _post(b'{"text": "b"}', path="/v1/echo?via=asgi")
    statuses, closed = _exchange(live.port, one + one + health + asgi + one, 5)
    assert statuses == [b"HTTP/1.1 200 OK"] * 5
    assert not closed  # kept alive


def test_http_1_0_and_connection_close_close_after_the_answer(live: Live) -> None:
    statuses, closed = _exchange(live.port, _post(b'{"text": "a"}', version="1.0"), 1)
    assert statuses == [b"HTTP/1.1 200 OK"]
    assert closed
    statuses, closed = _exchange(
        live.port, _post(b'{"text": "a"}', extra="connection: close\r\n"), 1
    )
    assert statuses == [b"HTTP/1.1 200 OK"]
    assert closed


def test_a_client_that_goes_away_leaves_the_server_serving(live: Live) -> None:
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
            sock.sendall(_post(b'{"text": "gone"}'))
    # Half a body, then gone.
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(_post(b'{"text": "half"}')[:-5])
    r = httpx.post(f"{live.base}/v1/echo", json={"text": "still"}, timeout=10)
    assert r.status_code == 200


def _codes(base: str) -> dict[tuple[str, str], float]:
    """``modelserve_requests_total`` by (route, code)."""
    out: dict[tuple[str, str], float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith("modelserve_requests_total{"):
            labels = dict(
                kv.split("=") for kv in line[line.index("{") + 1 : line.index("}")].split(",")
            )
            key = (labels["route"].strip('"'), labels["code"].strip('"'))
            out[key] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_client_that_goes_away_is_counted_499_on_every_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import modelserve.common.http as http_module

    unexpected: list[BaseException] = []
    real_error_response = http_module.error_response

    def spy(exc: BaseException, request_id: str | None = None) -> Any:
        if http_module.status_of(exc) >= 500:
            unexpected.append(exc)
        return real_error_response(exc, request_id)

    monkeypatch.setattr("modelserve.common.app.error_response", spy)
    # A pass long enough that a client can leave while its item is in it.
    gen = _serve(
        ServerSettings(drain_delay_s=0, drain_deadline_s=1), FakeSettings(batch_cost_ms=300)
    )
    live = next(gen)
    try:
        before = _codes(live.base)
        oip = b'{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["x"]}]}'
        cases = [
            ("/v1/echo", b'{"text": "gone"}', "json"),  # direct
            ("/v1/echo?via=asgi", b'{"text": "gone"}', "json"),
            ("/v2/models/fake/infer", oip, "v2"),
        ]
        for path, body, _ in cases:
            for cut in (len(body) // 2, len(body)):  # mid-body; after the body, mid-pass
                with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
                    sock.sendall(_post(body, path=path)[: -len(body) + cut or None])
                    time.sleep(0.05)
        wait_until(
            lambda: live.server.batcher.pending == 0 and live.server.lifecycle.in_flight == 0
        )
        after = _codes(live.base)
        grew = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
        assert grew == {("json", "499"): 4.0, ("v2", "499"): 2.0}
        assert not unexpected
    finally:
        live.server.lifecycle.begin_drain()
        with pytest.raises(StopIteration):
            next(gen)


def test_drain_answers_waiting_requests_and_closes_their_connections() -> None:
    settings = ServerSettings(drain_delay_s=0, drain_deadline_s=1)
    gen = _serve(settings, FakeSettings(batch_cost_ms=5000.0))
    live = next(gen)
    answers: list[httpx.Response] = []

    def call() -> None:
        answers.append(httpx.post(f"{live.base}/v1/echo", json={"text": "slow"}, timeout=10))

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: live.server.batcher.busy_since is not None, timeout=5)
    t0 = time.monotonic()
    live.server.lifecycle.begin_drain()  # what msai serve does at SIGTERM
    with pytest.raises(StopIteration):
        next(gen)  # should_exit: uvicorn's shutdown, then the app's drain
    caller.join(10)
    assert len(live.direct_calls) == 1
    # Cut off at the drain deadline (the pass takes 5 s): a retryable 503, as on the ASGI path.
    assert [a.status_code for a in answers] == [503]
    assert answers[0].json()["reason"] == "draining"
    assert "drain deadline passed" in answers[0].json()["error"]
    assert answers[0].headers["retry-after"] == "1"
    assert answers[0].headers["connection"] == "close"
    assert time.monotonic() - t0 < 6


def test_protocol_choice() -> None:
    plain = create_fake_app(ServerSettings(direct_http=False), FakeSettings()).state.server
    chosen = direct_protocol(plain)
    assert issubclass(chosen, LimitedHttpProtocol)
    assert not issubclass(chosen, DirectHttpProtocol)
    assert chosen.limits == plain.http_limits
    hooks = ServerSettings(fault_hooks=True, admin_token="t")
    assert not issubclass(
        direct_protocol(create_fake_app(hooks, FakeSettings()).state.server), DirectHttpProtocol
    )
    on = create_fake_app(ServerSettings(), FakeSettings()).state.server
    bound = direct_protocol(on)
    assert issubclass(bound, DirectHttpProtocol)
    assert bound.model_server is on
