"""The HTML report in headless Chromium: no console errors, no requests leave the file, the
plots have size and drawn lines, and the screenshot shows them."""

import io
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from harness.binaries import find
from harness.errors import MissingBinary
from harness.ports import free_port
from reports import SyntheticOptions, compare_runs, load_run, render_html, write_synthetic_run
from reports.browser import PageCheck, check_page

try:
    find("chromium")
except MissingBinary as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"headless Chromium is needed: {exc}", allow_module_level=True)

P99_RGB = (0xB9, 0x1C, 0x1C)  # reports.html PALETTE[4], the p99 line


def _browser_children() -> list[psutil.Process]:
    kids = psutil.Process().children(recursive=True)
    out = []
    for p in kids:
        try:
            if "chrom" in p.name():
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture(scope="module")
def report_check(tmp_path_factory: pytest.TempPathFactory) -> tuple[PageCheck, Path]:
    root = tmp_path_factory.mktemp("browser")
    base = load_run(write_synthetic_run(root / "base", SyntheticOptions(seed=1)))
    cur = load_run(write_synthetic_run(root / "cur", SyntheticOptions(seed=2, latency_factor=1.3)))
    page = root / "report.html"
    page.write_text(render_html(cur, compare_runs(cur, base, resamples=300)))
    check = check_page(page)
    assert _browser_children() == []  # every browser process stopped
    return check, root


def test_page_loads_without_console_errors_or_requests(
    report_check: tuple[PageCheck, Path],
) -> None:
    check, _ = report_check
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.title.startswith("PASS")


def test_plots_render_with_size_and_lines(report_check: tuple[PageCheck, Path]) -> None:
    check, _ = report_check
    by_name = {p.name: p for p in check.plots}
    assert set(by_name) == {
        "latency-all",
        "latency-p99-by-route",
        "throughput",
        "errors",
        "replicas",
        "alerts",
    }
    for plot in check.plots:
        assert plot.width > 500, plot
        assert plot.height > 80, plot
        assert plot.bands == 2, plot  # both fault windows shaded
    for name in ("latency-all", "throughput", "replicas"):
        lengths = [s["length"] for s in by_name[name].series]
        assert lengths, name
        assert min(lengths) > 100, (name, lengths)
    assert {s["name"] for s in by_name["latency-all"].series} == {"p50", "p95", "p99"}
    assert by_name["alerts"].bars >= 5  # pending + firing + resolved marks


def test_screenshot_shows_the_plots(report_check: tuple[PageCheck, Path]) -> None:
    check, root = report_check
    (root / "report.png").write_bytes(check.screenshot_png)
    img = Image.open(io.BytesIO(check.screenshot_png)).convert("RGB")
    assert img.width >= 1000
    assert img.height > 2500  # the whole page, not one viewport
    pixels = np.asarray(img, dtype=np.int16)
    colours = np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0)
    assert len(colours) > 200  # not a blank or single-colour page
    plot = next(p for p in check.plots if p.name == "latency-all")
    crop = pixels[int(plot.y) : int(plot.y + plot.height), int(plot.x) : int(plot.x + plot.width)]
    near_p99 = int((np.abs(crop - np.array(P99_RGB)).sum(axis=2) < 60).sum())
    assert near_p99 > 100  # the p99 line is drawn inside the latency plot


def test_partial_record_renders_cleanly(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "crashed", SyntheticOptions(crash_at_s=40)))
    page = tmp_path / "partial.html"
    page.write_text(render_html(run))
    check = check_page(page)
    assert check.console_errors == []
    assert check.title.startswith("PARTIAL")
    assert {p.name for p in check.plots} >= {"latency-all", "throughput", "replicas"}


def test_the_check_catches_errors_and_outside_requests(tmp_path: Path) -> None:
    """The checker is not blind: a broken page is reported as broken."""
    port = free_port()  # nothing listens there: the request fails locally
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        f'<img src="http://127.0.0.1:{port}/missing.png">'
        "<script>console.error('bad thing'); throw new Error('boom');</script>"
        "</body></html>"
    )
    check = check_page(page)
    assert any("bad thing" in e for e in check.console_errors), check.console_errors
    assert any("boom" in e for e in check.console_errors), check.console_errors
    assert f"http://127.0.0.1:{port}/missing.png" in check.external_requests
    assert check.plots == []
    assert _browser_children() == []
