"""The build cache: what each bundled model was built from, so an unchanged build is skipped.

``<models dir>/manifest.json`` holds one entry per model: the hash of its build inputs
(source files, data files, hyper-parameters, library versions), when and how long it took,
its measured metrics and the files it wrote (with sizes). The same entry is written beside
the model as ``build_info.json`` (servers show it in their metadata). A model is up to date
when its entry's hash equals the hash of today's inputs and its files are all there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST",
    "SCHEMA",
    "inputs_hash",
    "is_up_to_date",
    "read_manifest",
    "write_json_atomic",
]

MANIFEST = "manifest.json"
SCHEMA = 1
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../modelserve


def _versions(dists: Iterable[str]) -> dict[str, str]:
    out = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def inputs_hash(files: Iterable[Path], config: Mapping[str, Any], dists: Iterable[str]) -> str:
    """sha256 over file contents (by path relative to the package), config and versions."""
    digest = hashlib.sha256()
    for path in sorted(set(files)):
        try:
            rel = path.resolve().relative_to(_PACKAGE_ROOT).as_posix()
        except ValueError:
            rel = path.name  # outside the package (base weights): content is what counts
        digest.update(rel.encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    payload = {"schema": SCHEMA, "config": config, "versions": _versions(dists)}
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()


def read_manifest(models_dir: Path) -> dict[str, Any]:
    path = models_dir / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"schema": SCHEMA, "models": {}}
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return {"schema": SCHEMA, "models": {}}
    data.setdefault("models", {})
    return data


def is_up_to_date(models_dir: Path, name: str, want_hash: str) -> bool:
    entry = read_manifest(models_dir)["models"].get(name)
    if not isinstance(entry, dict) or entry.get("inputs_hash") != want_hash:
        return False
    files = entry.get("files") or {}
    out = models_dir / name
    return bool(files) and all(
        (out / rel).is_file() and (out / rel).stat().st_size == size for rel, size in files.items()
    )


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
