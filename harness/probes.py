"""Steady-state probes: is the system healthy right now? (chaostoolkit's steady-state hypothesis)

A scenario's ``steady_state`` entries, each checked before the faults (must hold, else the run
is inconclusive: the system was not steady to begin with), during (evidence; a probe with
``during: true`` must hold throughout) and after (must hold again within its ``timeout``)::

    {probe: http, route: ner, path: /v2/health/ready, method: GET, expect: {status: 200}}
    {probe: http, route: ner, path: /v2/models/ner/infer, method: POST, json: {...}}
    {probe: replicas, service: ner, at_least: 2}
    {probe: prometheus, query: 'sum(up{job="ner"})', min: 2}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from harness import loopback
from harness.errors import HarnessError
from harness.platform.base import Platform

__all__ = ["ProbeOutcome", "describe_probe", "prometheus_value", "run_probe"]

_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ProbeOutcome:
    name: str
    ok: bool
    detail: str


def describe_probe(probe: dict[str, Any]) -> str:
    if "name" in probe:
        return str(probe["name"])
    kind = probe["probe"]
    if kind == "http":
        path = probe.get("path", "/v2/health/ready")
        return f"http {probe.get('method', 'GET')} {probe['route']}{path}"
    if kind == "replicas":
        return f"replicas {probe['service']} >= {probe['at_least']}"
    return f"prometheus {probe['query']}"


def prometheus_value(platform: Platform, query: str, timeout_s: float = _TIMEOUT_S) -> float | None:
    """The instant value of ``query`` (sum of the vector), None when it returns no series."""
    r = loopback.get(
        f"{platform.prometheus_url}/api/v1/query", params={"query": query}, timeout=timeout_s
    )
    r.raise_for_status()
    data = r.json().get("data", {})
    result = data.get("result", [])
    if data.get("resultType") == "scalar":
        return float(result[1])
    if not result:
        return None
    return sum(float(series["value"][1]) for series in result)


def _http(probe: dict[str, Any], platform: Platform) -> tuple[bool, str]:
    route = str(probe["route"])
    endpoints = platform.endpoints()
    if route not in endpoints:
        return False, f"no route {route!r} (have {sorted(endpoints)})"
    url = endpoints[route].url.rstrip("/") + str(probe.get("path", "/v2/health/ready"))
    want = int(probe.get("expect", {}).get("status", 200))
    fake_request = getattr(platform, "request", None)
    if url.startswith("fake://") and callable(fake_request):  # chaos.testing.FakePlatform
        status = int(fake_request(route).status)
    else:
        method = str(probe.get("method", "POST" if "json" in probe else "GET"))
        r = loopback.request(method, url, json=probe.get("json"), timeout=_TIMEOUT_S)
        status = r.status_code
    return status == want, f"HTTP {status} (want {want})"


def run_probe(probe: dict[str, Any], platform: Platform) -> ProbeOutcome:
    """Run one probe; never raises for what the probe observes (a refused connection is a
    failed probe, with the reason)."""
    name = describe_probe(probe)
    try:
        kind = probe["probe"]
        if kind == "http":
            ok, detail = _http(probe, platform)
        elif kind == "replicas":
            ready = [r for r in platform.replicas(str(probe["service"])) if r.ready]
            ok = len(ready) >= int(probe["at_least"])
            detail = f"{len(ready)} ready (want >= {probe['at_least']})"
        elif kind == "prometheus":
            value = prometheus_value(platform, str(probe["query"]))
            if value is None:
                return ProbeOutcome(name, False, "query returned no data")
            ok = ("min" not in probe or value >= float(probe["min"])) and (
                "max" not in probe or value <= float(probe["max"])
            )
            detail = f"value {value:g} (min {probe.get('min')}, max {probe.get('max')})"
        else:
            return ProbeOutcome(name, False, f"unknown probe kind {kind!r}")
    except (httpx.HTTPError, HarnessError, OSError, ValueError, KeyError) as exc:
        return ProbeOutcome(name, False, f"{type(exc).__name__}: {exc}")
    return ProbeOutcome(name, ok, detail)


def wait_for(
    probe: dict[str, Any], platform: Platform, timeout_s: float, interval_s: float = 0.5
) -> ProbeOutcome:
    """Retry ``probe`` until it holds or ``timeout_s`` passes; the last outcome."""
    deadline = time.monotonic() + timeout_s
    while True:
        outcome = run_probe(probe, platform)
        if outcome.ok or time.monotonic() >= deadline:
            return outcome
        time.sleep(interval_s)
