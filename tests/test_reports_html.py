"""The HTML report: self-contained, every section present, hostile text escaped."""

import re
from pathlib import Path

import pytest

from harness.record import RunRecord
from reports import SyntheticOptions, compare_runs, load_run, render_html, write_synthetic_run


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("html")
    base = load_run(write_synthetic_run(root / "base", SyntheticOptions(seed=1)))
    cur = load_run(write_synthetic_run(root / "cur", SyntheticOptions(seed=2, latency_factor=1.3)))
    return render_html(cur, compare_runs(cur, base, resamples=300))


def test_page_is_self_contained(page: str) -> None:
    lowered = page.lower()
    for needle in ("<script", "<link", "<iframe", "<img", "@import", "src=", "url(http"):
        assert needle not in lowered, needle
    # The only absolute URL is the SVG namespace, which is a name, not a fetch.
    urls = set(re.findall(r"https?://[^\"'\s)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}


def test_page_has_every_section(page: str) -> None:
    for title in (
        "Gates",
        "Against baseline base",
        "Load",
        "Replicas",
        "Alerts",
        "Faults",
        "Recovery, cold start, RPO and RTO",
        "Scenario and environment",
    ):
        assert f"<h2>{title}</h2>" in page
    plots = re.findall(r'data-plot="([^"]+)"', page)
    assert plots == [
        "latency-all",
        "latency-p99-by-route",
        "throughput",
        "errors",
        "replicas",
        "alerts",
    ]
    assert page.count('<tr data-verdict="pass">') == 6
    assert page.count('class="band"') == 2 * len(plots)  # two fault windows on every plot
    for name in ("cold_start_s", "recovery_s", "rpo_s", "rto_s"):
        assert f'data-measurement="{name}"' in page
    assert "SYNTHETIC" in page
    assert "regressed" in page


def test_empty_run_renders_with_no_data(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    spec = {"load": {"shape": "open-loop", "rate": 5, "duration": "10s"}}
    rec.emit("run_start", scenario="<script>alert(1)</script>", platform="local", spec=spec)
    rec.emit("fault_start", fault_id="f9", fault="kill", target={"service": "ner"})
    rec.close("inconclusive")
    html = render_html(load_run(tmp_path / "r"))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "no data recorded" in html  # the scenario asked for load; none was recorded
    assert "No gate verdicts were recorded" in html
    assert "No load summary was recorded" in html
    # Nothing was measured, judged or received there: no empty sections or boxes.
    for title in ("Replicas", "Alerts", "Recovery, cold start, RPO and RTO"):
        assert f"<h2>{title}</h2>" not in html
    assert "not measured in this run" not in html
    # The fault never ended: a warning and a hatched window that reaches the end.
    assert "Fault f9 (kill) has no end and no rollback" in html
    assert 'fill="url(#hatch)"' in html
    assert '<div class="v">INCONCLUSIVE</div>' in html


def test_routes_without_an_all_route_are_summed(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local")
    for second in range(3):
        for route in ("a", "b"):
            rec.emit(
                "load_bucket",
                route=route,
                second=second,
                sent=10,
                completed=9,
                errors={"http_500": 1},
                p50_ms=1.0,
                p95_ms=2.0,
                p99_ms=3.0,
            )
    rec.close("pass")
    html = render_html(load_run(tmp_path / "r"))
    assert 'data-plot="latency-a"' in html
    assert 'data-plot="latency-b"' in html
    assert "sent @ 2.5 s: 20" in html  # both routes' requests in the throughput line
    assert "http_500 @ 0.5 s: 2" in html


def test_axis_top_is_never_below_the_data() -> None:
    from reports.svg import Series, line_chart, nice_ticks

    assert nice_ticks(0, 47) == [0, 10, 20, 30, 40]
    svg = line_chart(
        "t", "t", [Series("s", [(0, 1.0), (1, 63.0), (2, 47.0)], "#000")], x_max=2, y_label=""
    )
    path = re.search(r'<path class="series"[^>]* d="([^"]+)"', svg)
    assert path is not None
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", path.group(1))]
    frame = re.search(r'class="frame"', svg)
    assert frame is not None
    top = float(re.search(r'<rect x="\d+" y="(\d+)"[^>]*class="frame"', svg).group(1))  # type: ignore[union-attr]
    assert min(ys) >= top  # the 63 peak is inside the frame, not clipped above it
    assert ">80<" in svg  # the axis was extended to the next round tick


def test_polled_measurements_are_one_row_and_a_chart(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local", source="scenarios/s.yaml")
    for i in range(5):
        rec.emit("measurement", name="pending", value=float(i), unit="requests", query="q")
    rec.emit("gate", gate="g", verdict="perhaps")
    rec.close("pass")
    html = render_html(load_run(tmp_path / "r"))
    assert html.count("<tr><td>pending</td>") == 1
    assert "5 values, 0 to 4" in html
    assert 'data-plot="measurement-pending"' in html
    assert "scenarios/s.yaml" in html  # run_start's other fields are shown
    assert "verdict &#x27;perhaps&#x27; is not pass/fail/inconclusive" in html


def test_failed_rollback_is_called_out(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local")
    rec.emit("fault_start", fault_id="f1", fault="outage", target="redis")
    rec.emit("fault_end", fault_id="f1", ok=True)
    rec.emit("fault_rollback", fault_id="f1", ok=False, error="redis did not come back")
    rec.close("fail")
    html = render_html(load_run(tmp_path / "r"))
    assert "Fault f1 (outage) reported a problem: redis did not come back" in html
    assert "FAILED: redis did not come back" in html
    assert '<div class="v">FAIL</div>' in html


def test_reasons_and_generator_lag_are_shown(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local")
    rec.emit("load_bucket", second=0, sent=5, completed=5, errors={}, p50_ms=1.0, lag_p99_ms=0.4)
    rec.close("fail", reasons=["gate latency: fail (expected p99 < 5, observed 9)"])
    run = load_run(tmp_path / "r")
    html = render_html(run)
    assert "<li>gate latency: fail (expected p99 &lt; 5, observed 9)</li>" in html
    assert 'data-series="send lag p99"' in html
    from reports import render_markdown

    assert "- gate latency: fail (expected p99 < 5, observed 9)" in render_markdown(run)


def test_sections_only_for_what_was_measured_or_judged(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local", spec={"faults": []})
    rec.emit(
        "gate",
        gate="measurement[rto_s]",
        gate_kind="measurement",
        verdict="inconclusive",
        expected={"max": 60},
        observed={},
        evidence={"why": "no data"},
    )
    rec.emit(
        "gate",
        gate="no_unexpected_alerts",
        gate_kind="no_unexpected_alerts",
        verdict="pass",
        expected={"allow": []},
        observed={"unexpected": []},
        evidence={},
    )
    rec.close("inconclusive")
    html = render_html(load_run(tmp_path / "r"))
    # Judged: the alerts section (none received) and the one gated measurement, missing.
    assert "<h2>Alerts</h2>" in html
    assert "No alerts were received." in html
    assert 'data-measurement="rto_s"' in html
    assert "not measured in this run" in html
    for name in ("cold_start_s", "recovery_s", "rpo_s"):
        assert f'data-measurement="{name}"' not in html
    # Neither asked for nor recorded: no load, replica or fault sections.
    for title in ("Load", "Load summary by route", "Replicas", "Faults"):
        assert f"<h2>{title}</h2>" not in html
