"""Shared by tests/test_chart_*.py: render the chart per environment and validate objects.

No cluster, helm binary or network: Helm's own engine (PyPI helm-python-sdk) renders,
kubernetes-validate checks core kinds, and the pinned npm packages in
reference-stack/charts/crd-validate (the projects' published CRD schemas as compiled by
kubernetes-models) check KEDA, Istio, Prometheus-operator, Argo and VPA objects.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "reference-stack" / "charts" / "modelserve"
CRD_DIR = ROOT / "reference-stack" / "charts" / "crd-validate"
ENVIRONMENTS = ("default", "dev", "staging", "prod")
#: Oldest Kubernetes the chart supports is 1.27 (Chart.yaml); validate against a current one.
KUBE_VERSION = "1.31.0"
RELEASE = "modelserve"

#: CRD group -> npm package that ships its compiled published schema.
CRD_PACKAGES = {
    "keda.sh": "@kubernetes-models/keda",
    "networking.istio.io": "@kubernetes-models/istio",
    "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
    "argoproj.io": "@kubernetes-models/argo-workflows",
    "autoscaling.k8s.io": "@kubernetes-models/autoscaler",
}
#: Custom kinds no package on PyPI or npm ships a schema for (checked: kubernetes-models has
#: no KEDA HTTP add-on). Their fields are asserted by name in test_chart_render.py instead.
NO_PUBLISHED_SCHEMA = {("http.keda.sh", "HTTPScaledObject")}


def values_for(env: str) -> dict[str, Any]:
    if env == "default":
        return {}
    loaded = yaml.safe_load((CHART / "ci" / f"{env}-values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


#: Offline there is no cluster to ask which CRDs exist: render as for a cluster with all of
#: them (Istio, KEDA, prometheus-operator, Argo, VPA), unless a test says otherwise.
ALL_APIS: dict[str, Any] = {"global": {"assumeApis": ["*"]}}


def render(values: dict[str, Any], *, apis: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (over its values.yaml)."""
    import helm_python

    merged = {
        **values,
        "global": {**(ALL_APIS if apis is None else apis)["global"], **values.get("global", {})},
    }
    chart = helm_python.Chart.load(CHART)
    try:
        out = chart.render(merged, name=RELEASE, namespace="default")
    finally:
        chart.close()
    objs: list[dict[str, Any]] = []
    for path in sorted(out):
        if not path.endswith(".yaml"):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(out[path]):
            if doc:
                objs.append(doc)
    return objs


@functools.cache
def render_env(env: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(values_for(env)))


def group_of(obj: dict[str, Any]) -> str:
    api = str(obj["apiVersion"])
    return api.split("/", maxsplit=1)[0] if "/" in api else ""


def is_custom(obj: dict[str, Any]) -> bool:
    return group_of(obj) in CRD_PACKAGES or (group_of(obj), obj["kind"]) in NO_PUBLISHED_SCHEMA


def ident(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{obj['kind']} {meta.get('namespace', '-')}/{meta.get('name', '?')}"


def find(
    objs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str, name: str
) -> dict[str, Any]:
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind} {name}, found {len(hits)}"
    return hits[0]


def kinds(objs: tuple[dict[str, Any], ...] | list[dict[str, Any]], kind: str) -> list[Any]:
    return [o for o in objs if o["kind"] == kind]


def need_crd_tools() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: run scripts/setup (Debian nodejs, npm)")
    tsc = CRD_DIR / "node_modules" / ".bin" / "tsc"
    if not tsc.is_file():
        pytest.skip(f"CRD schema packages not installed: run scripts/setup (npm ci in {CRD_DIR})")
    return node, tsc


def crd_validate(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Types, enums and required fields, per object: [{kind, name, status, errors}]."""
    node, _ = need_crd_tools()
    proc = subprocess.run(
        [node, str(CRD_DIR / "validate.mjs")],
        input=json.dumps(objs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert isinstance(results, list)
    return results


_TS_ERROR = re.compile(r"^check\.ts\((\d+),\d+\): error (TS\d+: .*)$")


def crd_strict_errors(objs: list[dict[str, Any]], workdir: Path) -> list[str]:
    """Unknown fields (Kubernetes' strict field validation): each object is type-checked
    against the package's interface for its kind, where an unknown key at any depth is an
    excess-property error. Returns "Kind ns/name: message" lines."""
    node, tsc = need_crd_tools()
    lines: list[str] = []
    owners: list[tuple[int, str]] = []  # (first line of object, ident)
    imports: set[str] = set()
    body: list[str] = []
    for i, obj in enumerate(objs):
        group, version = str(obj["apiVersion"]).split("/")
        pkg = CRD_PACKAGES[group]
        kind = obj["kind"]
        alias = f"I{kind}_{re.sub(r'[^A-Za-z0-9]', '_', group)}_{version}"
        imports.add(f'import type {{ I{kind} as {alias} }} from "{pkg}/{group}/{version}/{kind}";')
        text = f"export const o{i}: {alias} = " + json.dumps(obj, indent=1) + ";"
        body.append(text)
    lines = sorted(imports)
    line_no = len(lines) + 1
    for i, text in enumerate(body):
        owners.append((line_no, ident(objs[i])))
        lines.append(text)
        line_no += text.count("\n") + 1
    (workdir / "check.ts").write_text("\n".join(lines) + "\n")
    link = workdir / "node_modules"
    if not link.exists():
        os.symlink(CRD_DIR / "node_modules", link)
    proc = subprocess.run(
        [
            node,
            str(tsc),
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "check.ts",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors: list[str] = []
    for raw in proc.stdout.splitlines():
        m = _TS_ERROR.match(raw)
        if not m:
            continue
        where = int(m.group(1))
        owner = next((name for start, name in reversed(owners) if start <= where), "imports")
        errors.append(f"{owner}: {m.group(2)}")
    if proc.returncode != 0 and not errors:
        errors.append(f"tsc failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return errors
