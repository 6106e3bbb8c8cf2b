"""``msai load``: run an open-loop load by hand, or search for the highest rate meeting a p99.

    msai load run --url http://127.0.0.1:8001 --rate 50 --duration 30s --mix ner=1
    msai load run --shape step --spec '{steps: [{rate: 10, for: 20s}, {rate: 40, for: 20s}]}'
    msai load run --replay .msai/runs/RUN/arrivals.json --expect gates.yaml
    msai load search --p99-ms 100 --mix ner=1 --start 10 --trial 10s

Endpoints: ``--url`` (every route), ``--endpoint name=url`` (repeatable), or the running
local stack (``msai up``). ``run`` writes a run record (events, arrivals.json, summary) into
a new folder under ``--runs-dir`` and, with ``--expect`` (a YAML list of gates, the shape of
a scenario's ``expect:``), exits as every ``msai`` command does (:mod:`harness.commandline`):
0 pass, 1 fail, 2 inconclusive, 3 usage, 4 error. ``--json`` prints the result as JSON.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import yaml

from harness.commandline import DURATION, EXIT_FAIL, EXIT_PASS, INPUT_FILE, VERDICT_EXIT, echo_json
from harness.errors import ConfigError
from harness.gates import emit_verdicts, evaluate_gates, gates_from_specs, overall_verdict
from harness.record import RunRecord
from harness.settings import settings as harness_settings
from harness.verdict_text import describe_gate, format_value
from loadtests.plan import plan_load, run_planned
from loadtests.routes import build_targets
from loadtests.search import find_max_rate

__all__ = ["load"]


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        for part in item.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise click.BadParameter(f"expected name=value, got {part!r}", param_hint=what)
            out[key.strip()] = value.strip()
    return out


def _mix(items: tuple[str, ...]) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in _pairs(items, "--mix").items()}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mix") from None


def _endpoints(url: str | None, endpoint: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    if url or endpoint:
        return _pairs(endpoint, "--endpoint"), url
    from harness.platform.local import LocalPlatform

    return {k: e.url for k, e in LocalPlatform().endpoints().items()}, None


@click.group("load")
def load() -> None:
    """Open-loop load by hand: run a shape, or search the highest rate meeting a p99."""


@load.command("run")
@click.option("--url", default=None, help="Send every route to this base URL.")
@click.option("--endpoint", multiple=True, help="name=url of a route-table endpoint.")
@click.option("--shape", default="open-loop", show_default=True, help="Load shape name.")
@click.option("--rate", type=float, default=None, help="Requests/s (constant shapes).")
@click.option("--duration", type=DURATION, default=None, help="How long: 90s, 2m, 1m30s.")
@click.option("--spec", default=None, help="More shape keys as a YAML mapping.")
@click.option("--mix", multiple=True, help="route=weight (repeatable or comma-separated).")
@click.option("--seed", type=int, default=None, help="Arrival seed.")
@click.option("--workers", type=int, default=None, help="Generator processes (0: a thread).")
@click.option(
    "--replay",
    type=click.Path(dir_okay=False),
    default=None,
    help="Send exactly the arrivals of a recorded run (its arrivals.json).",
)
@click.option(
    "--expect",
    type=INPUT_FILE,
    default=None,
    help="YAML list of gates ({gate: latency, p99_ms: 250} ...); sets the exit code.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where run records go (default MSAI_RUNS_DIR); this run's is load-<time> in it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run(
    url: str | None,
    endpoint: tuple[str, ...],
    shape: str,
    rate: float | None,
    duration: float | None,
    spec: str | None,
    mix: tuple[str, ...],
    seed: int | None,
    workers: int | None,
    replay: str | None,
    expect: Path | None,
    runs_dir: Path | None,
    as_json: bool,
) -> int:
    """Run one load and write its run record; with --expect, judge it."""
    load_spec: dict[str, Any] = {"shape": shape}
    if spec:
        extra = yaml.safe_load(spec)
        if not isinstance(extra, dict):
            raise click.BadParameter("expected a YAML mapping", param_hint="--spec")
        load_spec.update(extra)
    for key, value in (("rate", rate), ("duration", duration), ("seed", seed)):
        if value is not None:
            load_spec[key] = value
    if workers is not None:
        load_spec["workers"] = workers
    if mix:
        load_spec["mix"] = _mix(mix)
    if replay:
        load_spec = {"replay": replay, **({"workers": workers} if workers is not None else {})}
    gates = []
    if expect:
        try:
            data = yaml.safe_load(expect.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"not YAML ({exc})", source=str(expect)) from None
        if isinstance(data, dict) and "expect" in data:  # a scenario file: take its gates
            data = data["expect"]
        gates = gates_from_specs(data, source=str(expect))
    base_urls, one_url = _endpoints(url, endpoint)
    plan = plan_load(load_spec, base_urls, source="msai load run", url=one_url)
    directory = (runs_dir or harness_settings().runs_path) / time.strftime("load-%Y%m%d-%H%M%S")
    with RunRecord(directory) as record:
        record.emit(
            "run_start",
            scenario="msai load run",
            platform="cli",
            spec=load_spec,
            seed=plan.schedule.seed,
        )
        result = run_planned(plan, record=record)
        verdicts = []
        if gates:
            from harness.gates import GateContext
            from harness.record import read_events

            verdicts = evaluate_gates(gates, GateContext(read_events(directory)))
            emit_verdicts(record, verdicts)
        verdict = overall_verdict(verdicts) if gates else "pass"
        record.close(verdict, scenario="msai load run")
    routes = {route: summary.event_fields() for route, summary in result.summaries.items()}
    if as_json:
        echo_json(
            {
                "verdict": verdict,
                "record": str(directory),
                "routes": routes,
                "gates": [v.event_fields() for v in verdicts],
            }
        )
        return VERDICT_EXIT[verdict]
    for route, f in routes.items():
        errors: dict[str, int] = f["errors"]
        errors_text = str(sum(errors.values()))
        if errors:
            errors_text += f" ({format_value(errors)})"
        click.echo(
            f"{route:>18}: sent {f['sent']}  ok {f['completed']}  errors {errors_text}  "
            f"p50 {format_value(f['p50_ms'])} ms  p95 {format_value(f['p95_ms'])} ms  "
            f"p99 {format_value(f['p99_ms'])} ms"
        )
    for v in verdicts:
        click.echo(describe_gate(v.event_fields()))
    click.echo(f"run record: {directory}")
    return VERDICT_EXIT[verdict]


@load.command("search")
@click.option("--url", default=None, help="Send every route to this base URL.")
@click.option("--endpoint", multiple=True, help="name=url of a route-table endpoint.")
@click.option("--mix", multiple=True, required=True, help="route=weight.")
@click.option("--p99-ms", type=float, required=True, help="The p99 objective (ms).")
@click.option("--max-error-ratio", type=float, default=0.0, show_default=True)
@click.option("--start", type=float, default=10.0, show_default=True, help="First rate.")
@click.option(
    "--trial", type=DURATION, default="10s", show_default=True, help="Length of each trial."
)
@click.option("--precision", type=float, default=0.05, show_default=True)
@click.option("--max-rate", type=float, default=1e6, show_default=True, help="Stop here.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the trials and the rate as JSON.")
def search(
    url: str | None,
    endpoint: tuple[str, ...],
    mix: tuple[str, ...],
    p99_ms: float,
    max_error_ratio: float,
    start: float,
    trial: float,
    precision: float,
    max_rate: float,
    seed: int,
    as_json: bool,
) -> int:
    """The highest open-loop rate whose p99 (from intended send times) meets --p99-ms."""
    weights = _mix(mix)
    base_urls, one_url = _endpoints(url, endpoint)
    if not 0 < precision < 1:
        raise ConfigError("must be between 0 and 1", field="--precision")
    targets = build_targets(weights, base_urls, url=one_url)
    result = find_max_rate(
        targets,
        weights,
        p99_ms=p99_ms,
        max_error_ratio=max_error_ratio,
        start=start,
        trial_s=trial,
        seed=seed,
        precision=precision,
        max_rate=max_rate,
    )
    code = EXIT_FAIL if result.best_rate is None else EXIT_PASS
    if as_json:
        echo_json(
            {
                "best_rate": result.best_rate,
                "p99_ms": p99_ms,
                "trials": [{"rate": t.rate, "met": t.ok, "why": t.why} for t in result.trials],
            }
        )
        return code
    for t in result.trials:
        click.echo(f"  {t.rate:>10,.1f}/s: {'met' if t.ok else 'missed'}: {t.why}")
    if result.best_rate is None:
        click.echo(f"no rate from {start:g}/s down met p99 <= {p99_ms:g} ms")
    else:
        click.echo(f"highest rate meeting p99 <= {p99_ms:g} ms: {result.best_rate:,.1f} req/s")
    return code
