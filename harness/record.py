"""The run record: what happened in one run, appended as it happens.

A run directory holds::

    events.jsonl   one JSON object per line, flushed after each write, so a run that crashes
                   still leaves every event up to the crash
    summary.json   written once at the end (atomically: temp file + rename); absent if the
                   run crashed, which readers report as "partial"
    arrivals.json  (optional) the seeded arrival schedule, for exact replay

Every event has ``seq`` (0, 1, ...), ``t`` (unix seconds, float), ``kind`` and the fields that
its kind requires (:data:`EVENT_FIELDS`). Times in fields are unix seconds; durations are
``*_s`` seconds or ``*_ms`` milliseconds, as the name says.

Event kinds:
  run_start        scenario, platform, seed, env (dict), spec (the scenario as data)
  load_bucket      second (int, from load start), sent, completed, errors (dict kind->n),
                   p50_ms, p95_ms, p99_ms (null when nothing completed), route (or "all");
                   optional: max_ms, lag_p99_ms (send lag behind schedule), histogram (HDR b64,
                   latencies of requests that finished in that second; see harness.latency)
  load_summary     route, sent, completed, errors, p50_ms, p95_ms, p99_ms, max_ms, rate_rps,
                   histogram (HDR, base64; optional), throughput_rps, lag_p99_ms, lag_max_ms
  fault_start      fault_id, fault (kind), target, params
  fault_end        fault_id, ok (bool), error (optional)
  fault_rollback   fault_id, ok (bool), error (optional)
  fault_proof      fault_id, fault (kind), status (observed|not_observed|unobservable),
                   detail, source (live: the fault's probe; record: from the load samples)
  replicas         service, desired, ready
  readiness        service, replica, ready (bool)
  scale            service, from_replicas, to_replicas, reason
  alert            name, state (pending|firing|resolved), labels, starts_at, ends_at
  measurement      name, value, unit (cold_start_s, recovery_s, rpo_s, rto_s, ...)
  promql_plan      expressions: [{key, expr, queries, kubernetes_only}] (harness.monitoring)
  promql           key, query, ok; series (finite ones) when ok, error when Prometheus
                   refused the query
  gate             gate, verdict (pass|fail|inconclusive), expected, observed, evidence
  note             message
  run_end          verdict (pass|fail|inconclusive|error), error (optional)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import RecordError

__all__ = [
    "EVENT_FIELDS",
    "SCHEMA_VERSION",
    "VERDICTS",
    "Event",
    "RunRecord",
    "read_events",
    "read_summary",
]

SCHEMA_VERSION = 1
VERDICTS = ("pass", "fail", "inconclusive", "error")

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "run_start": ("scenario", "platform"),
    "load_bucket": ("second", "sent", "completed", "errors"),
    "load_summary": ("route", "sent", "completed", "errors"),
    "fault_start": ("fault_id", "fault", "target"),
    "fault_end": ("fault_id", "ok"),
    "fault_rollback": ("fault_id", "ok"),
    "fault_proof": ("fault_id", "fault", "status", "detail"),
    "replicas": ("service", "desired", "ready"),
    "readiness": ("service", "replica", "ready"),
    "scale": ("service", "from_replicas", "to_replicas"),
    "alert": ("name", "state"),
    "measurement": ("name", "value", "unit"),
    "promql_plan": ("expressions",),
    "promql": ("key", "query", "ok"),
    "gate": ("gate", "verdict"),
    "note": ("message",),
    "run_end": ("verdict",),
}


@dataclass(frozen=True)
class Event:
    seq: int
    t: float
    kind: str
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


class RunRecord:
    """Appends events for one run. Thread-safe: observers, load and faults write concurrently."""

    def __init__(self, directory: Path, *, run_id: str | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or self.directory.name
        self.started = time.time()
        self._lock = threading.Lock()
        self._seq = 0
        self._file = (self.directory / "events.jsonl").open("a", encoding="utf-8")
        self._closed = False

    def emit(self, kind: str, **fields: Any) -> Event:
        missing = [f for f in EVENT_FIELDS.get(kind, ()) if f not in fields]
        if kind not in EVENT_FIELDS:
            raise ValueError(f"unknown run-record event kind {kind!r}")
        if missing:
            raise ValueError(f"event {kind!r} needs {missing}")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"run record {self.directory} is closed")
            t = fields.pop("t", None) or time.time()
            event = Event(self._seq, t, kind, fields)
            line = json.dumps({"seq": self._seq, "t": round(t, 6), "kind": kind, **fields})
            self._file.write(line + "\n")
            self._file.flush()
            self._seq += 1
        return event

    def write_json(self, name: str, data: Any) -> Path:
        """Write a side file (``arrivals.json`` ...) atomically."""
        return _atomic_json(self.directory / name, data)

    def close(self, verdict: str, **summary: Any) -> Path:
        """Write ``run_end`` and ``summary.json``; safe to call once."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        self.emit(
            "run_end",
            verdict=verdict,
            **({"error": summary["error"]} if "error" in summary else {}),
        )
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._closed = True
        body = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "started": self.started,
            "ended": time.time(),
            "verdict": verdict,
            "events": self._seq,
            **summary,
        }
        return _atomic_json(self.directory / "summary.json", body)

    def __enter__(self) -> RunRecord:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if not self._closed:
            self.close("error", error=f"{type(exc).__name__}: {exc}" if exc else "not closed")


def _atomic_json(path: Path, data: Any) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_events(directory: Path, *, strict: bool = True) -> Iterator[Event]:
    """Events of a run directory. A truncated last line (crash mid-write) is skipped; any
    other malformed line raises :class:`RecordError` naming the file and line."""
    path = Path(directory) / "events.jsonl"
    if not path.exists():
        raise RecordError(str(path), "no events.jsonl: not a run record")
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):  # the write the crash interrupted
                return
            raise RecordError(f"{path}:{n}", f"not JSON ({exc.msg})") from exc
        kind = raw.get("kind")
        if strict:
            missing = [f for f in ("seq", "t", "kind") if f not in raw]
            missing += [f for f in EVENT_FIELDS.get(str(kind), ()) if f not in raw]
            if kind not in EVENT_FIELDS:
                raise RecordError(f"{path}:{n}", f"unknown event kind {kind!r}")
            if missing:
                raise RecordError(f"{path}:{n}", f"{kind} event is missing {missing}")
        data = {k: v for k, v in raw.items() if k not in ("seq", "t", "kind")}
        yield Event(int(raw.get("seq", n - 1)), float(raw.get("t", 0.0)), str(kind), data)


def read_summary(directory: Path) -> dict[str, Any] | None:
    """The summary, or None when the run did not finish (a partial record)."""
    path = Path(directory) / "summary.json"
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordError(str(path), f"not JSON ({exc.msg})") from exc
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            str(path), f"schema_version {version!r}, this msai reads {SCHEMA_VERSION}"
        )
    return data
