"""Settings of the local platform itself (``MSAI_LOCAL_*``); stack settings come from
``values.yaml`` (see :mod:`harness.values`), never from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelserve.common.settings import env_field, load_settings

from harness.errors import ConfigError
from harness.settings import settings as harness_settings

__all__ = ["LocalSettings", "local_settings", "state_dir"]


@dataclass(frozen=True)
class LocalSettings:
    replica_command: str = env_field(
        "",
        "command that starts one replica, with {python}, {service} and {port} filled in; empty "
        "runs the real server (`msai serve SERVICE --port PORT`)",
    )
    gateway_port: int = env_field(0, "gateway (Envoy listener) port on 127.0.0.1; 0 = any free")
    ready_timeout_s: float = env_field(
        180.0, "`msai up` fails when the stack is not all ready within this many seconds"
    )
    probe_interval_s: float = env_field(0.2, "replica readiness probe period (seconds)")
    kill_grace_s: float = env_field(
        5.0, "after SIGTERM, SIGKILL a replica still running this many seconds past its drain"
    )

    def validate(self) -> None:
        if not 0 <= self.gateway_port < 65536:
            raise ConfigError("must be 0..65535", field="MSAI_LOCAL_GATEWAY_PORT")
        if self.ready_timeout_s <= 0 or self.probe_interval_s <= 0:
            raise ConfigError(
                "timeouts and intervals must be > 0",
                field="MSAI_LOCAL_READY_TIMEOUT_S/MSAI_LOCAL_PROBE_INTERVAL_S",
            )


def local_settings() -> LocalSettings:
    return load_settings(LocalSettings, prefix="MSAI_LOCAL_")


def state_dir() -> Path:
    """Where the local platform keeps its ledger, logs and data: ``<home>/local``."""
    return harness_settings().home_path / "local"
