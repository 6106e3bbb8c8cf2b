"""One self-contained HTML page per run: inline CSS and SVG, no scripts, no external files.

Sections: verdict banner, gates with evidence, baseline comparison, latency / throughput /
errors over time with fault windows shaded, replicas per service, alert timeline,
faults, cold-start / recovery / RPO / RTO, load summaries, scenario and environment.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from html import escape
from typing import Any

import yaml

from reports.compare import Comparison
from reports.model import LoadBucket, Measurement, RunData
from reports.svg import Band, Bar, Series, line_chart, timeline_chart

__all__ = ["render_html"]

_NONE = "\u2013"  # an en dash: no value

PALETTE = ["#1d4ed8", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207"]
VERDICT_COLORS = {
    "pass": "#15803d",
    "fail": "#b91c1c",
    "inconclusive": "#a16207",
    "error": "#7f1d1d",
    "partial": "#6b21a8",
}
LABEL_COLORS = {"improved": "#15803d", "regressed": "#b91c1c", "inconclusive": "#a16207"}
KEY_MEASUREMENTS = [
    ("cold_start_s", "Cold start"),
    ("recovery_s", "Recovery"),
    ("rpo_s", "RPO"),
    ("rto_s", "RTO"),
]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;
background:#f3f4f6}
main{max-width:1000px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d1d5db;
padding-bottom:4px}
.banner{color:#fff;border-radius:8px;padding:14px 18px;margin:10px 0}
.banner .v{font-size:28px;font-weight:700;letter-spacing:.04em}
.banner .sub{opacity:.93}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-size:12px;font-weight:700;
margin-left:6px;vertical-align:middle}
.badge.synthetic{background:#fde68a;color:#78350f}.badge.partial{background:#e9d5ff;color:#581c87}
.warn{background:#fef2f2;border:1px solid #fecaca;color:#7f1d1d;padding:8px 12px;border-radius:6px;
margin:8px 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-weight:700;text-transform:uppercase}
pre{background:#fff;border:1px solid #e5e7eb;padding:8px;overflow:auto;font-size:12px;margin:0;
white-space:pre-wrap}
.cards{display:flex;gap:10px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:150px}
.card .k{font-size:12px;color:#6b7280}.card .n{font-size:22px;font-weight:700}
.card .n.missing{color:#9ca3af;font-size:15px;font-weight:400}
svg.plot{display:block;margin:6px 0;max-width:100%;height:auto;background:#fff;
border:1px solid #e5e7eb}
svg .ptitle{font-size:13px;font-weight:600;fill:#111827}
svg .tick,svg .legend{font-size:11px;fill:#374151}
svg .bandlabel{font-size:10px;fill:#9a3412}
svg .nodata{font-size:13px;fill:#9ca3af}
svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .axis{stroke:#6b7280}svg .frame{fill:none;stroke:#9ca3af}
footer{color:#6b7280;font-size:12px;margin-top:30px}
"""


def render_html(run: RunData, comparison: Comparison | None = None) -> str:
    """The whole page as one string."""
    bands = _fault_bands(run)
    body = [
        _header(run),
        _banner(run),
        _warnings(run),
        _section("Gates", _gates(run)),
    ]
    if comparison is not None:
        body.append(_section(f"Against baseline {comparison.baseline_run}", _compare(comparison)))
    # A section appears only for what the run measured or the scenario asked about (a gate,
    # a fault, a load): a scenario without faults gets no empty "Faults" section, but one
    # whose alert gate saw no alert says so.
    asked = _asked(run)
    if run.buckets or run.summaries or "load" in asked:
        body.append(_section("Load", _load_plots(run, bands)))
    if run.replicas or run.scales or run.readiness:
        body.append(_section("Replicas", _replica_plot(run, bands) + _scale_table(run)))
    if run.alerts or "alerts" in asked:
        body.append(_section("Alerts", _alert_plot(run, bands)))
    if run.faults or "faults" in asked:
        body.append(_section("Faults", _faults(run)))
    if run.measurements or _gated_measurements(run):
        body.append(_section("Recovery, cold start, RPO and RTO", _measurements(run)))
    if run.summaries or "load" in asked:
        body.append(_section("Load summary by route", _load_summary(run)))
    body.append(_section("Scenario and environment", _scenario(run)))
    if run.notes:
        body.append(_section("Notes", _notes(run)))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    footer = (
        f"<footer>msai report, generated {now} from <code>{escape(str(run.directory))}</code>"
        f" ({run.events} events"
        + (
            f", record schema {run.summary.get('schema_version')}"
            if run.summary is not None
            else ""
        )
        + ")</footer>"
    )
    title = f"{run.verdict.upper()} · {run.scenario} · msai report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}{footer}</main></body></html>\n"
    )


def _asked(run: RunData) -> set[str]:
    """What the scenario asked about: "load", "faults" (its spec has them), "alerts" (an
    alert gate, or no_unexpected_alerts, judged the run)."""
    out = set()
    spec = run.spec if isinstance(run.spec, dict) else {}
    if spec.get("load"):
        out.add("load")
    if spec.get("faults"):
        out.add("faults")
    if any(g.gate.startswith("alert[") or g.gate == "no_unexpected_alerts" for g in run.gates):
        out.add("alerts")
    return out


def _gated_measurements(run: RunData) -> set[str]:
    """Measurement names a ``measurement`` gate judged (shown even when never measured)."""
    return {
        g.gate.removeprefix("measurement[").removesuffix("]")
        for g in run.gates
        if g.gate.startswith("measurement[")
    }


def _section(title: str, inner: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{inner}</section>"


def _ts(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(v: float | None, digits: int = 3) -> str:
    if v is None:
        return _NONE
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"


def _val(v: Any) -> str:
    """A gate's expected / observed / evidence value, readable."""
    if v is None:
        return '<span style="color:#9ca3af">\u2013</span>'
    if isinstance(v, str):
        return escape(v)
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return escape(_num(float(v), 4))
    if isinstance(v, dict) and v:
        # One line per key; nested values stay compact JSON.
        return "<br>".join(
            f"<b>{escape(str(k))}</b>: "
            + (escape(x) if isinstance(x, str) else escape(json.dumps(x, default=str)))
            for k, x in v.items()
        )
    return f"<code>{escape(json.dumps(v, default=str))}</code>"


def _header(run: RunData) -> str:
    badges = ""
    if run.synthetic:
        badges += '<span class="badge synthetic">SYNTHETIC</span>'
    if run.partial:
        badges += '<span class="badge partial">PARTIAL</span>'
    return f"<h1>{escape(run.scenario)}{badges}</h1>"


def _banner(run: RunData) -> str:
    counts = {v: sum(1 for g in run.gates if g.verdict == v) for v in ("pass", "fail")}
    counts["inconclusive"] = sum(1 for g in run.gates if g.verdict == "inconclusive")
    gates = ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no gates recorded"
    if run.partial:
        head = "PARTIAL"
        why = f"the run did not finish: no summary.json; events up to +{run.duration_s:.1f} s" + (
            f" (last error: {escape(str(run.error))})" if run.error else ""
        )
    else:
        head = run.verdict.upper()
        why = f"error: {escape(str(run.error))}" if run.error else ""
    reasons = (run.summary or {}).get("reasons")
    if isinstance(reasons, list) and reasons:
        items = "".join(f"<li>{escape(str(r))}</li>" for r in reasons[:20])
        why += f"<ul class=reasons>{items}</ul>"
    color = VERDICT_COLORS.get(run.verdict, "#374151")
    return (
        f'<div class="banner" id="verdict" data-verdict="{escape(run.verdict)}" '
        f'style="background:{color}"><div class="v">{head}</div>'
        f'<div class="sub">run <b>{escape(run.run_id)}</b> on <b>{escape(run.platform)}</b>'
        f" · started {_ts(run.started)} · {run.duration_s:.1f} s · gates: {gates}</div>"
        + (f'<div class="sub">{why}</div>' if why else "")
        + "</div>"
    )


def _warnings(run: RunData) -> str:
    out = [escape(w) for w in run.warnings]
    if run.synthetic:
        out.append(
            "This record is SYNTHETIC (generated by reports.synthetic for tests and demos):"
            " its figures are not measurements."
        )
    for f in run.faults:
        if f.open:
            out.append(
                f"Fault {escape(f.fault_id)} ({escape(f.fault)}) has no end and no rollback in"
                " the record: check that nothing stays injected (the next msai command rolls"
                " back what its ledger holds)."
            )
        elif f.rolled_back is False or f.ok is False:
            out.append(
                f"Fault {escape(f.fault_id)} ({escape(f.fault)}) reported a problem: "
                f"{escape(str(f.rollback_error or f.error or 'not ok'))}"
            )
    return "".join(f'<div class="warn">{m}</div>' for m in out)


def _gates(run: RunData) -> str:
    if not run.gates:
        return "<p>No gate verdicts were recorded.</p>"
    rows = []
    for g in run.gates:
        color = VERDICT_COLORS.get(g.verdict, "#374151")
        rows.append(
            f'<tr data-verdict="{escape(g.verdict)}"><td>{escape(g.gate)}</td>'
            f'<td class="verdict" style="color:{color}">{escape(g.verdict)}</td>'
            f"<td>{_val(g.expected)}</td><td>{_val(g.observed)}</td><td>{_val(g.evidence)}</td>"
            f'<td class="num">{g.t:.1f}</td></tr>'
        )
    return (
        '<table id="gates"><tr><th>gate</th><th>verdict</th><th>expected</th><th>observed</th>'
        "<th>evidence</th><th>at (s)</th></tr>" + "".join(rows) + "</table>"
    )


def _compare(c: Comparison) -> str:
    rows = []
    for m in c.metrics:
        color = LABEL_COLORS.get(m.label, "#374151")
        ci = (
            f"[{m.ci_low:+.1%}, {m.ci_high:+.1%}]"
            if m.ci_low is not None and m.ci_high is not None
            else _NONE
        )
        change = f"{m.change:+.1%}" if m.change is not None else _NONE
        rows.append(
            f"<tr><td>{escape(m.route)}</td><td>{escape(m.metric)}</td>"
            f'<td class="num">{_num(m.baseline, 4)}</td><td class="num">{_num(m.current, 4)}</td>'
            f'<td class="num">{change}</td><td class="num">{ci}</td>'
            f'<td class="verdict" style="color:{color}">{escape(m.label)}</td>'
            f"<td>{escape(m.method)}; {escape(m.detail)}</td></tr>"
        )
    return (
        f"<p>{c.confidence:.0%} bootstrap intervals of the relative change ({c.resamples} "
        f"resamples, seed {c.seed}); a change counts beyond ±{c.threshold:.0%}.</p>"
        '<table id="comparison"><tr><th>route</th><th>metric</th><th>baseline</th>'
        "<th>current</th><th>change</th><th>interval</th><th>label</th><th>how</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _fault_bands(run: RunData) -> list[Band]:
    return [
        Band(
            f.start,
            f.end if f.end is not None else run.duration_s,
            f"{f.fault_id} {f.fault}",
            open=f.open,
        )
        for f in run.faults
    ]


def _aggregate(run: RunData) -> list[tuple[float, int, int, dict[str, int]]]:
    """Per second over all routes: (t, sent, completed, errors)."""
    if "all" in run.routes:
        return [(b.t, b.sent, b.completed, b.errors) for b in run.route_buckets("all")]
    by_second: dict[int, list[LoadBucket]] = {}
    for b in run.buckets:
        by_second.setdefault(b.second, []).append(b)
    out = []
    for second in sorted(by_second):
        bs = by_second[second]
        errors: dict[str, int] = {}
        for b in bs:
            for k, v in b.errors.items():
                errors[k] = errors.get(k, 0) + v
        out.append(
            (
                min(b.t for b in bs),
                sum(b.sent for b in bs),
                sum(b.completed for b in bs),
                errors,
            )
        )
    return out


def _mid(t: float) -> float:
    return t + 0.5  # plot a bucket at the middle of its second


def _load_plots(run: RunData, bands: Sequence[Band]) -> str:
    x_max = run.duration_s
    charts = []
    routes = run.routes
    main_routes = ["all"] if "all" in routes else routes
    for route in main_routes[:4]:
        bs = run.route_buckets(route)
        series = [
            Series(name, [(_mid(b.t), getattr(b, attr)) for b in bs], color)
            for name, attr, color in (
                ("p50", "p50_ms", PALETTE[0]),
                ("p95", "p95_ms", PALETTE[1]),
                ("p99", "p99_ms", PALETTE[4]),
            )
        ]
        if any(b.lag_p99_ms is not None for b in bs):
            series.append(
                Series(
                    "send lag p99",
                    [(_mid(b.t), b.lag_p99_ms) for b in bs],
                    "#6b7280",
                    dash="2 3",
                )
            )
        label = "all routes" if route == "all" else f"route {route}"
        charts.append(
            line_chart(
                f"latency-{route}",
                f"Latency, {label} (ms, from intended send time)",
                series,
                x_max=x_max,
                y_label="ms",
                bands=bands,
            )
        )
    if not routes:
        charts.append(
            line_chart("latency", "Latency (ms)", [], x_max=x_max, y_label="ms", bands=bands)
        )
    per_route = [r for r in routes if r != "all"]
    if len(per_route) > 1:
        charts.append(
            line_chart(
                "latency-p99-by-route",
                "p99 latency by route (ms)",
                [
                    Series(r, [(_mid(b.t), b.p99_ms) for b in run.route_buckets(r)], c)
                    for r, c in zip(per_route, PALETTE, strict=False)
                ],
                x_max=x_max,
                y_label="ms",
                bands=bands,
            )
        )
    agg = _aggregate(run)
    charts.append(
        line_chart(
            "throughput",
            "Throughput (requests per second)",
            [
                Series("sent", [(_mid(t), float(s)) for t, s, _, _ in agg], PALETTE[0], "5 3"),
                Series("completed", [(_mid(t), float(c)) for t, _, c, _ in agg], PALETTE[2]),
            ],
            x_max=x_max,
            y_label="req/s",
            bands=bands,
        )
    )
    kinds = sorted({k for _, _, _, e in agg for k in e})
    err_series = [
        Series(k, [(_mid(t), float(e.get(k, 0))) for t, _, _, e in agg], c)
        for k, c in zip(kinds, PALETTE[4:] + PALETTE[:4], strict=False)
    ]
    if not kinds and agg:
        err_series = [Series("errors", [(_mid(t), 0.0) for t, _, _, _ in agg], PALETTE[4])]
    charts.append(
        line_chart(
            "errors",
            "Errors per second by kind",
            err_series,
            x_max=x_max,
            y_label="errors/s",
            bands=bands,
        )
    )
    return "".join(charts)


def _replica_plot(run: RunData, bands: Sequence[Band]) -> str:
    series = []
    for service, color in zip(run.services(), PALETTE * 3, strict=False):
        pts = sorted((p for p in run.replicas if p.service == service), key=lambda p: p.t)
        series.append(
            Series(f"{service} ready", [(p.t, float(p.ready)) for p in pts], color, step=True)
        )
        series.append(
            Series(
                f"{service} desired",
                [(p.t, float(p.desired)) for p in pts],
                color,
                dash="4 3",
                step=True,
            )
        )
    top = max((max(p.desired, p.ready) for p in run.replicas), default=1)
    return line_chart(
        "replicas",
        "Replicas per service (solid: ready, dashed: desired)",
        series,
        x_max=run.duration_s,
        y_label="replicas",
        bands=bands,
        y_max=top + 1,
    )


def _scale_table(run: RunData) -> str:
    if not run.scales and not run.readiness:
        return ""
    rows = [
        (
            s.t,
            f'<tr><td class="num">{s.t:.1f}</td><td>{escape(s.service)}</td><td>scale</td>'
            f"<td>{s.from_replicas} → {s.to_replicas} ({escape(s.reason)})</td></tr>",
        )
        for s in run.scales
    ]
    rows += [
        (
            t,
            f'<tr><td class="num">{t:.1f}</td><td>{escape(svc)}</td><td>readiness</td>'
            f"<td>{escape(rep)} {'ready' if ok else 'not ready'}</td></tr>",
        )
        for t, svc, rep, ok in run.readiness
    ]
    rows.sort(key=lambda r: r[0])
    return (
        f"<details><summary>{len(run.scales)} scaling decisions, {len(run.readiness)} "
        "readiness changes</summary><table><tr><th>at (s)</th><th>service</th><th>what</th>"
        "<th>detail</th></tr>" + "".join(r for _, r in rows) + "</table></details>"
    )


def _alert_plot(run: RunData, bands: Sequence[Band]) -> str:
    end = run.duration_s
    rows: list[tuple[str, list[Bar]]] = []
    for a in run.alerts:
        label = a.name + (
            " {" + ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())) + "}"
            if a.labels
            else ""
        )
        if a.source:
            label += f" [{a.source}]"
        bars: list[Bar] = []
        fire_end = a.resolved if a.resolved is not None else end
        if a.pending is not None:
            p_end = a.firing if a.firing is not None else fire_end
            bars.append(
                Bar(a.pending, p_end, "#f59e0b", f"{a.name} pending from {a.pending:.1f} s")
            )
        if a.firing is not None:
            still = "" if a.resolved is not None else " (still firing at the end)"
            bars.append(
                Bar(
                    a.firing,
                    fire_end,
                    "#dc2626",
                    f"{a.name} firing {a.firing:.1f}-{fire_end:.1f} s{still}",
                )
            )
        if a.resolved is not None:
            bars.append(
                Bar(
                    a.resolved,
                    a.resolved,
                    "#16a34a",
                    f"{a.name} resolved at {a.resolved:.1f} s",
                    marker=True,
                )
            )
        rows.append((label, bars))
    plot = timeline_chart(
        "alerts",
        "Alerts: pending, firing, resolved (Prometheus rule state, Alertmanager delivery)",
        rows,
        x_max=end,
        bands=bands,
        legend=[("pending", "#f59e0b"), ("firing", "#dc2626"), ("resolved", "#16a34a")],
    )
    if not run.alerts:
        return plot + "<p>No alerts were received.</p>"
    table = "".join(
        f"<tr><td>{escape(a.name)}</td><td>{escape(json.dumps(a.labels))}</td>"
        f"<td>{escape(a.source)}</td>"
        f'<td class="num">{_num(a.pending, 4)}</td><td class="num">{_num(a.firing, 4)}</td>'
        f'<td class="num">{_num(a.resolved, 4)}</td></tr>'
        for a in run.alerts
    )
    return (
        plot + '<table id="alerts"><tr><th>alert</th><th>labels</th><th>source</th>'
        "<th>pending (s)</th>"
        "<th>firing (s)</th><th>resolved (s)</th></tr>" + table + "</table>"
    )


def _faults(run: RunData) -> str:
    if not run.faults:
        return "<p>No faults were injected.</p>"
    rows = []
    for f in run.faults:
        end = f"{f.end:.1f}" if f.end is not None else "never"
        dur = f"{f.end - f.start:.1f}" if f.end is not None else _NONE
        ok = {True: "ok", False: f"failed: {f.error or ''}", None: _NONE}[f.ok]
        rb = {True: "rolled back", False: f"FAILED: {f.rollback_error or ''}", None: _NONE}[
            f.rolled_back
        ]
        proof = f"{f.proof}: {f.proof_detail}" if f.proof else "not proved"
        rows.append(
            f"<tr><td>{escape(f.fault_id)}</td><td>{escape(f.fault)}</td>"
            f"<td>{_val(f.target)}</td><td>{_val(f.params or None)}</td>"
            f'<td class="num">{f.start:.1f}</td><td class="num">{end}</td>'
            f'<td class="num">{dur}</td><td>{escape(ok)}</td><td>{escape(rb)}</td>'
            f"<td>{escape(proof)}</td></tr>"
        )
    return (
        '<table id="faults"><tr><th>id</th><th>fault</th><th>target</th><th>params</th>'
        "<th>start (s)</th><th>end (s)</th><th>duration (s)</th><th>end</th><th>rollback</th>"
        "<th>proof (effect observed)</th></tr>" + "".join(rows) + "</table>"
    )


def _measurements(run: RunData) -> str:
    cards = []
    gated = _gated_measurements(run)
    for name, title in KEY_MEASUREMENTS:
        m = run.measurement(name)
        if m is None and name not in gated:
            continue  # the scenario neither measured nor judged it
        if m is None:
            cards.append(
                f'<div class="card" data-measurement="{name}"><div class="k">{title} '
                f'({name})</div><div class="n missing">not measured in this run</div></div>'
            )
        else:
            cards.append(
                f'<div class="card" data-measurement="{name}"><div class="k">{title} ({name})'
                f'</div><div class="n">{_num(m.value, 4)} {escape(m.unit)}</div></div>'
            )
    groups: dict[str, list[Measurement]] = {}
    for m in run.measurements:
        groups.setdefault(m.name, []).append(m)
    rows = []
    for name, ms in groups.items():
        last, values = ms[-1], [m.value for m in ms]
        spread = (
            f"{len(ms)} values, {_num(min(values), 4)} to {_num(max(values), 4)}"
            if len(ms) > 1
            else ""
        )
        rows.append(
            f"<tr><td>{escape(name)}</td>"
            f'<td class="num">{_num(last.value, 5)}</td><td>{escape(last.unit)}</td>'
            f'<td class="num">{last.t:.1f}</td><td>{escape(spread)}</td>'
            f"<td>{_val(last.extra or None)}</td></tr>"
        )
    table = (
        '<table id="measurements"><tr><th>name</th><th>value (last)</th><th>unit</th>'
        "<th>at (s)</th><th>over the run</th><th>context</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No measurements were recorded.</p>"
    )
    series = [(name, ms) for name, ms in groups.items() if len(ms) >= 3][
        :6
    ]  # values polled during the run (Prometheus queries) as time series
    for name, ms in series:
        table += line_chart(
            f"measurement-{name}",
            f"{name} ({ms[-1].unit or 'value'}) over the run",
            [Series(name, [(m.t, m.value) for m in ms], PALETTE[3])],
            x_max=run.duration_s,
            y_label=ms[-1].unit,
            bands=_fault_bands(run),
        )
    return f'<div class="cards">{"".join(cards)}</div><p></p>{table}'


def _load_summary(run: RunData) -> str:
    if not run.summaries:
        return "<p>No load summary was recorded" + (
            " (the run ended before load finished).</p>" if run.partial else ".</p>"
        )
    rows = []
    for s in run.summaries:
        ratio = s.error_count / s.sent if s.sent else None
        rows.append(
            f"<tr><td>{escape(s.route)}</td><td class='num'>{s.sent}</td>"
            f"<td class='num'>{s.completed}</td><td class='num'>{s.error_count}</td>"
            f"<td class='num'>{_NONE if ratio is None else f'{ratio:.3%}'}</td>"
            f"<td class='num'>{_num(s.rate_rps, 4)}</td>"
            f"<td class='num'>{_num(s.throughput_rps, 4)}</td>"
            f"<td class='num'>{_num(s.p50_ms, 4)}</td>"
            f"<td class='num'>{_num(s.p95_ms, 4)}</td><td class='num'>{_num(s.p99_ms, 4)}</td>"
            f"<td class='num'>{_num(s.max_ms, 4)}</td></tr>"
        )
    return (
        '<table id="load-summary"><tr><th>route</th><th>sent</th><th>completed</th>'
        "<th>errors</th><th>error ratio</th><th>sent/s</th><th>completed/s</th><th>p50 ms</th>"
        "<th>p95 ms</th>"
        "<th>p99 ms</th><th>max ms</th></tr>" + "".join(rows) + "</table>"
    )


def _scenario(run: RunData) -> str:
    env_rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{_val(v)}</td></tr>" for k, v in sorted(run.env.items())
    )
    facts = [
        ("scenario", run.scenario),
        ("platform", run.platform),
        ("seed", _NONE if run.seed is None else str(run.seed)),
        ("run id", run.run_id),
        ("record", str(run.directory)),
        *((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in run.start_extra.items()),
    ]
    fact_rows = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    spec = (
        yaml.safe_dump(run.spec, sort_keys=False, default_flow_style=False)
        if run.spec is not None
        else "(the run_start event carried no scenario spec)"
    )
    out = f'<table id="run-facts">{fact_rows}{env_rows}</table>'
    out += f"<h3>Scenario as run</h3><pre>{escape(spec)}</pre>"
    if run.summary is not None:
        out += (
            "<details><summary>summary.json</summary><pre>"
            f"{escape(json.dumps(run.summary, indent=2, default=str))}</pre></details>"
        )
    return out


def _notes(run: RunData) -> str:
    return "<ul>" + "".join(f"<li>+{t:.1f} s: {escape(m)}</li>" for t, m in run.notes) + "</ul>"
