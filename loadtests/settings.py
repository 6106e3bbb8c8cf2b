"""Load generation settings (``MSAI_LOAD_*``), one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelserve.common.settings import env_field, load_settings

from harness.errors import ConfigError

__all__ = ["ENGINES", "LoadSettings", "load_settings_from_env"]

#: what can send a schedule (``engine:`` of a load block, ``MSAI_LOAD_ENGINE``)
ENGINES = ("native", "locust")


@dataclass(frozen=True)
class LoadSettings:
    timeout_s: float = env_field(10.0, "per-request timeout (seconds); later counts as 'timeout'")
    connect_timeout_s: float = env_field(2.0, "TCP connect timeout (seconds)")
    max_connections: int = env_field(
        512, "connections per target host and generator process (opened on demand)"
    )
    max_in_flight: int = env_field(
        20_000,
        "requests outstanding per generator process before new arrivals are counted as "
        "'generator_overload' errors instead of being sent (bounds memory, never hides them)",
    )
    workers: int = env_field(0, "generator worker processes; 0 runs in-process (a thread)")
    engine: str = env_field(
        "native",
        "what sends the schedule: 'native' (the project's generator) or 'locust' (Locust's "
        "runner in a process of its own; with workers >= 2 a Locust master and workers)",
    )
    start_delay_s: float = env_field(
        0.3, "lead time (seconds) from every generator being ready to the schedule's zero"
    )
    grace_s: float = env_field(
        0.25, "how long after a second ends (seconds) its timeline bucket is closed"
    )
    bearer_token: str = env_field(
        "", "where the bearer token is: env:NAME or file:PATH (sent as Authorization: Bearer)"
    )
    api_key: str = env_field("", "where the API key is: env:NAME or file:PATH")
    api_key_header: str = env_field("X-API-Key", "the header the API key is sent in")
    headers: str = env_field(
        "", "where extra request headers are ('Name: value' lines): env:NAME or file:PATH"
    )
    ca_bundle: str = env_field("", "PEM CA bundle trusted for https:// targets (else system's)")
    insecure: bool = env_field(False, "skip TLS verification of https:// targets (explicit)")
    progress_every_s: float = env_field(5.0, "seconds between progress lines on the terminal")
    routes_file: str = env_field("", "YAML route table (default loadtests/data/routes.yaml)")
    data_dir: str = env_field("", "payload folder (default loadtests/data)")
    seed: int = env_field(1, "default arrival seed when a scenario gives none")

    def validate(self) -> None:
        for name in ("timeout_s", "connect_timeout_s", "progress_every_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be > 0, got {getattr(self, name)}", field=name)
        if self.max_connections < 1 or self.max_in_flight < 1 or self.workers < 0:
            raise ConfigError("max_connections, max_in_flight >= 1 and workers >= 0 required")
        if self.engine not in ENGINES:
            raise ConfigError(
                f"expected one of {list(ENGINES)}, got {self.engine!r}", field="engine"
            )


def load_settings_from_env(**overrides: Any) -> LoadSettings:
    return load_settings(LoadSettings, "MSAI_LOAD_", **overrides)
