"""The open-loop engine: sends each scheduled request at its time, whatever responses do.

One generator runs one share of a :class:`~loadtests.arrivals.Schedule` on one gevent hub, in
the calling thread, with a lean keep-alive client (:mod:`loadtests.client`: pre-built request
bytes, geventhttpclient's C response parser, as Locust's FastHttpUser uses). It never
monkey-patches: only gevent's own sockets are used, so it can run in a thread of the harness
or alone in a worker process (:mod:`loadtests.worker`).

Honest latency: each request's clock starts at its *intended* send time (``t0`` + its offset in
the schedule), not when a connection or the generator got round to it, so a server that stalls
cannot hide the wait of requests that were due during the stall (no coordinated omission).
The gap between intended and actual dispatch (``lag``) is measured too: it tells whether the
generator kept its schedule.

Output goes to ``sink`` as plain dicts (JSON-able, the same in a thread and across processes):

  ``{"type": "bucket", "second": s, "route": r, "sent": n, "completed": n, "errors": {kind: n},
  "hist": HDR-b64 | None, "lag_hist": HDR-b64 | None}``
      one per route and second with activity. ``sent`` counts dispatches in second ``s``;
      ``completed`` (successful answers), ``errors`` and the latency histogram count the
      requests that *finished* in second ``s``. Seconds count from ``t0``.
  ``{"type": "tick", "upto": s}``  every bucket of a second below ``s`` has been sent.
  ``{"type": "done", "routes": {r: {"sent", "completed", "errors", "hist", "lag_hist"}},
  "unsent": n, "cpu_s": s, "last_dispatch_s": s}``  run totals with full-precision
  histograms (3 significant digits), the CPU time the generator's thread used and when (from
  t0) the last request actually went out.

Error kinds: ``http_<status>`` (status >= 400), ``timeout``, ``connection_refused``,
``connection_reset``, ``connection`` (other socket errors), ``protocol`` (a malformed
answer), ``generator_overload`` (not sent: ``max_in_flight`` requests were outstanding).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.latency import HIGHEST_US, Histogram, encode_histogram, new_histogram
from loadtests.arrivals import Schedule
from loadtests.client import HostPool, raw_request
from loadtests.credentials import request_auth
from loadtests.routes import Target
from loadtests.settings import LoadSettings

__all__ = ["ERROR_KINDS", "OpenLoopGenerator", "Sink", "classify_error"]

Sink = Callable[[dict[str, Any]], None]

ERROR_KINDS = (
    "timeout",
    "connection_refused",
    "connection_reset",
    "connection",
    "protocol",
    "generator_overload",
)


def classify_error(exc: BaseException) -> str:
    """The error kind of an exception raised while sending or reading one request."""
    import gevent
    from geventhttpclient.response import HTTPParseError

    if isinstance(exc, (gevent.Timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "connection_reset"
    if isinstance(exc, HTTPParseError):
        return "protocol"
    if isinstance(exc, OSError):
        return "connection"
    return "protocol"


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
    pool: HostPool
    method: str
    raws: list[bytes]  # complete request bytes, one per body


class OpenLoopGenerator:
    """Runs ``schedule`` against ``targets`` starting at wall-clock time ``t0`` (unix s)."""

    def __init__(
        self,
        schedule: Schedule,
        targets: Mapping[str, Target],
        settings: LoadSettings,
        t0: float,
        sink: Sink,
        stop: threading.Event | None = None,
    ) -> None:
        missing = [r for r in schedule.routes if r not in targets]
        if missing:
            raise ValueError(f"no target for route(s) {missing}")
        for route in schedule.routes:
            parts = urlsplit(targets[route].url)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(
                    f"route {route}: only http:// URLs on the native engine, got "
                    f"{targets[route].url!r} (https:// needs engine: locust)"
                )
        self.schedule = schedule
        self.targets = targets
        self.settings = settings
        self._auth = request_auth(
            bearer_token=settings.bearer_token,
            api_key=settings.api_key,
            api_key_header=settings.api_key_header,
            headers=settings.headers,
        )
        self.t0 = t0
        self.sink = sink
        self.stop = stop or threading.Event()
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        self._totals = {r: _Totals() for r in schedule.routes}
        self._flushed_upto = 0
        self._in_flight = 0
        self._last_dispatch = 0.0

    # -- bookkeeping (single hub: no locks needed) --

    def _bucket(self, second: int, route: str) -> _Bucket:
        key = (second, route)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket()
        return b

    def _flush(self, upto: int) -> None:
        """Send every bucket of a second below ``upto``, then a tick."""
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

    # -- the run --

    def run(self) -> None:
        """Send the schedule; returns when every request finished or timed out."""
        import gevent
        import gevent.pool

        s = self.settings
        clients: dict[tuple[str, int], HostPool] = {}
        calls: list[_Call] = []
        headers = self._auth.headers
        for route in self.schedule.routes:
            target = self.targets[route]
            parts = urlsplit(target.url)
            key = (parts.hostname or "", parts.port or 80)
            if key not in clients:
                clients[key] = HostPool(
                    key[0],
                    key[1],
                    max_connections=s.max_connections,
                    connect_timeout_s=s.connect_timeout_s,
                )
            uri = parts.path or "/"
            if parts.query:
                uri += "?" + parts.query
            raws = [
                raw_request(target.method, uri, key[0], key[1], {**target.headers, **headers}, body)
                for body in target.bodies
            ]
            calls.append(_Call(clients[key], target.method, raws))

        offsets = (self.schedule.t_us / 1e6).tolist()
        route_idx = self.schedule.route.tolist()
        payload = self.schedule.payload.tolist()
        names = self.schedule.routes
        group = gevent.pool.Group()
        # Monotonic time of t0: wall clocks align workers; monotonic keeps intervals honest.
        base = time.monotonic() + (self.t0 - time.time())
        timeout_s = s.timeout_s

        inflight: dict[Any, float] = {}  # greenlet -> intended send time (monotonic)
        top = HIGHEST_US

        def fire(intended: float, ri: int, pi: int) -> None:
            # Watched from its first step: a greenlet killed before it ran would vanish
            # uncounted (never sent, never an error, still in flight).
            inflight[gevent.getcurrent()] = intended
            route = names[ri]
            call = calls[ri]
            start = time.monotonic()
            self._last_dispatch = max(self._last_dispatch, start)
            b = self._bucket(int(start - base), route)
            b.sent += 1
            if b.lag is None:
                b.lag = new_histogram()
            # Hot path: record straight into the second's histograms (run totals are merged
            # from them when the second is flushed). Lag is >= 0: sent only once due.
            b.lag.record_value(min(int((start - intended) * 1e6) + 1, top))
            kind = None
            try:
                status = call.pool.call(call.raws[pi % len(call.raws)], call.method)
                if status >= 400:
                    kind = f"http_{status}"
            except gevent.GreenletExit:
                kind = "timeout"  # the watchdog (or the end of the run) gave up on it
            except Exception as exc:  # every failure is data, counted by kind
                kind = classify_error(exc)
            end = time.monotonic()
            inflight.pop(gevent.getcurrent(), None)
            if kind is None and end - intended > timeout_s:
                kind = "timeout"
            self._in_flight -= 1
            b = self._bucket(int(end - base), route)
            if kind is None:
                b.completed += 1
                if b.hist is None:
                    b.hist = new_histogram()
                b.hist.record_value(min(int((end - intended) * 1e6) + 1, top))
            else:
                b.errors[kind] += 1

        def ticker() -> None:
            # Flushes finished seconds and enforces the request timeout, counted from the
            # intended send time: one watchdog instead of a timer per request or socket wait.
            while True:
                gevent.sleep(0.1)
                now = time.monotonic()
                late = [g for g, t in inflight.items() if now - t > timeout_s]
                for g in late:
                    inflight.pop(g, None)
                    g.kill(block=False)
                upto = math.floor(now - base - self.settings.grace_s)
                if upto > self._flushed_upto:
                    self._flush(upto)

        cpu_start = _thread_cpu_s()
        tick = gevent.spawn(ticker)
        n, i = len(offsets), 0
        max_in_flight = s.max_in_flight
        try:
            while i < n and not self.stop.is_set():
                now = time.monotonic() - base
                while i < n and offsets[i] <= now:
                    if self._in_flight >= max_in_flight:
                        self._overload(int(now), names[route_idx[i]])
                    else:
                        self._in_flight += 1
                        group.spawn(fire, base + offsets[i], route_idx[i], payload[i])
                    i += 1
                if i < n:
                    # Sleep to the next arrival; a few hundred microseconds of oversleep are
                    # measured as lag, not hidden.
                    # Capped so a stop request is seen within 0.2 s even at low rates.
                    gevent.sleep(min(max(offsets[i] - (time.monotonic() - base), 0.0), 0.2))
            # Stopped early: what was never dispatched is not "sent" and not an error.
            group.join(timeout=timeout_s + 5.0)
            group.kill(block=True, timeout=2.0)
        finally:
            tick.kill()
            self._flush(10**9)
            for client in clients.values():
                client.close()
        self.sink(
            {
                "type": "done",
                "unsent": n - i,
                "cpu_s": round(_thread_cpu_s() - cpu_start, 6),
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

    def _overload(self, second: int, route: str) -> None:
        self._bucket(second, route).errors["generator_overload"] += 1


def _thread_cpu_s() -> float:
    """CPU seconds (user + system) used by this thread: the generator's own cost."""
    import resource

    who = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
    usage = resource.getrusage(who)
    return float(usage.ru_utime + usage.ru_stime)
