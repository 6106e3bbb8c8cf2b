"""``msai bench platform``: the local platform's targets, measured in one run.

1. ``msai up`` to all-ready (target < 30 s with models built);
2. gateway overhead: p50 of the same cheap request through Envoy minus direct to the replica,
   interleaved on keep-alive connections (target < 1 ms);
3. a route fault toggled on, then off, through the Platform API: time until the first
   request sees the change (target < 200 ms).
"""

from __future__ import annotations

import http.client
import statistics
import time
import urllib.parse

import click

from harness.platform.base import StackSpec

__all__ = ["bench_platform"]


def _timed_get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    t = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    return time.perf_counter() - t, resp.status


def _conn(url: str) -> tuple[http.client.HTTPConnection, str]:
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=5), u.path.rstrip(
        "/"
    )


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


@click.command()
@click.option("--profile", default="minimal", show_default=True, help="values.yaml profile.")
@click.option("--requests", "n", default=2000, show_default=True, help="Requests per path.")
@click.option("--toggles", default=5, show_default=True, help="Fault on/off cycles.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value by dotted key (repeatable), as for msai up.",
)
def bench_platform(profile: str, n: int, toggles: int, sets: tuple[str, ...]) -> None:
    """Up-to-ready time, gateway overhead and fault toggle latency of the local platform."""
    from harness.platform.local.cli import parse_sets
    from harness.platform.local.platform import LocalPlatform
    from harness.platform.local.settings import local_settings

    fake = bool(local_settings().replica_command)
    p = LocalPlatform()
    t0 = time.monotonic()
    p.up(StackSpec(profile=profile, overrides=parse_sets(sets)))
    up_s = time.monotonic() - t0
    try:
        route = p.services()[0]
        rep = next(r for r in p.replicas(route) if r.ready)
        gw, gw_prefix = _conn(p.endpoints()[route].url)
        direct, _ = _conn(rep.url)
        path = "/v2/health/live"
        for _ in range(200):  # warm both paths
            _timed_get(gw, gw_prefix + path)
            _timed_get(direct, path)
        via, dir_ = [], []
        for _ in range(n):
            via.append(_timed_get(gw, gw_prefix + path)[0])
            dir_.append(_timed_get(direct, path)[0])
        p50_via, p50_dir = statistics.median(via) * 1e3, statistics.median(dir_) * 1e3
        overhead = p50_via - p50_dir

        on_ms, off_ms = [], []
        for _ in range(toggles):
            t = time.perf_counter()
            inj = p.mesh_fault(route, abort_status=418, percent=100.0)
            while _timed_get(gw, gw_prefix + path)[1] != 418:
                pass
            on_ms.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            p.revert(inj)
            while _timed_get(gw, gw_prefix + path)[1] == 418:
                pass
            off_ms.append((time.perf_counter() - t) * 1e3)
    finally:
        p.down()
    kind = "stand-in replicas (MSAI_LOCAL_REPLICA_COMMAND)" if fake else "real model servers"
    click.echo(f"local platform benchmark, profile {profile}, {kind}")
    click.echo(
        f"  up to all ready          {up_s:8.2f} s     target < 30 s    "
        f"ratio {up_s / 30:.2f} of target"
    )
    click.echo(
        f"  direct p50 / p99         {p50_dir:8.3f} / {_pct(dir_, 0.99) * 1e3:.3f} ms "
        f"({n} GET {path})"
    )
    click.echo(f"  via Envoy p50 / p99      {p50_via:8.3f} / {_pct(via, 0.99) * 1e3:.3f} ms")
    click.echo(
        f"  gateway overhead p50     {overhead:8.3f} ms    target < 1 ms    "
        f"ratio via/direct {p50_via / p50_dir:.2f}"
    )
    click.echo(
        f"  fault on  (max, p50)     {max(on_ms):8.1f} / {statistics.median(on_ms):.1f} ms"
        "   target < 200 ms"
    )
    click.echo(
        f"  fault off (max, p50)     {max(off_ms):8.1f} / {statistics.median(off_ms):.1f} ms"
        "   target < 200 ms"
    )
    ok = up_s < 30 and overhead < 1 and max(on_ms + off_ms) < 200
    click.echo("  all targets met" if ok else "  TARGET MISSED")
