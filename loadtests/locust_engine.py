"""The open-loop schedule on Locust's runner: users dispatch arrivals at their intended times.

Import this module only in a process where Locust runs (importing Locust monkey-patches the
process with gevent): :mod:`loadtests.locust_runner` (what ``run_load`` starts for
``engine: locust``) and :mod:`loadtests.locustfile` (``locust -f``).

    ArrivalEngine (one a process): the schedule, a shared cursor, the HTTP client pool
    ArrivalUser (Locust users): each takes the next arrival, sleeps to its time, sends it
    ScheduleShape (LoadTestShape): user count from the schedule's own rate; ends the run

A request goes out at its intended time in a greenlet of its own, whatever earlier answers
do (open loop); its latency runs from the intended time, so a stall cannot hide the requests
that were due during it (no coordinated omission). Each finished request is also reported to
Locust's ``request`` event with that same latency, so Locust's statistics and the run record
count the same requests. The engine writes the open-loop generator's messages
(:mod:`loadtests.generator`: bucket, tick, done) to its sink, so the master merges them with
the same :class:`~loadtests.timeline.Timeline`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import gevent
import gevent.event
import gevent.pool
import numpy as np
from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.url import URL
from locust import FastHttpUser, LoadTestShape, constant, task
from locust.env import Environment
from locust.exception import CatchResponseError

from harness.latency import HIGHEST_US, Histogram, encode_histogram, new_histogram
from loadtests.arrivals import Schedule
from loadtests.credentials import request_auth, tls_context_factory
from loadtests.generator import Sink, classify_error
from loadtests.routes import Target
from loadtests.settings import LoadSettings

__all__ = [
    "BLOCK_S",
    "USER_RATE",
    "ArrivalEngine",
    "ArrivalUser",
    "ScheduleShape",
    "ShapeSource",
    "per_second_counts",
    "users_for",
]

#: arrivals per second one dispatching user is sized for (the shape adds users by the rate)
USER_RATE = 1000.0
#: seconds of the schedule a user takes at a time
BLOCK_S = 0.05


@dataclass
class _Bucket:
    sent: int = 0
    completed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    hist: Histogram | None = None
    lag: Histogram | None = None


@dataclass
class _Totals:
    sent: int = 0
    completed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    hist: Histogram = field(default_factory=new_histogram)
    lag: Histogram = field(default_factory=new_histogram)


@dataclass(frozen=True)
class _Call:
    client: HTTPClient
    method: str
    uri: str
    headers: dict[str, str]
    bodies: list[bytes]


class ArrivalEngine:
    """Runs ``schedule`` against ``targets`` for the Locust users of this process."""

    def __init__(
        self,
        schedule: Schedule,
        targets: Mapping[str, Target],
        settings: LoadSettings,
        sink: Sink,
        environment: Environment,
    ) -> None:
        missing = [r for r in schedule.routes if r not in targets]
        if missing:
            raise ValueError(f"no target for route(s) {missing}")
        self.schedule = schedule
        self.settings = settings
        self.sink = sink
        self.environment = environment
        # Locust's request event: its statistics see each request once, with our latency.
        self._fire_request: Callable[..., Any] = environment.events.request.fire
        auth = request_auth(
            bearer_token=settings.bearer_token,
            api_key=settings.api_key,
            api_key_header=settings.api_key_header,
            headers=settings.headers,
        )
        tls: dict[str, Any] = {}
        if any(URL(targets[r].url).scheme == "https" for r in schedule.routes):
            tls = {
                "ssl_context_factory": tls_context_factory(settings.ca_bundle, settings.insecure),
                "insecure": settings.insecure,
            }
        self.pool = HTTPClientPool(
            concurrency=settings.max_connections,
            connection_timeout=settings.connect_timeout_s,
            network_timeout=settings.timeout_s,
            **tls,
        )
        self._calls: list[_Call] = []
        for route in schedule.routes:
            target = targets[route]
            url = URL(target.url)
            if url.scheme not in ("http", "https") or not url.host:
                raise ValueError(
                    f"route {route}: only http:// or https:// URLs, got {target.url!r}"
                )
            self._calls.append(
                _Call(
                    self.pool.get_client(url),
                    target.method,
                    url.request_uri,
                    {**target.headers, **auth.headers},
                    list(target.bodies),
                )
            )
        self._offsets: list[float] = (schedule.t_us / 1e6).tolist()
        self._route: list[int] = schedule.route.tolist()
        self._payload: list[int] = schedule.payload.tolist()
        self._per_second = per_second_counts(schedule)
        # Users take the schedule a slice of BLOCK_S at a time: a user sends its slice's
        # arrivals back to back on its own timer, as one generator would, and more users only
        # means more slices prepared ahead, never two timers racing for each arrival.
        edges = np.searchsorted(
            schedule.t_us, np.arange(0, schedule.duration_s + BLOCK_S, BLOCK_S) * 1e6
        )
        self._blocks: list[int] = [*edges.tolist(), len(self._offsets)]
        self._block = 0
        self._users = 1
        self._next = 0
        self._dispatched = 0
        self._in_flight = 0
        self._last_dispatch = 0.0
        self._base: float | None = None
        self._started = gevent.event.Event()
        self._stopped = False
        self._closed = False
        self._group = gevent.pool.Group()
        self._inflight: dict[Any, float] = {}  # greenlet -> intended send time (monotonic)
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        self._totals = {r: _Totals() for r in schedule.routes}
        self._flushed_upto = 0
        self._ticker: gevent.Greenlet[Any, Any] | None = None
        self._cpu0 = 0.0

    # -- the users' side --

    def start(self, t0: float) -> None:
        """Set the schedule's zero (unix s) and let the users dispatch."""
        self._base = time.monotonic() + (t0 - time.time())
        self._cpu0 = time.process_time()
        self._ticker = gevent.spawn(self._tick)
        self._started.set()

    def take(self) -> range | None:
        """The next slice of arrivals for a user to send, None when none is left (or the
        run stopped)."""
        self._started.wait()
        while not self._stopped and self._block + 1 < len(self._blocks):
            lo, hi = self._blocks[self._block], self._blocks[self._block + 1]
            self._block += 1
            if hi > lo:
                return range(lo, hi)
        return None

    def due(self, i: int) -> float:
        """Arrival ``i``'s intended send time (monotonic s)."""
        assert self._base is not None
        return self._base + self._offsets[i]

    def send(self, arrivals: range) -> None:
        """Send ``arrivals``, each at its intended time (called by a user)."""
        for i in arrivals:
            if self._stopped:
                return
            delay = self.due(i) - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            self.dispatch(i)

    def dispatch(self, i: int) -> None:
        """Send arrival ``i`` in a greenlet of its own (or count it as generator overload)."""
        route = self._route[i]
        due = self.due(i)
        self._dispatched += 1
        if self._in_flight >= self.settings.max_in_flight:
            now = time.monotonic()
            name = self.schedule.routes[route]
            self._bucket(now, name).errors["generator_overload"] += 1
            self._report(name, 0.0, "generator_overload", 0)
            return
        self._in_flight += 1
        self._group.spawn(self._fire, due, route, self._payload[i])

    def users_at(self, t: float) -> int:
        """Users the shape asks for at ``t`` s after the schedule's zero: enough for the
        busiest of the next two seconds, never fewer than before (a user may hold an arrival
        it sleeps towards, so users are not taken away mid-run)."""
        self._users = users_for(self._per_second, t, self._users)
        return self._users

    def elapsed_s(self) -> float:
        return 0.0 if self._base is None else time.monotonic() - self._base

    @property
    def finished(self) -> bool:
        """Every arrival dispatched (or the run stopped) and none in flight."""
        over = self._stopped or self._dispatched >= len(self._offsets)
        return self._base is not None and over and self._in_flight == 0

    def stop(self) -> None:
        """Dispatch nothing more; requests in flight finish or time out."""
        self._stopped = True
        self._started.set()

    # -- one request --

    def _fire(self, intended: float, ri: int, pi: int) -> None:
        # Watched from its first step: a greenlet killed before it ran would vanish uncounted.
        self._inflight[gevent.getcurrent()] = intended
        call = self._calls[ri]
        route = self.schedule.routes[ri]
        start = time.monotonic()
        self._last_dispatch = max(self._last_dispatch, start)
        b = self._bucket(start, route)
        b.sent += 1
        if b.lag is None:
            b.lag = new_histogram()
        b.lag.record_value(min(int((start - intended) * 1e6) + 1, HIGHEST_US))
        kind: str | None = None
        length = 0
        try:
            body = call.bodies[pi % len(call.bodies)]
            resp = call.client.request(call.method, call.uri, body=body, headers=call.headers)
            try:
                length = len(resp.read())
                status = resp.status_code
            finally:
                resp.release()
            if status >= 400:
                kind = f"http_{status}"
        except gevent.GreenletExit:
            kind = "timeout"  # the watchdog (or the end of the run) gave up on it
        except Exception as exc:  # every failure is data, counted by kind
            kind = classify_error(exc)
        end = time.monotonic()
        self._inflight.pop(gevent.getcurrent(), None)
        if kind is None and end - intended > self.settings.timeout_s:
            kind = "timeout"
        self._in_flight -= 1
        b = self._bucket(end, route)
        latency_us = min(int((end - intended) * 1e6) + 1, HIGHEST_US)
        if kind is None:
            b.completed += 1
            if b.hist is None:
                b.hist = new_histogram()
            b.hist.record_value(latency_us)
        else:
            b.errors[kind] += 1
        self._report(route, latency_us / 1000.0, kind, length)

    def _report(self, route: str, ms: float, kind: str | None, length: int) -> None:
        self._fire_request(
            request_type=self._calls[self.schedule.routes.index(route)].method,
            name=route,
            response_time=ms,
            response_length=length,
            exception=CatchResponseError(kind) if kind is not None else None,
            context={},
        )

    # -- bookkeeping (one hub: no locks) --

    def _bucket(self, when: float, route: str) -> _Bucket:
        assert self._base is not None
        key = (int(when - self._base), route)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        return b

    def _tick(self) -> None:
        # Flushes finished seconds and enforces the request timeout from the intended time.
        assert self._base is not None
        while True:
            gevent.sleep(0.1)
            now = time.monotonic()
            for g in [g for g, t in self._inflight.items() if now - t > self.settings.timeout_s]:
                self._inflight.pop(g, None)
                g.kill(block=False)
            upto = math.floor(now - self._base - self.settings.grace_s)
            if upto > self._flushed_upto:
                self._flush(upto)

    def _flush(self, upto: int) -> None:
        for key in sorted(k for k in self._buckets if k[0] < upto):
            b = self._buckets.pop(key)
            tot = self._totals[key[1]]
            tot.sent += b.sent
            tot.completed += b.completed
            tot.errors.update(b.errors)
            if b.hist is not None:
                tot.hist.add(b.hist)
            if b.lag is not None:
                tot.lag.add(b.lag)
            self.sink(
                {
                    "type": "bucket",
                    "second": key[0],
                    "route": key[1],
                    "sent": b.sent,
                    "completed": b.completed,
                    "errors": dict(b.errors),
                    "hist": encode_histogram(b.hist) if b.hist is not None else None,
                    "lag_hist": encode_histogram(b.lag) if b.lag is not None else None,
                }
            )
        if upto > self._flushed_upto:
            self._flushed_upto = upto
            self.sink({"type": "tick", "upto": upto})

    def close(self) -> None:
        """Wait for requests in flight (up to the timeout), then report the run's totals."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._group.join(timeout=self.settings.timeout_s + 5.0)
        self._group.kill(block=True, timeout=2.0)
        if self._ticker is not None:
            self._ticker.kill()
        if self._base is not None:
            self._flush(10**9)
        self.pool.close()
        base = self._base if self._base is not None else time.monotonic()
        self.sink(
            {
                "type": "done",
                "unsent": len(self._offsets) - self._dispatched,
                "cpu_s": round(time.process_time() - self._cpu0, 6),
                "last_dispatch_s": round(max(self._last_dispatch - base, 0.0), 6),
                "routes": {
                    r: {
                        "sent": t.sent,
                        "completed": t.completed,
                        "errors": dict(t.errors),
                        "hist": encode_histogram(t.hist),
                        "lag_hist": encode_histogram(t.lag),
                    }
                    for r, t in self._totals.items()
                },
            }
        )


def per_second_counts(schedule: Schedule) -> list[int]:
    """Arrivals in each second of ``schedule``."""
    counts = [0] * (int(schedule.duration_s) + 2)
    for t in (schedule.t_us // 1_000_000).tolist():
        counts[min(int(t), len(counts) - 1)] += 1
    return counts


def users_for(per_second: list[int], t: float, current: int, least: int = 1) -> int:
    """Users for ``t`` s into the schedule: enough for the busiest of the next two seconds at
    :data:`USER_RATE` each, at least ``least``, never fewer than ``current`` (a user may hold
    a slice of arrivals it sleeps towards, so users are not taken away mid-run)."""
    s = max(int(t), 0)
    ahead = max(per_second[s : s + 2], default=0)
    return max(current, least, math.ceil(ahead / USER_RATE))


class ArrivalUser(FastHttpUser):
    """Takes the next arrival of the shared schedule, sleeps to its time and sends it.

    Users share one client pool (the engine's), so connections follow the load, not the
    user count."""

    abstract = False
    wait_time = constant(0)
    host = "http://127.0.0.1"  # every target URL is absolute; Locust wants a base anyway
    engine: ClassVar[ArrivalEngine | None] = None

    @task
    def dispatch(self) -> None:
        # One long task: returning to Locust's scheduler between arrivals costs more than a
        # request at a few thousand a second. Locust still stops the user by killing it.
        engine = type(self).engine
        if engine is None:
            gevent.sleep(0.05)
            return
        while (arrivals := engine.take()) is not None:
            engine.send(arrivals)
        gevent.sleep(0.05)  # nothing left: idle until the shape ends the run


class ShapeSource(Protocol):
    """What :class:`ScheduleShape` reads: an engine here, or the master's view of its
    workers' engines (:mod:`loadtests.locust_dist`)."""

    @property
    def finished(self) -> bool: ...

    def users_at(self, t: float) -> int: ...

    def elapsed_s(self) -> float: ...


class ScheduleShape(LoadTestShape):
    """Users from the schedule's own rate (step, spike, soak: whatever built it); ends the run
    once every arrival is sent and answered."""

    engine: ClassVar[ShapeSource | None] = None

    def tick(self) -> tuple[int, float] | None:
        engine = type(self).engine
        if engine is None:
            return (1, 10.0)
        if engine.finished:
            return None
        users = engine.users_at(engine.elapsed_s())
        return (users, float(max(users * 20, 10)))
