"""Latency of one served ``predict`` call (parse excluded) at batch 1 and 16.

What ``msai models bench`` prints: a quick figure of the model alone, beside the server
benchmark (``msai bench serve``). Inputs are real: evaluation sentences, held-out digits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.common.settings import load_settings

__all__ = ["BenchRow", "measure"]


@dataclass(frozen=True)
class BenchRow:
    batch: int
    p50_ms: float
    p90_ms: float
    items_per_s: float


def _inputs(
    name: str, runtime: str, threads: int
) -> tuple[Callable[[Sequence[Any]], Any], list[Any]]:
    if name == "ner":
        from modelserve.models.ner_eval import load_eval_set
        from modelserve.ner.model import NerModel
        from modelserve.ner.settings import NerSettings

        ner = NerModel(load_settings(NerSettings, "MSAI_NER_", runtime=runtime, threads=threads))
        ner.load()
        return ner.predict, [ner.parse_text(s.text, "text") for s in load_eval_set()[:64]]
    from modelserve.models.digits import digit_png, load_digits_split
    from modelserve.vision.model import VisionModel
    from modelserve.vision.settings import VisionSettings

    vision = VisionModel(
        load_settings(VisionSettings, "MSAI_VISION_", runtime=runtime, threads=threads)
    )
    vision.load()
    images = load_digits_split()[2][:64]
    return vision.predict, [vision.parse_bytes(digit_png(img)) for img in images]


def measure(
    name: str, *, runtime: str = "onnxruntime", threads: int = 0, iterations: int = 30
) -> list[BenchRow]:
    predict, items = _inputs(name, runtime, threads)
    rows = []
    for batch in (1, 16):
        chunks = [items[i : i + batch] for i in range(0, len(items) - batch + 1, batch)]
        for chunk in chunks[:3]:
            predict(chunk)  # warm-up
        times = []
        for i in range(iterations):
            chunk = chunks[i % len(chunks)]
            t0 = time.perf_counter()
            predict(chunk)
            times.append(time.perf_counter() - t0)
        times.sort()
        p50 = statistics.median(times)
        rows.append(
            BenchRow(
                batch,
                round(p50 * 1e3, 2),
                round(times[int(0.9 * (len(times) - 1))] * 1e3, 2),
                round(batch / p50, 1),
            )
        )
    return rows
