"""``msai bench serve``: per model, in one run on this machine:

(a) raw ONNX Runtime throughput at the server's batch size (:mod:`.offline`), measured
    before the servers and again after them, the ratios using the mean: the machine's speed
    drifts over a run, and one (a) on one side would tilt every ratio by that drift;
(b) ``msai serve``'s saturation throughput under open-loop Poisson load, with p50/p99 there
    and p99 at 70 % of saturation;
(c) the same for KServe's Python ModelServer running the same model object
    (:mod:`.kserve_model`, in ``.venv-kserve``) on the same cores, measured first so that
    ``msai serve`` is also run at KServe's 70 % rate: p99 compared at equal load;

then figures, ratios against the targets (server >= 0.8 x (a); >= 1.5 x (c) at equal or
better p99; p99 at 70 % under 100 ms for NER, 50 ms for the classifier) and GFLOP/s. Each
ratio target is also put as what it allows: the CPU time that serving may add to a request
at this forward pass, and (a) / (c), the ratio that a server costing nothing but its
forward pass would reach; where that is under 1.5, no serving layer meets the target here.

Saturation is measured, not searched: a 2 s closed-loop probe (a fixed number of connections,
fewer than the server's queue holds, so nothing is shed) says what the server can do; then
1.5 x that (at least 40/s) is offered open loop, and what comes back 200 per second is the
saturation throughput. Offering a multiple of the offline ceiling instead buries a server
whose ceiling is far above what its serving layer keeps up with (a GPU): it spends itself
answering 429s. The load generator runs pinned to other cores than the server (``taskset``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import httpx

from harness import loopback
from harness.commandline import DURATION
from harness.errors import MissingBinary, PlatformError
from harness.ports import free_port
from msai.servebench.loadgen import LoadResult, LoadSpec
from msai.servebench.payloads import KINDS, bodies, model_item
from msai.servebench.precision import PRECISIONS, int8_lines, precision_env

__all__ = ["bench_serve"]

ROOT = Path(__file__).resolve().parents[2]
# The interpreter that has ``kserve``: its own venv by default, since KServe pins versions
# the project does not; MSAI_KSERVE_PYTHON names another (a machine where one env has both).
KSERVE_PY = Path(os.environ.get("MSAI_KSERVE_PYTHON") or ROOT / ".venv-kserve" / "bin" / "python")
P99_TARGET_MS = {"ner": 100.0, "vision": 50.0, "fake": 50.0}
RAW_TARGET = 0.8  # server saturation / (a)
KSERVE_TARGET = 1.5  # server saturation / (c), at equal or better p99


def _batch(kind: str) -> int:
    """The server's max batch size for ``kind``, as it will read it (env, then defaults)."""
    from modelserve.common.server_settings import load_server_settings

    if kind == "ner":
        from modelserve.ner.app import server_settings
    elif kind == "vision":
        from modelserve.vision.app import server_settings
    else:
        return load_server_settings("MSAI_FAKE_").max_batch_size
    return server_settings().max_batch_size


@dataclass
class Served:
    name: str
    saturation: LoadResult
    at70: LoadResult
    per_cpu_s: float  # 200s per CPU second of the server during the saturation run
    at_other: LoadResult | None = None  # at the other server's 70 % rate (equal-load p99)


def _probe_conns(batch: int) -> int:
    """Connections for the capacity probe: enough to fill batches four deep, and under the
    server's default queue bound (256 items) so the probe itself is never shed."""
    return min(192, max(32, 4 * batch))


def _batch_stats(port: int) -> tuple[float, float]:
    """(forward passes, items) so far from the server's /metrics; zeros where absent."""
    try:
        text = loopback.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0, 0.0
    count = total = 0.0
    for line in text.splitlines():
        if line.startswith("modelserve_batch_size_count{"):
            count = float(line.rsplit(" ", 1)[1])
        elif line.startswith("modelserve_batch_size_sum{"):
            total = float(line.rsplit(" ", 1)[1])
    return count, total


def _cpu_s(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _cores() -> tuple[list[int], list[int]]:
    """(server cores, generator cores): the generator gets the first core (a quarter of them
    from 8 up: a GPU server outruns one generator process), the server the rest; on one core
    both share it."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) == 1:
        return cores, cores
    n_gen = max(1, len(cores) // 4) if len(cores) >= 8 else 1
    return cores[n_gen:], cores[:n_gen]


def _taskset(cores: list[int]) -> list[str]:
    exe = shutil.which("taskset")
    return [exe, "-c", ",".join(map(str, cores))] if exe else []


def _env(kind: str, threads: int, precision: str = "fp32") -> dict[str, str]:
    prefix = f"MSAI_{kind.upper()}_"
    return {
        **os.environ,
        prefix + "THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
        **precision_env(kind, precision),
    }


def _json_run(argv: list[str], env: dict[str, str], timeout: float) -> Any:
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if out.returncode != 0:
        raise PlatformError(f"{' '.join(argv[:6])} failed: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load(spec: LoadSpec, gen_cores: list[int]) -> LoadResult:
    """One generator process per generator core, each with its share of the rate and of the
    connections (and its own seed); their results merged."""
    n = len(gen_cores)
    procs = []
    outs = []
    tmp = Path(tempfile.mkdtemp(prefix="msai-loadgen-"))
    for i, core in enumerate(gen_cores):
        share = replace(
            spec,
            rate=spec.rate / n,
            seed=spec.seed * 1000 + i,
            concurrency=-(-spec.concurrency // n) if spec.concurrency else 0,
            # The connection cap is the run's, shared out: four generators (a GPU machine)
            # with 256 each would hold 1,024 requests at the server, past its queue bound,
            # and measure shedding instead of serving.
            max_conns=max(1, spec.max_conns // n),
        )
        argv = [
            *_taskset([core]),
            sys.executable,
            "-m",
            "msai.servebench.loadgen",
            json.dumps(share.__dict__),
            str(tmp / f"{i}.json"),
        ]
        outs.append(tmp / f"{i}.json")
        procs.append(
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    parts = []
    try:
        for p, path in zip(procs, outs, strict=True):
            _, err = p.communicate(timeout=spec.warmup_s + spec.duration_s + 60)
            if p.returncode != 0:
                raise PlatformError(f"load generator failed: {err[-1500:]}")
            parts.append(LoadResult(**json.loads(path.read_text())))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Closed loop: the rate is what the parts reached, not what was asked.
    rate = sum(r.rate for r in parts) if spec.concurrency else spec.rate
    merged = LoadResult(rate=rate, duration_s=spec.duration_s)
    errors: dict[str, int] = {}
    for r in parts:
        merged.sent += r.sent
        merged.ok += r.ok
        merged.answered += r.answered
        merged.ok_total += r.ok_total
        merged.conns += r.conns
        merged.latencies_ms += r.latencies_ms
        merged.lag_p99_ms = max(merged.lag_p99_ms, r.lag_p99_ms)
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
    merged.errors = errors
    return merged


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise PlatformError(
                f"server exited {proc.returncode}; log {log}:\n{log.read_text()[-1500:]}"
            )
        try:
            if loopback.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise PlatformError(f"server not ready after {timeout} s; log {log}")


def _measure(
    name: str,
    port: int,
    path: str,
    payloads: list[str],
    conns: int,
    duration: float,
    gen_cores: list[int],
    pid: int,
    other_rate: float | None = None,
) -> Served:
    base = LoadSpec(port=port, path=path, bodies=payloads, rate=200.0, duration_s=1.0, seed=11)
    _load(base, gen_cores)  # warm up: connections, caches
    probe = _load(replace(base, concurrency=conns, duration_s=2.0, warmup_s=0.5), gen_cores)
    over = max(40.0, 1.5 * probe.goodput)
    click.echo(
        f"  {name}: closed-loop probe ({conns} connections) {probe.goodput:.0f} req/s, "
        f"p50 {probe.p(50):.1f} ms, errors {probe.errors}"
    )
    base = replace(base, rate=over)
    cpu0 = _cpu_s(pid)
    batches0 = _batch_stats(port)
    sat = _load(replace(base, duration_s=duration, warmup_s=1.0), gen_cores)
    # Successful answers per CPU second; what shedding the rest cost is in the CPU time.
    per_cpu = sat.ok_total / max(_cpu_s(pid) - cpu0, 1e-9)
    batches1 = _batch_stats(port)
    if batches1[0] > batches0[0]:
        mean = (batches1[1] - batches0[1]) / (batches1[0] - batches0[0])
        click.echo(f"  {name}: mean batch at saturation {mean:.1f} items")
    rate70 = max(1.0, 0.7 * sat.goodput)
    at70 = _load(replace(base, rate=rate70, duration_s=duration, warmup_s=1.0), gen_cores)
    click.echo(
        f"  {name}: saturation {sat.goodput:.0f} req/s (offered {over:.0f}/s, "
        f"errors {sat.errors}, generator lag p99 {sat.lag_p99_ms:.1f} ms); at 70% "
        f"({rate70:.0f}/s) p99 {at70.p(99):.1f} ms, errors {at70.errors}"
    )
    at_other = None
    if other_rate is not None:
        at_other = _load(
            replace(base, rate=other_rate, duration_s=duration, warmup_s=1.0), gen_cores
        )
        click.echo(
            f"  {name}: at the baseline's 70% rate ({other_rate:.0f}/s) p99 "
            f"{at_other.p(99):.1f} ms, errors {at_other.errors}"
        )
    return Served(name, sat, at70, per_cpu, at_other)


def _run_model(
    kind: str, duration: float, kserve: bool, workdir: Path, precision: str = "fp32"
) -> dict[str, Any]:
    server_cores, gen_cores = _cores()
    threads = len(server_cores)
    batch = _batch(kind)
    click.echo(
        f"[{kind}] server cores {server_cores}, load generator cores {gen_cores}, "
        f"{threads} runtime thread(s), batch {batch}"
    )
    offline = _offline(kind, batch, duration, server_cores, precision=precision)
    fp32 = _offline(kind, batch, duration, server_cores, False) if precision != "fp32" else {}
    if fp32:
        click.echo(f"  (a) fp32 raw runtime {fp32['raw_items_s']:.0f} items/s at batch {batch}")
    click.echo(
        f"  (a) {precision} raw runtime {offline['raw_items_s']:.0f} items/s at batch {batch} "
        f"(predict() {offline['predict_items_s']:.0f}/s, {offline.get('runtime')} on "
        f"{offline['device']})"
    )
    payloads = bodies(kind)
    results: dict[str, Any] = {
        "kind": kind,
        "batch": batch,
        "offline": offline,
        "server_cores": server_cores,
        "generator_cores": gen_cores,
    }
    if kserve:
        if not KSERVE_PY.exists():
            raise MissingBinary(
                str(KSERVE_PY),
                "pip:kserve",
                "run scripts/setup --kserve, set MSAI_KSERVE_PYTHON, or pass --no-kserve",
            )
        port = free_port()
        log = workdir / f"{kind}-kserve.log"
        script = str(Path(__file__).with_name("kserve_model.py"))
        proc = _start(
            [*_taskset(server_cores), str(KSERVE_PY), script, kind, str(port)],
            _env(kind, threads),
            log,
        )
        try:
            _wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", proc, log, 180)
            wrapped = [
                json.dumps({"instances": [model_item(kind, json.loads(b))]}) for b in payloads
            ]
            results["kserve"] = _measure(
                "kserve",
                port,
                f"/v1/models/{kind}:predict",
                wrapped,
                _probe_conns(batch),
                duration,
                gen_cores,
                proc.pid,
            )
        finally:
            _stop(proc)
    port = free_port()
    log = workdir / f"{kind}-msai.log"
    proc = _start(
        [
            *_taskset(server_cores),
            sys.executable,
            "-m",
            "modelserve",
            "serve",
            kind,
            "--port",
            str(port),
        ],
        _env(kind, threads, precision),
        log,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", proc, log, 180)
        path = {"ner": "/v1/ner", "vision": "/v1/classify", "fake": "/v1/echo"}[kind]
        results["msai"] = _measure(
            "msai serve",
            port,
            path,
            payloads,
            _probe_conns(batch),
            duration,
            gen_cores,
            proc.pid,
            other_rate=results["kserve"].at70.rate if "kserve" in results else None,
        )
    finally:
        _stop(proc)
    # (a) again, now that the servers are done: the machine's speed drifts over a run, and a
    # single (a) taken before both servers would tilt every ratio with that drift.
    after = _offline(kind, batch, duration, server_cores, flops=False, precision=precision)
    results["offline"] = _bracket(offline, after)
    if fp32:
        results["offline_fp32"] = _bracket(
            fp32, _offline(kind, batch, duration, server_cores, flops=False)
        )
    click.echo(
        f"  (a) again after the servers: {after['raw_items_s']:.0f} items/s "
        f"(predict() {after['predict_items_s']:.0f}/s); the ratios use the mean of the two"
    )
    return results


def _offline(
    kind: str,
    batch: int,
    duration: float,
    cores: list[int],
    flops: bool = True,
    precision: str = "fp32",
) -> dict[str, Any]:
    """(a): the model alone at ``batch``, on the server's cores, in its own process."""
    spec = {"kind": kind, "batch": batch, "seconds": max(2.0, duration / 2), "flops": flops}
    argv = [*_taskset(cores), sys.executable, "-m", "msai.servebench.offline", json.dumps(spec)]
    return dict(_json_run(argv, _env(kind, len(cores), precision), 600))


_RATES = ("raw_items_s", "predict_items_s", "raw_items_cpu_s", "predict_items_cpu_s")


def _bracket(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One (a) from the measurements before and after the servers: each rate their mean,
    both kept under ``runs`` (their spread is the drift the run saw)."""
    merged = {**before, "runs": [before, after]}  # FLOPs per item: counted before only
    for key in _RATES:
        values = [m[key] for m in (before, after) if m.get(key)]
        if values:
            merged[key] = sum(values) / len(values)
    return merged


def _ratio(a: float, b: float) -> float:
    """a / b; NaN when b is 0 (a side that measured nothing), which meets no target."""
    return a / b if b else float("nan")


def _down(ratio: float) -> float:
    """``ratio`` rounded down to two decimals for display, so that a ratio just under its
    target (0.797) reads 0.79 beside MISSES, not 0.80. The epsilon absorbs binary error."""
    return math.floor(ratio * 100 + 1e-9) / 100 if math.isfinite(ratio) else ratio


def _verdict(ok: bool) -> str:
    return "MEETS" if ok else "MISSES"


# Past this, the open-loop generators were not sending on schedule: the offered rate was not
# reached, so a saturation figure is a lower bound (a GPU server can outrun them).
LAG_LIMIT_MS = 20.0


def _lag_warning(s: Served) -> list[str]:
    lag = s.saturation.lag_p99_ms
    if lag <= LAG_LIMIT_MS:
        return []
    return [
        f"    ! load generators fell behind (dispatch lag p99 {lag:.0f} ms): saturation "
        "is a lower bound"
    ]


def _report(r: dict[str, Any]) -> list[str]:
    kind = r["kind"]
    off = r["offline"]
    msai: Served = r["msai"]
    sat = msai.saturation.goodput
    lines = [f"== {kind} (batch {r['batch']}, server cores {r['server_cores']}) =="]
    lines.append(
        f"(a) raw runtime offline      {off['raw_items_s']:8.1f} items/s   "
        f"predict() {off['predict_items_s']:.1f}/s ({off.get('runtime')} on {off['device']})"
    )
    runs = off.get("runs") or []
    if len(runs) == 2:
        lo, hi = sorted(run["raw_items_s"] for run in runs)
        lines.append(
            f"    mean of before and after the servers: {runs[0]['raw_items_s']:.1f} and "
            f"{runs[1]['raw_items_s']:.1f} (the machine drifted {_ratio(hi - lo, lo):.0%})"
        )
    lines += int8_lines(r)
    lines.append(
        f"(b) msai serve saturation    {sat:8.1f} req/s     p50 "
        f"{msai.saturation.p(50):7.1f} ms  p99 {msai.saturation.p(99):7.1f} ms"
    )
    lines += _lag_warning(msai)
    lines.append(
        f"    at 70% ({msai.at70.rate:.0f}/s)             p50 {msai.at70.p(50):7.1f} ms"
        f"  p99 {msai.at70.p(99):7.1f} ms"
    )
    ratio_a = _ratio(sat, off["raw_items_s"])
    lines.append(
        f"    server / (a)             {_down(ratio_a):8.2f}   target >= {RAW_TARGET:.2f}: "
        f"{_verdict(ratio_a >= RAW_TARGET)}"
    )
    raw_cpu = off.get("raw_items_cpu_s") or float("nan")
    pred_cpu = off.get("predict_items_cpu_s") or float("nan")
    lines.append(
        f"    per CPU second: server {msai.per_cpu_s:.1f} req, (a) {raw_cpu:.1f} items: "
        f"{_ratio(msai.per_cpu_s, raw_cpu):.2f} (the fair ratio on a shared machine); the model's "
        f"predict() {pred_cpu:.1f}: serving layer keeps {_ratio(msai.per_cpu_s, pred_cpu):.2f}"
    )
    if msai.per_cpu_s > 0 and raw_cpu > 0:
        # What serving adds per request, in CPU time: independent of the model's size, so
        # it says what the ratio above would be for a heavier model (or a GPU) too.
        overhead_us = (1.0 / msai.per_cpu_s - 1.0 / raw_cpu) * 1e6
        lines.append(
            f"    CPU per request: {1e6 / msai.per_cpu_s:.0f} us, of which the forward pass "
            f"{1e6 / raw_cpu:.0f} us and serving (HTTP, parsing, batching, logs) "
            f"{overhead_us:.0f} us"
        )
        # The target as a budget: how much serving a request may cost at this forward pass.
        # A light model leaves little (a quarter of its forward pass), whatever serves it.
        budget_us = (1.0 / RAW_TARGET - 1.0) * 1e6 / raw_cpu
        verdict = (
            "within it" if overhead_us <= budget_us else f"{overhead_us - budget_us:.0f} us over"
        )
        lines.append(
            f"    the {RAW_TARGET:.2f} target allows {budget_us:.0f} us of serving a request at "
            f"this forward pass; this run's {overhead_us:.0f} us is {verdict}"
        )
    target = P99_TARGET_MS[kind]
    lines.append(
        f"    p99 at 70%               {msai.at70.p(99):8.1f} ms target < {target:.0f}"
        f" ms: {_verdict(msai.at70.p(99) < target)}"
    )
    ks: Served | None = r.get("kserve")
    if ks is not None:
        ksat = ks.saturation.goodput
        lines.append(
            f"(c) kserve saturation        {ksat:8.1f} req/s     p50 "
            f"{ks.saturation.p(50):7.1f} ms  p99 {ks.saturation.p(99):7.1f} ms"
        )
        lines += _lag_warning(ks)
        lines.append(
            f"    at 70% ({ks.at70.rate:.0f}/s)             p50 {ks.at70.p(50):7.1f} ms"
            f"  p99 {ks.at70.p(99):7.1f} ms"
        )
        lines.append(
            f"    per CPU second: server {msai.per_cpu_s:.1f} req, kserve {ks.per_cpu_s:.1f} "
            f"req: {_ratio(msai.per_cpu_s, ks.per_cpu_s):.2f}x"
        )
        ratio_c = _ratio(sat, ksat)  # KServe served nothing: no comparison, so no MEETS
        ours = msai.at_other if msai.at_other is not None else msai.at70
        better_p99 = ours.p(99) <= ks.at70.p(99)
        lines.append(
            f"    at kserve's 70% rate ({ks.at70.rate:.0f}/s): p99 msai {ours.p(99):.1f} ms, "
            f"kserve {ks.at70.p(99):.1f} ms"
        )
        lines.append(
            f"    server / kserve          {_down(ratio_c):8.2f}x  target >= {KSERVE_TARGET}x "
            "at equal or better p99 at equal load: "
            f"{_verdict(ratio_c >= KSERVE_TARGET and better_p99)}"
        )
        # What batching alone can win over a server that runs one item a pass: (a) is the
        # forward pass at this batch size with nothing around it. Below the target, no
        # serving layer meets it on these cores at this batch size.
        ceiling = _ratio(off["raw_items_s"], ksat)
        lines.append(
            f"    ceiling (a) / kserve     {_down(ceiling):8.2f}x  (a server at batch "
            f"{r['batch']} that cost nothing but its forward pass)"
            + ("" if ceiling >= KSERVE_TARGET else f": under {KSERVE_TARGET}x on these cores")
        )
    flops = off.get("flops_per_item")
    if flops:
        lines.append(
            f"GFLOP/s: (a) {off['raw_items_s'] * flops / 1e9:.1f}, server "
            f"{sat * flops / 1e9:.1f} ({flops / 1e6:.1f} MFLOP per item, "
            f"{off.get('runtime')} on {off['device']})"
        )
    return lines


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--model",
    "models",
    type=click.Choice([*KINDS, "all"]),
    default="all",
    show_default=True,
    help="Which model (all: ner and vision).",
)
@click.option(
    "--duration",
    type=DURATION,
    default="10s",
    show_default=True,
    help="Load per measured phase: 10s, 1m ...",
)
@click.option(
    "--kserve/--no-kserve",
    default=True,
    show_default=True,
    help="Also measure KServe's ModelServer (needs scripts/setup --kserve).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="Model precision of (a) and msai serve; int8 also prints int8 / fp32 raw "
    "throughput, and KServe keeps fp32.",
)
@click.option(
    "--json-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the figures as JSON here.",
)
def bench_serve(
    models: str, duration: float, kserve: bool, precision: str, json_out: Path | None
) -> None:
    """Model server vs raw ONNX Runtime vs KServe, same machine, same cores, one run."""
    if precision != "fp32" and models == "fake":
        raise click.BadParameter("the fake model has no int8 variant", param_hint="--precision")

    kinds = ["ner", "vision"] if models == "all" else [models]
    results = []
    with tempfile.TemporaryDirectory(prefix="msai-bench-serve-") as tmp:
        for kind in kinds:
            results.append(_run_model(kind, duration, kserve, Path(tmp), precision))
    click.echo("")
    load1, load5, _ = os.getloadavg()
    click.echo(
        f"machine: {os.cpu_count()} CPUs, load average {load1:.1f} (1 min) {load5:.1f} "
        f"(5 min) at the end; figures from a shared machine vary with that load"
    )
    for r in results:
        for line in _report(r):
            click.echo(line)
    if json_out is not None:

        def plain(s: Served) -> dict[str, Any]:
            return {
                "saturation_rps": s.saturation.goodput,
                "requests_per_cpu_s": s.per_cpu_s,
                "saturation_p50_ms": s.saturation.p(50),
                "saturation_p99_ms": s.saturation.p(99),
                "at70_rate": s.at70.rate,
                "at70_p50_ms": s.at70.p(50),
                "at70_p99_ms": s.at70.p(99),
                "at_baseline_rate_p99_ms": s.at_other.p(99) if s.at_other else None,
                "generator_lag_p99_ms": s.saturation.lag_p99_ms,
                "errors": {"saturation": s.saturation.errors, "at70": s.at70.errors},
            }

        out = [
            {k: (plain(v) if isinstance(v, Served) else v) for k, v in r.items()} for r in results
        ]
        json_out.write_text(json.dumps(out, indent=2))
