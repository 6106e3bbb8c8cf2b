"""Build the bundled classifier: a ResNet-18-shaped network trained on sklearn's digits.

transformers' ``ResNetForImageClassification`` with basic blocks, depths [2, 2, 2, 2] and
widths 64..512 (ResNet-18's shape, 11.2 M parameters), trained from scratch: no ImageNet
ResNet weights ship in any package here, and the digits need none. Images go through the
server's own :class:`~modelserve.vision.preprocess.ImagePreprocessor` (8x8 greyscale ->
32x32 RGB), so training and serving see identical pixels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.models.digits import digit_image, load_digits_split
from modelserve.models.repro import deterministic
from modelserve.vision.preprocess import ImagePreprocessor

__all__ = ["CONFIG", "DISTS", "NAME", "build", "input_files"]

NAME = "vision"
CONFIG: dict[str, Any] = {
    "seed": 1234,
    "image_size": 32,
    "epochs": 8,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "max_shift_px": 2,
    "depths": [2, 2, 2, 2],
    "hidden_sizes": [64, 128, 256, 512],
    # The int8 copy (model.int8.onnx): static QDQ, scales calibrated on training images;
    # the build fails if its held-out accuracy is more than max_drop_points below fp32's.
    "int8": {
        "mode": "static",
        "per_channel": True,
        "calibration_images": 256,
        "max_drop_points": 0.5,
    },
}
DISTS = (
    "torch",
    "transformers",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "numpy",
    "scikit-learn",
    "pillow",
)
_PRE = ImagePreprocessor(
    height=CONFIG["image_size"], width=CONFIG["image_size"], mean=(0.5,) * 3, std=(0.5,) * 3
)


def input_files() -> list[Path]:
    here = Path(__file__).resolve().parent
    pkg = here.parent
    return [
        here / "vision_build.py",
        here / "digits.py",
        here / "repro.py",
        here / "verify.py",
        here / "quantize.py",
        pkg / "vision" / "preprocess.py",
        pkg / "common" / "onnx_export.py",
        pkg / "common" / "precision.py",
    ]


def _tensors(images: np.ndarray) -> np.ndarray:
    return np.stack([_PRE(digit_image(img)) for img in images]).astype(np.float32)


def build(out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Train, export and verify into ``out``; returns the metrics for the manifest."""
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    from modelserve.common.onnx_export import export_onnx
    from modelserve.models.verify import compare_onnx

    cfg = CONFIG
    deterministic(cfg["seed"])
    x_train, y_train, x_test, y_test = load_digits_split()
    log(f"vision: digits split {len(y_train)} train / {len(y_test)} held out")
    xt, xv = torch.from_numpy(_tensors(x_train)), torch.from_numpy(_tensors(x_test))
    yt, yv = torch.from_numpy(y_train), torch.from_numpy(y_test)

    shape: dict[str, Any] = dict(
        num_channels=3,
        embedding_size=64,
        hidden_sizes=cfg["hidden_sizes"],
        depths=cfg["depths"],
        layer_type="basic",
        num_labels=10,
        id2label={i: str(i) for i in range(10)},
        label2id={str(i): i for i in range(10)},
    )
    model: Any = ResNetForImageClassification(ResNetConfig(**shape))
    params = sum(p.numel() for p in model.parameters())
    log(f"vision: ResNet-18 shape, {params / 1e6:.1f} M parameters, {cfg['epochs']} epochs")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps = cfg["epochs"] * -(-len(yt) // cfg["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps)
    gen = torch.Generator().manual_seed(cfg["seed"])
    shift = cfg["max_shift_px"]
    for epoch in range(cfg["epochs"]):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        total = 0.0
        for i in range(0, len(yt), cfg["batch_size"]):
            idx = perm[i : i + cfg["batch_size"]]
            xb = xt[idx]
            dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=gen))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))  # small translations
            loss = model(pixel_values=xb, labels=yt[idx]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = _accuracy(model, xv, yv)
        log(
            f"vision: epoch {epoch + 1}/{cfg['epochs']} loss {total / len(yt):.4f} "
            f"held-out acc {acc:.4f} ({time.perf_counter() - t0:.1f} s)"
        )
    model.eval()
    acc = _accuracy(model, xv, yv)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text(json.dumps(_PRE.to_config(), indent=2) + "\n")
    export_onnx(model, {"pixel_values": xv[:2]}, out / "model.onnx", dynamic={"pixel_values": [0]})
    diff = compare_onnx(
        model, out / "model.onnx", [{"pixel_values": xv[:1]}, {"pixel_values": xv[:37]}]
    )
    log(f"vision: ONNX export verified (max |logit diff| vs torch {diff:.2e})")
    int8 = _build_int8(out, xt.numpy(), xv.numpy(), y_test, log)
    return {
        "held_out_accuracy": round(acc, 4),
        "onnx_max_abs_diff": diff,
        "parameters": params,
        **int8,
    }


def _build_int8(
    out: Path,
    x_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Quantise ``model.onnx`` into ``model.int8.onnx`` and hold it to the accuracy bound;
    both precisions are scored by ONNX Runtime on the held-out split, like for like."""
    from modelserve.common.precision import FP32_FILE, INT8_FILE
    from modelserve.common.runtime import OnnxBackend
    from modelserve.models.quantize import check_accuracy, quantize

    cfg = CONFIG["int8"]
    n, step = cfg["calibration_images"], 8
    t0 = time.perf_counter()
    quantize(
        out / FP32_FILE,
        out / INT8_FILE,
        cfg,
        calibration=({"pixel_values": x_train[i : i + step]} for i in range(0, n, step)),
    )
    scores = {}
    for precision, name in (("fp32", FP32_FILE), ("int8", INT8_FILE)):
        pred = OnnxBackend(out / name, device="cpu").run({"pixel_values": x_test}).argmax(-1)
        scores[precision] = float((pred == y_test).mean())
    drop = check_accuracy(
        "vision", "held-out accuracy", scores["fp32"], scores["int8"], cfg["max_drop_points"]
    )
    log(
        f"vision: {cfg['mode']} int8 held-out accuracy {scores['int8']:.4f} "
        f"(fp32 ONNX {scores['fp32']:.4f}, drop {drop:.2f} points, bound "
        f"{cfg['max_drop_points']}; {time.perf_counter() - t0:.1f} s)"
    )
    return {
        "int8_mode": cfg["mode"],
        "int8_held_out_accuracy": round(scores["int8"], 4),
        "int8_accuracy_drop_points": drop,
    }


def _accuracy(model: Any, x: Any, y: Any) -> float:
    import torch

    model.eval()
    with torch.inference_mode():
        pred = model(pixel_values=x).logits.argmax(-1)
    return float((pred == y).float().mean())
