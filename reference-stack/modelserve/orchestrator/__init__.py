"""Pipeline orchestrator: multi-model pipelines declared in YAML, durable state in Redis,
history in PostgreSQL. Modules: spec (YAML), mapping (output -> input), state (Redis),
calls (one step: retries, deadlines), engine (runs, leases, resumption), history
(PostgreSQL), api (HTTP; ``create_serve_app`` is what ``msai serve orchestrator`` runs),
testing (test step servers).
"""

from modelserve.orchestrator.api import create_app
from modelserve.orchestrator.engine import Engine, RunOutcome
from modelserve.orchestrator.errors import (
    DeadlineExceeded,
    PipelineNotFound,
    PipelineUnavailable,
    RunNotFound,
    StateUnavailable,
    StepFailed,
)
from modelserve.orchestrator.settings import OrchestratorSettings, load_orchestrator_settings
from modelserve.orchestrator.spec import (
    Pipeline,
    PipelineSpecError,
    load_pipeline,
    load_pipelines,
    parse_pipeline,
)
from modelserve.orchestrator.state import StateStore

__all__ = [
    "DeadlineExceeded",
    "Engine",
    "OrchestratorSettings",
    "Pipeline",
    "PipelineNotFound",
    "PipelineSpecError",
    "PipelineUnavailable",
    "RunNotFound",
    "RunOutcome",
    "StateStore",
    "StateUnavailable",
    "StepFailed",
    "create_app",
    "load_orchestrator_settings",
    "load_pipeline",
    "load_pipelines",
    "parse_pipeline",
]
