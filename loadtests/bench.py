"""``msai bench load``: the open-loop generator against stock Locust, in one run, one endpoint.

1. Stock Locust (FastHttpUser, closed loop, ``--users`` users, no wait) on one core: its rate.
2. The open-loop generator on the same core: the highest rate it sustains with the schedule
   kept within 1% of target, found by the ramp search. A trial keeps its schedule when every
   request was dispatched and answered without error and the rate actually achieved
   (requests over the time until the last one went out) is at least 99% of the target; the
   dispatch lag behind the schedule (p99, max) is printed beside it.
3. Both against a saturated server (``--saturate-ms`` service time, one request at a time,
   or ``--url``'s own limit): the p99 each reports. Locust times each request from when it
   actually went out, so a closed loop never sees the queue its own waiting hides
   (coordinated omission); the open loop, sending at the rate Locust achieved, times from the
   intended send time.

The generator and the server run pinned to different CPUs when there are two or more.
CPU time per request is printed too: on a shared machine it is the steadier figure.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import click

from loadtests.arrivals import build_schedule
from loadtests.routes import build_targets
from loadtests.runner import ProcessWorkers, run_load
from loadtests.search import Trial, search_max_rate
from loadtests.settings import load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.stock import run_stock
from loadtests.testing import echo_server

__all__ = ["bench_load"]


def _cpus() -> tuple[int | None, int | None]:
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


@contextlib.contextmanager
def _endpoint(url: str | None, cpu: int | None, **server: float) -> Iterator[tuple[str, str]]:
    if url:
        yield url, url
        return
    with echo_server(cpu=cpu, **server) as srv:  # type: ignore[arg-type]
        desc = ", ".join(f"{k} {v:g}" for k, v in server.items()) or "no delay"
        yield srv.url, f"local echo server ({desc})"


@click.command("load")
@click.option("--url", default=None, help="Endpoint base URL (default: a local echo server).")
@click.option("--route", default="ner", show_default=True, help="Route of the route table.")
@click.option("--users", default=32, show_default=True, help="Closed-loop Locust users.")
@click.option("--trial-s", default=3.0, show_default=True, help="Seconds per measured run.")
@click.option("--start-rate", default=1000.0, show_default=True, help="First search rate.")
@click.option("--precision", default=0.05, show_default=True, help="Search stops at this gap.")
@click.option(
    "--saturate-ms",
    default=2.0,
    show_default=True,
    help="Service time of the saturated echo server (one request at a time).",
)
@click.option("--seed", default=1, show_default=True)
def bench_load(
    url: str | None,
    route: str,
    users: int,
    trial_s: float,
    start_rate: float,
    precision: float,
    saturate_ms: float,
    seed: int,
) -> None:
    """Open-loop generator vs stock Locust on one core; the coordinated-omission gap."""
    gen_cpu, srv_cpu = _cpus()
    pinned = (
        f"generator on CPU {gen_cpu}, server on CPU {srv_cpu}"
        if gen_cpu is not None
        else "one CPU: generator and server share it"
    )
    settings = load_settings_from_env(start_delay_s=0.5, workers=1, progress_every_s=3600)
    cpus = [gen_cpu] if gen_cpu is not None else None
    click.echo(f"msai bench load: route {route}, trials of {trial_s:g} s, {pinned}")

    with _endpoint(url, srv_cpu) as (base, desc):
        click.echo(f"endpoint: {desc}")
        targets = build_targets([route], {}, url=base)
        stock = run_stock(base, route=route, users=users, seconds=trial_s, cpu=gen_cpu)
        stock_cpu_us = stock.cpu_s / max(stock.requests, 1) * 1e6
        click.echo(
            f"closed loop, stock Locust FastHttpUser x{users}: {stock.rps:,.0f} req/s, "
            f"p99 {stock.p99_ms} ms, {stock.failures} failures, {stock_cpu_us:.0f} us CPU/request"
        )

        cpu_per_req: dict[float, float] = {}

        def trial(rate: float) -> Trial:
            schedule = build_schedule(ConstantRate(rate, trial_s), {route: 1.0}, seed)
            result = run_load(
                schedule,
                targets,
                settings=settings,
                pool=ProcessWorkers(1, cpus=cpus),
                progress=False,
            )
            s = result.summary()
            f = s.event_fields()
            achieved = result.achieved_rate
            cpu_per_req[rate] = result.cpu_s / max(s.sent, 1) * 1e6
            figures = {"achieved": achieved, "lag_max_ms": f["lag_max_ms"], "p99_ms": f["p99_ms"]}
            line = (
                f"achieved {achieved:,.0f}/s, lag p99 {f['lag_p99_ms']} ms max "
                f"{f['lag_max_ms']} ms, errors {s.error_count}"
            )
            ok = (
                result.unsent == 0
                and s.sent == len(schedule)
                and s.completed == s.sent
                and achieved >= 0.99 * rate
            )
            click.echo(f"  open loop {rate:>9,.0f}/s: {'kept' if ok else 'missed'}: {line}")
            return Trial(rate, ok, line, figures)

        click.echo("open loop, msai generator (Poisson arrivals), ramp search:")
        found = search_max_rate(trial, start=start_rate, precision=precision, max_trials=14)
        best = found.best_rate or 0.0
        open_cpu_us = cpu_per_req.get(best, 0.0)
        click.echo(
            f"open loop: highest rate with the schedule within 1%: {best:,.0f} req/s "
            f"({len(found.trials)} trials), {open_cpu_us:.0f} us CPU/request"
        )
        click.echo(
            f"ratio open/stock requests per second on one core: {best / max(stock.rps, 1):.2f}x "
            f"(goal >= 1.00)"
        )
        if open_cpu_us and stock_cpu_us:
            click.echo(
                f"ratio open/stock requests per CPU-second: {stock_cpu_us / open_cpu_us:.2f}x "
                f"({1e6 / open_cpu_us:,.0f} vs {1e6 / stock_cpu_us:,.0f})"
            )

    sat = {} if url else {"latency_ms": saturate_ms, "concurrency": 1}
    with _endpoint(url, srv_cpu, **sat) as (base, desc):
        click.echo(f"saturated endpoint: {desc}")
        closed = run_stock(base, route=route, users=users, seconds=trial_s, cpu=gen_cpu)
        click.echo(
            f"  closed loop x{users}: {closed.rps:,.0f} req/s; Locust reports p99 "
            f"{closed.p99_ms} ms, max {closed.max_ms:.0f} ms"
        )
        time.sleep(0.5)  # let the server's queue empty
        schedule = build_schedule(ConstantRate(closed.rps, trial_s), {route: 1.0}, seed)
        opened = run_load(
            schedule,
            build_targets([route], {}, url=base),
            settings=settings,
            pool=ProcessWorkers(1, cpus=cpus),
            progress=False,
        )
        f = opened.summary().event_fields()
        click.echo(
            f"  open loop at {closed.rps:,.0f} req/s (the rate the closed loop got): p99 "
            f"{f['p99_ms']} ms, max {f['max_ms']} ms, from intended send times"
        )
        if f["p99_ms"] and closed.p99_ms:
            click.echo(
                f"  coordinated-omission gap: open-loop p99 is {f['p99_ms'] / closed.p99_ms:.1f}x "
                "what the closed loop reports"
            )
