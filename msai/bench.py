"""``msai bench NAME``: benchmark commands that print figures (and ratios against a baseline
measured in the same run). Each lives beside what it measures and loads lazily."""

from __future__ import annotations

import importlib

import click

__all__ = ["BENCHES", "bench"]

# name -> ("module", "attribute", "one-line help")
BENCHES: dict[str, tuple[str, str, str]] = {
    "serve": (
        "msai.servebench.command",
        "bench_serve",
        "Model server vs raw ONNX Runtime vs KServe: throughput, p50/p99, GFLOP/s.",
    ),
    "platform": (
        "harness.platform.local.bench",
        "bench_platform",
        "Local platform: up-to-ready, gateway overhead, fault toggle latency.",
    ),
    "orchestrator": (
        "msai.bench_orchestrator",
        "bench_orchestrator",
        "Pipeline overhead (end-to-end minus step latencies) at 50 runs/s vs direct calls.",
    ),
    "load": (
        "loadtests.bench",
        "bench_load",
        "Open-loop generator vs stock Locust per core; the coordinated-omission gap.",
    ),
}


class _Benches(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(BENCHES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in BENCHES:
            return None
        module, attr, _ = BENCHES[cmd_name]
        cmd = getattr(importlib.import_module(module), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Benchmarks"):
            formatter.write_dl([(n, BENCHES[n][2]) for n in self.list_commands(ctx)])


@click.group(cls=_Benches)
def bench() -> None:
    """Benchmarks that print figures and ratios against a baseline from the same run."""
