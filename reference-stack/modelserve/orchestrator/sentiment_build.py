"""``msai models build`` recipe for the sentiment classifier (see textcls_build.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelserve.orchestrator.textcls_build import DISTS, TextRecipe

__all__ = ["CONFIG", "DISTS", "NAME", "build", "input_files"]

NAME = "sentiment"
CONFIG: dict[str, Any] = {
    "seed": 4242,
    "train_size": 1200,
    "max_length": 64,
    "epochs": 300,
    "lr": 0.05,
    "weight_decay": 0.001,
    "scale": 5.0,
}
_RECIPE = TextRecipe(NAME, CONFIG)


def input_files() -> list[Path]:
    return _RECIPE.input_files()


def build(out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    return _RECIPE.build(out, log)
