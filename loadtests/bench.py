"""``msai bench load``: the open-loop generator against stock Locust, in one run, one endpoint.

1. Stock Locust (FastHttpUser, closed loop, ``--users`` users, no wait) on one core: its rate.
2. The open-loop generator on the same core: the highest rate it sustains with the schedule
   kept within 1% of target, found by the ramp search (a rate is missed only when two trials
   at it miss; stock Locust likewise runs twice, before and after, and its best counts).
   A trial keeps its schedule when every request was dispatched and answered without error
   and the rate actually achieved (requests over the time until the last one went out) is at
   least 99% of the target; the dispatch lag behind the schedule (p99, max) is printed too.
3. Both against a saturated server (``--saturate-ms`` service time, one request at a time,
   or ``--url``'s own limit): the p99 each reports. Locust times each request from when it
   actually went out, so a closed loop never sees the queue its own waiting hides
   (coordinated omission): it reports about users x service time however overloaded the
   service is. The open loop sends at 110% of the capacity and times from the intended send
   time, which is what clients arriving at that rate would live through.

The generator and the server run pinned to different CPUs when there are two or more.
CPU time per request is printed too: on a shared machine it is the steadier figure.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import click

from harness.commandline import DURATION
from loadtests.arrivals import build_schedule
from loadtests.routes import build_targets
from loadtests.runner import ProcessWorkers, run_load
from loadtests.search import Trial, search_max_rate
from loadtests.settings import load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.stock import StockResult, run_stock
from loadtests.testing import echo_server

__all__ = ["bench_load"]


def _cpus() -> tuple[int | None, int | None]:
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _load_note() -> None:
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    busy = "  (busy: other work competes for the CPUs; figures are noisy)" if load > cpus else ""
    click.echo(f"machine load average {load:.1f} on {cpus} CPUs{busy}")


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
@click.option(
    "--trial",
    "trial_s",
    type=DURATION,
    default="3s",
    show_default=True,
    help="Each measured run: 3s, 1m.",
)
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
    settings = load_settings_from_env(workers=1, progress_every_s=3600)
    cpus = [gen_cpu] if gen_cpu is not None else None
    click.echo(f"msai bench load: route {route}, trials of {trial_s:g} s, {pinned}")
    _load_note()

    with _endpoint(url, srv_cpu) as (base, desc):
        click.echo(f"endpoint: {desc}")
        targets = build_targets([route], {}, url=base)

        def stock_run() -> StockResult:
            result = run_stock(base, route=route, users=users, seconds=trial_s, cpu=gen_cpu)
            cpu_us = result.cpu_s / max(result.requests, 1) * 1e6
            click.echo(
                f"closed loop, stock Locust FastHttpUser x{users}: {result.rps:,.0f} req/s, "
                f"p99 {result.p99_ms} ms, {result.failures} failures, {cpu_us:.0f} us CPU/request"
            )
            return result

        stock_runs = [stock_run()]

        cpu_per_req: dict[float, float] = {}

        def trial(rate: float) -> Trial:
            first = one_trial(rate)
            # On a shared machine one stolen time slice can sink a trial: a miss counts only
            # when a second trial at the same rate misses too (stock Locust gets two runs).
            return first if first.ok else one_trial(rate)

        def one_trial(rate: float) -> Trial:
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
        stock_runs.append(stock_run())
        stock = max(stock_runs, key=lambda r: r.rps)
        stock_cpu_us = stock.cpu_s / max(stock.requests, 1) * 1e6
        open_cpu_us = cpu_per_req.get(best, 0.0)
        click.echo(
            f"open loop: highest rate with the schedule within 1%: {best:,.0f} req/s "
            f"({len(found.trials)} trials), {open_cpu_us:.0f} us CPU/request"
        )
        click.echo(
            f"ratio open/stock requests per second on one core: {best / max(stock.rps, 1):.2f}x "
            f"(best of {len(stock_runs)} stock runs: {stock.rps:,.0f}; goal >= 1.00)"
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
        # Saturated: 10% over what the server can do (its nominal capacity for the echo
        # server, else what the closed loop got out of it).
        capacity = max(closed.rps, 1000.0 / saturate_ms if not url else 0.0)
        rate = 1.1 * capacity
        schedule = build_schedule(ConstantRate(rate, trial_s), {route: 1.0}, seed)
        opened = run_load(
            schedule,
            build_targets([route], {}, url=base),
            settings=settings,
            pool=ProcessWorkers(1, cpus=cpus),
            progress=False,
        )
        f = opened.summary().event_fields()
        click.echo(
            f"  open loop at {rate:,.0f} req/s (110% of {capacity:,.0f}/s capacity): p99 "
            f"{f['p99_ms']} ms, max {f['max_ms']} ms, from intended send times"
        )
        if f["p99_ms"] and closed.p99_ms:
            click.echo(
                f"  coordinated-omission gap: open-loop p99 is {f['p99_ms'] / closed.p99_ms:.1f}x "
                "what the closed loop reports"
            )
    _load_note()
