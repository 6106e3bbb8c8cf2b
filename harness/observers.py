"""Observers: what the platform does during a run, polled into the run record.

    ReplicaObserver     ``replicas`` (desired/ready per service), ``readiness`` per replica and
                        ``scale`` when a service's replica count changes
    AlertObserver       ``alert`` events (pending / firing / resolved): from Prometheus's
                        ``/api/v1/alerts`` and, when the platform records what Alertmanager
                        delivered to its webhook receiver (``received_alerts()``), from there
    QueryObserver       ``measurement`` events for the scenario's ``observe.prometheus`` queries
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

from harness.errors import HarnessError, Unsupported
from harness.platform.base import Platform
from harness.probes import prometheus_value, run_probe
from harness.record import RunRecord

__all__ = [
    "AlertObserver",
    "Observer",
    "ObserverLoop",
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
                if before is not None and before[0] != now[0]:
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

    def poll(self) -> None:
        url = self.platform.prometheus_url
        r = httpx.get(f"{url}/api/v1/alerts", timeout=3.0)
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
        received = getattr(self.platform, "received_alerts", None)
        if callable(received):  # what Alertmanager actually delivered to the webhook
            delivered = list(received())
            for a in delivered[self._delivered :]:
                self.record.emit(
                    "alert",
                    name=a.get("name") or a.get("labels", {}).get("alertname", "?"),
                    state=a.get("state") or a.get("status", "firing"),
                    labels=a.get("labels", {}),
                    starts_at=a.get("starts_at") or a.get("startsAt"),
                    ends_at=a.get("ends_at") or a.get("endsAt"),
                    source="alertmanager",
                )
            self._delivered = len(delivered)


class QueryObserver:
    name = "prometheus"

    def __init__(
        self, platform: Platform, record: RunRecord, queries: Sequence[dict[str, Any]]
    ) -> None:
        self.platform, self.record, self.queries = platform, record, list(queries)

    def poll(self) -> None:
        for q in self.queries:
            value = prometheus_value(self.platform, str(q["query"]), timeout_s=3.0)
            if value is not None:
                self.record.emit(
                    "measurement",
                    name=str(q["name"]),
                    value=value,
                    unit=str(q.get("unit", "")),
                    query=q["query"],
                )


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
