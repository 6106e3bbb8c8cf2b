"""End to end on a real cluster: ``--platform kind`` (a kind cluster made by pytest-kind from
reference-stack/kind, with the chart installed by ``kind_up``) and ``--platform eks`` (the
current, allow-listed context). Skipped by default, with the reason (root plugin).

kind: ``pytest --platform kind -m kind tests/test_k8s_e2e.py`` with docker, kind, kubectl and
helm installed. A current kind is used through ``--kind-bin PATH`` (or ``MSAI_KIND_KIND``)
and ``--kind-image kindest/node:vX.Y.Z`` (or ``MSAI_KIND_NODE_IMAGE``); ``--cluster-name`` and
``--keep-cluster`` are pytest-kind's. eks: ``pytest --platform eks -m eks ...`` with
``MSAI_EKS_ALLOWED_CONTEXTS``, ``MSAI_EKS_OUTPUTS`` (or ``MSAI_EKS_ENVIRONMENT``) and AWS
credentials; it changes only what each test reverts.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.platform.base import StackSpec
from harness.platform.kubernetes import KubernetesPlatform, get_platform, mesh
from harness.platform.kubernetes.kind import (
    KindSpot,
    chart_values_for_kind,
    cluster_config,
    kind_up,
    missing_prerequisites,
)
from harness.platform.kubernetes.settings import k8s_settings, kind_settings


@pytest.fixture(scope="session")
def kind_platform(request: pytest.FixtureRequest) -> Iterator[KubernetesPlatform]:
    from pytest_kind import KindCluster

    ks = kind_settings()
    opt = request.config.getoption
    ks = dataclasses.replace(
        ks,
        kind=opt("kind_bin") or ks.kind,
        node_image=opt("kind_image") or ks.node_image,
        cluster=opt("cluster_name") if opt("cluster_name") != "pytest-kind" else ks.cluster,
    )
    missing = missing_prerequisites(ks)
    if missing:
        pytest.skip("kind prerequisites missing: " + "; ".join(missing))
    kind_bin = shutil.which(ks.kind) or ks.kind
    kubectl = shutil.which(ks.kubectl) or ks.kubectl
    cluster = KindCluster(
        ks.cluster,
        image=ks.node_image or None,
        kind_path=Path(kind_bin),
        kubectl_path=Path(kubectl),
    )
    cluster.create(config_file=cluster_config(ks))
    k8s = dataclasses.replace(
        k8s_settings(), kubeconfig=str(cluster.kubeconfig_path), context=f"kind-{ks.cluster}"
    )
    kind_up(ks, k8s, create=False)
    platform = KubernetesPlatform(
        "kind", settings=k8s, spot=KindSpot(ks), extra_values=chart_values_for_kind()
    )
    # fixed size, as the fault scenarios run it: two replicas each, so a PodDisruptionBudget
    # (minAvailable 1) lets a drain through and an idle HPA does not scale them away
    platform.up(StackSpec(overrides=FIXED_SIZE))
    try:
        yield platform
    finally:
        platform.down()
        if not opt("keep_cluster"):
            cluster.delete()


FIXED_SIZE = {
    "ner.replicas": 2,
    "vision.replicas": 2,
    "ner.autoscaling.hpa.enabled": False,
    "vision.autoscaling.hpa.enabled": False,
}


def ready_everywhere(p: KubernetesPlatform, timeout_s: float = 300) -> None:
    for service in p.services():
        p.watch_scale(service, lambda s: s.desired > 0 and s.ready >= s.desired, timeout_s)


@pytest.mark.kind
def test_kind_kill_is_healed_by_the_deployment(kind_platform: KubernetesPlatform) -> None:
    p = kind_platform
    before = p.scale_status("ner")
    killed = p.kill("ner", 1)
    assert killed
    after = p.watch_scale("ner", lambda s: s.ready >= before.desired, 300)
    assert after.ready >= before.desired
    assert not set(killed) & {r.name for r in p.replicas("ner")}


@pytest.mark.kind
def test_kind_drain_moves_replicas_and_revert_uncordons(kind_platform: KubernetesPlatform) -> None:
    p = kind_platform
    # the spot node: only model replicas (two of each) tolerate it, so the budgets allow it
    spot = [n for n in p.nodes() if n.labels.get("capacity-type") == "spot" and n.replicas]
    node = spot[0].name
    inj = p.drain(node)
    try:
        assert not {n.name: n for n in p.nodes()}[node].schedulable
        assert not any(r.node == node for s in p.services() for r in p.replicas(s))
        ready_everywhere(p)
    finally:
        p.revert(inj)
    assert {n.name: n for n in p.nodes()}[node].schedulable


@pytest.mark.kind
def test_kind_mesh_fault_is_in_the_virtualservice_until_reverted(
    kind_platform: KubernetesPlatform,
) -> None:
    p = kind_platform
    group, version, plural = "networking.istio.io", "v1", "virtualservices"
    inj = p.mesh_fault("ner", abort_status=503, percent=100)
    try:
        vs = p.call(
            p.custom.get_namespaced_custom_object, group, version, "ai-models", plural, "ner"
        )
        assert vs["spec"]["http"][0]["fault"]["abort"]["httpStatus"] == 503
    finally:
        p.revert(inj)
    vs = p.call(p.custom.get_namespaced_custom_object, group, version, "ai-models", plural, "ner")
    assert "fault" not in vs["spec"]["http"][0]


@pytest.mark.kind
def test_kind_spot_interruption_stops_the_node_and_revert_restarts_it(
    kind_platform: KubernetesPlatform,
) -> None:
    p = kind_platform
    spot = [n for n in p.nodes() if n.labels.get("capacity-type") == "spot"] or [
        n for n in p.nodes() if "control-plane" not in n.name
    ]
    node = spot[0].name
    inj = p.spot_interrupt(node, 5)
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Running}}", p.resolve_node(node)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if state == "false":
                break
            time.sleep(1)
        assert state == "false"
    finally:
        p.revert(inj)
    ready_everywhere(p)
    assert {n.name: n for n in p.nodes()}[node].schedulable


@pytest.mark.eks
def test_eks_observes_and_reverts_a_mesh_fault() -> None:
    p = get_platform("eks")
    try:
        assert p.services()
        assert p.nodes()
        inj = p.mesh_fault("ner", delay_ms=100, percent=1)
        p.revert(inj)
        for vs in mesh.virtualservices(p):
            assert all("fault" not in h for h in vs["spec"].get("http", []))
    finally:
        p.down()
