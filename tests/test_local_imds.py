"""The local EC2 metadata endpoint requires IMDSv2 as EC2 does with ``HttpTokens: required``,
and the termination handler reads it with the token flow."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from harness import loopback
from harness.platform.local.spot import MetadataServer, poll_notice
from harness.ports import free_port

ACTION = "/latest/meta-data/spot/instance-action"


@pytest.fixture
def imds() -> Iterator[MetadataServer]:
    node = MetadataServer("n1", free_port(), spot=True)
    try:
        yield node
    finally:
        node.close()


def _call(node: MetadataServer, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{node.port}{path}", method=method, headers=headers
    )
    try:
        with loopback.urlopen(req, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def _token(node: MetadataServer, ttl: str = "60") -> str:
    status, token = _call(
        node, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
    )
    assert status == 200
    return token


def test_get_with_a_token_reads_the_data(imds: MetadataServer) -> None:
    token = _token(imds)
    status, body = _call(
        imds,
        "GET",
        "/latest/meta-data/instance-life-cycle",
        {"X-aws-ec2-metadata-token": token},
    )
    assert (status, body) == (200, "spot")


@pytest.mark.parametrize("header", [{}, {"X-aws-ec2-metadata-token": "not-a-token"}])
def test_get_without_a_valid_token_is_401(imds: MetadataServer, header: dict[str, str]) -> None:
    imds.interrupt(60)
    _token(imds)  # a token exists, but this request does not carry it
    assert _call(imds, "GET", ACTION, header)[0] == 401
    assert _call(imds, "GET", "/latest/meta-data/instance-id", header)[0] == 401


@pytest.mark.parametrize("ttl", [None, "0", "21601", "abc"])
def test_token_request_needs_a_ttl_in_range(imds: MetadataServer, ttl: str | None) -> None:
    headers = {} if ttl is None else {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
    assert _call(imds, "PUT", "/latest/api/token", headers)[0] == 400


def test_token_request_through_a_proxy_is_forbidden(imds: MetadataServer) -> None:
    headers = {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.9"}
    assert _call(imds, "PUT", "/latest/api/token", headers)[0] == 403


def test_an_expired_token_is_401(imds: MetadataServer) -> None:
    token = _token(imds, ttl="1")
    header = {"X-aws-ec2-metadata-token": token}
    assert _call(imds, "GET", "/latest/meta-data/instance-id", header)[0] == 200
    time.sleep(1.2)
    assert _call(imds, "GET", "/latest/meta-data/instance-id", header)[0] == 401


def test_the_termination_handler_uses_the_token_flow(imds: MetadataServer) -> None:
    assert poll_notice(imds.port) is None
    imds.interrupt(60)
    notice = poll_notice(imds.port)
    assert notice is not None
    assert notice.kind == "terminate"
    # It reuses its session token rather than asking for one each poll.
    poll_notice(imds.port)
    assert len(imds._tokens) == 1
    # A token the endpoint no longer knows (it restarted) is replaced, not fatal.
    imds._tokens.clear()
    notice = poll_notice(imds.port)
    assert notice is not None
    assert notice.kind == "terminate"
