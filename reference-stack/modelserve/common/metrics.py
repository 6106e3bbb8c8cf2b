"""Prometheus metrics of one replica, named exactly as ``docs/contracts.md`` lists them.

Each app owns its registry (tests build many apps in one process). Labelled counters are
pre-initialised so ``rate()`` sees the first error instead of a series that appears late.
Labels ``service``/``node``/``replica``/``version`` come from the scrape configuration.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CODES", "FAULT_KINDS", "ROUTES", "SHED_REASONS", "ServerMetrics"]

ROUTES = ("v2", "json")
CODES = ("200", "400", "404", "408", "413", "429", "499", "500", "503")
SHED_REASONS = ("queue_full", "deadline", "draining")
FAULT_KINDS = ("latency", "error", "hang", "crash", "slow_load")

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class ServerMetrics:
    """Every metric a model server exports, for one model."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelserve_requests",
            "Finished requests by HTTP status",
            ["model", "route", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            "modelserve_request_duration_seconds",
            "Arrival to response",
            ["model", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "modelserve_queue_wait_seconds",
            "Enqueue to batch start",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "modelserve_batch_size",
            "Items per forward pass",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "modelserve_inference_seconds",
            "One forward pass",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "modelserve_pending_requests", "Queued + in flight", ["model"], registry=r
        )
        self.shed = Counter(
            "modelserve_shed",
            "Refused before queueing, by reason",
            ["model", "reason"],
            registry=r,
        )
        self.load_seconds = Gauge(
            "modelserve_model_load_seconds", "Last load duration", ["model"], registry=r
        )
        self.ready = Gauge(
            "modelserve_model_ready", "1 ready, 0 loading or draining", ["model"], registry=r
        )
        self.faults = Counter(
            "modelserve_fault_injections",
            "Built-in fault hooks that fired",
            ["model", "fault"],
            registry=r,
        )
        for route in ROUTES:
            self.request_duration.labels(model, route)
            for code in CODES:
                self.requests.labels(model, route, code)
        for reason in SHED_REASONS:
            self.shed.labels(model, reason)
        for fault in FAULT_KINDS:
            self.faults.labels(model, fault)
        for metric in (self.queue_wait, self.batch_size, self.inference):
            metric.labels(model)
        self.pending.labels(model).set(0)
        self.ready.labels(model).set(0)
        self.load_seconds.labels(model).set(0)
        # Resolved children: ``labels()`` costs ~10 us (a lock and a tuple key) per call,
        # several calls per request on the hot path.
        self._requests: dict[tuple[str, int], Any] = {}
        self._durations = {r: self.request_duration.labels(model, r) for r in ROUTES}
        self._batch_size = self.batch_size.labels(model)
        self._inference = self.inference.labels(model)
        self._queue_wait = self.queue_wait.labels(model)
        self._pending = self.pending.labels(model)

    def observe_request(self, route: str, code: int, seconds: float | None) -> None:
        """Count a finished request; ``seconds`` None: its duration is unknown (not observed)."""
        child = self._requests.get((route, code))
        if child is None:
            child = self._requests[(route, code)] = self.requests.labels(
                self.model, route, str(code)
            )
        child.inc()
        if seconds is None:
            return
        duration = self._durations.get(route)
        if duration is None:
            duration = self._durations[route] = self.request_duration.labels(self.model, route)
        duration.observe(seconds)

    def observe_batch(self, size: int, seconds: float, waits: list[float]) -> None:
        self._batch_size.observe(size)
        self._inference.observe(seconds)
        for w in waits:
            self._queue_wait.observe(w)

    def shed_one(self, reason: str) -> None:
        self.shed.labels(self.model, reason).inc()

    def fault_fired(self, fault: str) -> None:
        self.faults.labels(self.model, fault).inc()

    def set_pending(self, value: int) -> None:
        self._pending.set(value)

    def set_ready(self, ready: bool) -> None:
        self.ready.labels(self.model).set(1 if ready else 0)

    def set_load_seconds(self, seconds: float) -> None:
        self.load_seconds.labels(self.model).set(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
