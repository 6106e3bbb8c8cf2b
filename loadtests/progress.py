"""Progress lines on the terminal for long loads: rate, errors, p99. Quiet in CI.

Quiet when ``CI`` is true or ``MSAI_QUIET=1`` (or when asked), so CI logs hold results, not
a ticker. Lines go to stderr, one every ``every_s`` seconds of load.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from harness.latency import merge_histograms, percentiles_ms
from harness.settings import settings
from loadtests.timeline import Bucket, RouteSummary

__all__ = ["Progress", "quiet"]


def quiet() -> bool:
    """True in CI (``CI=true``) or with ``MSAI_QUIET=1``."""
    ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return ci or settings().quiet


class Progress:
    def __init__(
        self,
        duration_s: float,
        every_s: float,
        *,
        enabled: bool | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.duration_s = duration_s
        self.every_s = max(every_s, 1.0)
        self.enabled = (not quiet()) if enabled is None else enabled
        self.out = out or sys.stderr
        self._window: list[Bucket] = []
        self._sent = self._ok = self._errors = 0

    def second(self, bucket: Bucket) -> None:
        """Feed each finished second's ``"all"`` bucket."""
        self._sent += bucket.sent
        self._ok += bucket.completed
        self._errors += bucket.error_count
        self._window.append(bucket)
        if not self.enabled or len(self._window) < self.every_s:
            return
        sent = sum(b.sent for b in self._window)
        errors = sum(b.error_count for b in self._window)
        hists = [b.hist for b in self._window if b.hist is not None]
        p99 = percentiles_ms(merge_histograms(hists, 2))["p99_ms"] if hists else None
        rate = sent / len(self._window)
        self._print(
            f"load {bucket.second + 1:>4}/{self.duration_s:.0f}s  rate {rate:8.1f}/s  "
            f"ok {self._ok}  errors {self._errors} (+{errors})  "
            f"p99 {'-' if p99 is None else f'{p99:.1f} ms'}"
        )
        self._window = []

    def done(self, summary: RouteSummary) -> None:
        if not self.enabled:
            return
        pct = percentiles_ms(summary.hist)
        ratio = summary.error_ratio
        self._print(
            f"load done: sent {summary.sent}  ok {summary.completed}  errors "
            f"{summary.error_count}{'' if ratio is None else f' ({ratio:.2%})'}  "
            f"p50 {pct['p50_ms']} ms  p99 {pct['p99_ms']} ms  max {pct['max_ms']} ms"
        )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)
