"""Inline SVG plots, drawn in Python: no JavaScript, no external files, readable offline.

Two shapes cover the report: a time-series chart (lines or steps, with shaded windows) and
a timeline of bars (alerts). Every chart is an ``<svg class="plot" data-plot=NAME>``; points
carry ``<title>`` tooltips so hovering shows values without scripts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Band", "Bar", "Series", "line_chart", "nice_ticks", "timeline_chart"]

_W, _H = 920, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 150, 28, 34


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    """(x, y); y None breaks the line (no data that second)."""
    color: str
    dash: str | None = None
    step: bool = False
    """Hold each value until the next point (replica counts)."""


@dataclass(frozen=True)
class Band:
    """A shaded x-range (a fault window)."""

    start: float
    end: float
    label: str
    color: str = "#f4a261"
    open: bool = False
    """The window never closed in the record: drawn hatched to the right edge."""


@dataclass(frozen=True)
class Bar:
    start: float
    end: float
    color: str
    tooltip: str
    marker: bool = False
    """A point event (drawn as a tick, not a bar)."""


@dataclass
class _Frame:
    x_max: float
    y_max: float
    width: int = _W
    height: int = _H
    y_min: float = 0.0
    left: int = _LEFT
    right: int = _RIGHT

    @property
    def pw(self) -> float:
        return self.width - self.left - self.right

    @property
    def ph(self) -> float:
        return self.height - _TOP - _BOTTOM

    def x(self, v: float) -> float:
        return self.left + (v / self.x_max if self.x_max else 0.0) * self.pw

    def y(self, v: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return _TOP + self.ph - (v - self.y_min) / span * self.ph


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1-2-5 steps)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _nice_max(hi: float) -> float:
    """The first round tick at or above ``hi``: the axis top, so no data is clipped."""
    ticks = nice_ticks(0.0, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else hi
    return max(math.ceil(hi / step - 1e-9) * step, step)


def _fmt(v: float) -> str:
    if v == int(v):
        return str(int(v))
    return f"{v:.3g}"


def _open(name: str, title: str, f: _Frame) -> list[str]:
    return [
        f'<svg class="plot" data-plot="{escape(name)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {f.width} {f.height}" width="{f.width}" height="{f.height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{f.width}" height="{f.height}" fill="#fff"/>',
        f'<text x="{f.left}" y="18" class="ptitle">{escape(title)}</text>',
    ]


def _axes(f: _Frame, y_label: str, y_ticks: bool = True) -> list[str]:
    out = []
    if y_ticks:
        for v in nice_ticks(f.y_min, f.y_max):
            if v > f.y_max:
                continue
            y = f.y(v)
            out.append(
                f'<line x1="{f.left}" x2="{f.left + f.pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                'class="grid"/>'
            )
            out.append(
                f'<text x="{f.left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                f"{_fmt(v)}</text>"
            )
    for v in nice_ticks(0, f.x_max, 8):
        if v > f.x_max:
            continue
        x = f.x(v)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP + f.ph:.1f}" y2="{_TOP + f.ph + 4:.1f}" '
            'class="axis"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{_TOP + f.ph + 16:.1f}" text-anchor="middle" class="tick">'
            f"{_fmt(v)}</text>"
        )
    out.append(
        f'<rect x="{f.left}" y="{_TOP}" width="{f.pw:.1f}" height="{f.ph:.1f}" class="frame"/>'
    )
    out.append(
        f'<text x="{f.left + f.pw:.1f}" y="{f.height - 4}" text-anchor="end" class="tick">'
        "seconds from run start</text>"
    )
    out.append(
        f'<text x="14" y="{_TOP + f.ph / 2:.1f}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + f.ph / 2:.1f})">{escape(y_label)}</text>'
    )
    return out


def _bands(f: _Frame, bands: Sequence[Band]) -> list[str]:
    out = []
    for b in bands:
        x0, x1 = f.x(max(0.0, b.start)), f.x(min(f.x_max, max(b.end, b.start)))
        fill = "url(#hatch)" if b.open else b.color
        out.append(
            f'<rect class="band" x="{x0:.1f}" y="{_TOP}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{f.ph:.1f}" fill="{fill}" fill-opacity="0.28">'
            f"<title>{escape(b.label)}: {_fmt(b.start)}-{_fmt(b.end)} s"
            f"{' (never ended)' if b.open else ''}</title></rect>"
        )
        out.append(
            f'<text x="{x0 + 3:.1f}" y="{_TOP + 11}" class="bandlabel">{escape(b.label)}</text>'
        )
    return out


_DEFS = (
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="3" height="6" fill="#d62828"/></pattern></defs>'
)


def _path(f: _Frame, s: Series) -> list[str]:
    parts: list[str] = []
    pen_down = False
    prev_y: float | None = None
    for x, y in s.points:
        if y is None:
            pen_down = False
            prev_y = None
            continue
        px, py = f.x(x), f.y(y)
        if not pen_down:
            parts.append(f"M{px:.1f},{py:.1f}")
            pen_down = True
        elif s.step and prev_y is not None:
            parts.append(f"H{px:.1f}V{py:.1f}")
        else:
            parts.append(f"L{px:.1f},{py:.1f}")
        prev_y = py
    if s.step and pen_down:
        parts.append(f"H{f.x(f.x_max):.1f}")
    if not parts:
        return []
    dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
    out = [
        f'<path class="series" data-series="{escape(s.name)}" d="{"".join(parts)}" '
        f'fill="none" stroke="{s.color}" stroke-width="1.8"{dash}/>'
    ]
    # Invisible hover targets with the value (sparse for long series).
    pts = [(x, y) for x, y in s.points if y is not None]
    stride = max(1, len(pts) // 120)
    for x, y in pts[::stride]:
        out.append(
            f'<circle cx="{f.x(x):.1f}" cy="{f.y(y):.1f}" r="3" fill="{s.color}" '
            f'fill-opacity="0"><title>{escape(s.name)} @ {_fmt(x)} s: {_fmt(y)}</title></circle>'
        )
    return out


def _legend(f: _Frame, items: Sequence[tuple[str, str, str | None]]) -> list[str]:
    out = []
    x = f.left + f.pw + 14
    for i, (name, color, dash) in enumerate(items):
        y = _TOP + 8 + i * 17
        d = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x}" x2="{x + 18}" y1="{y}" y2="{y}" stroke="{color}" '
            f'stroke-width="2.5"{d}/>'
        )
        out.append(f'<text x="{x + 24}" y="{y + 4}" class="legend">{escape(name)}</text>')
    return out


def line_chart(
    name: str,
    title: str,
    series: Sequence[Series],
    *,
    x_max: float,
    y_label: str,
    bands: Sequence[Band] = (),
    y_max: float | None = None,
) -> str:
    """A time-series chart; with no data it still renders, saying so."""
    ys = [y for s in series for _, y in s.points if y is not None]
    top = y_max if y_max is not None else (max(ys) if ys else 1.0)
    f = _Frame(x_max=max(x_max, 1.0), y_max=_nice_max(top * 1.05 or 1.0))
    out = _open(name, title, f)
    out.append(_DEFS)
    out += _bands(f, bands)
    out += _axes(f, y_label)
    for s in series:
        out += _path(f, s)
    if not ys:
        out.append(
            f'<text x="{f.left + f.pw / 2:.1f}" y="{_TOP + f.ph / 2:.1f}" text-anchor="middle" '
            'class="nodata">no data recorded</text>'
        )
    out += _legend(f, [(s.name, s.color, s.dash) for s in series])
    out.append("</svg>")
    return "\n".join(out)


def timeline_chart(
    name: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[Bar]]],
    *,
    x_max: float,
    bands: Sequence[Band] = (),
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """One row per label, bars for spans (alert pending / firing), ticks for point events."""
    row_h = 22
    height = _TOP + _BOTTOM + max(1, len(rows)) * row_h + 8
    f = _Frame(x_max=max(x_max, 1.0), y_max=1.0, height=height, left=250, right=20)
    out = _open(name, title, f)
    out.append(_DEFS)
    out += _bands(f, bands)
    out += _axes(f, "", y_ticks=False)
    for i, (label, bars) in enumerate(rows):
        y = _TOP + 6 + i * row_h
        short = label if len(label) <= 40 else label[:38] + "…"
        out.append(
            f'<text x="6" y="{y + 12}" class="legend">{escape(short)}<title>{escape(label)}'
            "</title></text>"
        )
        for b in bars:
            x0 = f.x(max(0.0, b.start))
            if b.marker:
                out.append(
                    f'<rect class="bar" x="{x0 - 1.5:.1f}" y="{y}" width="3" height="16" '
                    f'fill="{b.color}"><title>{escape(b.tooltip)}</title></rect>'
                )
                continue
            x1 = f.x(min(f.x_max, b.end))
            out.append(
                f'<rect class="bar" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" '
                f'height="16" rx="3" fill="{b.color}"><title>{escape(b.tooltip)}</title></rect>'
            )
    if not rows:
        out.append(
            f'<text x="{f.left + f.pw / 2:.1f}" y="{_TOP + 18}" text-anchor="middle" '
            'class="nodata">none recorded</text>'
        )
    for i, (text, color) in enumerate(legend):
        x = f.left + i * 110
        out.append(
            f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{height - 5}" class="legend">{escape(text)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
