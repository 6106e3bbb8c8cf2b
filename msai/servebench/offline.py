"""Raw runtime throughput at the server's batch size, and FLOPs per item.

Run as a process pinned to the server's cores (the command does ``taskset``)::

    python -m msai.servebench.offline '{"kind": "ner", "batch": 16, "seconds": 5}'

prints ``{"raw_items_s", "predict_items_s", "flops_per_item", "device", "runtime", ...}``:

- ``raw_items_s``: the runtime's forward pass alone (ONNX Runtime ``session.run``, or the
  PyTorch module under ``MSAI_<KIND>_RUNTIME=torch``) on the exact feeds one forward pass of
  the model gets (captured from a real ``predict``), batch after batch: the ceiling the
  server is compared with (target: server >= 0.8 of it);
- ``predict_items_s``: the model's ``predict`` (pre- and post-processing included);
- ``*_cpu_s``: the same per CPU second of the process (on a shared machine the fair
  comparison: what one CPU second buys, whoever else runs);
- ``flops_per_item``: from PyTorch's FlopCounterMode over the same checkpoint and feeds
  (matmuls and convolutions; token inputs counted at their real, unpadded length; None when
  it cannot be counted).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from msai.servebench.payloads import json_items, model_item

__all__ = ["make_model", "measure"]


def make_model(kind: str) -> Any:
    if kind == "ner":
        from modelserve.ner.model import NerModel

        return NerModel()
    if kind == "vision":
        from modelserve.vision.model import VisionModel

        return VisionModel()
    from modelserve.common.testing import FakeModel

    return FakeModel()


def _rate(fn: Callable[[], Any], items_per_call: int, seconds: float) -> tuple[float, float]:
    """(items per wall second, items per CPU second of this process)."""
    for _ in range(3):  # warm up (allocations, thread pools)
        fn()
    n = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and n >= 5:
            cpu = max(time.process_time() - c0, 1e-9)
            return n * items_per_call / elapsed, n * items_per_call / cpu


def _flops(model: Any, feeds: dict[str, Any], batch: int) -> float | None:
    """FLOPs of one item through the PyTorch twin of the checkpoint."""
    model_dir = getattr(model, "model_dir", None)
    if model_dir is None or not (model_dir / "config.json").is_file():
        return None
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_dir)
        arch = (config.architectures or [""])[0]
        import transformers

        net = getattr(transformers, arch).from_pretrained(model_dir).eval()
        mask = feeds.get("attention_mask")
        if mask is None:  # fixed-size inputs (images): the batch's count, shared out
            counter = FlopCounterMode(display=False)
            with torch.inference_mode(), counter:
                net(**{k: torch.from_numpy(v) for k, v in feeds.items()})
            return float(counter.get_total_flops()) / batch
        # Token inputs: count each item at its real length. ORT's fused attention skips the
        # padding, so FLOPs of the padded batch would overstate the work (past the core's peak).
        total = 0.0
        for i in range(mask.shape[0]):
            length = int(mask[i].sum())
            one = {k: torch.from_numpy(v[i : i + 1, :length].copy()) for k, v in feeds.items()}
            counter = FlopCounterMode(display=False)
            with torch.inference_mode(), counter:
                net(**one)
            total += float(counter.get_total_flops())
        return total / float(mask.shape[0])
    except Exception as exc:  # counting is a nicety; never fail the benchmark on it
        print(f"flop count unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def measure(kind: str, batch: int, seconds: float, flops: bool = True) -> dict[str, Any]:
    model = make_model(kind)
    model.load()
    items = [model.parse_json(model_item(kind, b), "body") for b in json_items(kind, batch)]
    result: dict[str, Any] = {"kind": kind, "batch": batch}
    result["predict_items_s"], result["predict_items_cpu_s"] = _rate(
        lambda: model.predict(items), batch, seconds / 2
    )
    backend = getattr(model, "_backend", None)
    if backend is None:  # the fake model: its predict is all there is
        result.update(
            raw_items_s=result["predict_items_s"],
            raw_items_cpu_s=result["predict_items_cpu_s"],
            flops_per_item=None,
            device="cpu",
            runtime="python",
        )
        return result
    captured: dict[str, Any] = {}
    run = backend.run

    def capture(feeds: dict[str, Any]) -> Any:
        captured.update(feeds)
        return run(feeds)

    backend.run = capture
    model.predict(items)
    backend.run = run
    result["raw_items_s"], result["raw_items_cpu_s"] = _rate(
        lambda: run(captured), batch, seconds / 2
    )
    result["feed_shapes"] = {k: list(v.shape) for k, v in captured.items()}
    result["device"] = getattr(backend, "device", "cpu")
    result["runtime"] = getattr(backend, "runtime", "onnxruntime")
    result["providers"] = getattr(backend, "providers", None)
    result["flops_per_item"] = _flops(model, captured, batch) if flops else None
    return result


def main() -> None:
    args = json.loads(sys.argv[1])
    result = measure(
        args["kind"], int(args["batch"]), float(args["seconds"]), bool(args.get("flops", True))
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
