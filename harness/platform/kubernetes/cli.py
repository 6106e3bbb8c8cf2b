"""``msai kind up|down``, ``msai eks check`` and ``msai export litmus``."""

from __future__ import annotations

from pathlib import Path

import click

from harness.commandline import INPUT_FILE, echo_json

__all__ = ["eks", "export", "kind"]


@click.group()
def kind() -> None:
    """A kind cluster with the chart: create and install (up), delete (down)."""


@kind.command("up")
@click.option(
    "-f",
    "--values",
    "values",
    multiple=True,
    type=INPUT_FILE,
    help="Extra values file for the modelserve chart (repeatable).",
)
@click.option("--no-build", is_flag=True, help="Load images already built instead of building.")
def kind_up_cmd(values: tuple[Path, ...], no_build: bool) -> None:
    """Create the cluster from reference-stack/kind, build and load the images, install Istio,
    KEDA, kube-prometheus-stack and the chart with Helm, and wait until every service is ready.
    Needs docker (with a running engine), kind, kubectl and helm; says which are missing."""
    from harness.platform.kubernetes.kind import kind_up
    from harness.platform.kubernetes.settings import k8s_settings, kind_settings

    kind_up(kind_settings(), k8s_settings(), values=tuple(map(str, values)), build=not no_build)
    click.echo("kind cluster ready")


@kind.command("down")
def kind_down_cmd() -> None:
    """Delete the kind cluster (MSAI_KIND_CLUSTER, default modelserve)."""
    from harness.platform.kubernetes.kind import kind_down
    from harness.platform.kubernetes.settings import kind_settings

    kind_down(kind_settings())


@click.group()
def eks() -> None:
    """The EKS target: which cluster the harness would touch, and whether it may."""


@eks.command("check")
@click.option(
    "--i-know-this-is-production",
    "production",
    is_flag=True,
    help="Allow an environment listed in MSAI_EKS_PRODUCTION_ENVIRONMENTS.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the target as JSON.")
def eks_check(production: bool, as_json: bool) -> None:
    """Resolve the kube context, environment and region from MSAI_EKS_* and the Terraform
    outputs; refuse a context or namespace outside the allow-lists, or production without
    the flag. Exit 0 and print the target when allowed."""
    import dataclasses

    from harness.platform.kubernetes.eks import checked_target
    from harness.platform.kubernetes.settings import eks_settings, k8s_settings

    es = eks_settings()
    if production:
        es = dataclasses.replace(es, allow_production=True)
    target = checked_target(k8s_settings(), es)
    if as_json:
        echo_json(dataclasses.asdict(target))
        return
    for key, value in dataclasses.asdict(target).items():
        click.echo(f"{key}: {value}")


@click.group()
def export() -> None:
    """Write a scenario in another tool's format."""


@export.command("litmus")
@click.argument("scenario", type=INPUT_FILE)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write into (default: litmus/<scenario name>/).",
)
@click.option("--namespace", default="ai-models", show_default=True, help="App namespace.")
@click.option("--profile", default=None, help="Scenario profile to apply first.")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
def export_litmus(
    scenario: Path, out: str | None, namespace: str, profile: str | None, as_json: bool
) -> None:
    """Write LitmusChaos ChaosExperiment + ChaosEngine manifests equivalent to SCENARIO's
    faults, with probes that encode its expectations."""
    from harness.platform.kubernetes.litmus import export_scenario

    written = export_scenario(
        scenario, Path(out) if out else None, namespace=namespace, profile=profile
    )
    if as_json:
        echo_json({"written": [str(p) for p in written]})
        return
    for path in written:
        click.echo(str(path))
