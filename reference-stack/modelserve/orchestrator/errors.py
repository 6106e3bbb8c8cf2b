"""The orchestrator's errors, as branches of the servers' one tree (``modelserve.common.errors``).

    ModelServeError                         500
    ├── BadInput                            400  run input fails the pipeline's input schema
    ├── ModelNotFound                       404
    │   ├── PipelineNotFound                     unknown pipeline name
    │   └── RunNotFound                          unknown (or expired) run id
    ├── ModelNotReady                       503  retryable
    │   ├── StateUnavailable                     Redis cannot be reached: no new runs
    │   └── PipelineUnavailable                  a service the pipeline calls is not configured
    ├── StepFailed                          502  a hard step failed after its retries
    └── DeadlineExceeded                    504  the run's deadline passed

Mapping to HTTP happens in one place (``modelserve.orchestrator.api``), through ``status``.
"""

from __future__ import annotations

from modelserve.common.errors import BadInput, ModelNotFound, ModelNotReady, ModelServeError

__all__ = [
    "BadInput",
    "DeadlineExceeded",
    "PipelineNotFound",
    "PipelineUnavailable",
    "RunNotFound",
    "StateUnavailable",
    "StepFailed",
]


class PipelineNotFound(ModelNotFound):
    pass


class RunNotFound(ModelNotFound):
    pass


class StateUnavailable(ModelNotReady):
    """The run-state store (Redis) did not answer; the message names the URL and the cause."""


class PipelineUnavailable(ModelNotReady):
    pass


class StepFailed(ModelServeError):
    """A hard step failed for good. ``step`` names it; ``upstream_status`` is its last HTTP
    status (None for connection errors and timeouts)."""

    status = 502

    def __init__(self, message: str, *, step: str, upstream_status: int | None = None) -> None:
        super().__init__(message, field=f"steps.{step}")
        self.step = step
        self.upstream_status = upstream_status


class DeadlineExceeded(ModelServeError):
    status = 504
