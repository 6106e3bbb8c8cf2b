"""Image bytes -> normalised float tensor, as the model's preprocessor config says.

One function serves both the build (training images go through it) and the server, so a
model never sees pixels prepared differently from what it was trained on. The config is the
Hugging Face ``preprocessor_config.json`` subset that ResNet checkpoints use: ``size``
(``{"height", "width"}`` or ``{"shortest_edge"}`` with ``crop_pct``, as ConvNext/ResNet-50
do), ``resample``, ``rescale_factor``, ``image_mean``, ``image_std``.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from modelserve.common.errors import BadInput, PayloadTooLarge
from modelserve.common.parsing import charge_pixels

try:  # libspng: an optional speed-up for small PNGs; Pillow decodes everything without it
    import pyspng
except ImportError:  # pragma: no cover - installed with the project
    pyspng = None

__all__ = ["FAST_PNG_MAX_PIXELS", "IMAGE_FORMATS", "ImagePreprocessor", "decode_image"]

IMAGE_FORMATS = ("PNG", "JPEG")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CHANNEL_OFFSETS = np.arange(0, 768, 256, dtype=np.intp)[:, None, None]

# Pillow only warns between MAX_IMAGE_PIXELS and twice that; an image that big is refused
# here, as an error. Set once for the process rather than per image with catch_warnings,
# which is not thread-safe (PARSE_WORKERS decode on threads) and costs microseconds a call.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Up to this many pixels, 8-bit greyscale and RGB PNGs are decoded by libspng (pyspng) in one
# call: about 1.5 us for an 8x8 digit where Pillow's plugin machinery, mostly Python, takes
# about 19 us. libspng holds the GIL while it decodes, which Pillow does not; above this size
# (256x256) that would serialise PARSE_WORKERS, so bigger images keep Pillow.
FAST_PNG_MAX_PIXELS = 65_536
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FAST_PNG_MODES = {0: "L", 2: "RGB"}  # IHDR colour type -> mode, at bit depth 8


def _undecodable(field: str) -> BadInput:
    return BadInput(f"not a decodable image ({'/'.join(IMAGE_FORMATS)} accepted)", field=field)


def _fast_png(data: bytes, field: str, max_pixels: int, request_pixels: int) -> Image.Image | None:
    """The image, when libspng can decode it to what Pillow would give; else None.

    As pyspng sets libspng up, chunk CRCs are not checked (Pillow checks them); zlib's own
    checksum still refuses damaged pixel data.
    """
    if pyspng is None or len(data) < 26 or not data.startswith(_PNG_SIGNATURE):
        return None
    if data[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack_from(">IIBB", data, 16)
    mode = _FAST_PNG_MODES.get(colour)
    if mode is None or depth != 8 or width * height > min(max_pixels, FAST_PNG_MAX_PIXELS):
        return None  # palette, alpha, 16-bit, or large: Pillow's path, with its checks
    charge_pixels(width * height, field, request_pixels)
    try:
        pixels = pyspng.load(data)
    except Exception as exc:  # libspng reports every malformed file as a RuntimeError
        raise _undecodable(field) from exc
    if pixels.shape[:2] != (height, width) or pixels.ndim != (2 if mode == "L" else 3):
        return None  # not what the header promised: let Pillow judge the file
    return Image.frombuffer(mode, (width, height), pixels, "raw", mode, 0, 1)


def decode_image(
    data: bytes, field: str, *, max_bytes: int, max_pixels: int, request_pixels: int = 2**62
) -> Image.Image:
    """Decode PNG/JPEG bytes fully; BadInput (naming ``field``) for anything else.

    The pixels are charged (:func:`~modelserve.common.parsing.charge_pixels`) once the header
    is read, before they are decoded: past the event loop's budget the server decodes the
    request on its parse pool; past ``request_pixels`` for the request, 413."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"image is {len(data)} bytes; limit is {max_bytes}", field=field)
    if not data:
        raise BadInput("image is empty", field=field)
    fast = _fast_png(data, field, max_pixels, request_pixels)  # libspng refuses 0 pixels
    if fast is not None:
        return fast
    try:
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        width, height = img.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"image is {width}x{height} pixels; limit is {max_pixels} pixels", field=field
            )
        charge_pixels(width * height, field, request_pixels)
        img.load()  # decode now: truncated files fail here, not in the batch
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"image too large to decode: {exc}", field=field) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _undecodable(field) from exc
    if width < 1 or height < 1:
        raise BadInput("image has no pixels", field=field)
    return img


def _triple(values: Any) -> tuple[float, float, float]:
    """Per-channel statistics; a single number (greyscale configs) applies to all three."""
    vals = [float(v) for v in values] if isinstance(values, (list, tuple)) else [float(values)]
    if len(vals) == 1:
        vals *= 3
    return (vals[0], vals[1], vals[2])


@dataclass(frozen=True)
class ImagePreprocessor:
    """Resize, crop and normalise to the model's input: float32 ``(3, height, width)``."""

    height: int = 224
    width: int = 224
    shortest_edge: bool = False  # resize shortest edge to size/crop_pct, then centre-crop
    crop_pct: float = 0.875
    resample: int = 2  # PIL code: 2 bilinear, 3 bicubic
    rescale_factor: float = 1 / 255
    mean: tuple[float, float, float] = _IMAGENET_MEAN
    std: tuple[float, float, float] = _IMAGENET_STD

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ImagePreprocessor:
        size = cfg.get("size", {"height": 224, "width": 224})
        if isinstance(size, int):
            size = {"height": size, "width": size}
        edge = "shortest_edge" in size
        h = int(size["shortest_edge"] if edge else size["height"])
        w = int(size["shortest_edge"] if edge else size["width"])
        normalize = cfg.get("do_normalize", True)
        return cls(
            height=h,
            width=w,
            shortest_edge=edge,
            crop_pct=float(cfg.get("crop_pct") or 1.0),
            resample=int(cfg.get("resample", 2)),
            rescale_factor=float(cfg.get("rescale_factor", 1 / 255))
            if cfg.get("do_rescale", True)
            else 1.0,
            mean=_triple(cfg.get("image_mean", _IMAGENET_MEAN)) if normalize else (0.0,) * 3,
            std=_triple(cfg.get("image_std", _IMAGENET_STD)) if normalize else (1.0,) * 3,
        )

    @classmethod
    def from_dir(cls, path: Path) -> ImagePreprocessor:
        cfg_path = path / "preprocessor_config.json"
        if cfg_path.is_file():
            return cls.from_config(json.loads(cfg_path.read_text()))
        return cls()

    def to_config(self) -> dict[str, Any]:
        """The Hugging Face ``preprocessor_config.json`` this object reads back."""
        size: dict[str, int] = (
            {"shortest_edge": self.height}
            if self.shortest_edge
            else {"height": self.height, "width": self.width}
        )
        return {
            "image_processor_type": "ConvNextImageProcessor"
            if self.shortest_edge
            else "ViTImageProcessor",
            "do_resize": True,
            "size": size,
            "crop_pct": self.crop_pct if self.shortest_edge else None,
            "resample": self.resample,
            "do_rescale": True,
            "rescale_factor": self.rescale_factor,
            "do_normalize": True,
            "image_mean": list(self.mean),
            "image_std": list(self.std),
        }

    @functools.cached_property
    def _lut(self) -> np.ndarray:
        """float32 (3, 256): every uint8 value of every channel, normalised.

        The same float32 operations, in the same order, as normalising the pixels one by
        one, so a lookup is bit-identical to the arithmetic (a test holds it to that) and
        costs one indexing pass instead of five array operations per image.
        """
        values = np.arange(256, dtype=np.float32)[None, :] * np.float32(self.rescale_factor)
        mean = np.asarray(self.mean, np.float32)[:, None]
        std = np.asarray(self.std, np.float32)[:, None]
        return np.ascontiguousarray((values - mean) / std, dtype=np.float32)

    @functools.cached_property
    def _resampling(self) -> Image.Resampling:
        return Image.Resampling(self.resample)

    def resize(self, img: Image.Image) -> Image.Image:
        """Resize (and, for ``shortest_edge``, centre-crop) to the model's height x width."""
        resample = self._resampling
        if not self.shortest_edge:
            return img.resize((self.width, self.height), resample)
        target = int(self.height / self.crop_pct)
        w, h = img.size
        scale = target / min(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample)
        w, h = img.size
        left, top = (w - self.width) // 2, (h - self.height) // 2
        return img.crop((left, top, left + self.width, top + self.height))

    def __call__(self, img: Image.Image) -> np.ndarray:
        # Greyscale stays one channel through the resize: converting to RGB copies the value
        # into R, G and B, and resampling treats channels alike, so it is the same picture
        # for a third of the work; the lookup below spreads it over three channels.
        img = img if img.mode == "L" else img.convert("RGB")
        out = self.resize(img)
        # uint8 (H, W) or (H, W, 3); frombuffer over tobytes skips np.asarray's trip through
        # __array_interface__ (about 1 us of Python an image).
        raw = np.frombuffer(out.tobytes(), np.uint8)
        if out.mode == "L":
            return self._lut.take(raw.reshape(out.height, out.width), axis=1)
        # Channel c's values sit at c * 256 in the flattened table.
        pixels = raw.reshape(out.height, out.width, 3).transpose(2, 0, 1)
        return self._lut.ravel().take(pixels + _CHANNEL_OFFSETS)
