"""Image decoding: libspng's path for small 8-bit PNGs gives what Pillow gives, and every
other file (and every bad one) is judged as before."""

from __future__ import annotations

import io
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.common.errors import BadInput, PayloadTooLarge
from modelserve.vision import preprocess
from modelserve.vision.preprocess import FAST_PNG_MAX_PIXELS, decode_image
from PIL import Image

_LIMITS = {"max_bytes": 10_000_000, "max_pixels": 4_000_000}


def _encode(img: Image.Image, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pillow(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.fixture
def spng_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts libspng decodes, so a test can say which path an image took."""
    assert preprocess.pyspng is not None, "pyspng is a project dependency"
    calls: list[int] = []
    real = preprocess.pyspng.load

    class _Counting:
        @staticmethod
        def load(data: bytes) -> np.ndarray:
            calls.append(len(data))
            return real(data)

    monkeypatch.setattr(preprocess, "pyspng", _Counting)
    return calls


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("size", [(8, 8), (1, 1), (37, 20), (256, 256)])
def test_small_8bit_png_takes_libspng_and_equals_pillow(
    spng_calls: list[int], mode: str, size: tuple[int, int]
) -> None:
    rng = np.random.default_rng(size[0])
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    for options in ({}, {"optimize": True}, {"compress_level": 0}):
        data = _encode(img, **options)
        got = decode_image(data, "image", **_LIMITS)
        want = _pillow(data)
        assert (got.mode, got.size) == (want.mode, want.size)
        assert np.array_equal(np.asarray(got), np.asarray(want))
    assert len(spng_calls) == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("RGBA", (9, 7), (10, 20, 30, 40)),
        lambda: Image.new("LA", (9, 7), (10, 40)),
        lambda: Image.new("RGB", (9, 7), (10, 20, 30)).convert("P"),
        lambda: Image.new("1", (9, 7), 1),
        lambda: Image.fromarray(np.full((7, 9), 3000, dtype=np.uint16)),
        lambda: Image.new("L", (257, 256), 7),  # over FAST_PNG_MAX_PIXELS
    ],
    ids=["RGBA", "LA", "palette", "1-bit", "16-bit", "large"],
)
def test_other_pngs_and_jpegs_keep_pillows_path(spng_calls: list[int], make: Any) -> None:
    img = make()
    for data in (_encode(img), _encode(img.convert("RGB"), "JPEG")):
        got = decode_image(data, "image", **_LIMITS)
        want = _pillow(data)
        assert (got.mode, got.size) == (want.mode, want.size)
        assert np.array_equal(np.asarray(got), np.asarray(want))
    assert FAST_PNG_MAX_PIXELS < 257 * 256
    assert spng_calls == []


def test_pixel_limit_holds_on_the_fast_path(spng_calls: list[int]) -> None:
    data = _encode(Image.new("L", (100, 100), 0))
    with pytest.raises(PayloadTooLarge) as err:
        decode_image(data, "images[2]", max_bytes=10**7, max_pixels=5_000)
    assert err.value.field == "images[2]"
    assert "100x100 pixels" in str(err.value)
    assert spng_calls == []  # refused on the header, before any decoding


def _corrupt_idat(data: bytes) -> bytes:
    """Flip bytes inside the IDAT payload and fix the chunk's CRC, so only the compressed
    stream is wrong (libspng skips CRC checks; zlib's own checksum must catch it)."""
    at = data.index(b"IDAT")
    length = int.from_bytes(data[at - 4 : at], "big")
    payload = bytearray(data[at + 4 : at + 4 + length])
    for i in range(2, len(payload) - 4, 3):
        payload[i] ^= 0x5A
    crc = zlib.crc32(b"IDAT" + bytes(payload)).to_bytes(4, "big")
    return data[: at + 4] + bytes(payload) + crc + data[at + 8 + length :]


def test_broken_small_pngs_are_bad_input_naming_the_field(spng_calls: list[int]) -> None:
    rng = np.random.default_rng(3)
    good = _encode(Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8), "L"))
    for bad in (good[:40], good[:-20], _corrupt_idat(good)):
        with pytest.raises(BadInput) as err:
            decode_image(bad, "body.image_b64", **_LIMITS)
        assert err.value.field == "body.image_b64"
        assert "not a decodable image" in str(err.value)
    assert spng_calls, "the fast path saw these files"


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(8, 200), tail=st.binary(max_size=64))
def test_any_damaged_png_is_decoded_or_bad_input(cut: int, tail: bytes) -> None:
    good = _encode(Image.new("RGB", (12, 7), (1, 2, 3)))
    data = good[:cut] + tail
    field = ""
    try:
        img = decode_image(data, "image", **_LIMITS)
    except BadInput as exc:
        field = exc.field or ""
    else:
        assert img.mode in ("L", "RGB")
        assert img.size == (12, 7)
        return
    assert field == "image"
