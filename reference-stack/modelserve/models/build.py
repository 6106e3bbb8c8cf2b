"""Build the bundled models into the models directory, skipping what is up to date.

Each recipe module (``vision_build``, ``ner_build``) exposes ``NAME``, ``CONFIG``, ``DISTS``,
``input_files()`` and ``build(out, log) -> metrics``. A build writes into a temporary
directory beside the target and swaps it in only when training, export and verification
all passed, so an interrupted build never leaves a model a server would load. A file lock
keeps two builds (``scripts/setup`` and a test session, say) from racing.
"""

from __future__ import annotations

import fcntl
import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from modelserve.models.manifest import (
    MANIFEST,
    inputs_hash,
    is_up_to_date,
    read_manifest,
    write_json_atomic,
)
from modelserve.models.repro import BUILD_THREADS

__all__ = ["RECIPES", "BuildResult", "build_models", "recipe", "recipe_hash"]

# Order matters only for the log: the fast model first.
RECIPES = {"vision": "modelserve.models.vision_build", "ner": "modelserve.models.ner_build"}
# The orchestrator's text-insights classifiers (built the same way, recipes in its package).
RECIPES.update(
    sentiment="modelserve.orchestrator.sentiment_build", topic="modelserve.orchestrator.topic_build"
)


@dataclass(frozen=True)
class BuildResult:
    name: str
    skipped: bool
    seconds: float
    inputs_hash: str
    metrics: dict[str, Any]
    path: Path


def recipe(name: str) -> ModuleType:
    if name not in RECIPES:
        raise KeyError(f"unknown model {name!r}; known: {sorted(RECIPES)}")
    return importlib.import_module(RECIPES[name])


def recipe_hash(name: str) -> str:
    mod = recipe(name)
    return inputs_hash(mod.input_files(), mod.CONFIG, mod.DISTS)


@contextmanager
def _lock(models_dir: Path) -> Iterator[None]:
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".build.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _files(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _quiet_transformers() -> None:
    """No progress bars in build logs (weights are local; there is nothing to watch)."""
    hf_logging: Any = importlib.import_module("transformers.utils.logging")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def build_models(
    models_dir: Path,
    only: Sequence[str] = (),
    *,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> list[BuildResult]:
    """Build each selected model unless its manifest entry matches today's inputs."""
    names = list(only) or list(RECIPES)
    results = []
    with _lock(models_dir):
        for name in names:
            mod = recipe(name)
            want = inputs_hash(mod.input_files(), mod.CONFIG, mod.DISTS)
            target = models_dir / name
            if not force and is_up_to_date(models_dir, name, want):
                entry = read_manifest(models_dir)["models"][name]
                log(f"{name}: up to date ({want[:12]}, built {entry.get('built_at')}), skipped")
                results.append(
                    BuildResult(name, True, 0.0, want, dict(entry.get("metrics", {})), target)
                )
                continue
            log(f"{name}: building into {target} (inputs {want[:12]}, {BUILD_THREADS} threads)")
            start = time.perf_counter()
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=models_dir))
            tmp.chmod(0o755)  # mkdtemp makes 0700; servers may run as another user
            try:
                _quiet_transformers()
                metrics = mod.build(tmp, log)
                seconds = round(time.perf_counter() - start, 1)
                entry = {
                    "inputs_hash": want,
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "build_seconds": seconds,
                    "threads": BUILD_THREADS,
                    "seed": mod.CONFIG.get("seed"),
                    "config": mod.CONFIG,
                    "metrics": metrics,
                    "python": sys.version.split()[0],
                }
                write_json_atomic(tmp / "build_info.json", entry)
                entry["files"] = _files(tmp)
                old = models_dir / f".{name}.old"
                if old.exists():
                    shutil.rmtree(old)
                if target.exists():
                    target.rename(old)
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
                manifest = read_manifest(models_dir)
                manifest["models"][name] = entry
                write_json_atomic(models_dir / MANIFEST, manifest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            log(f"{name}: built in {seconds:.1f} s; metrics {metrics}")
            results.append(BuildResult(name, False, seconds, want, metrics, target))
    return results
