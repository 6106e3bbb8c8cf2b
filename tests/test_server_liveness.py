"""The event loop never waits on a request's content: costly images decode on the parse pool.

Measured against a real ``msai serve vision`` saturated with worst-case images (at the
pixel limit, a few kilobytes each): the liveness probe is answered within 100 ms. The same
load against a replica that parses on the loop (``PARSE_WORKERS=0``) shows the probe
waiting far longer, which is what the measurement is for.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from modelserve.common.app import ModelServer
from modelserve.common.errors import PayloadTooLarge
from modelserve.common.parsing import ParseOffLoop
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import http_ready, start_replica, wait_until
from PIL import Image

from harness.ports import free_port

SIDE = 4096  # the replica's pixel limit is SIDE x SIDE (the default)


def _png(side: int) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((side, side), np.uint8)).save(buf, "PNG", compress_level=9)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def worst() -> str:
    return _png(SIDE)


def _replica(tmp_path: Path, parse_workers: int) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "MSAI_VISION_THREADS": "1",
        "MSAI_VISION_MAX_IMAGE_PIXELS": str(SIDE * SIDE),
        "MSAI_VISION_MAX_REQUEST_PIXELS": str(SIDE * SIDE),
        "MSAI_VISION_PARSE_WORKERS": str(parse_workers),
        "MSAI_VISION_DEFAULT_DEADLINE_MS": "60000",
        "MSAI_VISION_DRAIN_DELAY_S": "0",
    }
    log = tmp_path / f"vision-{parse_workers}.log"
    proc = start_replica("vision", port, env, str(log))
    try:
        wait_until(lambda: http_ready(base) or proc.poll() is not None, timeout=90)
        if proc.poll() is not None:
            pytest.skip(f"vision did not start (model not built?): {log.read_text()[-300:]}")
        yield base
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def _liveness_under_load(base: str, image: str, seconds: float = 4.0) -> tuple[float, list[int]]:
    """The slowest liveness answer (s) while 6 clients send ``image`` back to back."""
    stop = threading.Event()
    codes: list[int] = []

    def load() -> None:
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                codes.append(c.post(f"{base}/v1/classify", json={"image_b64": image}).status_code)

    loaders = [threading.Thread(target=load) for _ in range(6)]
    for t in loaders:
        t.start()
    slowest = 0.0
    try:
        time.sleep(0.5)  # saturated
        end = time.monotonic() + seconds
        with httpx.Client(timeout=30) as probe:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                assert probe.get(f"{base}/v2/health/live").status_code == 200
                slowest = max(slowest, time.perf_counter() - t0)
                time.sleep(0.05)
    finally:
        stop.set()
        for t in loaders:
            t.join(60)
    return slowest, codes


def test_liveness_stays_under_100_ms_while_worst_case_images_saturate(
    tmp_path: Path, worst: str
) -> None:
    gen = _replica(tmp_path, parse_workers=1)
    base = next(gen)
    try:
        slowest, codes = _liveness_under_load(base, worst)
        assert codes
        assert set(codes) == {200}
        assert slowest < 0.1, f"liveness took {slowest * 1000:.0f} ms"
        # Two images at the limit are over the request's pixel budget: 413 naming the second.
        r = httpx.post(f"{base}/v1/classify", json={"images": [{"image_b64": worst}] * 2})
        assert r.status_code == 413
        assert r.json()["field"] == "images[1].image_b64"
    finally:
        gen.close()


def test_the_same_load_parsed_on_the_loop_blocks_liveness(tmp_path: Path, worst: str) -> None:
    gen = _replica(tmp_path, parse_workers=0)
    base = next(gen)
    try:
        slowest, codes = _liveness_under_load(base, worst, seconds=2.0)
        assert set(codes) == {200}
        assert slowest > 0.1  # what the parse pool prevents
    finally:
        gen.close()


def _vision_server(inline_pixels: int = 256 * 256) -> ModelServer:
    from modelserve.vision.app import ROUTE
    from modelserve.vision.model import VisionModel
    from modelserve.vision.settings import VisionSettings

    settings = ServerSettings(inline_parse_pixels=inline_pixels)
    model = VisionModel(VisionSettings(max_request_pixels=3 * 64 * 64))
    return ModelServer(model, settings, ROUTE)


def test_small_images_parse_inline_and_large_ones_are_sent_off_the_loop() -> None:
    server = _vision_server(inline_pixels=2 * 64 * 64)
    assert server.json_route is not None
    route = server.json_route

    def body(*sides: int) -> bytes:
        images = ",".join(f'{{"image_b64": "{_png(s)}"}}' for s in sides)
        return f'{{"images": [{images}]}}'.encode()

    raw = body(8, 64)
    items, single = server.parse_now(len(raw), server._json_work, raw, route)
    assert (len(items), single) == (2, False)
    raw = body(64, 64, 8)  # 2 x 64 x 64 fit the loop's budget; one more pixel does not
    with pytest.raises(ParseOffLoop):
        server.parse_now(len(raw), server._json_work, raw, route)
    # Off the loop only the request's own budget applies: 3 x 64 x 64.
    raw = body(64, 64, 64, 8)
    with pytest.raises(PayloadTooLarge) as err:
        server._parse_pool.submit(server._json_work, raw, route).result(10)  # type: ignore[union-attr]
    assert err.value.field == "images[3].image_b64"
    # A body over INLINE_PARSE_BYTES is not even decoded on the loop.
    big = body(*[8] * 3000)
    assert len(big) > server.settings.inline_parse_bytes
    with pytest.raises(ParseOffLoop):
        server.parse_now(len(big), server._json_work, big, route)
