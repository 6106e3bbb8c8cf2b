"""Alertmanager for the local stack, routing every alert to the harness's webhook receiver.

The route tree comes from ``reference-stack/monitoring/alertmanager*.yaml`` when that file
exists (the same routes the cluster uses); every receiver it names is replaced by a webhook to
the harness (``/webhook/<receiver>``), so the run records which receiver an alert reached.
Grouping times are shortened to the ``local:`` values so game days see alerts in seconds.
``--cluster.listen-address=`` turns gossip off (it would bind 0.0.0.0:9094 otherwise).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import find
from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.platform.local.envoy import write_atomic
from harness.platform.local.probe import http_status, wait_for
from harness.platform.local.prometheus import monitoring_dir
from harness.ports import LOOPBACK
from harness.supervisor import Ledger, Supervised, spawn
from harness.values import LocalValues

__all__ = ["Alertmanager", "local_config", "routes_file"]


def routes_file(folder: Path | None = None) -> Path | None:
    folder = folder or monitoring_dir()
    if not folder.is_dir():
        return None
    found = sorted([*folder.rglob("alertmanager*.yaml"), *folder.rglob("alertmanager*.yml")])
    return found[0] if found else None


def _receivers_in(route: dict[str, Any]) -> set[str]:
    out = {route["receiver"]} if route.get("receiver") else set()
    for child in route.get("routes", []) or []:
        out |= _receivers_in(child)
    return out


def _shorten(route: dict[str, Any], local: LocalValues) -> None:
    """Cap each route's timers at the local values (a shorter one, like 0s, stays)."""
    for key, cap in (
        ("group_wait", local.alert_group_wait_s),
        ("group_interval", local.alert_group_interval_s),
        ("repeat_interval", local.alert_repeat_interval_s),
    ):
        value = cap
        if key in route:
            value = min(cap, parse_duration(route[key], field=f"route.{key}"))
        if key in route or "receiver" in route:
            route[key] = f"{value:g}s"
    for child in route.get("routes", []) or []:
        _shorten(child, local)


def local_config(
    webhook_base: str, local: LocalValues, source: Path | None, token_file: Path | None = None
) -> dict[str, Any]:
    """Alertmanager config: the source's routes (or one default route), webhooks to us."""
    base: dict[str, Any] = {}
    if source is not None:
        try:
            base = yaml.safe_load(source.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"cannot read Alertmanager routes: {exc}", source=str(source)
            ) from exc
        if not isinstance(base, dict) or not isinstance(base.get("route"), dict):
            raise ConfigError("needs a top-level route mapping", source=str(source), field="route")
    route = copy.deepcopy(base.get("route") or {"receiver": "harness"})
    route.setdefault("receiver", "harness")
    route.setdefault("group_by", ["alertname"])
    _shorten(route, local)
    names = _receivers_in(route) | {r.get("name") for r in base.get("receivers", []) or []}
    hook: dict[str, Any] = {"send_resolved": True}
    if token_file is not None:  # the controller's API wants its bearer token
        hook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
        }
    receivers = [
        {"name": name, "webhook_configs": [{"url": f"{webhook_base}/webhook/{name}", **hook}]}
        for name in sorted(n for n in names if n)
    ]
    cfg: dict[str, Any] = {"route": route, "receivers": receivers}
    if base.get("inhibit_rules"):
        cfg["inhibit_rules"] = base["inhibit_rules"]
    return cfg


class Alertmanager:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.proc: Supervised | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def write_config(
        self, webhook_base: str, local: LocalValues, token_file: Path | None = None
    ) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        cfg = local_config(webhook_base, local, routes_file(), token_file)
        path = self.folder / "alertmanager.yml"
        write_atomic(path, yaml.safe_dump(cfg, sort_keys=False))
        return path

    def start(self, ledger: Ledger, logs: Path) -> Supervised:
        cmd = [
            find("alertmanager"),
            f"--config.file={self.folder / 'alertmanager.yml'}",
            f"--storage.path={self.folder / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--cluster.listen-address=",
        ]
        self.proc = spawn(
            ledger, "alertmanager", cmd, log=logs / "alertmanager.log", role="alertmanager"
        )
        return self.proc

    def wait(self, timeout_s: float = 30) -> None:
        proc = self.proc
        wait_for(
            "alertmanager",
            lambda: http_status(self.port, "/-/ready") == 200,
            timeout_s=timeout_s,
            alive=proc.running if proc else None,
            log=proc.entry.log if proc else None,
        )
