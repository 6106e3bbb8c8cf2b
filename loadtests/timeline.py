"""Merging generator output into one per-second timeline and per-route run summaries.

Generators (one in a thread, or N worker processes) each report buckets per second and route
(:mod:`loadtests.generator`); :class:`Timeline` adds their counts and merges their HDR
histograms exactly, and hands out a second only when every generator has reported it, so the
result is the same whether one generator or many produced it. Each second has one bucket per
route plus one for route ``"all"``, also when nothing happened (a continuous timeline).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.latency import (
    Histogram,
    decode_histogram,
    encode_histogram,
    new_histogram,
    percentiles_ms,
)

__all__ = ["ALL", "Bucket", "RouteSummary", "Timeline"]

ALL = "all"


@dataclass
class Bucket:
    """One second of one route (or ``"all"``)."""

    second: int
    route: str
    sent: int = 0
    completed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    hist: Histogram | None = None
    lag: Histogram | None = None
    _packed: dict[str, str | None] | None = None  # encoded histograms once compacted

    def compact(self) -> None:
        """Keep the histograms encoded (~100 bytes instead of ~25 KB each): a long run's
        timeline stays small. The bucket still reports the same fields."""
        if self._packed is None:
            self._packed = {
                "hist": encode_histogram(self.hist) if self.hist is not None else None,
                "lag": encode_histogram(self.lag) if self.lag is not None else None,
            }
            self.hist = self.lag = None

    def histograms(self) -> tuple[Histogram | None, Histogram | None]:
        if self._packed is None:
            return self.hist, self.lag
        h, lag = self._packed["hist"], self._packed["lag"]
        return (decode_histogram(h) if h else None, decode_histogram(lag) if lag else None)

    def add(self, other: Bucket) -> None:
        self.sent += other.sent
        self.completed += other.completed
        self.errors.update(other.errors)
        self.hist = _add(self.hist, other.hist)
        self.lag = _add(self.lag, other.lag)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def event_fields(self) -> dict[str, Any]:
        """The ``load_bucket`` run-record event's fields (percentiles None when no data)."""
        hist, lag_hist = self.histograms()
        pct = percentiles_ms(hist if hist is not None else _EMPTY)
        lag = percentiles_ms(lag_hist if lag_hist is not None else _EMPTY)
        return {
            "second": self.second,
            "route": self.route,
            "sent": self.sent,
            "completed": self.completed,
            "errors": dict(sorted(self.errors.items())),
            "p50_ms": pct["p50_ms"],
            "p95_ms": pct["p95_ms"],
            "p99_ms": pct["p99_ms"],
            "max_ms": pct["max_ms"],
            "lag_p99_ms": lag["p99_ms"],
            "histogram": (
                self._packed["hist"]
                if self._packed is not None
                else (encode_histogram(hist) if hist is not None else None)
            ),
        }


_EMPTY = new_histogram()


def _add(a: Histogram | None, b: Histogram | None) -> Histogram | None:
    if b is None:
        return a
    if a is None:
        a = new_histogram()
    a.add(b)
    return a


@dataclass
class RouteSummary:
    """Totals of one route (or ``"all"``) over the run."""

    route: str
    sent: int
    completed: int
    errors: dict[str, int]
    hist: Histogram
    lag: Histogram
    duration_s: float

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_ratio(self) -> float | None:
        finished = self.completed + self.error_count
        return self.error_count / finished if finished else None

    def event_fields(self) -> dict[str, Any]:
        """The ``load_summary`` run-record event's fields."""
        pct = percentiles_ms(self.hist)
        lag = percentiles_ms(self.lag)
        return {
            "route": self.route,
            "sent": self.sent,
            "completed": self.completed,
            "errors": dict(sorted(self.errors.items())),
            **pct,
            "rate_rps": round(self.sent / self.duration_s, 3) if self.duration_s else None,
            "throughput_rps": (
                round(self.completed / self.duration_s, 3) if self.duration_s else None
            ),
            "lag_p99_ms": lag["p99_ms"],
            "lag_max_ms": lag["max_ms"],
            "histogram": encode_histogram(self.hist),
        }


class Timeline:
    """Adds the reports of ``sources`` generators; calls ``on_second`` with each finished
    second's buckets (routes in order, then ``"all"``)."""

    def __init__(
        self,
        sources: int,
        routes: Iterable[str],
        on_second: Callable[[list[Bucket]], None] | None = None,
    ) -> None:
        self.routes = list(routes)
        self.on_second = on_second
        self._upto = dict.fromkeys(range(sources), 0)
        self._pending: dict[int, dict[str, Bucket]] = {}
        self._emitted = 0
        self._last_second = -1
        self._done: dict[int, dict[str, Any]] = {}
        self.unsent = 0
        self.cpu_s = 0.0
        self.last_dispatch_s = 0.0
        # Locust's own request and failure counts (engine: locust), to compare with ours
        self.locust_requests = 0
        self.locust_failures = 0
        self.seconds: list[list[Bucket]] = []

    def feed(self, source: int, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "bucket":
            second, route = int(msg["second"]), str(msg["route"])
            self._last_second = max(self._last_second, second)
            bucket = Bucket(
                second,
                route,
                int(msg["sent"]),
                int(msg["completed"]),
                Counter({str(k): int(v) for k, v in msg["errors"].items()}),
                decode_histogram(msg["hist"]) if msg.get("hist") else None,
                decode_histogram(msg["lag_hist"]) if msg.get("lag_hist") else None,
            )
            self._pending.setdefault(second, {}).setdefault(route, Bucket(second, route)).add(
                bucket
            )
        elif kind == "tick":
            self._upto[source] = max(self._upto[source], int(msg["upto"]))
            self._release(min(self._upto.values()))
        elif kind == "done":
            self._done[source] = msg
            self.unsent += int(msg.get("unsent", 0))
            self.cpu_s += float(msg.get("cpu_s", 0.0))
            self.last_dispatch_s = max(self.last_dispatch_s, float(msg.get("last_dispatch_s", 0)))
        elif kind == "locust":
            self.locust_requests += int(msg["requests"])
            self.locust_failures += int(msg["failures"])
        else:
            raise ValueError(f"unknown generator message {msg!r}")

    def _release(self, upto: int) -> None:
        upto = min(upto, self._last_second + 1)
        while self._emitted < upto:
            s = self._emitted
            got = self._pending.pop(s, {})
            total = Bucket(s, ALL)
            row = []
            for route in self.routes:
                b = got.get(route, Bucket(s, route))
                total.add(b)
                row.append(b)
            row.append(total)
            if self.on_second is not None:
                self.on_second(row)
            for b in row:
                b.compact()
            self.seconds.append(row)
            self._emitted += 1

    def finish(self) -> None:
        """Release every second still held (a generator that died does not hold the rest)."""
        self._release(self._last_second + 1)

    @property
    def finished_sources(self) -> set[int]:
        return set(self._done)

    def summaries(self, duration_s: float) -> dict[str, RouteSummary]:
        """Per-route and ``"all"`` totals from the generators' full-precision reports."""
        out: dict[str, RouteSummary] = {}
        all_errors: Counter[str] = Counter()
        all_hist, all_lag = new_histogram(), new_histogram()
        all_sent = all_completed = 0
        for route in self.routes:
            sent = completed = 0
            errors: Counter[str] = Counter()
            hist, lag = new_histogram(), new_histogram()
            for msg in self._done.values():
                part = msg["routes"].get(route)
                if part is None:
                    continue
                sent += int(part["sent"])
                completed += int(part["completed"])
                errors.update({str(k): int(v) for k, v in part["errors"].items()})
                hist.add(decode_histogram(part["hist"]))
                lag.add(decode_histogram(part["lag_hist"]))
            out[route] = RouteSummary(route, sent, completed, dict(errors), hist, lag, duration_s)
            all_sent += sent
            all_completed += completed
            all_errors.update(errors)
            all_hist.add(hist)
            all_lag.add(lag)
        out[ALL] = RouteSummary(
            ALL, all_sent, all_completed, dict(all_errors), all_hist, all_lag, duration_s
        )
        return out
