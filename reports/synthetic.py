"""A synthetic but realistic run record, seeded, for tests and demos of the reports.

It is written through the real :class:`harness.record.RunRecord`, and it says what it is:
``run_start.env.synthetic`` is true, the scenario name starts with ``synthetic-`` and the
first note explains where it came from. Reports show a SYNTHETIC badge for it.

The story (a spot interruption under load, ~100 s): NER and vision under Poisson load; at
35 s the spot node gets a notice, one NER replica drains and is rescheduled; at 60 s a mesh
delay hits vision for 15 s; alerts go pending, firing and resolved; a cold start, a recovery
time and a backup drill's RPO/RTO are measured; gates judge it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.latency import encode_histogram, percentiles_ms, quantile_ms, record_us
from harness.record import RunRecord

__all__ = ["SyntheticOptions", "write_synthetic_run"]


@dataclass(frozen=True)
class SyntheticOptions:
    seed: int = 7
    duration_s: int = 90
    """Seconds of load."""
    rate_rps: float = 40.0
    """Offered rate over both routes (Poisson arrivals)."""
    latency_factor: float = 1.0
    """Multiplies every latency (a regressed build: > 1)."""
    throughput_factor: float = 1.0
    """Fraction of requests that complete in time (a saturated build: < 1)."""
    crash_at_s: float | None = None
    """Stop writing at this many seconds of load and leave no summary (a crashed run)."""
    scenario: str = "synthetic-spot-interruption"


_ROUTES = {"ner": (0.7, 18.0, 0.35), "vision": (0.3, 11.0, 0.30)}  # share, median ms, sigma
_NOTICE_AT, _MESH_AT, _MESH_FOR = 35, 60, 15
_LOAD_START = 5.0  # seconds after run_start


def write_synthetic_run(directory: Path, options: SyntheticOptions | None = None) -> Path:
    """Write a synthetic run into ``directory`` (created); returns it."""
    opt = options or SyntheticOptions()
    if opt.crash_at_s is not None and not _IN_CRASH_CHILD:
        return _write_crashed(Path(directory), opt)
    rng = np.random.default_rng(opt.seed)
    now = time.time()
    # The record ends "now" so that run_end's clock (RunRecord stamps it) matches the rest.
    t0 = now - opt.duration_s - _LOAD_START - 8.0
    rec = RunRecord(Path(directory))
    spec = {
        "name": opt.scenario,
        "load": {"shape": "open-loop", "rate": opt.rate_rps, "duration": f"{opt.duration_s}s"},
        "faults": [
            {"at": f"{_NOTICE_AT}s", "kind": "spot_interruption", "target": {"node": "spot-a"}},
            {"at": f"{_MESH_AT}s", "kind": "mesh_delay", "route": "vision", "delay_ms": 200},
        ],
    }
    rec.emit(
        "run_start",
        t=t0,
        scenario=opt.scenario,
        platform="local",
        seed=opt.seed,
        env={
            "synthetic": True,
            "generator": "reports.synthetic",
            "host": "synthetic",
            "cpus": 2,
            "python": "3.11",
        },
        spec=spec,
    )
    rec.emit(
        "note",
        t=t0 + 0.01,
        message=f"SYNTHETIC record from reports.synthetic (seed {opt.seed}): not a measurement",
    )
    for service, n in (("ner", 2), ("vision", 1)):
        rec.emit("replicas", t=t0 + 1, service=service, desired=n, ready=n)
    events = _timeline(opt, t0)
    hists = {r: HdrHistogram(1, 60_000_000, 3) for r in (*_ROUTES, "all")}
    totals = {r: _Totals() for r in (*_ROUTES, "all")}
    crash = opt.crash_at_s
    for second in range(opt.duration_s):
        if crash is not None and second >= crash:
            break
        t_bucket = t0 + _LOAD_START + second
        for t_ev, kind, fields in [e for e in events if t_bucket <= e[0] < t_bucket + 1]:
            rec.emit(kind, t=t_ev, **fields)
        all_lat: list[np.ndarray[Any, Any]] = []
        all_err: dict[str, int] = {}
        all_sent = 0
        for route, (share, median, sigma) in _ROUTES.items():
            lat, sent, errors = _second(rng, opt, route, second, share, median, sigma)
            for v in lat:
                hists[route].record_value(max(1, int(v * 1000)))
                hists["all"].record_value(max(1, int(v * 1000)))
            _emit_bucket(rec, t_bucket, route, second, sent, lat, errors)
            _add(totals[route], sent, len(lat), errors)
            all_lat.append(lat)
            all_sent += sent
            for k, v in errors.items():
                all_err[k] = all_err.get(k, 0) + v
        merged = np.concatenate(all_lat)
        _emit_bucket(rec, t_bucket, "all", second, all_sent, merged, all_err)
        _add(totals["all"], all_sent, len(merged), all_err)
    if crash is not None:
        rec.emit(
            "note",
            t=t0 + _LOAD_START + crash + 0.1,
            message="synthetic crash: the harness died here (no summary)",
        )
        os._exit(_CRASH_CODE)  # only in the child process that _write_crashed started
    t_end = t0 + _LOAD_START + opt.duration_s
    for t_ev, kind, fields in [e for e in events if e[0] >= t_end]:
        rec.emit(kind, t=t_ev, **fields)
    for route, tot in totals.items():
        sent, done, errors = tot.sent, tot.completed, tot.errors
        h = hists[route]
        rec.emit(
            "load_summary",
            t=t_end + 0.5,
            route=route,
            sent=sent,
            completed=done,
            errors=errors,
            **percentiles_ms(h),
            rate_rps=round(sent / opt.duration_s, 3),
            throughput_rps=round(done / opt.duration_s, 3),
            histogram=h.encode().decode("ascii"),
            histogram_unit="us",
        )
    verdicts = _gates(rec, opt, t_end + 1, hists, totals)
    verdict = (
        "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    )
    rec.close(verdict, scenario=opt.scenario, platform="local", synthetic=True, started=t0)
    return Path(directory)


_CRASH_CODE = 70
_IN_CRASH_CHILD = False


def _write_crashed(directory: Path, opt: SyntheticOptions) -> Path:
    """A crashed run is written by a process that really dies mid-record (``os._exit``)."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import reports.synthetic as s\n"
        "s._IN_CRASH_CHILD = True\n"
        "s.write_synthetic_run(Path(sys.argv[1]), s.SyntheticOptions(**json.loads(sys.argv[2])))\n"
    )
    args = json.dumps(asdict(opt))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(directory), args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != _CRASH_CODE:
        raise RuntimeError(f"synthetic crash writer exited {proc.returncode}: {proc.stderr[-800:]}")
    return directory


def _timeline(opt: SyntheticOptions, t0: float) -> list[tuple[float, str, dict[str, Any]]]:
    """Faults, replicas, alerts and measurements at fixed offsets from load start."""
    s = t0 + _LOAD_START
    notice_end = _NOTICE_AT + 60
    ev: list[tuple[float, str, dict[str, Any]]] = [
        (
            s + _NOTICE_AT,
            "fault_start",
            {
                "fault_id": "f1",
                "fault": "spot_interruption",
                "target": {"node": "spot-a"},
                "params": {"notice_s": 60},
            },
        ),
        (s + _NOTICE_AT + 0.4, "readiness", {"service": "ner", "replica": "ner-2", "ready": False}),
        (s + _NOTICE_AT + 0.5, "replicas", {"service": "ner", "desired": 2, "ready": 1}),
        (
            s + _NOTICE_AT + 0.6,
            "alert",
            {
                "name": "NodeSpotInterruption",
                "state": "pending",
                "labels": {"node": "spot-a"},
                "source": "alertmanager",
            },
        ),
        (
            s + _NOTICE_AT + 2.1,
            "alert",
            {
                "name": "NodeSpotInterruption",
                "state": "firing",
                "labels": {"node": "spot-a"},
                "source": "alertmanager",
            },
        ),
        (
            s + _NOTICE_AT + 3,
            "scale",
            {"service": "ner", "from_replicas": 1, "to_replicas": 2, "reason": "reschedule"},
        ),
        (
            s + _NOTICE_AT + 4,
            "alert",
            {
                "name": "ModelServeHighErrorRate",
                "state": "pending",
                "labels": {"service": "ner"},
                "source": "alertmanager",
            },
        ),
        (
            s + _NOTICE_AT + 7,
            "alert",
            {
                "name": "ModelServeHighErrorRate",
                "state": "firing",
                "labels": {"service": "ner"},
                "source": "alertmanager",
            },
        ),
        (s + _NOTICE_AT + 14.8, "readiness", {"service": "ner", "replica": "ner-3", "ready": True}),
        (s + _NOTICE_AT + 15, "replicas", {"service": "ner", "desired": 2, "ready": 2}),
        (
            s + _NOTICE_AT + 15.1,
            "measurement",
            {"name": "recovery_s", "value": 14.6, "unit": "s", "service": "ner"},
        ),
        (
            s + _NOTICE_AT + 21,
            "alert",
            {
                "name": "ModelServeHighErrorRate",
                "state": "resolved",
                "labels": {"service": "ner"},
                "source": "alertmanager",
            },
        ),
        (
            s + _MESH_AT,
            "fault_start",
            {
                "fault_id": "f2",
                "fault": "mesh_delay",
                "target": {"route": "vision"},
                "params": {"delay_ms": 200, "percent": 20},
            },
        ),
        (s + _MESH_AT + _MESH_FOR, "fault_end", {"fault_id": "f2", "ok": True}),
        (s + _MESH_AT + _MESH_FOR + 0.05, "fault_rollback", {"fault_id": "f2", "ok": True}),
        (s + 80, "replicas", {"service": "vision", "desired": 0, "ready": 0}),
        (
            s + 80,
            "scale",
            {"service": "vision", "from_replicas": 1, "to_replicas": 0, "reason": "idle"},
        ),
        (s + 83, "replicas", {"service": "vision", "desired": 1, "ready": 0}),
        (s + 86.8, "replicas", {"service": "vision", "desired": 1, "ready": 1}),
        (
            s + 86.9,
            "measurement",
            {"name": "cold_start_s", "value": 3.8, "unit": "s", "service": "vision"},
        ),
        (s + notice_end, "fault_end", {"fault_id": "f1", "ok": True}),
        (s + notice_end + 0.2, "fault_rollback", {"fault_id": "f1", "ok": True}),
        (
            s + notice_end + 1,
            "alert",
            {
                "name": "NodeSpotInterruption",
                "state": "resolved",
                "labels": {"node": "spot-a"},
                "source": "alertmanager",
            },
        ),
        (s + notice_end + 1.5, "measurement", {"name": "rpo_s", "value": 1.2, "unit": "s"}),
        (s + notice_end + 1.6, "measurement", {"name": "rto_s", "value": 9.4, "unit": "s"}),
    ]
    return sorted(ev, key=lambda e: e[0])


def _second(
    rng: np.random.Generator,
    opt: SyntheticOptions,
    route: str,
    second: int,
    share: float,
    median: float,
    sigma: float,
) -> tuple[np.ndarray[Any, Any], int, dict[str, int]]:
    sent = int(rng.poisson(opt.rate_rps * share))
    lat = rng.lognormal(math.log(median * opt.latency_factor), sigma, size=sent)
    errors: dict[str, int] = {}
    draining = route == "ner" and _NOTICE_AT <= second < _NOTICE_AT + 15
    if draining:  # one replica fewer: queueing, some 503s while the endpoint updates
        lat *= 1.8
        n503 = int(rng.binomial(sent, 0.03))
        if n503:
            errors["http_503"] = n503
    mesh = route == "vision" and _MESH_AT <= second < _MESH_AT + _MESH_FOR
    if mesh:
        hit = rng.random(sent) < 0.2
        lat = lat + hit * 200.0
    if opt.throughput_factor < 1.0:
        keep = rng.random(len(lat)) < opt.throughput_factor
        lost = int((~keep).sum())
        if lost:
            errors["timeout"] = errors.get("timeout", 0) + lost
        lat = lat[keep]
    n_err = sum(errors.values())
    lat = lat[: max(0, sent - n_err)]
    return lat, sent, errors


def _emit_bucket(
    rec: RunRecord,
    t_bucket: float,
    route: str,
    second: int,
    sent: int,
    lat: np.ndarray[Any, Any],
    errors: dict[str, int],
) -> None:
    h = HdrHistogram(1, 60_000_000, 2)  # per second: 2 digits, as the load generator
    for v in lat:
        record_us(h, v * 1000)
    pct = percentiles_ms(h)
    hist = encode_histogram(h) if len(lat) else None
    rec.emit(
        "load_bucket",
        t=t_bucket + 1.02,
        start=t_bucket,
        route=route,
        second=second,
        sent=sent,
        completed=len(lat),
        errors=errors,
        p50_ms=pct["p50_ms"],
        p95_ms=pct["p95_ms"],
        p99_ms=pct["p99_ms"],
        histogram=hist,
        histogram_unit="us",
    )


@dataclass
class _Totals:
    sent: int = 0
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _add(total: _Totals, sent: int, done: int, errors: dict[str, int]) -> None:
    total.sent += sent
    total.completed += done
    for k, v in errors.items():
        total.errors[k] = total.errors.get(k, 0) + v


def _gates(
    rec: RunRecord,
    opt: SyntheticOptions,
    t: float,
    hists: dict[str, HdrHistogram],
    totals: dict[str, _Totals],
) -> list[str]:
    p99 = quantile_ms(hists["ner"], 99) or 0.0
    sent, errors = totals["all"].sent, totals["all"].errors
    ratio = sum(errors.values()) / sent if sent else 0.0
    gates: list[dict[str, Any]] = [
        {
            "gate": "latency",
            "verdict": "pass" if p99 <= 250 else "fail",
            "expected": {"route": "ner", "p99_ms": {"<=": 250}},
            "observed": {"p99_ms": round(p99, 2)},
            "evidence": {"samples": hists["ner"].get_total_count(), "window": "whole run"},
        },
        {
            "gate": "error_ratio",
            "verdict": "pass" if ratio <= 0.01 else "fail",
            "expected": {"max": 0.01},
            "observed": {"ratio": round(ratio, 5)},
            "evidence": {"sent": sent, "errors": errors},
        },
        {
            "gate": "replicas",
            "verdict": "pass",
            "expected": {"service": "ner", "at_least": 2, "within_s": 90},
            "observed": {"back_after_s": 15.0},
            "evidence": "ner ready 1 -> 2 at +15.0 s after the notice",
        },
        {
            "gate": "alert",
            "verdict": "pass",
            "expected": {"name": "NodeSpotInterruption", "fires_within_s": 30, "resolves": True},
            "observed": {"fired_after_s": 2.1, "resolved": True},
            "evidence": "Alertmanager webhook: pending +0.6 s, firing +2.1 s, resolved",
        },
        {
            "gate": "cold_start",
            "verdict": "pass",
            "expected": {"cold_start_s": {"<=": 10}},
            "observed": {"cold_start_s": 3.8},
            "evidence": "vision 0 -> 1 replica, first request held 3.8 s",
        },
        {
            "gate": "rto",
            "verdict": "pass",
            "expected": {"rto_s": {"<=": 60}, "rpo_s": {"<=": 5}},
            "observed": {"rto_s": 9.4, "rpo_s": 1.2},
            "evidence": "restore drill: checksums matched",
        },
    ]
    for i, g in enumerate(gates):
        rec.emit("gate", t=t + i * 0.01, **g)
    return [str(g["verdict"]) for g in gates]
