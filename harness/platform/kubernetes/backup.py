"""Backups of the in-cluster PostgreSQL through ``kubectl exec``: ``pg_dump -Fc`` out of the
pod into ``<MSAI_HOME>/k8s/backups/<id>.dump``, ``pg_restore --clean`` back in.

The commands run inside the database container as its own ``POSTGRES_USER`` on
``POSTGRES_DB`` (the chart sets both from its Secret), over the local socket, so the harness
never reads the password. An external PostgreSQL (RDS on EKS), Redis and S3 are the cloud's
to back up (snapshots, versioning): those raise Unsupported with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError, PlatformError, Unsupported
from harness.settings import settings as harness_settings

if TYPE_CHECKING:
    from harness.platform.kubernetes.platform import KubernetesPlatform

__all__ = ["DUMP", "RESTORE", "backup_dir", "backup_postgresql", "restore_postgresql"]

DUMP = 'exec pg_dump -Fc -U "$POSTGRES_USER" "$POSTGRES_DB"'
RESTORE = 'exec pg_restore --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"'
_ID = re.compile(r"^postgresql-[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")


def backup_dir() -> Path:
    return harness_settings().home_path / "k8s" / "backups"


def _pod(platform: KubernetesPlatform) -> tuple[str, str]:
    """(namespace, pod) of a ready in-cluster PostgreSQL."""
    for w in platform.workloads():
        if w.kind == "StatefulSet" and w.app == "postgresql":
            for pod in platform.pods_of(w.namespace, {"app.kubernetes.io/name": "postgresql"}):
                conds = pod.get("status", {}).get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
                    return w.namespace, pod["metadata"]["name"]
            raise PlatformError(f"{platform.name}: no ready PostgreSQL pod to back up")
    raise Unsupported(
        platform.name,
        "back up postgresql",
        "no in-cluster PostgreSQL StatefulSet: an external one (RDS) is backed up by snapshots",
    )


def _exec(platform: KubernetesPlatform, ns: str, pod: str, script: str, stdin: bool) -> list[str]:
    s = platform.settings
    kubectl = shutil.which(s.kubectl) or s.kubectl
    cmd = [kubectl, "exec", *(["-i"] if stdin else []), "-n", ns, pod, "-c", "postgresql"]
    if s.context:
        cmd += ["--context", s.context]
    if s.kubeconfig:
        cmd += ["--kubeconfig", s.kubeconfig]
    return [*cmd, "--", "sh", "-c", script]


def backup_postgresql(platform: KubernetesPlatform) -> str:
    ns, pod = _pod(platform)
    backup_id = f"postgresql-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder = backup_dir()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{backup_id}.dump"
    tmp = final.with_suffix(".tmp")
    cmd = _exec(platform, ns, pod, DUMP, stdin=False)
    try:
        with tmp.open("wb") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise PlatformError(f"pg_dump in {ns}/{pod} failed: {proc.stderr.decode()[-2000:]}")
        os.replace(tmp, final)  # only a complete dump gets the backup's name
    finally:
        tmp.unlink(missing_ok=True)
    return backup_id


def restore_postgresql(platform: KubernetesPlatform, backup_id: str) -> None:
    if not _ID.match(backup_id):
        raise ConfigError(f"{backup_id!r} is not a PostgreSQL backup id", field="backup_id")
    path = backup_dir() / f"{backup_id}.dump"
    if not path.is_file():
        raise ConfigError(f"no backup {backup_id} in {backup_dir()}", field="backup_id")
    ns, pod = _pod(platform)
    with path.open("rb") as src:
        proc = subprocess.run(
            _exec(platform, ns, pod, RESTORE, stdin=True),
            stdin=src,
            capture_output=True,
            check=False,
        )
    if proc.returncode != 0:
        raise PlatformError(f"pg_restore in {ns}/{pod} failed: {proc.stderr.decode()[-2000:]}")
