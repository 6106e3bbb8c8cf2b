"""KEDA, Istio, Prometheus-operator, Argo and VPA objects against the projects' published CRD
schemas (pinned npm packages in reference-stack/charts/crd-validate), for every environment."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from chart_support import (
    ENVIRONMENTS,
    NO_PUBLISHED_SCHEMA,
    crd_strict_errors,
    crd_validate,
    group_of,
    ident,
    is_custom,
    render,
    values_for,
)


def _custom(env: str) -> list[dict[str, Any]]:
    # VPA and Argo objects render only when asked for: ask, so their schemas are checked too.
    asked = {**values_for(env), "vpa": {"enabled": True}, "argo": {"enabled": True}}
    return [o for o in render(asked) if is_custom(o)]


def _with_schema(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if (group_of(o), o["kind"]) not in NO_PUBLISHED_SCHEMA]


def test_every_custom_kind_is_covered() -> None:
    seen = {(group_of(o), o["kind"]) for env in ENVIRONMENTS for o in _custom(env)}
    # What the chart is expected to produce across dev/staging/prod: each kind validated
    # somewhere (the ci values switch the optional ones on; VPA and Argo are asked for above).
    assert {
        ("keda.sh", "ScaledObject"),
        ("networking.istio.io", "Gateway"),
        ("networking.istio.io", "VirtualService"),
        ("networking.istio.io", "DestinationRule"),
        ("monitoring.coreos.com", "PrometheusRule"),
        ("monitoring.coreos.com", "ServiceMonitor"),
        ("argoproj.io", "WorkflowTemplate"),
        ("autoscaling.k8s.io", "VerticalPodAutoscaler"),
        ("http.keda.sh", "HTTPScaledObject"),
    } <= seen


def test_custom_objects_match_published_schemas() -> None:
    objs = [o for env in ENVIRONMENTS for o in _with_schema(_custom(env))]
    results = crd_validate(objs)
    assert len(results) == len(objs)
    bad = [f"{r['kind']} {r['name']}: {r['status']} {r['errors']}" for r in results]
    bad = [b for b, r in zip(bad, results, strict=True) if r["status"] != "valid"]
    assert not bad, "\n".join(bad)


def test_custom_objects_have_no_unknown_fields(tmp_path: Path) -> None:
    seen: set[str] = set()
    objs: list[dict[str, Any]] = []
    for env in ENVIRONMENTS:
        for obj in _with_schema(_custom(env)):
            key = repr(obj)
            if key not in seen:
                seen.add(key)
                objs.append(obj)
    errors = crd_strict_errors(objs, tmp_path)
    assert not errors, "\n".join(errors)


def test_validator_rejects_a_wrong_type_and_an_unknown_field(tmp_path: Path) -> None:
    """The checks above can fail: a broken ScaledObject and DestinationRule are caught."""
    scaled = copy.deepcopy(next(o for o in _custom("staging") if o["kind"] == "ScaledObject"))
    scaled["spec"]["minReplicaCount"] = "zero"
    results = crd_validate([scaled])
    assert results[0]["status"] == "invalid"
    assert "minReplicaCount" in results[0]["errors"][0]

    rule = copy.deepcopy(next(o for o in _custom("default") if o["kind"] == "DestinationRule"))
    rule["spec"]["trafficPolicy"]["connectionPool"]["tcp"]["maxConnectoins"] = 5
    errors = crd_strict_errors([rule], tmp_path)
    assert len(errors) == 1
    assert ident(rule) in errors[0]
    assert "maxConnectoins" in errors[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_unknown_schema_only_for_the_http_addon(env: str) -> None:
    results = crd_validate(_custom(env))
    no_schema = {(r["kind"]) for r in results if r["status"] == "no-schema"}
    assert no_schema <= {kind for _, kind in NO_PUBLISHED_SCHEMA}
