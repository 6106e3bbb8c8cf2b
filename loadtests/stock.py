"""Stock Locust, closed loop, as a library, in a process of its own (Locust monkey-patches).

``python -m loadtests.stock --url URL --route ner --users 32 --seconds 5 [--cpu 0]`` runs
``--users`` FastHttpUsers of :mod:`loadtests.users` back to back against ``URL`` for a warm-up
second plus ``--seconds``, and prints one JSON line with what Locust itself reports over the
measured part: requests, failures, rate, and its latency percentiles (measured from when each
request was actually sent, which is how a closed loop hides queueing: coordinated omission).

:func:`run_stock` starts it from an unpatched process and returns the parsed result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from harness.errors import PlatformError
from harness.latency import histogram_of, quantile_ms

__all__ = ["StockResult", "main", "run_stock"]


@dataclass(frozen=True)
class StockResult:
    requests: int
    failures: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    cpu_s: float  # CPU time of the Locust process over the measured seconds


def run_stock(
    url: str,
    *,
    route: str = "ner",
    users: int = 32,
    seconds: float = 5.0,
    warmup_s: float = 1.0,
    cpu: int | None = None,
) -> StockResult:
    cmd = [sys.executable, "-m", "loadtests.stock", f"--url={url}", f"--route={route}"]
    cmd += [f"--users={users}", f"--seconds={seconds}", f"--warmup={warmup_s}"]
    if cpu is not None:
        cmd.append(f"--cpu={cpu}")
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + warmup_s + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"stock Locust run did not finish: {exc}") from exc
    if done.returncode != 0:
        raise PlatformError(f"stock Locust run failed ({done.returncode}): {done.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return StockResult(**data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.stock")
    parser.add_argument("--url", required=True)
    parser.add_argument("--route", default="ner")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    os.environ.pop("MSAI_LOAD_ENDPOINTS", None)  # every route goes to --url

    import logging
    import time

    import gevent
    from locust.env import Environment

    from loadtests import users

    logging.getLogger("locust").setLevel(logging.WARNING)
    user_cls = next(
        c
        for c in vars(users).values()
        if isinstance(c, type) and issubclass(c, users.RouteUser) and c.routes == (args.route,)
    )
    env = Environment(user_classes=[user_cls], host=args.url)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=max(args.users * 10, 100))
    gevent.sleep(args.warmup)
    env.stats.reset_all()
    start, cpu0 = time.monotonic(), time.process_time()
    gevent.sleep(args.seconds)
    total = env.stats.total
    elapsed, cpu = time.monotonic() - start, time.process_time() - cpu0
    # Locust's response-time counts (ms), read by the project's one quantile definition
    hist = histogram_of(total.response_times)
    result = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "seconds": round(elapsed, 3),
        "rps": round(total.num_requests / elapsed, 1),
        "p50_ms": quantile_ms(hist, 50),
        "p99_ms": quantile_ms(hist, 99),
        "max_ms": total.max_response_time if total.num_requests else None,
        "cpu_s": round(cpu, 6),
    }
    runner.quit()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
