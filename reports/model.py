"""A run directory loaded into typed data (:class:`RunData`) that every report format reads.

The record's format is :mod:`harness.record`; this module only interprets it. A problem is
a :class:`~harness.errors.RecordError` that names the file (and line) and what is missing. A
run without ``summary.json`` (it crashed) loads with ``partial=True``: reports still render.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import RecordError
from harness.record import Event, read_events, read_summary
from reports.quantiles import histogram_quantiles

__all__ = [
    "AlertSpan",
    "FaultWindow",
    "GateResult",
    "LoadBucket",
    "LoadSummary",
    "Measurement",
    "ReplicaPoint",
    "RunData",
    "ScaleChange",
    "load_run",
]


@dataclass(frozen=True)
class LoadBucket:
    """One second of load; ``t`` is seconds from run start (the bucket's start)."""

    route: str
    second: int
    t: float
    sent: int
    completed: int
    errors: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    lag_p99_ms: float | None = None
    """How late the generator sent (p99, ms): large values mean it did not keep up."""
    histogram: str | None = None
    """This second's HDR histogram (base64), values in ``histogram_unit``."""
    histogram_unit: str = "us"

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True)
class LoadSummary:
    route: str
    sent: int
    completed: int
    errors: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rate_rps: float | None
    histogram: str | None
    """HDR histogram, base64 (``HdrHistogram.encode``); values in ``histogram_unit``."""
    histogram_unit: str = "us"
    throughput_rps: float | None = None
    """Completed per second (``rate_rps`` is sent per second)."""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True)
class FaultWindow:
    """A fault from ``fault_start`` to ``fault_end`` (seconds from run start)."""

    fault_id: str
    fault: str
    target: Any
    params: dict[str, Any]
    start: float
    end: float | None
    ok: bool | None
    error: str | None
    rolled_back: bool | None
    rollback_error: str | None
    # the effect as the system showed it: observed | not_observed | unobservable, and what
    proof: str | None = None
    proof_detail: str | None = None

    @property
    def open(self) -> bool:
        """Never ended and never rolled back: the record cannot prove it was undone."""
        return self.end is None and self.rolled_back is None


@dataclass(frozen=True)
class ReplicaPoint:
    t: float
    service: str
    desired: int
    ready: int


@dataclass(frozen=True)
class ScaleChange:
    t: float
    service: str
    from_replicas: int
    to_replicas: int
    reason: str


@dataclass(frozen=True)
class AlertSpan:
    """One alert (name + labels) through its states; times are seconds from run start."""

    name: str
    labels: dict[str, str]
    source: str = ""
    """Who reported it: ``prometheus`` (rule state) or ``alertmanager`` (delivered)."""
    pending: float | None = None
    firing: float | None = None
    resolved: float | None = None


@dataclass(frozen=True)
class Measurement:
    t: float
    name: str
    value: float
    unit: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    t: float
    gate: str
    verdict: str
    expected: Any
    observed: Any
    evidence: Any


@dataclass
class RunData:
    """Everything a report shows about one run. Times are seconds from ``started``."""

    directory: Path
    run_id: str
    partial: bool
    """No ``summary.json``: the run crashed or is still going."""
    verdict: str
    """pass / fail / inconclusive / error, or ``partial``."""
    started: float
    """Unix seconds of the first event (``run_start``)."""
    duration_s: float
    scenario: str
    platform: str
    seed: int | None
    env: dict[str, Any]
    spec: Any
    summary: dict[str, Any] | None
    error: str | None
    buckets: list[LoadBucket] = field(default_factory=list)
    summaries: list[LoadSummary] = field(default_factory=list)
    faults: list[FaultWindow] = field(default_factory=list)
    replicas: list[ReplicaPoint] = field(default_factory=list)
    readiness: list[tuple[float, str, str, bool]] = field(default_factory=list)
    scales: list[ScaleChange] = field(default_factory=list)
    alerts: list[AlertSpan] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)
    events: int = 0
    start_extra: dict[str, Any] = field(default_factory=dict)
    """Other ``run_start`` fields (scenario file, profile, ...), shown as given."""
    warnings: list[str] = field(default_factory=list)
    """Events the report could not use, each naming its file and line; shown on the page."""

    @property
    def synthetic(self) -> bool:
        return bool(self.env.get("synthetic"))

    @property
    def routes(self) -> list[str]:
        seen: dict[str, None] = {}
        for b in self.buckets:
            seen.setdefault(b.route, None)
        return list(seen)

    def route_buckets(self, route: str) -> list[LoadBucket]:
        return sorted((b for b in self.buckets if b.route == route), key=lambda b: b.second)

    def services(self) -> list[str]:
        seen: dict[str, None] = {}
        for p in self.replicas:
            seen.setdefault(p.service, None)
        return list(seen)

    def measurement(self, name: str) -> Measurement | None:
        found = [m for m in self.measurements if m.name == name]
        return found[-1] if found else None


def load_run(directory: Path | str) -> RunData:
    """Read a run directory; :class:`RecordError` names the file and what is wrong."""
    path = Path(directory)
    if not path.exists():
        raise RecordError(str(path), "no such run directory")
    if not path.is_dir():
        raise RecordError(str(path), "not a directory (a run record is a directory)")
    events = list(read_events(path))
    summary = read_summary(path)
    return _build(path, events, summary)


def _build(path: Path, events: list[Event], summary: dict[str, Any] | None) -> RunData:
    src = str(path / "events.jsonl")
    if not events:
        raise RecordError(src, "empty: no run_start event")
    first = events[0]
    if first.kind != "run_start":
        raise RecordError(f"{src}:1", f"first event is {first.kind!r}, expected run_start")
    t0 = first.t
    run = RunData(
        directory=path,
        run_id=str((summary or {}).get("run_id") or path.name),
        partial=summary is None,
        verdict="partial" if summary is None else str(summary.get("verdict", "error")),
        started=t0,
        duration_s=0.0,
        scenario=str(first.get("scenario")),
        platform=str(first.get("platform")),
        seed=_opt_int(first.get("seed"), src, 1, "seed"),
        env=dict(first.get("env") or {}),
        spec=first.get("spec"),
        summary=summary,
        error=None if summary is None else summary.get("error"),
        events=len(events),
        start_extra={
            k: v
            for k, v in first.data.items()
            if k not in ("scenario", "platform", "seed", "env", "spec")
        },
    )
    fault_index: dict[str, int] = {}
    alert_index: dict[tuple[str, tuple[tuple[str, str], ...], str], int] = {}
    raw_buckets: list[tuple[Event, int]] = []
    for line, ev in enumerate(events, 1):
        rel = ev.t - t0
        where = f"{src}:{line}"
        if ev.kind == "load_bucket":
            raw_buckets.append((ev, line))
        elif ev.kind == "load_summary":
            run.summaries.append(summary_from_fields(ev.data, where))
        elif ev.kind == "fault_start":
            fid = str(ev["fault_id"])
            fault_index[fid] = len(run.faults)
            run.faults.append(
                FaultWindow(
                    fid,
                    str(ev["fault"]),
                    ev["target"],
                    dict(ev.get("params") or {}),
                    rel,
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            )
        elif ev.kind in ("fault_end", "fault_rollback"):
            fid = str(ev["fault_id"])
            if fid not in fault_index:
                raise RecordError(where, f"{ev.kind} for fault_id {fid!r} that never started")
            i = fault_index[fid]
            old = run.faults[i]
            ok, err = bool(ev["ok"]), ev.get("error")
            if ev.kind == "fault_end":
                run.faults[i] = replace(old, end=rel, ok=ok, error=err)
            else:
                end = old.end if old.end is not None else rel
                run.faults[i] = replace(old, end=end, rolled_back=ok, rollback_error=err)
        elif ev.kind == "fault_proof" and str(ev["fault_id"]) in fault_index:
            i = fault_index[str(ev["fault_id"])]
            detail = str(ev["detail"])
            run.faults[i] = replace(run.faults[i], proof=str(ev["status"]), proof_detail=detail)
        elif ev.kind == "replicas":
            run.replicas.append(
                ReplicaPoint(
                    rel,
                    str(ev["service"]),
                    _int(ev["desired"], where, "desired"),
                    _int(ev["ready"], where, "ready"),
                )
            )
        elif ev.kind == "readiness":
            run.readiness.append((rel, str(ev["service"]), str(ev["replica"]), bool(ev["ready"])))
        elif ev.kind == "scale":
            run.scales.append(
                ScaleChange(
                    rel,
                    str(ev["service"]),
                    _int(ev["from_replicas"], where, "from_replicas"),
                    _int(ev["to_replicas"], where, "to_replicas"),
                    str(ev.get("reason", "")),
                )
            )
        elif ev.kind == "alert":
            _alert(run, alert_index, ev, rel, where)
        elif ev.kind == "measurement":
            extra = {k: v for k, v in ev.data.items() if k not in ("name", "value", "unit")}
            run.measurements.append(
                Measurement(
                    rel,
                    str(ev["name"]),
                    _float(ev["value"], where, "value"),
                    str(ev["unit"]),
                    extra,
                )
            )
        elif ev.kind == "gate":
            verdict = str(ev["verdict"])
            if verdict not in ("pass", "fail", "inconclusive"):
                # Shown, not dropped: an unknown verdict counts as inconclusive, loudly.
                run.warnings.append(
                    f"{where}: gate {ev['gate']!r} verdict {verdict!r} is not "
                    "pass/fail/inconclusive; shown as inconclusive"
                )
                verdict = "inconclusive"
            run.gates.append(
                GateResult(
                    rel,
                    str(ev["gate"]),
                    verdict,
                    ev.get("expected"),
                    ev.get("observed"),
                    ev.get("evidence"),
                )
            )
        elif ev.kind == "note":
            run.notes.append((rel, str(ev["message"])))
        elif ev.kind == "run_end" and summary is None:
            # run_end written but the summary never was: still partial, keep what it said.
            run.error = ev.get("error")
    run.buckets = _buckets(raw_buckets, t0, src)
    last = events[-1].t - t0
    if summary is not None and isinstance(summary.get("ended"), (int, float)):
        last = max(last, float(summary["ended"]) - t0)
    if run.buckets:
        last = max(last, max(b.t for b in run.buckets) + 1.0)
    run.duration_s = max(last, 0.0)
    return run


def _buckets(raw: list[tuple[Event, int]], t0: float, src: str) -> list[LoadBucket]:
    """Place buckets on the run's clock: ``start`` (unix s) if the writer gave it, else the
    load start estimated from the earliest emission (``t - second - 1``: a bucket is written
    once its second has closed). Writers should give ``start`` (see docs/contracts.md)."""
    if not raw:
        return []
    # Load cannot start before the run did (buckets written in a burst would say so).
    estimate = max(t0, min(ev.t - float(ev["second"]) - 1.0 for ev, _ in raw))
    out = []
    for ev, line in raw:
        where = f"{src}:{line}"
        second = _int(ev["second"], where, "second")
        start = ev.get("start")
        t = (float(start) if isinstance(start, (int, float)) else estimate + second) - t0
        out.append(bucket_from_fields({**ev.data, "t": t}, where))
    return out


def bucket_from_fields(data: Mapping[str, Any], where: str) -> LoadBucket:
    """A :class:`LoadBucket` from a mapping (``t``: seconds from run start), checked."""
    missing = [k for k in ("second", "sent", "completed", "errors") if k not in data]
    if missing:
        raise RecordError(where, f"load bucket is missing {missing}")
    return LoadBucket(
        route=str(data.get("route", "all")),
        second=_int(data["second"], where, "second"),
        t=_float(data.get("t", 0.0), where, "t"),
        sent=_int(data["sent"], where, "sent"),
        completed=_int(data["completed"], where, "completed"),
        errors=_errors(data["errors"], where),
        p50_ms=_opt_float(data.get("p50_ms"), where, "p50_ms"),
        p95_ms=_opt_float(data.get("p95_ms"), where, "p95_ms"),
        p99_ms=_opt_float(data.get("p99_ms"), where, "p99_ms"),
        lag_p99_ms=_opt_float(data.get("lag_p99_ms"), where, "lag_p99_ms"),
        histogram=_opt_str(data.get("histogram"), where, "histogram"),
        histogram_unit=str(data.get("histogram_unit", "us")),
    )


def summary_from_fields(ev: Mapping[str, Any], where: str) -> LoadSummary:
    """A :class:`LoadSummary` from a ``load_summary`` event's fields, checked. With a
    histogram, its quantiles are computed from it (whoever wrote the fields), so the load
    table and the baseline comparison show the same numbers."""
    missing = [k for k in ("route", "sent", "completed", "errors") if k not in ev]
    if missing:
        raise RecordError(where, f"load summary is missing {missing}")
    hist = ev.get("histogram")
    if hist is not None and not isinstance(hist, str):
        raise RecordError(where, "load_summary histogram must be a base64 string")
    unit = str(ev.get("histogram_unit", "us"))
    pct = {k: _opt_float(ev.get(k), where, k) for k in ("p50_ms", "p95_ms", "p99_ms")}
    if hist:
        pct = histogram_quantiles(hist, unit, where)
    return LoadSummary(
        route=str(ev["route"]),
        sent=_int(ev["sent"], where, "sent"),
        completed=_int(ev["completed"], where, "completed"),
        errors=_errors(ev["errors"], where),
        p50_ms=pct["p50_ms"],
        p95_ms=pct["p95_ms"],
        p99_ms=pct["p99_ms"],
        max_ms=_opt_float(ev.get("max_ms"), where, "max_ms"),
        rate_rps=_opt_float(ev.get("rate_rps"), where, "rate_rps"),
        throughput_rps=_opt_float(ev.get("throughput_rps"), where, "throughput_rps"),
        histogram=hist,
        histogram_unit=unit,
    )


def _alert(
    run: RunData,
    index: dict[tuple[str, tuple[tuple[str, str], ...], str], int],
    ev: Event,
    rel: float,
    where: str,
) -> None:
    state = str(ev["state"])
    if state == "inactive":  # Prometheus' word for a rule that stopped matching
        state = "resolved"
    if state not in ("pending", "firing", "resolved"):
        run.warnings.append(
            f"{where}: alert {ev['name']!r} state {state!r} is not pending/firing/resolved; "
            "left out of the alert timeline"
        )
        return
    labels = {str(k): str(v) for k, v in (ev.get("labels") or {}).items()}
    labels.pop("alertname", None)  # the name already says it
    source = str(ev.get("source") or "")
    key = (str(ev["name"]), tuple(sorted(labels.items())), source)
    i = index.get(key)
    # A new span starts when the alert comes back after it resolved.
    if i is None or run.alerts[i].resolved is not None:
        if state == "resolved" and i is not None:
            return  # duplicate resolved notification (Alertmanager repeats them)
        index[key] = len(run.alerts)
        run.alerts.append(AlertSpan(key[0], labels, source))
        i = index[key]
    span = run.alerts[i]
    if state == "pending" and span.pending is None:
        run.alerts[i] = replace(span, pending=rel)
    elif state == "firing" and span.firing is None:
        run.alerts[i] = replace(span, firing=rel)
    elif state == "resolved":
        run.alerts[i] = replace(span, resolved=rel)


def _errors(value: Any, where: str) -> dict[str, int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"error": int(value)} if value else {}
    if not isinstance(value, Mapping):
        raise RecordError(where, f"errors must be a map of kind to count, not {value!r}")
    return {str(k): _int(v, where, f"errors.{k}") for k, v in value.items()}


def _int(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, f"{name} must be a number, not {value!r}")
    return int(value)


def _float(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(where, f"{name} must be a number, not {value!r}")
    out = float(value)
    if math.isnan(out):
        raise RecordError(where, f"{name} is NaN")
    return out


def _opt_float(value: Any, where: str, name: str) -> float | None:
    return None if value is None else _float(value, where, name)


def _opt_str(value: Any, where: str, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RecordError(where, f"{name} must be a string (base64), not {type(value).__name__}")
    return value


def _opt_int(value: Any, where: str, line: int, name: str) -> int | None:
    return None if value is None else _int(value, f"{where}:{line}", name)
