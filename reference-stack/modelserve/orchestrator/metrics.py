"""The orchestrator's Prometheus metrics (names in docs/contracts.md), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["OUTCOMES", "OrchestratorMetrics"]

OUTCOMES = ("succeeded", "failed", "rejected")
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_OVERHEAD = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class OrchestratorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "orchestrator_runs", "finished or refused runs", ["pipeline", "outcome"], registry=r
        )
        self.step_duration = Histogram(
            "orchestrator_step_duration_seconds",
            "one step, first attempt to outcome (backoff included)",
            ["pipeline", "step"],
            buckets=_LATENCY,
            registry=r,
        )
        self.step_retries = Counter(
            "orchestrator_step_retries",
            "step attempts after the first",
            ["pipeline", "step"],
            registry=r,
        )
        self.overhead = Histogram(
            "orchestrator_run_overhead_seconds",
            "end-to-end minus the step latencies on the critical path (runs not resumed)",
            ["pipeline"],
            buckets=_OVERHEAD,
            registry=r,
        )
        self.in_flight = Gauge(
            "orchestrator_runs_in_flight", "runs executing on this replica", registry=r
        )
        self.resumed = Counter(
            "orchestrator_runs_resumed",
            "runs taken over after another replica's lease expired",
            ["pipeline"],
            registry=r,
        )
        self.ready = Gauge("orchestrator_ready", "1 ready, 0 starting or draining", registry=r)

    def preinit(self, pipelines: list[str]) -> None:
        """Create labelled series at zero so rate() sees the first events."""
        for p in pipelines:
            for outcome in OUTCOMES:
                self.runs.labels(p, outcome)
            self.overhead.labels(p)
            self.resumed.labels(p)
