"""``msai bench serve --precision int8``: the int8 model against its fp32 original.

With int8, (a) and ``msai serve`` run the int8 model (``MSAI_<KIND>_PRECISION=int8``) and
KServe keeps the fp32 model, the deployment it stands for; (a) is also measured at fp32,
before and after the servers like the int8 one, so that int8 / fp32 raw throughput is
read on the same cores within one run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INT8_TARGET", "PRECISIONS", "int8_lines", "precision_env"]

PRECISIONS = ("fp32", "int8")
INT8_TARGET = 1.6  # int8 (a) / fp32 (a)


def precision_env(kind: str, precision: str) -> dict[str, str]:
    """The server's setting for ``precision``; the fake model has only one."""
    return {} if kind == "fake" else {f"MSAI_{kind.upper()}_PRECISION": precision}


def int8_lines(r: dict[str, Any]) -> list[str]:
    """Report lines comparing the int8 (a) with the fp32 (a); none for an fp32 run."""
    fp32 = r.get("offline_fp32")
    if not fp32:
        return []
    int8 = r["offline"]
    ratio = int8["raw_items_s"] / fp32["raw_items_s"] if fp32["raw_items_s"] else float("nan")
    verdict = "MEETS" if ratio >= INT8_TARGET else "MISSES"
    return [
        f"(a) fp32 raw runtime         {fp32['raw_items_s']:8.1f} items/s   "
        f"predict() {fp32['predict_items_s']:.1f}/s (the figures above are int8)",
        f"    int8 / fp32 raw          {ratio:8.2f}x  target >= {INT8_TARGET}x: {verdict}",
        "    kserve below runs the fp32 model; (a) and msai serve the int8 one",
    ]
