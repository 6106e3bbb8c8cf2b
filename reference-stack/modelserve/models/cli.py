"""``msai models``: build the bundled models (cached) and publish them to S3."""

from __future__ import annotations

import time

import click

from modelserve.common.artifacts import ArtifactSettings
from modelserve.models.build import RECIPES

__all__ = ["models"]


@click.group(name="models", context_settings={"help_option_names": ["-h", "--help"]})
def models() -> None:
    """Build (train, export to ONNX, verify) and publish the bundled NER and vision models.

    Output goes to MSAI_MODELS_DIR (default <repo>/.models), with a manifest that makes an
    unchanged second build a no-op.
    """


@models.command()
@click.option(
    "--only",
    type=click.Choice(sorted(RECIPES)),
    multiple=True,
    help="Build only this model (repeatable); default all.",
)
@click.option("--force", is_flag=True, help="Rebuild even when the manifest says up to date.")
def build(only: tuple[str, ...], force: bool) -> None:
    """Train and export the bundled models; skipped when their inputs did not change."""
    from modelserve.models.build import build_models

    models_dir = ArtifactSettings.from_env().models_path
    start = time.perf_counter()
    click.echo(f"models: directory {models_dir}")
    results = build_models(models_dir, only, force=force, log=click.echo)
    built = [r.name for r in results if not r.skipped]
    click.echo(
        f"models: done in {time.perf_counter() - start:.1f} s "
        f"({'built ' + ', '.join(built) if built else 'all up to date'})"
    )


@models.command()
@click.option("--bucket", required=True, help="Target S3 bucket (created, versioned, if absent).")
@click.option("--endpoint-url", default="", help="S3 endpoint (moto); default from settings.")
@click.option("--version", "version", default="1", show_default=True, help="Key prefix version.")
@click.option(
    "--only", type=click.Choice(["ner", "vision"]), multiple=True, help="Publish only this model."
)
def publish(bucket: str, endpoint_url: str, version: str, only: tuple[str, ...]) -> None:
    """Upload the built models to s3://BUCKET/<model>/<version>/."""
    from modelserve.models.publish import publish_model

    settings = ArtifactSettings.from_env()
    for name in only or ("ner", "vision"):
        publish_model(
            settings.models_path / name,
            bucket,
            name,
            version,
            endpoint_url=endpoint_url or settings.s3_endpoint_url,
            log=click.echo,
        )


@models.command()
@click.option(
    "--only", type=click.Choice(["ner", "vision"]), multiple=True, help="Measure only this model."
)
@click.option("--runtime", type=click.Choice(["onnxruntime", "torch"]), default="onnxruntime")
@click.option("--threads", default=0, show_default=True, help="Intra-op threads (0: runtime).")
@click.option("--iterations", default=30, show_default=True, help="Timed passes per batch size.")
def bench(only: tuple[str, ...], runtime: str, threads: int, iterations: int) -> None:
    """Print batch-1 and batch-16 latency of the built models (the served predict path)."""
    from modelserve.models.bench import measure

    for name in only or ("ner", "vision"):
        for row in measure(name, runtime=runtime, threads=threads, iterations=iterations):
            click.echo(
                f"{name:6s} {runtime:11s} batch {row.batch:3d}: p50 {row.p50_ms:8.2f} ms "
                f"p90 {row.p90_ms:8.2f} ms  {row.items_per_s:8.1f} items/s"
            )
