"""Settings of one model-server replica (batching, drain, limits, logs, fault hooks).

One frozen dataclass, read from environment variables with the model's prefix
(``MSAI_NER_``, ``MSAI_VISION_``; ``MSAI_FAKE_`` for the shipped fake). The batching and
drain names follow ``reference-stack/charts/modelserve/values.yaml`` (``maxBatchSize`` ->
``MSAI_NER_MAX_BATCH_SIZE``), so the chart and the local platform set the same knobs.
Model-specific settings (weights, text or image limits, execution provider) belong to the
model's own settings object.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.common.errors import ConfigError
from modelserve.common.settings import env_field, load_settings

__all__ = ["ServerSettings", "load_server_settings"]


@dataclass(frozen=True)
class ServerSettings:
    max_batch_size: int = env_field(16, "largest batch sent to the model (items)")
    # 1 ms, not 5: under load batches fill without waiting (vision saturates at batch 32
    # either way); below it the wait is pure latency (`msai bench serve`, vision at KServe's
    # 70 % rate: p99 8.8 ms at 1 ms vs 15.0 ms at 5 ms).
    max_queue_delay_ms: float = env_field(1.0, "longest an item waits for batch-mates (ms)")
    # Off by default: measured here, a wall-clock budget shrinks batches when the CPU is
    # contended (passes look slow), which lowers efficiency just when the backlog grows.
    # On a CPU, prefer a small MAX_BATCH_SIZE for BERT (NER's default is 4: p99 at 70 % load
    # 56 ms vs 147 ms at 16, 9 % less throughput); the budget suits a dedicated node.
    max_batch_ms: float = env_field(
        0.0,
        "pass-time budget: a batch is also capped at the size whose predicted forward pass "
        "fits this (ms); 0 turns it off",
    )
    queue_capacity: int = env_field(256, "items queued before new requests are shed 429 (items)")
    default_deadline_ms: float = env_field(
        2000.0, "deadline when the request carries none; shed 503 when the wait exceeds it (ms)"
    )
    drain_delay_s: float = env_field(
        2.0, "after SIGTERM keep serving, not ready, this long so endpoints update (s)"
    )
    drain_deadline_s: float = env_field(
        20.0, "then finish in-flight work within this long before exiting (s)"
    )
    interrupt_grace_s: float = env_field(
        2.0,
        "at the drain deadline a running forward pass is interrupted and may take this long "
        "to return; past it the pass is abandoned and the process exits without it (s)",
    )
    max_body_bytes: int = env_field(8 * 1024 * 1024, "largest request body accepted (bytes)")
    parse_workers: int = env_field(
        1,
        "threads that parse costly requests (INLINE_PARSE_*) off the event loop; "
        "0: every request on the loop",
    )
    parse_backlog: int = env_field(
        16, "requests that may wait for a parse thread; more are refused 429 (requests)"
    )
    inline_parse_pixels: int = env_field(
        256 * 256,
        "a request whose images hold more pixels in all is decoded on a parse thread, not the "
        "event loop (pixels); 0 with INLINE_PARSE_BYTES 0: every request on the parse threads",
    )
    inline_parse_bytes: int = env_field(
        256 * 1024, "a larger body is decoded (JSON, base64) on a parse thread (bytes)"
    )
    stall_after_s: float = env_field(
        30.0, "liveness fails when one forward pass has run longer than this (s)"
    )
    max_connections: int = env_field(
        2048, "open connections; one more is answered 503 with Retry-After and closed"
    )
    max_url_bytes: int = env_field(8 * 1024, "longest request line target (bytes); 414 above")
    max_header_bytes: int = env_field(
        64 * 1024, "header names and values of one request in all (bytes); 431 above"
    )
    max_headers: int = env_field(100, "header fields in one request; 431 above")
    read_timeout_s: float = env_field(
        30.0, "a request must be fully received this long after its first byte; 408 after (s)"
    )
    keep_alive_s: float = env_field(
        5.0, "a connection with no request in progress is closed after this idle time (s)"
    )
    access_log: bool = env_field(True, "log one JSON line per inference request")
    direct_http: bool = env_field(
        True,
        "answer the JSON route's plain JSON requests from the HTTP protocol, without ASGI "
        "(modelserve.direct); false: every request through the ASGI app",
    )
    log_level: str = env_field("INFO", "log level (DEBUG, INFO, WARNING, ERROR)")
    model_version: str = env_field(
        "", "version reported in responses; empty: the model's own (first of its versions)"
    )
    fault_hooks: bool = env_field(False, "enable the built-in fault hooks (admin endpoint)")
    admin_token: str = env_field("", "token the admin endpoint requires (x-admin-token header)")
    fault_seed: int = env_field(0, "seed of the fault hooks' random draws (repeatable runs)")
    fault_slow_load_s: float = env_field(
        0.0, "fault hook: extra seconds spent loading the model (needs fault_hooks)"
    )

    def validate(self) -> None:
        positive = {
            "MAX_BATCH_SIZE": self.max_batch_size,
            "QUEUE_CAPACITY": self.queue_capacity,
            "DEFAULT_DEADLINE_MS": self.default_deadline_ms,
            "MAX_BODY_BYTES": self.max_body_bytes,
            "STALL_AFTER_S": self.stall_after_s,
            "MAX_CONNECTIONS": self.max_connections,
            "MAX_URL_BYTES": self.max_url_bytes,
            "MAX_HEADER_BYTES": self.max_header_bytes,
            "MAX_HEADERS": self.max_headers,
            "READ_TIMEOUT_S": self.read_timeout_s,
            "KEEP_ALIVE_S": self.keep_alive_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be > 0, got {value}", field=name)
        for name, value in {
            "MAX_QUEUE_DELAY_MS": self.max_queue_delay_ms,
            "MAX_BATCH_MS": self.max_batch_ms,
            "DRAIN_DELAY_S": self.drain_delay_s,
            "DRAIN_DEADLINE_S": self.drain_deadline_s,
            "INTERRUPT_GRACE_S": self.interrupt_grace_s,
            "FAULT_SLOW_LOAD_S": self.fault_slow_load_s,
            "PARSE_WORKERS": self.parse_workers,
            "PARSE_BACKLOG": self.parse_backlog,
            "INLINE_PARSE_PIXELS": self.inline_parse_pixels,
            "INLINE_PARSE_BYTES": self.inline_parse_bytes,
        }.items():
            if value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value}", field=name)
        if self.fault_hooks and not self.admin_token:
            raise ConfigError(
                "FAULT_HOOKS is on but ADMIN_TOKEN is empty: fault hooks need a token",
                field="ADMIN_TOKEN",
            )
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"LOG_LEVEL={self.log_level!r} is not a level", field="LOG_LEVEL")


def load_server_settings(
    prefix: str, environ: Mapping[str, str] | None = None, **defaults: Any
) -> ServerSettings:
    """Settings from ``environ``; ``defaults`` replace the class defaults (env still wins).

    Vision batches 32 by default (values.yaml), NER 16: each app passes its own defaults.
    """
    env = dict(os.environ if environ is None else environ)
    names = {f.name for f in dataclasses.fields(ServerSettings)}
    for key, value in defaults.items():
        if key not in names:
            raise ConfigError(f"unknown server setting {key!r}", field=key)
        env.setdefault(prefix + key.upper(), str(value))
    return load_settings(ServerSettings, prefix, env)
