"""Prometheus for the local stack: config, file-based service discovery, start and wait.

Scrapes itself, Envoy's ``/stats/prometheus``, Alertmanager and every model replica. Replica
targets live in ``targets.json`` (``file_sd_configs``), rewritten atomically as replicas come
and go, each with the labels the contracts name: ``service``, ``node``, ``replica``,
``version``. Rules are every ``*.rules.yaml`` under ``reference-stack/monitoring`` (the same
files the chart turns into a PrometheusRule), checked with ``promtool`` first so a bad rule
file is named instead of Prometheus just exiting.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.binaries import find
from harness.errors import ConfigError
from harness.monitoring import monitoring_dir, rule_files
from harness.platform.local.envoy import write_atomic
from harness.platform.local.probe import http_status, wait_for
from harness.ports import LOOPBACK
from harness.supervisor import Ledger, Supervised, spawn
from harness.values import LocalValues

# monitoring_dir and rule_files live in harness.monitoring (the game days' PromQL check reads
# the same files); re-exported here for the local platform's modules.
__all__ = ["Prometheus", "ScrapeTarget", "monitoring_dir", "rule_files"]


@dataclass(frozen=True)
class ScrapeTarget:
    port: int
    service: str
    node: str
    replica: str
    version: str


@dataclass
class Prometheus:
    folder: Path
    port: int
    rules: Sequence[Path]
    proc: Supervised | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def targets_file(self) -> Path:
        return self.folder / "targets.json"

    def check_rules(self) -> None:
        if not self.rules:
            return
        out = subprocess.run(
            [find("promtool"), "check", "rules", *map(str, self.rules)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise ConfigError(
                "promtool check rules failed: " + (out.stdout + out.stderr).strip()[-1500:],
                source=", ".join(map(str, self.rules)),
            )

    def write_config(
        self,
        local: LocalValues,
        *,
        envoy_admin: int,
        alertmanager: int | None,
        platform: int | None = None,
        platform_token: Path | None = None,
    ) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self.write_targets([])
        interval = f"{local.scrape_interval_s:g}s"
        cfg: dict[str, object] = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": f"{local.evaluation_interval_s:g}s",
            },
            "rule_files": [str(p) for p in self.rules],
            "scrape_configs": [
                {
                    "job_name": "prometheus",
                    "static_configs": [{"targets": [f"{LOOPBACK}:{self.port}"]}],
                },
                {
                    "job_name": "envoy",
                    "metrics_path": "/stats/prometheus",
                    "static_configs": [
                        {"targets": [f"{LOOPBACK}:{envoy_admin}"], "labels": {"service": "gateway"}}
                    ],
                },
                {
                    "job_name": "modelserve",
                    "file_sd_configs": [
                        {"files": [str(self.targets_file)], "refresh_interval": "1s"}
                    ],
                },
            ],
        }
        scrapes = cfg["scrape_configs"]
        assert isinstance(scrapes, list)
        if platform is not None:
            # The controller's own gauges: replicas desired/ready, spot notices, dependencies.
            job: dict[str, object] = {
                "job_name": "platform",
                "static_configs": [{"targets": [f"{LOOPBACK}:{platform}"]}],
            }
            if platform_token is not None:  # the controller's API wants its bearer token
                job["authorization"] = {"type": "Bearer", "credentials_file": str(platform_token)}
            scrapes.append(job)
        if alertmanager is not None:
            cfg["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{alertmanager}"]}]}]
            }
            scrapes.append(
                {
                    "job_name": "alertmanager",
                    "static_configs": [{"targets": [f"{LOOPBACK}:{alertmanager}"]}],
                }
            )
        path = self.folder / "prometheus.yml"
        write_atomic(path, yaml.safe_dump(cfg, sort_keys=False))
        return path

    def write_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        groups = [
            {
                "targets": [f"{LOOPBACK}:{t.port}"],
                "labels": {
                    "service": t.service,
                    "node": t.node,
                    "replica": t.replica,
                    "version": t.version,
                },
            }
            for t in targets
        ]
        write_atomic(self.targets_file, json.dumps(groups, indent=1))

    def start(self, ledger: Ledger, logs: Path) -> Supervised:
        cmd = [
            find("prometheus"),
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
        ]
        self.proc = spawn(ledger, "prometheus", cmd, log=logs / "prometheus.log", role="prometheus")
        return self.proc

    def wait(self, timeout_s: float = 30) -> None:
        proc = self.proc
        wait_for(
            "prometheus",
            lambda: http_status(self.port, "/-/ready") == 200,
            timeout_s=timeout_s,
            alive=proc.running if proc else None,
            log=proc.entry.log if proc else None,
        )
