"""Request payloads, read from ``loadtests/data/``, and how they are made.

Kinds (what a route's body template can ask for with ``$kind``):
  text           one line of ``texts.txt`` (~30 tokens, people, organisations, places)
  digit_png      base64 PNG of a handwritten digit from scikit-learn's bundled digits set
                 (``digits/NN.png``, 32x32 grey, labels in ``digits/labels.json``)
  document_png   base64 PNG of a short text line rendered for OCR (``documents/NN.png``)

The images are generated reproducibly (fixed seed, bundled data, Pillow's bundled font) by
``python -m loadtests.payloads build`` and committed; a test rebuilds them and compares pixels.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.errors import ConfigError

__all__ = [
    "DATA_DIR",
    "KINDS",
    "build_data",
    "digit_images",
    "document_images",
    "load_payloads",
    "read_texts",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
DIGITS_PER_CLASS = 2
DOCUMENTS = 8
_SEED = 20_261_127


def read_texts(data_dir: Path = DATA_DIR) -> list[str]:
    path = data_dir / "texts.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError("missing payload file", source=str(path)) from None
    texts = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    if not texts:
        raise ConfigError("holds no texts", source=str(path))
    return texts


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(out, format="PNG", optimize=False)
    return out.getvalue()


def digit_images() -> list[tuple[int, bytes]]:
    """``(label, png)`` pairs: DIGITS_PER_CLASS seeded picks of each digit 0-9, 8x8 scaled
    to 32x32 (nearest), ink dark on white as a scan would be."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(_SEED)
    out: list[tuple[int, bytes]] = []
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        for i in sorted(rng.choice(idx, size=DIGITS_PER_CLASS, replace=False)):
            img = 255 - (digits.images[i] * (255 / 16)).round()
            out.append((label, _png(np.kron(img, np.ones((4, 4))))))
    return out


def document_images(texts: list[str]) -> list[bytes]:
    """The first DOCUMENTS texts rendered as black text on white, wrapped at ~60 characters."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=28)
    out = []
    for text in texts[:DOCUMENTS]:
        lines = textwrap.wrap(text, 60)
        img = Image.new("L", (1000, 40 + 40 * len(lines)), 255)
        draw = ImageDraw.Draw(img)
        for n, line in enumerate(lines):
            draw.text((20, 20 + 40 * n), line, fill=0, font=font)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=False)
        out.append(buf.getvalue())
    return out


def build_data(data_dir: Path = DATA_DIR) -> list[Path]:
    """Write the generated images under ``data_dir``; returns the files written."""
    written: list[Path] = []
    (data_dir / "digits").mkdir(parents=True, exist_ok=True)
    (data_dir / "documents").mkdir(parents=True, exist_ok=True)
    labels = {}
    for n, (label, png) in enumerate(digit_images()):
        path = data_dir / "digits" / f"{n:02d}.png"
        path.write_bytes(png)
        labels[path.name] = label
        written.append(path)
    labels_path = data_dir / "digits" / "labels.json"
    labels_path.write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    written.append(labels_path)
    for n, png in enumerate(document_images(read_texts(data_dir))):
        path = data_dir / "documents" / f"{n:02d}.png"
        path.write_bytes(png)
        written.append(path)
    return written


def _pngs(folder: Path) -> list[str]:
    files = sorted(folder.glob("*.png"))
    if not files:
        raise ConfigError(
            "no PNG files (run: python -m loadtests.payloads build)", source=str(folder)
        )
    return [base64.b64encode(f.read_bytes()).decode("ascii") for f in files]


KINDS: dict[str, Callable[[Path], list[str]]] = {
    "text": read_texts,
    "digit_png": lambda d: _pngs(d / "digits"),
    "document_png": lambda d: _pngs(d / "documents"),
}


def load_payloads(kinds: set[str], data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """The payloads of each kind asked for (only those are read)."""
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown payload kind(s) {unknown}; known: {sorted(KINDS)}")
    return {kind: KINDS[kind](data_dir) for kind in sorted(kinds)}


if __name__ == "__main__":  # python -m loadtests.payloads build
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m loadtests.payloads build")
    for p in build_data():
        print(p.relative_to(DATA_DIR.parent.parent))
