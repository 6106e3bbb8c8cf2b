"""Soak: a long open-loop run stays exact and bounded (run with --with-soak)."""

from __future__ import annotations

import psutil
import pytest

from loadtests.arrivals import build_schedule
from loadtests.routes import build_targets
from loadtests.runner import run_load
from loadtests.settings import load_settings_from_env
from loadtests.shapes import shape_from_spec
from loadtests.testing import echo_server


@pytest.mark.soak
def test_ten_minute_soak_keeps_counts_exact_and_memory_flat() -> None:
    shape = shape_from_spec({"shape": "soak", "rate": 200, "duration": "10m"})
    sched = build_schedule(shape, {"ner": 0.6, "vision": 0.4}, seed=1)
    me = psutil.Process()
    with echo_server(latency_ms=3) as srv:
        rss_before = me.memory_info().rss
        result = run_load(
            sched,
            build_targets(sched.routes, {}, url=srv.url),
            settings=load_settings_from_env(),
            progress=False,
        )
        grown_mb = (me.memory_info().rss - rss_before) / 2**20
    s = result.summary()
    assert s.sent == s.completed == len(sched)
    assert len(result.buckets()) >= 600
    # per-second histograms are dropped once merged: memory must not grow with the run length
    assert grown_mb < 150, f"RSS grew {grown_mb:.0f} MB over the soak"
