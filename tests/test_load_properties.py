"""Property tests: schedules and timelines keep their invariants for any seed and shape."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.gates import ErrorRatioGate, GateContext, LatencyGate
from harness.latency import encode_histogram, new_histogram
from harness.record import Event
from loadtests.arrivals import Schedule, build_schedule
from loadtests.shapes import ConstantRate, Spike, Step
from loadtests.timeline import ALL, Timeline

shapes = st.one_of(
    st.builds(ConstantRate, st.floats(0.5, 300), st.floats(0.1, 5)),
    st.builds(
        lambda a, b, d: Step(((d, a), (d, b))),
        st.floats(0, 200),
        st.floats(0, 200),
        st.floats(0.1, 3),
    ),
    st.builds(
        lambda r, p, d: Spike(r, p, d / 4, d / 4, d),
        st.floats(0, 100),
        st.floats(0, 300),
        st.floats(0.4, 4),
    ),
)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32 - 1), parts=st.integers(1, 4))
def test_schedules_are_sorted_bounded_replayable_and_partitioned(
    shape: ConstantRate, seed: int, parts: int
) -> None:
    sched = build_schedule(shape, {"a": 1, "b": 2}, seed)
    t = sched.t_us
    assert np.all(np.diff(t) >= 0)
    assert len(t) == 0 or (t[0] >= 0 and t[-1] <= shape.duration_s * 1e6)
    again = Schedule.from_json(sched.to_json())
    assert np.array_equal(again.t_us, t)
    assert np.array_equal(again.route, sched.route)
    pieces = [sched.part(i, parts) for i in range(parts)]
    assert sum(len(p) for p in pieces) == len(sched)
    assert np.array_equal(np.sort(np.concatenate([p.t_us for p in pieces])), t)


@settings(max_examples=40, deadline=None)
@given(
    reports=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 20), st.integers(0, 3)),
        max_size=30,
    )
)
def test_timeline_adds_up_whatever_order_sources_report(
    reports: list[tuple[int, int, int, int]],
) -> None:
    """Buckets from 3 sources in any order: each second is released once, totals add up."""
    seen: list[int] = []
    tl = Timeline(3, ["r"], lambda row: seen.append(row[0].second))
    sent = errors = 0
    for source, second, n, e in reports:
        hist = new_histogram()
        for v in range(n):
            hist.record_value(1000 + v)
        tl.feed(
            source,
            {
                "type": "bucket",
                "second": second,
                "route": "r",
                "sent": n,
                "completed": n,
                "errors": {"timeout": e} if e else {},
                "hist": encode_histogram(hist) if n else None,
                "lag_hist": None,
            },
        )
        sent += n
        errors += e
    for source in range(3):
        tl.feed(source, {"type": "tick", "upto": 10**9})
    tl.finish()
    assert seen == sorted(set(seen))
    rows = tl.seconds
    assert sum(b.sent for row in rows for b in row if b.route == ALL) == sent
    assert sum(b.error_count for row in rows for b in row if b.route == "r") == errors


@settings(max_examples=40, deadline=None)
@given(limit=st.floats(0, 1e4), ratio=st.floats(0, 1))
def test_gates_without_data_never_pass(limit: float, ratio: float) -> None:
    ctx = GateContext([Event(0, 0.0, "run_start", {"scenario": "x", "platform": "local"})])
    assert LatencyGate("all", {"p99_ms": limit}).evaluate(ctx).verdict == "inconclusive"
    assert ErrorRatioGate(ratio).evaluate(ctx).verdict == "inconclusive"
