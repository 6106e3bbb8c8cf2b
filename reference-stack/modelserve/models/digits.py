"""scikit-learn's bundled 8x8 digits (no download) as PNG-ready images, with a fixed split."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["SPLIT_SEED", "TEST_FRACTION", "digit_image", "digit_png", "load_digits_split"]

SPLIT_SEED = 20240601
TEST_FRACTION = 0.2


def digit_image(pixels: np.ndarray) -> Image.Image:
    """One 8x8 digit (values 0..16) as an 8-bit greyscale image, as a client would send it."""
    arr = np.clip(np.rint(np.asarray(pixels, np.float64) * (255 / 16)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr.reshape(8, 8), mode="L")


def digit_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    digit_image(pixels).save(buf, format="PNG")
    return buf.getvalue()


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_images, train_labels, test_images, test_labels)``; stratified, seeded."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    test_idx: list[int] = []
    for cls in range(10):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        test_idx.extend(idx[: round(len(idx) * TEST_FRACTION)].tolist())
    test = np.zeros(len(labels), bool)
    test[test_idx] = True
    return images[~test], labels[~test], images[test], labels[test]
