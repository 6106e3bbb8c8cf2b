"""Observers: what the platform does during a run, polled into the run record.

    ReplicaObserver     ``replicas`` (desired/ready per service), ``readiness`` per replica and
                        ``scale`` when a service's replica count changes
    AlertObserver       ``alert`` events (pending / firing / resolved): from Prometheus's
                        ``/api/v1/alerts`` and, when the platform records what Alertmanager
                        delivered to its webhook receiver (``received_alerts()``), from there
    QueryObserver       ``measurement`` events for the scenario's ``observe.prometheus`` queries
                        (``delta: true``: the change since the run's first value, so a
                        counter of a stack that ran earlier scenarios counts this run only)
    MonitoringObserver  ``promql_plan`` (every rule and panel expression, once) and ``promql``
                        when one of its queries first returns data (``observe.monitoring``)
    ProbeObserver       steady-state probes during the run (``note`` events on change)

:class:`ObserverLoop` polls them every interval in one thread; an observer that fails is
noted once in the record and skipped from then on, it never stops the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from harness import loopback
from harness.errors import HarnessError, Unsupported
from harness.monitoring import Expression, expressions, finite_series
from harness.platform.base import Platform
from harness.probes import prometheus_value, run_probe
from harness.record import RunRecord

__all__ = [
    "AlertObserver",
    "MonitoringObserver",
    "Observer",
    "ObserverLoop",
    "PlatformEventObserver",
    "ProbeObserver",
    "QueryObserver",
    "ReplicaObserver",
]


class Observer(Protocol):
    name: str

    def poll(self) -> None: ...


class ReplicaObserver:
    name = "replicas"

    def __init__(self, platform: Platform, record: RunRecord, services: Sequence[str]) -> None:
        self.platform, self.record, self.services = platform, record, list(services)
        self._counts: dict[str, tuple[int, int]] = {}
        self._ready: dict[str, bool] = {}

    def poll(self) -> None:
        for service in self.services:
            replicas = self.platform.replicas(service)
            ready = sum(r.ready for r in replicas)
            now = (len(replicas), ready)
            before = self._counts.get(service)
            if now != before:
                self.record.emit("replicas", service=service, desired=now[0], ready=now[1])
                # a platform with events() reports scaling itself, with the autoscaler's reason
                own = callable(getattr(self.platform, "events", None))
                if before is not None and before[0] != now[0] and not own:
                    self.record.emit(
                        "scale",
                        service=service,
                        from_replicas=before[0],
                        to_replicas=now[0],
                        reason="observed",
                    )
                self._counts[service] = now
            seen = set()
            for r in replicas:
                seen.add(r.name)
                if self._ready.get(r.name) != r.ready:
                    self.record.emit("readiness", service=service, replica=r.name, ready=r.ready)
                    self._ready[r.name] = r.ready
            for name in [n for n in self._ready if n.startswith(f"{service}-") and n not in seen]:
                if self._ready.pop(name):
                    self.record.emit("readiness", service=service, replica=name, ready=False)


class AlertObserver:
    name = "alerts"

    def __init__(self, platform: Platform, record: RunRecord) -> None:
        self.platform, self.record = platform, record
        self._state: dict[tuple[str, str], dict[str, Any]] = {}
        self._delivered = 0
        self._since = time.time()

    def poll(self) -> None:
        url = self.platform.prometheus_url
        r = loopback.get(f"{url}/api/v1/alerts", timeout=3.0)
        r.raise_for_status()
        current: dict[tuple[str, str], dict[str, Any]] = {}
        for alert in r.json().get("data", {}).get("alerts", []):
            labels = dict(alert.get("labels", {}))
            key = (labels.get("alertname", "?"), repr(sorted(labels.items())))
            current[key] = alert
            old = self._state.get(key)
            if old is None or old.get("state") != alert.get("state"):
                self.record.emit(
                    "alert",
                    name=key[0],
                    state=alert.get("state", "firing"),
                    labels=labels,
                    starts_at=alert.get("activeAt"),
                    ends_at=None,
                    source="prometheus",
                )
        for key, alert in self._state.items():
            if key not in current:
                self.record.emit(
                    "alert",
                    name=key[0],
                    state="resolved",
                    labels=dict(alert.get("labels", {})),
                    starts_at=alert.get("activeAt"),
                    ends_at=time.time(),
                    source="prometheus",
                )
        self._state = current
        received = getattr(self.platform, "alerts", None)
        if callable(received):  # what Alertmanager actually delivered to the webhook receiver
            delivered = list(received(self._since))
            for a in delivered[self._delivered :]:
                self.record.emit(
                    "alert",
                    name=a.get("name") or a.get("labels", {}).get("alertname", "?"),
                    state=a.get("status") or a.get("state", "firing"),
                    labels=a.get("labels", {}),
                    starts_at=a.get("starts_at"),
                    ends_at=a.get("ends_at"),
                    received=a.get("received"),
                    source="alertmanager",
                )
            self._delivered = len(delivered)


class PlatformEventObserver:
    """The platform's own events (``platform.events(since)``, e.g. the local controller's):
    ``cold_start`` becomes a ``cold_start_s`` measurement, ``scale`` a ``scale`` event with the
    autoscaler's reason, node and backup events notes."""

    name = "platform_events"

    def __init__(self, platform: Platform, record: RunRecord) -> None:
        self.platform, self.record = platform, record
        self._since = time.time()
        self._seen: set[tuple[float, str]] = set()

    def poll(self) -> None:
        events = getattr(self.platform, "events")(self._since)  # noqa: B009 - optional method
        for ev in events:
            key = (float(ev.get("t", 0.0)), str(ev.get("kind")))
            if key in self._seen:
                continue
            self._seen.add(key)
            kind = ev.get("kind")
            t = float(ev.get("t", time.time()))
            if kind == "cold_start":
                self.record.emit(
                    "measurement",
                    t=t,
                    name="cold_start_s",
                    value=float(ev.get("seconds", 0.0)),
                    unit="s",
                    service=ev.get("service"),
                )
            elif kind == "scale":
                self.record.emit(
                    "scale",
                    t=t,
                    service=ev.get("service"),
                    from_replicas=ev.get("from_replicas"),
                    to_replicas=ev.get("to_replicas"),
                    reason=ev.get("reason", "platform"),
                )
            elif kind in ("node_drain", "node_terminated", "node_replaced", "backup", "restore"):
                fields = {k: v for k, v in ev.items() if k not in ("t", "kind")}
                self.record.emit(
                    "note", t=t, message=f"platform: {kind}", platform_event=kind, **fields
                )
        if events:
            self._since = max(float(e.get("t", 0.0)) for e in events)


class QueryObserver:
    name = "prometheus"

    def __init__(
        self, platform: Platform, record: RunRecord, queries: Sequence[dict[str, Any]]
    ) -> None:
        self.platform, self.record, self.queries = platform, record, list(queries)
        self._first: dict[str, float] = {}

    def poll(self) -> None:
        for q in self.queries:
            value = prometheus_value(self.platform, str(q["query"]), timeout_s=3.0)
            if value is None:
                continue
            name = str(q["name"])
            if q.get("delta"):
                value -= self._first.setdefault(name, value)
            self.record.emit(
                "measurement",
                name=name,
                value=value,
                unit=str(q.get("unit", "")),
                query=q["query"],
            )


class MonitoringObserver:
    """Runs every query of the monitoring sources' expressions (:mod:`harness.monitoring`)
    until it returns data once; each is recorded when it first does (``promql``, with the
    count of series with a finite value) or when Prometheus refuses it (``promql`` with
    ``error``: a query that does not parse). Queries that have answered are not run again."""

    name = "monitoring"

    def __init__(
        self, platform: Platform, record: RunRecord, exprs: Sequence[Expression] | None = None
    ) -> None:
        self.platform, self.record = platform, record
        self.exprs = list(exprs) if exprs is not None else expressions()
        self._todo = {(e.key, q) for e in self.exprs for q in e.queries}
        self._planned = False

    def poll(self) -> None:
        if not self._planned:
            self.record.emit("promql_plan", expressions=[e.to_json() for e in self.exprs])
            self._planned = True
        url = f"{self.platform.prometheus_url}/api/v1/query"
        for key, query in sorted(self._todo):
            r = loopback.get(url, params={"query": query}, timeout=5.0)
            if r.status_code == 400:
                error = str(r.json().get("error", r.text))
                self.record.emit("promql", key=key, query=query, ok=False, error=error)
                self._todo.discard((key, query))
                continue
            r.raise_for_status()
            data = r.json().get("data", {})
            series = finite_series(data)
            if series:
                self.record.emit("promql", key=key, query=query, ok=True, series=series)
                self._todo.discard((key, query))


class ProbeObserver:
    name = "steady_state"

    def __init__(
        self, platform: Platform, record: RunRecord, probes: Sequence[dict[str, Any]]
    ) -> None:
        self.platform, self.record, self.probes = platform, record, list(probes)
        self.results: dict[str, list[bool]] = {}
        self._last: dict[str, bool] = {}

    def poll(self) -> None:
        for probe in self.probes:
            out = run_probe(probe, self.platform)
            self.results.setdefault(out.name, []).append(out.ok)
            if self._last.get(out.name) != out.ok:
                state = "holds" if out.ok else "BROKEN"
                self.record.emit(
                    "note", message=f"steady state {out.name} {state}: {out.detail}", phase="during"
                )
                self._last[out.name] = out.ok


class ObserverLoop:
    """Polls observers every ``interval_s`` in a daemon thread until :meth:`stop`."""

    def __init__(self, observers: Sequence[Observer], record: RunRecord, interval_s: float) -> None:
        self.observers = list(observers)
        self.record = record
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observers", daemon=True)
        self._broken: set[str] = set()

    def poll_once(self) -> None:
        for obs in self.observers:
            if obs.name in self._broken:
                continue
            try:
                obs.poll()
            except Unsupported as exc:
                self._broken.add(obs.name)
                self.record.emit("note", message=f"observer {obs.name} off: {exc}")
            except (HarnessError, httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                self._broken.add(obs.name)
                self.record.emit(
                    "note",
                    message=f"observer {obs.name} failed, stopped: {type(exc).__name__}: {exc}",
                )

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> ObserverLoop:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.poll_once()  # the final state after the run
