"""Harness-wide settings (``MSAI_*``): where state, models and run records live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelserve.common.settings import env_field, load_settings

__all__ = ["HarnessSettings", "project_root", "settings"]


def project_root() -> Path:
    """The checkout this package runs from (falls back to the working directory when installed
    elsewhere)."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


@dataclass(frozen=True)
class HarnessSettings:
    home: str = env_field(
        "", "state folder: process ledger, fault ledger, logs (default <repo>/.msai)"
    )
    runs_dir: str = env_field("", "where run records are written (default <home>/runs)")
    models_dir: str = env_field("", "bundled model cache (default <repo>/.models)")
    quiet: bool = env_field(False, "no progress output (set automatically when CI=true)")

    @property
    def home_path(self) -> Path:
        return Path(self.home) if self.home else project_root() / ".msai"

    @property
    def runs_path(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir else self.home_path / "runs"

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else project_root() / ".models"


def settings() -> HarnessSettings:
    """Load from the environment each call, so tests can change ``MSAI_*`` with monkeypatch."""
    return load_settings(HarnessSettings, prefix="MSAI_")
