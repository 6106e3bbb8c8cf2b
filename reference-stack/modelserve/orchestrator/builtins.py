"""Built-in steps that run inside the orchestrator: ``ocr`` (Tesseract) and the two small
text classifiers (``sentiment``, ``topic``, see textcls.py).

They are steps like any other (claimed, stored, retried, deadline-bound); they only skip the
HTTP hop. Each is available only when what it needs is here: the ``tesseract`` binary
(Debian ``tesseract-ocr``), or the built model folder (``msai models build``). A pipeline
that uses a missing one is listed as unavailable with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modelserve.common.errors import BadInput, ModelServeError, PayloadTooLarge
from modelserve.orchestrator.calls import BuiltinFn
from modelserve.orchestrator.textcls import TextClassifier

__all__ = ["MAX_IMAGE_BYTES", "load_builtins", "ocr_step", "text_step"]

log = logging.getLogger("modelserve.orchestrator")

MAX_IMAGE_BYTES = 8 * 1024 * 1024
_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}


def _image(payload: Any) -> bytes:
    if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
        raise BadInput("ocr input needs image: a base64 PNG or JPEG string", field="image")
    raw = payload["image"]
    if len(raw) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise PayloadTooLarge(f"image over {MAX_IMAGE_BYTES} bytes", field="image")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("image is not valid base64", field="image") from None
    if not any(data.startswith(m) for m in _MAGIC):
        raise BadInput("image is neither PNG nor JPEG", field="image")
    return data


def ocr_step(tesseract: str) -> BuiltinFn:
    """``{"image": base64} -> {"text", "chars"}`` by ``tesseract stdin stdout``."""

    async def ocr(payload: Any, deadline: float) -> Any:
        data = _image(payload)
        proc = await asyncio.create_subprocess_exec(
            tesseract,
            "stdin",
            "stdout",
            "--psm",
            "3",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"OMP_THREAD_LIMIT": "1"},  # one thread: the orchestrator shares its cores
        )
        try:
            out, err = await proc.communicate(data)
        except asyncio.CancelledError:  # step timeout or shutdown: leave no process behind
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            msg = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise BadInput(f"tesseract could not read the image: {msg[0]}", field="image")
        text = " ".join(out.decode("utf-8", "replace").split())
        return {"text": text, "chars": len(text)}

    return ocr


def text_step(model: TextClassifier) -> BuiltinFn:
    """``{"text": str} -> {"label", "score", "scores"}`` on a worker thread."""

    async def classify(payload: Any, deadline: float) -> Any:
        item = model.parse_json(payload, "input")
        (out,) = await asyncio.to_thread(model.predict, [item])
        return model.to_json(out)

    return classify


def load_builtins(
    tesseract_bin: str,
    models_path: Path,
    metadata: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, BuiltinFn], dict[str, str]]:
    """(available built-ins, reason per missing one); fills ``metadata`` (when given) with
    each available built-in's model metadata, for the ``model_metadata`` table."""
    found: dict[str, BuiltinFn] = {}
    missing: dict[str, str] = {}
    meta = metadata if metadata is not None else {}
    exe = shutil.which(tesseract_bin)
    if exe:
        found["ocr"] = ocr_step(exe)
        version = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split("\n", 1)[0]
        meta["ocr"] = {
            "name": "tesseract",
            "versions": [version.removeprefix("tesseract ")],
            "platform": "tesseract",
            "inputs": [],
            "outputs": [],
        }
    else:
        missing["ocr"] = f"{tesseract_bin} not found (install Debian tesseract-ocr)"
    for name in ("sentiment", "topic"):
        try:
            model = TextClassifier(name, models_path / name)
            model.load()
        except ModelServeError as exc:
            missing[name] = exc.message
            continue
        found[name] = text_step(model)
        meta[name] = asdict(model.metadata())
    for name, why in missing.items():
        log.warning("built-in step %s unavailable: %s", name, why)
    return found, missing
