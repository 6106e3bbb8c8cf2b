"""Settings of one orchestrator replica (``MSAI_ORCH_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve.common.artifacts import ArtifactSettings
from modelserve.common.errors import ConfigError
from modelserve.common.settings import env_field, load_settings

__all__ = ["PREFIX", "OrchestratorSettings", "load_orchestrator_settings"]

PREFIX = "MSAI_ORCH_"


@dataclass(frozen=True)
class OrchestratorSettings:
    host: str = env_field("127.0.0.1", "address the HTTP server binds")
    port: int = env_field(8080, "HTTP port (OIP health routes, pipeline API, /metrics)")
    redis_url: str = env_field("redis://127.0.0.1:6379/0", "Redis holding run and step state")
    redis_timeout_s: float = env_field(
        1.0, "socket timeout of one Redis command (seconds); past it the store is unavailable"
    )
    postgres_dsn: str = env_field(
        "", "PostgreSQL DSN for run history and model metadata (empty: history off)"
    )
    pipelines_dir: str = env_field(
        "", "folder of pipeline YAML files (default: the pipelines shipped in the package)"
    )
    services: dict[str, str] = env_field(
        {}, "model service base URLs, name=url comma-separated (ner=http://127.0.0.1:8081)"
    )
    models_dir: str = env_field(
        "", "bundled model folder for built-in steps (default: MSAI_MODELS_DIR, else .models)"
    )
    replica_id: str = env_field("", "name of this replica in leases (default host:port:pid)")
    lease_s: float = env_field(10.0, "lease on a running run or step (seconds)")
    recovery_interval_s: float = env_field(
        1.0, "how often expired leases of other replicas' runs are looked for (seconds)"
    )
    default_timeout_s: float = env_field(
        30.0, "run deadline when neither the request nor the pipeline sets one (seconds)"
    )
    sync_max_timeout_s: float = env_field(
        60.0, "longest deadline accepted on the synchronous route (seconds)"
    )
    max_concurrent_runs: int = env_field(256, "runs executing at once on this replica")
    max_body_bytes: int = env_field(8 * 1024 * 1024, "largest accepted request body (bytes)")
    drain_delay_s: float = env_field(
        2.0, "after SIGTERM, keep serving (not ready) this long so endpoints update (seconds)"
    )
    drain_deadline_s: float = env_field(
        20.0, "then finish in-flight runs within this long; the rest resume elsewhere (seconds)"
    )
    history_flush_interval_s: float = env_field(
        1.0, "how often finished runs waiting for PostgreSQL are written (seconds)"
    )
    run_ttl_s: int = env_field(86400, "finished runs stay in Redis this long (seconds)")
    tesseract_bin: str = env_field("tesseract", "tesseract binary (Debian tesseract-ocr)")
    log_level: str = env_field("info", "log level of the JSON logs (debug, info, warning)")

    def validate(self) -> None:
        positive = {
            "LEASE_S": self.lease_s,
            "RECOVERY_INTERVAL_S": self.recovery_interval_s,
            "DEFAULT_TIMEOUT_S": self.default_timeout_s,
            "SYNC_MAX_TIMEOUT_S": self.sync_max_timeout_s,
            "REDIS_TIMEOUT_S": self.redis_timeout_s,
            "MAX_CONCURRENT_RUNS": self.max_concurrent_runs,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{PREFIX}{name} must be > 0, got {value}", field=PREFIX + name)
        if not 0 < self.port < 65536:
            raise ConfigError(f"{PREFIX}PORT out of range: {self.port}", field=PREFIX + "PORT")

    @property
    def pipelines_path(self) -> Path:
        if self.pipelines_dir:
            return Path(self.pipelines_dir)
        return Path(__file__).resolve().parent / "pipelines"

    @property
    def models_path(self) -> Path:
        if self.models_dir:
            return Path(self.models_dir)
        return ArtifactSettings.from_env().models_path  # where `msai models build` writes


def load_orchestrator_settings(**overrides: Any) -> OrchestratorSettings:
    return load_settings(OrchestratorSettings, PREFIX, **overrides)
