"""``msai up``, ``msai status``, ``msai logs``, ``msai down``: the local stack by hand.

``msai up`` says on stderr what it waits for while the stack starts (a dependency, or which
replicas are not ready yet), so stdout stays the result (``--json`` for scripts)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import yaml

from harness.commandline import INPUT_FILE, echo_json
from harness.errors import ConfigError
from harness.platform.base import StackSpec

__all__ = ["down", "logs", "parse_sets", "status", "up", "waiting_text"]

_PROGRESS_EVERY_S = 5.0  # an unchanged "waiting for" line is repeated this often


def parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in sets:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}", field="--set")
        out[key] = yaml.safe_load(raw) if raw else ""
    return out


@click.command()
@click.option("--profile", default="default", show_default=True, help="values.yaml profile.")
@click.option(
    "--values",
    "values_file",
    type=INPUT_FILE,
    default=None,
    help="Values file (default reference-stack/charts/modelserve/values.yaml).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value by dotted key, e.g. --set ner.replicas=3 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ready stack's state as JSON.")
def up(profile: str, values_file: Path | None, sets: tuple[str, ...], as_json: bool) -> None:
    """Bring the local stack up (cleaning what a crashed run left) and wait until all ready,
    saying on stderr what it waits for."""
    from harness.platform.local.platform import LocalPlatform

    p = LocalPlatform()
    if p.running():
        click.echo("msai up: a local stack is running: stopping it first", err=True)
    t0 = time.monotonic()
    spec = StackSpec(
        profile=profile,
        values_file=str(values_file) if values_file else None,
        overrides=parse_sets(sets),
    )
    last_text, last_at = "", 0.0

    def progress(state: dict[str, Any], waited: float) -> None:
        nonlocal last_text, last_at
        text = waiting_text(state)
        if text != last_text or waited - last_at >= _PROGRESS_EVERY_S:
            click.echo(f"msai up: {waited:3.0f} s  {text}", err=True)
            last_text, last_at = text, waited

    p.up(spec, progress=progress)
    st = p.state()
    if as_json:
        echo_json(st)
        return
    click.echo(f"up in {time.monotonic() - t0:.1f} s (profile {profile})")
    _print_state(st)


def waiting_text(state: dict[str, Any]) -> str:
    """What a starting stack waits for, from the controller's state: a dependency, or the
    replicas of each service that are not ready yet (ready / desired)."""
    if not state:
        return "waiting for the controller to start"
    waiting = str(state.get("waiting_for") or "")
    if waiting != "replicas":
        return f"waiting for {waiting or 'the controller'}"
    ready: dict[str, int] = {}
    for r in state.get("replicas", []):
        if r.get("ready"):
            key = f"{r['service']}/{r['version']}"
            ready[key] = ready.get(key, 0) + 1
    behind = []
    for key, want in sorted(state.get("desired", {}).items()):
        if ready.get(key, 0) < want:
            name = key.removesuffix("/stable")
            behind.append(f"{name} {ready.get(key, 0)}/{want}")
    return "waiting for replicas: " + (", ".join(behind) or "readiness checks") + " ready"


def _print_state(st: dict[str, Any]) -> None:
    urls = st["urls"]
    click.echo(
        f"gateway      {urls['gateway']}   routes: " + ", ".join(f"/{s}/" for s in st["services"])
    )
    for key in (
        "prometheus",
        "alertmanager",
        "envoy_admin",
        "s3",
        "redis",
        "postgresql",
        "webhook",
    ):
        click.echo(f"{key:<12} {urls[key]}")
    click.echo("")
    click.echo(f"{'REPLICA':<22} {'NODE':<11} {'VERSION':<8} {'READY':<6} {'PHASE':<12} URL")
    for r in st["replicas"]:
        click.echo(
            f"{r['name']:<22} {r['node']:<11} {r['version']:<8} "
            f"{'yes' if r['ready'] else 'no':<6} {r['phase']:<12} {r['url']}"
        )
    click.echo("")
    for n in st["nodes"]:
        flags = (
            "terminated" if n["terminated"] else ("schedulable" if n["schedulable"] else "cordoned")
        )
        labels = ",".join(f"{k}={v}" for k, v in n["labels"].items())
        click.echo(
            f"node {n['name']:<10} {flags:<11} {labels}  replicas: "
            + (", ".join(n["replicas"]) or "-")
        )
    if st["injections"]:
        click.echo("")
        for i in st["injections"]:
            click.echo(f"fault {i['id']} {i['kind']} on {i['target']} {i['params']}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the controller's state as JSON.")
def status(as_json: bool) -> None:
    """Show the local stack: URLs, replicas by node and readiness, faults in force."""
    from harness.platform.local.platform import LocalPlatform

    p = LocalPlatform()
    if not p.running():
        left = [e for e in p.ledger.entries()]
        msg = "the local stack is not running"
        if left:
            msg += f" ({len(left)} processes from an earlier run in the ledger: run `msai down`)"
        if as_json:
            click.echo(json.dumps({"phase": "down", "ledger": len(left)}))
        else:
            click.echo(msg)
        return
    st = p.state()
    if as_json:
        click.echo(json.dumps(st, indent=1))
        return
    click.echo(
        f"phase {st['phase']}, profile {st['profile']}"
        + (f", ready in {st['ready_s']:.1f} s" if st.get("ready_s") else "")
    )
    if st.get("error"):
        click.echo(f"error: {st['error']}")
    _print_state(st)


@click.command()
@click.argument("service")
@click.option(
    "-n",
    "--tail",
    "tail",
    type=int,
    default=50,
    show_default=True,
    help="Lines from the end of each log (0 = all).",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
def logs(service: str, tail: int, follow: bool) -> None:
    """Print the logs of SERVICE: a model service (all its replicas), or envoy, redis,
    postgresql, s3, prometheus, alertmanager, controller."""
    from harness.platform.local.settings import state_dir

    folder = state_dir() / "logs"
    files = sorted(
        p for p in folder.glob("*.log") if p.stem == service or p.stem.startswith(f"{service}-")
    )
    if not files:
        known = sorted({p.stem.split("-")[0] for p in folder.glob("*.log")})
        names = ", ".join(known) or "none (the stack was never up)"
        raise ConfigError(
            f"no logs for {service!r} in {folder}; known: {names}",
            field="SERVICE",
        )
    offsets: dict[Path, int] = {}
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        click.echo(f"==> {path} <==")
        for line in lines[-tail:] if tail else lines:
            click.echo(line)
        offsets[path] = path.stat().st_size
    while follow:
        time.sleep(0.5)
        for path in files:
            size = path.stat().st_size
            if size > offsets[path]:
                with open(path, errors="replace") as f:
                    f.seek(offsets[path])
                    for line in f.read().splitlines():
                        click.echo(f"[{path.stem}] {line}")
                offsets[path] = size


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def down(as_json: bool) -> None:
    """Stop the local stack and everything a crashed run left (from the process ledger)."""
    from harness.platform.local.platform import LocalPlatform
    from harness.supervisor import alive

    p = LocalPlatform()
    before = [e for e in p.ledger.entries() if alive(e)]
    p.down()
    left = [e for e in p.ledger.entries() if alive(e)]
    if as_json:
        echo_json({"stopped": len(before), "still_alive": len(left)})
        return
    click.echo(f"stopped {len(before)} processes" + (f"; {len(left)} still alive" if left else ""))
