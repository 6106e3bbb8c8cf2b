"""``msai cluster up|down|status``: the local Kubernetes cluster (``harness.cluster``)."""

from __future__ import annotations

import json

import click

from harness.cluster.cluster import Cluster
from harness.cluster.settings import cluster_settings

__all__ = ["cluster"]


def _cluster() -> Cluster:
    return Cluster(cluster_settings(), say=lambda line: click.echo(f"cluster: {line}", err=True))


@click.group()
def cluster() -> None:
    """A real Kubernetes cluster on this machine (built from source once, cached by version)."""


@cluster.command()
def up() -> None:
    """Build (first time), start and wait for every node Ready; prints the kubeconfig path."""
    status = _cluster().up()
    click.echo(status["kubeconfig"])


@cluster.command()
@click.option("--no-images", is_flag=True, help="skip building and importing the images")
def install(no_images: bool) -> None:
    """Install the chart (ci/cluster-values.yaml) with images built here; waits until Ready."""
    from harness.cluster.install import install_chart, load_images

    c = _cluster()
    if not no_images:
        times = load_images(c)
        click.echo("images: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()), err=True)
    click.echo(f"chart installed and Ready in {install_chart(c):.0f} s", err=True)


@cluster.command()
def down() -> None:
    """Stop every process, container and the cluster's network namespace."""
    stopped = _cluster().down()
    click.echo(f"stopped {len(stopped)} processes" if stopped else "nothing was running")


@cluster.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable: kubeconfig, nodes")
def status(as_json: bool) -> None:
    """Whether the cluster answers, its kubeconfig, nodes and their readiness."""
    st = _cluster().status()
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    click.echo(f"cluster {'up' if st['up'] else 'down'}: {st['server']} (context {st['context']})")
    click.echo(f"kubeconfig: {st['kubeconfig']}")
    for node in st["nodes"]:
        state = "Ready" if node["ready"] else "NotReady"
        if node["unschedulable"]:
            state += ",SchedulingDisabled"
        click.echo(f"  {node['name']:<12} {state}")
