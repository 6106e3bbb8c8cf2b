"""Distributed Locust engine: a master and workers over Locust's own protocol send the planned
schedule between them. Locally, and with each worker a separate network host: a network
namespace made here, joined to this host by a veth pair on a bridge of its own (traffic stays
in those namespaces, the bridge and loopback), so the master and the server are reached over
a network, not loopback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.errors import PlatformError
from loadtests.arrivals import build_schedule
from loadtests.locust_pool import LocustDistributed
from loadtests.routes import build_targets
from loadtests.runner import LoadResult, WorkerPool, run_load
from loadtests.settings import load_settings_from_env
from loadtests.shapes import Step
from loadtests.testing import EchoServer, echo_server
from loadtests.timeline import ALL

SUBNET = "10.241.77"  # a /24 of its own; the host side is .1, worker i is .(i + 2)


@dataclass(frozen=True)
class Hosts:
    bridge_ip: str
    namespaces: list[str]

    def ip(self, i: int) -> str:
        return f"{SUBNET}.{i + 2}"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"{os.getpid() % 100000}"
    bridge, namespaces, made_bridge = f"mlb{tag}", [f"msai-lw{tag}-{i}" for i in range(2)], False
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made_bridge = True
        _ip("addr", "add", f"{SUBNET}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, ns in enumerate(namespaces):
            host_end, ns_end = f"mlh{tag}{i}", f"mln{tag}{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", ns)
            _ip("link", "set", host_end, "master", bridge)
            _ip("link", "set", host_end, "up")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{i + 2}/24", "dev", ns_end)
            _ip("-n", ns, "link", "set", ns_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        _teardown(bridge if made_bridge else None, namespaces)
        pytest.skip(f"cannot make network namespaces here: {exc.stderr.strip()}")
    try:
        yield Hosts(f"{SUBNET}.1", namespaces)
    finally:
        _teardown(bridge, namespaces)


def _teardown(bridge: str | None, namespaces: list[str]) -> None:
    for ns in namespaces:  # deleting a namespace deletes its veth end and so the pair
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    if bridge is not None:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


def _run(srv: EchoServer, pool: WorkerPool) -> tuple[LoadResult, int]:
    # a step shape: the master's LoadTestShape follows it (users never fewer than workers)
    shape = Step(((1.0, 60.0), (1.5, 150.0)))
    schedule = build_schedule(shape, {"ner": 0.6, "vision": 0.4}, seed=21)
    targets = build_targets(schedule.routes, {}, url=srv.url)
    settings = load_settings_from_env(engine="locust", workers=2, start_delay_s=0.5)
    before = srv.requests_seen()
    result = run_load(schedule, targets, settings=settings, pool=pool, progress=False)
    assert srv.requests_seen() - before == len(schedule)
    return result, len(schedule)


def _check_merged(result: LoadResult, n: int) -> None:
    total = result.summary()
    assert total.sent == total.completed == n
    assert total.errors == {}
    assert total.hist.get_total_count() == n  # the workers' histograms merged, none lost
    assert total.lag.get_total_count() == n
    assert sum(b.sent for b in result.buckets(ALL)) == n
    assert sum(b.completed for b in result.buckets(ALL)) == n
    assert result.summary("ner").sent + result.summary("vision").sent == n
    assert result.locust_requests == n  # Locust's master merged its workers' statistics alike
    assert result.locust_failures == 0


def test_a_master_and_two_local_workers_send_the_schedule_between_them() -> None:
    with echo_server(latency_ms=2) as srv:
        result, n = _run(srv, LocustDistributed(2))
    _check_merged(result, n)


def test_workers_on_separate_network_hosts(hosts: Hosts) -> None:
    wrap = [["ip", "netns", "exec", ns] for ns in hosts.namespaces]
    with echo_server(latency_ms=2, host=hosts.bridge_ip) as srv:
        pool = LocustDistributed(2, bind=hosts.bridge_ip, wrap=wrap)
        result, n = _run(srv, pool)
        peers = srv.peers_seen()
    _check_merged(result, n)
    # the requests came from both namespaces' addresses, not from this host
    assert hosts.ip(0) in peers
    assert hosts.ip(1) in peers


def test_a_master_without_its_workers_fails_naming_them() -> None:
    # a worker that cannot reach the master: the master's address is nowhere it listens
    pool = LocustDistributed(1, master_host="127.0.0.9", ready_timeout_s=3)
    with echo_server() as srv, pytest.raises(PlatformError, match="0 of 1 workers"):
        _run(srv, pool)
