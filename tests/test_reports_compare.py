"""Baseline comparison: seeded bootstrap intervals label real changes and only those."""

import dataclasses
import json
from pathlib import Path

import pytest

from harness.errors import RecordError
from reports import (
    SyntheticOptions,
    compare_runs,
    load_baseline,
    load_comparable,
    load_run,
    save_baseline,
    write_synthetic_run,
)
from reports.model import RunData


def _run(root: Path, name: str, **kw: float | int) -> RunData:
    return load_run(write_synthetic_run(root / name, SyntheticOptions(**kw)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunData]:
    root = tmp_path_factory.mktemp("cmp")
    return {
        "base": _run(root, "base", seed=1),
        "same": _run(root, "same", seed=2),
        "slow": _run(root, "slow", seed=3, latency_factor=1.6),
        "fast": _run(root, "fast", seed=4, latency_factor=0.6),
        "lossy": _run(root, "lossy", seed=5, throughput_factor=0.8),
    }


def _labels(current: RunData, baseline: RunData, route: str = "ner") -> dict[str, str]:
    cmp = compare_runs(current, baseline, seed=0, resamples=600)
    return {m.metric: m.label for m in cmp.metrics if m.route == route}


def test_same_system_other_seed_is_not_called_a_change(runs: dict[str, RunData]) -> None:
    cmp = compare_runs(runs["same"], runs["base"], seed=0, resamples=600)
    assert cmp.regressions == []
    assert not [m for m in cmp.metrics if m.label == "improved"]


def test_slower_build_regresses_latency_only(runs: dict[str, RunData]) -> None:
    labels = _labels(runs["slow"], runs["base"])
    assert labels["p50_ms"] == "regressed"
    assert labels["p95_ms"] == "regressed"
    assert labels["throughput_rps"] == "inconclusive"
    m = next(
        m
        for m in compare_runs(runs["slow"], runs["base"], resamples=600).metrics
        if m.route == "ner" and m.metric == "p50_ms"
    )
    assert m.change is not None
    assert m.ci_low is not None
    assert m.ci_high is not None
    assert m.ci_low < m.change < m.ci_high
    assert 0.45 < m.change < 0.75  # the 1.6x it was built with, within noise
    assert m.method.startswith("hdr per second")


def test_faster_build_improves(runs: dict[str, RunData]) -> None:
    labels = _labels(runs["fast"], runs["base"])
    assert labels["p50_ms"] == "improved"
    assert labels["p95_ms"] == "improved"


def test_lost_requests_regress_throughput_and_errors(runs: dict[str, RunData]) -> None:
    labels = _labels(runs["lossy"], runs["base"], route="all")
    assert labels["throughput_rps"] == "regressed"
    assert labels["error_ratio"] == "regressed"


def test_comparison_is_reproducible_with_its_seed(runs: dict[str, RunData]) -> None:
    a = compare_runs(runs["slow"], runs["base"], seed=11, resamples=300)
    b = compare_runs(runs["slow"], runs["base"], seed=11, resamples=300)
    c = compare_runs(runs["slow"], runs["base"], seed=12, resamples=300)
    assert a == b
    assert [m.ci_low for m in a.metrics] != [m.ci_low for m in c.metrics]


def _strip(run: RunData, *, summaries: bool = True) -> RunData:
    """The run as a writer without per-second (and optionally summary) histograms left it."""
    return dataclasses.replace(
        run,
        buckets=[dataclasses.replace(b, histogram=None) for b in run.buckets],
        summaries=[
            dataclasses.replace(s, histogram=None) if summaries else s for s in run.summaries
        ],
    )


def test_each_latency_source_detects_the_regression(runs: dict[str, RunData]) -> None:
    methods = {}
    for name, strip in (
        ("per-second", lambda r: r),
        ("summary", lambda r: _strip(r, summaries=False)),
        ("quantiles", _strip),
    ):
        cmp = compare_runs(strip(runs["slow"]), strip(runs["base"]), resamples=600)
        p50 = next(m for m in cmp.metrics if m.route == "ner" and m.metric == "p50_ms")
        assert p50.label == "regressed", (name, p50)
        methods[name] = p50.method
    assert methods["per-second"].startswith("hdr per second")
    assert methods["summary"].startswith("hdr (requests resampled as independent)")
    assert methods["quantiles"].startswith("median of per-second quantiles")


def test_block_bootstrap_is_wider_than_independent_requests(runs: dict[str, RunData]) -> None:
    """Seconds under a fault move together: resampling requests alone overstates certainty."""
    blocks = compare_runs(runs["same"], runs["base"], resamples=600)
    iid = compare_runs(
        _strip(runs["same"], summaries=False), _strip(runs["base"], summaries=False), resamples=600
    )

    def width(c: object, metric: str) -> float:
        m = next(x for x in c.metrics if x.route == "ner" and x.metric == metric)  # type: ignore[attr-defined]
        return float(m.ci_high - m.ci_low)

    assert width(blocks, "p95_ms") > width(iid, "p95_ms")


def test_too_little_data_is_inconclusive(runs: dict[str, RunData]) -> None:
    short = dataclasses.replace(runs["slow"], buckets=runs["slow"].buckets[:6], summaries=[])
    cmp = compare_runs(short, runs["base"], resamples=300)
    assert cmp.metrics
    assert {m.label for m in cmp.metrics} == {"inconclusive"}
    assert all(m.baseline is None for m in cmp.metrics)


def test_bad_confidence_is_refused(runs: dict[str, RunData]) -> None:
    with pytest.raises(ValueError, match="confidence"):
        compare_runs(runs["same"], runs["base"], confidence=1.5)


def test_baseline_file_compares_like_its_run(runs: dict[str, RunData], tmp_path: Path) -> None:
    path = save_baseline(runs["base"], tmp_path / "baselines" / "spot.json")
    from_file = load_comparable(path)
    assert from_file.run_id == runs["base"].run_id
    a = compare_runs(runs["slow"], runs["base"], seed=5, resamples=300)
    b = compare_runs(runs["slow"], from_file, seed=5, resamples=300)
    assert a.metrics == b.metrics


def test_bad_baseline_files_are_named(runs: dict[str, RunData], tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    with pytest.raises(RecordError, match=r"b.json: no such baseline file"):
        load_baseline(bad)
    bad.write_text("{")
    with pytest.raises(RecordError, match=r"b.json: not JSON"):
        load_baseline(bad)
    body = json.loads(save_baseline(runs["base"], tmp_path / "ok.json").read_text())
    body["buckets"][3]["sent"] = "many"
    bad.write_text(json.dumps(body))
    with pytest.raises(RecordError, match=r"b.json \[buckets.3\]: sent must be a number"):
        load_baseline(bad)
    del body["summaries"]
    bad.write_text(json.dumps(body))
    with pytest.raises(RecordError, match=r"b.json: missing 'summaries'"):
        load_baseline(bad)
    body["baseline_schema"] = 9
    bad.write_text(json.dumps(body))
    with pytest.raises(RecordError, match="baseline_schema 9"):
        load_baseline(bad)


def test_the_baseline_table_shows_the_load_tables_quantiles() -> None:
    """One quantile definition: a comparison's points are the load table's values."""
    from reports.model import load_run
    from reports.quantiles import route_quantiles

    real = load_run(Path(__file__).parent / "data" / "reports" / "real-echo-delay")
    table = {(m.route, m.metric): m for m in compare_runs(real, real).metrics}
    for route in ("all", "echo"):
        shown = route_quantiles(real, route)
        for metric in ("p50_ms", "p95_ms", "p99_ms"):
            row = table[(route, metric)]
            assert (row.baseline, row.current) == (shown[metric], shown[metric]), (route, metric)
    assert table[("echo", "p99_ms")].current == 45.599
