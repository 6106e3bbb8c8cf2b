"""A small open-loop HTTP/1.1 load generator: Poisson arrivals, latency from intended time.

Each request is due at a time drawn from a seeded Poisson process and is sent then, whatever
earlier requests are doing (open loop); its latency counts from that intended time, so a
server that stalls cannot hide the requests that queued meanwhile (no coordinated omission).
Connections are kept alive and pooled; a request that finds none idle opens a new one, up
to ``max_conns``, after which it waits for one (and that wait is in its latency).

Run as a process so it can be pinned apart from the server::

    python -m msai.servebench.loadgen '{"port": 8080, "path": "/v1/ner", ...}' [OUT]

writes one JSON object (:class:`LoadResult` as a dict) to OUT, or prints it. Kept
dependency-free and minimal on purpose: one core of it sends several thousand requests/s,
well above what the servers under test reach here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from collections import Counter, deque
from dataclasses import asdict, dataclass, field

__all__ = ["LoadResult", "LoadSpec", "percentile", "run_closed_loop", "run_open_loop"]

_MAX_IDLE_S = 2.0  # well under servers' keep-alive timeouts (uvicorn: 5 s)


@dataclass(frozen=True)
class LoadSpec:
    port: int
    path: str
    bodies: list[str]  # request bodies (JSON text), used round-robin
    rate: float  # requests/s offered
    duration_s: float
    host: str = "127.0.0.1"
    seed: int = 1
    max_conns: int = 256
    timeout_s: float = 10.0
    warmup_s: float = 0.0  # requests due before this are sent but not recorded
    content_type: str = "application/json"
    # > 0: closed loop instead, this many connections each sending its next request when the
    # last is answered (``rate`` unused). Used to find what rate to offer, not to report.
    concurrency: int = 0


@dataclass
class LoadResult:
    rate: float
    duration_s: float
    sent: int = 0  # requests due inside the window
    ok: int = 0  # 200 answers that completed inside the window
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)  # 200s of requests due in window
    lag_p99_ms: float = 0.0  # how late the generator dispatched (its own health)
    conns: int = 0
    answered: int = 0  # every response of the run, any status, warm-up and tail included
    ok_total: int = 0  # every 200 of the run, warm-up and tail included

    @property
    def goodput(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` % quantile (``q`` in 0..100) by the project's one definition (HDR's, in
    ``harness.latency``); NaN for no values."""
    from harness.latency import quantile_of  # imported here: the generator starts without it

    value = quantile_of(values, q)
    return float("nan") if value is None else value


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _exchange(conn: _Conn, request: bytes, timeout: float) -> tuple[int, bool]:
    """Send one request, read one response; (status, keep_alive)."""
    conn.writer.write(request)
    head = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    keep = True
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await conn.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await conn.reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await asyncio.wait_for(conn.reader.readexactly(length), timeout)
    return status, keep


def _requests(spec: LoadSpec) -> list[bytes]:
    return [
        (
            f"POST {spec.path} HTTP/1.1\r\nHost: {spec.host}\r\n"
            f"Content-Type: {spec.content_type}\r\nContent-Length: {len(b.encode())}\r\n\r\n"
        ).encode()
        + b.encode()
        for b in spec.bodies
    ]


async def run_open_loop(spec: LoadSpec) -> LoadResult:
    rng = random.Random(spec.seed)
    requests = _requests(spec)
    total_s = spec.warmup_s + spec.duration_s
    result = LoadResult(rate=spec.rate, duration_s=spec.duration_s)
    errors: Counter[str] = Counter()
    idle: list[_Conn] = []
    waiting: deque[asyncio.Future[_Conn | None]] = deque()
    open_conns = 0
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def get_conn() -> _Conn:
        nonlocal open_conns
        while idle:
            conn = idle.pop()
            if loop.time() - conn.last_used < _MAX_IDLE_S:
                return conn
            conn.close()  # the server may be closing it (keep-alive timeout): do not race it
            open_conns -= 1
        if open_conns < spec.max_conns:
            open_conns += 1
            result.conns = max(result.conns, open_conns)
            try:
                r, w = await asyncio.open_connection(spec.host, spec.port)
            except BaseException:
                open_conns -= 1
                raise
            return _Conn(r, w)
        fut: asyncio.Future[_Conn | None] = loop.create_future()
        waiting.append(fut)
        handed = await fut
        if handed is None:  # a slot was freed by a closed connection
            return await get_conn()
        return handed

    def put_conn(conn: _Conn | None) -> None:
        """Hand ``conn`` (None: a closed one's slot) to the oldest waiter, else keep it idle."""
        nonlocal open_conns
        if conn is None:
            open_conns -= 1
        while waiting:
            fut = waiting.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        if conn is not None:
            conn.last_used = loop.time()
            idle.append(conn)

    async def one(due: float, request: bytes, record: bool) -> None:
        conn: _Conn | None = None
        try:
            conn = await get_conn()
            status, keep = await _exchange(conn, request, spec.timeout_s)
            if not keep:
                conn.close()
                conn = None
                put_conn(None)
            else:
                put_conn(conn)
                conn = None
            done = loop.time()
            result.answered += 1
            if status == 200:
                result.ok_total += 1
                if window_start <= done < window_end:
                    result.ok += 1  # throughput: answers completed inside the window
                if record:
                    result.latencies_ms.append((done - due) * 1000.0)
            elif record:
                errors[f"http_{status}"] += 1
        except TimeoutError:
            if record:
                errors["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            if record:
                errors[type(exc).__name__] += 1
        finally:
            if conn is not None:
                conn.close()
                put_conn(None)

    start = loop.time() + 0.05
    window_start = start + spec.warmup_s
    window_end = window_start + spec.duration_s
    t = 0.0
    i = 0
    while True:
        t += rng.expovariate(spec.rate)
        if t >= total_s:
            break
        due = start + t
        now = loop.time()
        if due > now:
            await asyncio.sleep(due - now)
        lags.append(max(0.0, loop.time() - due))
        record = t >= spec.warmup_s
        if record:
            result.sent += 1
        task = asyncio.ensure_future(one(due, requests[i % len(requests)], record))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.wait(list(tasks), timeout=spec.timeout_s + 1)
    for task in list(tasks):
        task.cancel()
        errors["unfinished"] += 1
    for conn in idle:
        conn.close()
    result.errors = dict(errors)
    result.lag_p99_ms = percentile([x * 1000 for x in lags], 99)
    return result


async def run_closed_loop(spec: LoadSpec) -> LoadResult:
    """``spec.concurrency`` connections, each sending its next request as soon as the last
    is answered: the server's throughput when it never has more than that many waiting
    (under its queue bound, so nothing is shed). Latency counts from each send."""
    requests = _requests(spec)
    result = LoadResult(rate=0.0, duration_s=spec.duration_s)
    errors: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    window_start = loop.time() + spec.warmup_s
    window_end = window_start + spec.duration_s

    async def worker(k: int) -> None:
        conn: _Conn | None = None
        i = k
        try:
            while loop.time() < window_end:
                if conn is None:
                    conn = _Conn(*await asyncio.open_connection(spec.host, spec.port))
                    result.conns += 1
                sent = loop.time()
                status, keep = await _exchange(conn, requests[i % len(requests)], spec.timeout_s)
                i += spec.concurrency
                done = loop.time()
                result.answered += 1
                if not keep:
                    conn.close()
                    conn = None
                in_window = window_start <= sent and done < window_end
                if in_window:
                    result.sent += 1
                if status == 200:
                    result.ok_total += 1
                    if in_window:
                        result.ok += 1
                        result.latencies_ms.append((done - sent) * 1000.0)
                elif in_window:
                    errors[f"http_{status}"] += 1
        except TimeoutError:
            errors["timeout"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors[type(exc).__name__] += 1
        finally:
            if conn is not None:
                conn.close()

    await asyncio.gather(*(worker(k) for k in range(spec.concurrency)))
    result.errors = dict(errors)
    if result.duration_s:
        result.rate = result.sent / result.duration_s
    return result


def main() -> None:
    spec = LoadSpec(**json.loads(sys.argv[1]))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run_closed_loop(spec) if spec.concurrency > 0 else run_open_loop(spec))
    text = json.dumps(asdict(result))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    # The result carries every latency (hundreds of KB at GPU rates). Under PYTHONUNBUFFERED
    # stdout's binary layer is the raw file, whose write may take only part of a large
    # buffer (a pipe; seen cut at 64 and 128 KiB): print() drops the rest, so loop.
    data = memoryview((text + "\n").encode())
    while data:
        written = sys.stdout.buffer.write(data)
        data = data[written if written is not None else 0 :]
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
