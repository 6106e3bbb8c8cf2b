"""Contract tests of KubernetesPlatform against kmock (a Kubernetes API mock server) seeded with
the chart's own objects: the exact requests and bodies of every method, and of each revert,
including a revert by a fresh platform built from the Injection's JSON alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import kmock as kmock_lib
import pytest
import yaml
from k8s_support import obj, platform_for, seed

from harness.errors import ConfigError, FaultError, PlatformError, Unsupported
from harness.platform.base import Injection, StackSpec
from harness.platform.kubernetes.helm import CHART_DIR
from harness.platform.kubernetes.platform import MERGE_PATCH
from harness.platform.kubernetes.testing import find, mutations
from harness.ports import free_port

pytestmark = pytest.mark.asyncio

kmock_resource = kmock_lib.resource
kmock_name = kmock_lib.name


def kmock_error(status: int) -> kmock_lib.KubernetesError:
    return kmock_lib.KubernetesError(status=status, reason="InternalError", message="refused")


NS_MODELS = "/apis/networking.k8s.io/v1/namespaces/ai-models/networkpolicies"
NS_ORCH = "/apis/networking.k8s.io/v1/namespaces/pipeline-orchestrator/networkpolicies"


def reloaded(inj: Injection) -> Injection:
    """What a later process reads back from the fault ledger."""
    return Injection.from_json(json.loads(json.dumps(inj.to_json())))


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    # The client is synchronous; the mock server runs on this test's event loop.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_observation_reads_the_charts_objects(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    assert await in_thread(p.services) == ["ner", "orchestrator", "vision"]
    ner = await in_thread(p.replicas, "ner")
    assert [(r.name, r.node, r.ready, r.version) for r in ner] == [
        ("ner-0", "general-a", True, "stable"),
        ("ner-1", "spot-a", True, "stable"),
    ]
    assert ner[0].url.startswith("http://10.0.0.")
    assert ner[0].url.endswith(":8080")
    nodes = {n.name: n for n in await in_thread(p.nodes)}
    assert nodes["spot-a"].labels["capacity-type"] == "spot"
    assert nodes["spot-a"].replicas == ["ner-1", "vision-1"]
    assert all(n.schedulable for n in nodes.values())
    eps = await in_thread(p.endpoints)
    assert eps["ner"].url == "http://gateway.test/ner"
    assert p.prometheus_url == "http://prometheus.test"
    assert mutations(kmock) == []  # observing writes nothing
    # the servers filter (label and field selectors), not only the client
    queries = {(r.url.path, r.params.get("labelSelector")) for r in kmock}
    assert ("/api/v1/namespaces/ai-models/pods", "app.kubernetes.io/name=ner") in queries
    assert (
        "/apis/apps/v1/namespaces/ai-models/deployments",
        "app.kubernetes.io/part-of=modelserve",
    ) in queries


async def test_scale_status_reads_deployments_hpa_and_scaledobject(kmock: Any) -> None:
    seed(kmock)
    kmock.objects["autoscaling/v2/horizontalpodautoscalers", "ai-models", "ner"].patch(
        {"status": {"desiredReplicas": 3}}
    )
    kmock.objects["keda.sh/v1alpha1/scaledobjects", "ai-models", "vision"] = {
        "metadata": {"name": "vision", "namespace": "ai-models"},
        "status": {"conditions": [{"type": "Active", "status": "True"}]},
    }
    p = platform_for(kmock)
    ner = await in_thread(p.scale_status, "ner")
    assert (ner.desired, ner.ready, ner.hpa_desired, ner.keda_active) == (2, 2, 3, None)
    vision = await in_thread(p.scale_status, "vision")
    assert vision.keda_active is True
    orch = await in_thread(p.scale_status, "orchestrator")
    assert orch.hpa_desired is None  # the chart gives the orchestrator no HPA


async def test_watch_scale_follows_deployment_events(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    waiting = asyncio.create_task(in_thread(p.watch_scale, "ner", lambda s: s.ready >= 3, 10.0))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    url = f"{str(kmock.url).rstrip('/')}/apis/apps/v1/namespaces/ai-models/deployments/ner"
    async with aiohttp.ClientSession() as session:
        patch = {"spec": {"replicas": 3}, "status": {"readyReplicas": 3, "updatedReplicas": 3}}
        headers = {"Content-Type": MERGE_PATCH}
        async with session.patch(url, json=patch, headers=headers) as resp:
            assert resp.status == 200
    status = await asyncio.wait_for(waiting, 10)
    assert (status.desired, status.ready) == (3, 3)
    assert any(r.params.get("watch") == "true" for r in kmock)


async def test_watch_scale_times_out_with_the_last_status(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    with pytest.raises(Exception, match=r"did not reach the wanted state.*'ready': 2"):
        await in_thread(p.watch_scale, "ner", lambda s: s.ready >= 5, 1.0)


async def test_kill_deletes_ready_pods_at_once(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    assert await in_thread(p.kill, "ner", 1) == ["ner-0"]
    assert mutations(kmock) == [
        ("DELETE", "/api/v1/namespaces/ai-models/pods/ner-0", {"gracePeriodSeconds": 0})
    ]
    before = len(list(kmock))
    assert await in_thread(p.kill, "vision", 1, graceful=True) == ["vision-0"]
    assert mutations(kmock, before) == [
        ("DELETE", "/api/v1/namespaces/ai-models/pods/vision-0", {})
    ]
    with pytest.raises(ConfigError, match="no service 'nope'"):
        await in_thread(p.kill, "nope", 1)


async def test_drain_cordons_evicts_and_revert_uncordons_from_json(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.drain, "spot-a")
    assert mutations(kmock) == [
        ("PATCH", "/api/v1/nodes/spot-a", {"spec": {"unschedulable": True}}),
        (
            "POST",
            "/api/v1/namespaces/ai-models/pods/ner-1/eviction",
            {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": "ner-1", "namespace": "ai-models"},
            },
        ),
        (
            "POST",
            "/api/v1/namespaces/ai-models/pods/vision-1/eviction",
            {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": "vision-1", "namespace": "ai-models"},
            },
        ),
    ]
    assert any(r.params.get("fieldSelector") == "spec.nodeName=spot-a" for r in kmock)
    assert obj(kmock, "v1/nodes", None, "spot-a")["spec"]["unschedulable"] is True
    assert find(kmock, "pods", "ai-models", "ner-1") is None
    assert find(kmock, "pods", "ai-models", "vision-1") is None
    assert find(kmock, "pods", "ai-models", "ner-0") is not None
    before = len(list(kmock))
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    assert mutations(kmock, before) == [
        ("PATCH", "/api/v1/nodes/spot-a", {"spec": {"unschedulable": None}})
    ]
    assert "unschedulable" not in obj(kmock, "v1/nodes", None, "spot-a")["spec"]
    await in_thread(platform_for(kmock).revert, reloaded(inj))  # idempotent


async def test_drain_retries_what_a_pdb_holds_until_it_allows(kmock: Any) -> None:
    seed(kmock)
    # ner-1 not ready: evicting ner-0 would leave no ready ner (minAvailable: 1) -> 429
    kmock.objects["v1/pods", "ai-models", "ner-1"].patch(
        {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    p = platform_for(kmock, drain_timeout_s=10.0)
    draining = asyncio.create_task(in_thread(p.drain, "general-a"))
    await asyncio.sleep(0.4)
    assert not draining.done()
    kmock.objects["v1/pods", "ai-models", "ner-1"].patch(
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    # orchestrator-0 is alone under minAvailable 1: it never goes; make the budget allow it
    kmock.objects["policy/v1/poddisruptionbudgets", "pipeline-orchestrator", "orchestrator"].patch(
        {"spec": {"minAvailable": 0}}
    )
    inj = await asyncio.wait_for(draining, 10)
    evictions = [m[1] for m in mutations(kmock) if m[0] == "POST"]
    assert evictions.count("/api/v1/namespaces/ai-models/pods/ner-0/eviction") >= 2
    assert inj.undo == {"node": "general-a", "was_unschedulable": False}


async def test_drain_blocked_by_a_pdb_fails_and_uncordons(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock, drain_timeout_s=0.3)
    # orchestrator-0 is the only orchestrator replica; its PDB (minAvailable 1) never allows
    with pytest.raises(FaultError, match=r"pipeline-orchestrator/orchestrator-0.*uncordoned"):
        await in_thread(p.drain, "general-a")
    patches = [m for m in mutations(kmock) if m[0] == "PATCH"]
    assert patches == [
        ("PATCH", "/api/v1/nodes/general-a", {"spec": {"unschedulable": True}}),
        ("PATCH", "/api/v1/nodes/general-a", {"spec": {"unschedulable": None}}),
    ]
    assert find(kmock, "pods", "pipeline-orchestrator", "orchestrator-0") is not None


async def test_mesh_fault_patches_the_route_fault_and_revert_restores(kmock: Any) -> None:
    chart = seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.mesh_fault, "ner", delay_ms=250, percent=50, duration_s=30)
    assert inj.expires is not None
    assert inj.expires - inj.started == pytest.approx(30)
    fault = {"delay": {"percentage": {"value": 50}, "fixedDelay": "0.250s"}}
    patched = mutations(kmock)
    assert [m[1] for m in patched] == [
        "/apis/networking.istio.io/v1/namespaces/ai-models/virtualservices/ner",
        "/apis/networking.istio.io/v1/namespaces/ai-models/virtualservices/modelserve-gateway",
    ]
    for _, _, body in patched:
        routes = body["spec"]["http"]
        assert [r.get("fault") for r in routes if r["name"] == "ner"] == [fault]
        assert all("fault" not in r for r in routes if r["name"] != "ner")
    vs = obj(kmock, "VirtualService", "ai-models", "modelserve-gateway")
    assert vs["spec"]["http"][0]["fault"] == fault
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    for name in ("ner", "modelserve-gateway"):
        original = next(
            o for o in chart if o["kind"] == "VirtualService" and o["metadata"]["name"] == name
        )
        assert obj(kmock, "VirtualService", "ai-models", name)["spec"] == original["spec"]


async def test_mesh_abort_body_and_bad_input(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.mesh_fault, "vision", abort_status=503, percent=10)
    body = mutations(kmock)[0][2]
    route = next(r for r in body["spec"]["http"] if r["name"] == "vision")
    assert route["fault"] == {"abort": {"percentage": {"value": 10}, "httpStatus": 503}}
    assert inj.expires is None
    with pytest.raises(ConfigError, match="no VirtualService has an http route named 'x'"):
        await in_thread(p.mesh_fault, "x", abort_status=503)
    with pytest.raises(ConfigError, match="delay_ms or abort_status"):
        await in_thread(p.mesh_fault, "ner")
    with pytest.raises(ConfigError, match="percent"):
        await in_thread(p.mesh_fault, "ner", abort_status=503, percent=0)


async def test_outage_stop_scales_to_zero_and_back(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.outage, "redis", mode="stop")
    scale = "/apis/apps/v1/namespaces/pipeline-orchestrator/statefulsets/redis/scale"
    assert mutations(kmock) == [("PATCH", scale, {"spec": {"replicas": 0}})]
    assert inj.undo["scale"] == {
        "namespace": "pipeline-orchestrator",
        "name": "redis",
        "replicas": 1,
    }
    before = len(list(kmock))
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    assert mutations(kmock, before) == [("PATCH", scale, {"spec": {"replicas": 1}})]
    assert obj(kmock, "StatefulSet", "pipeline-orchestrator", "redis")["spec"]["replicas"] == 1


async def test_outage_cutoff_denies_and_narrows_then_reverts(kmock: Any) -> None:
    chart = seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.outage, "postgresql", mode="cutoff")
    made = f"{inj.id}-postgresql"
    calls = mutations(kmock)
    assert calls[0] == (
        "POST",
        NS_ORCH,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": made,
                "namespace": "pipeline-orchestrator",
                "labels": {"app.kubernetes.io/managed-by": "msai"},
                "annotations": {"msai.dev/injection": inj.id},
            },
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}},
                "policyTypes": ["Ingress"],
                "ingress": [],
            },
        },
    )
    # the chart's `datastores` policy admits the orchestrator to postgresql: narrowed away
    assert calls[1][0:2] == ("PATCH", f"{NS_ORCH}/datastores")
    exprs = calls[1][2]["spec"]["podSelector"]["matchExpressions"]
    assert exprs[-1] == {
        "key": "app.kubernetes.io/name",
        "operator": "NotIn",
        "values": ["postgresql"],
    }
    assert len(calls) == 2
    before = len(list(kmock))
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    assert [m[:2] for m in mutations(kmock, before)] == [
        ("PATCH", f"{NS_ORCH}/datastores"),
        ("DELETE", f"{NS_ORCH}/{made}"),
    ]
    original = next(
        o for o in chart if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "datastores"
    )
    assert (
        obj(kmock, "NetworkPolicy", "pipeline-orchestrator", "datastores")["spec"]
        == (original["spec"])
    )
    assert find(kmock, "networkpolicies", "pipeline-orchestrator", made) is None


async def test_partition_is_a_policy_pair_excluding_the_other_side(kmock: Any) -> None:
    chart = seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.partition, "orchestrator", "ner", duration_s=10)
    calls = mutations(kmock)
    created = {c[2]["metadata"]["name"]: c[2] for c in calls if c[0] == "POST"}
    assert set(created) == {f"{inj.id}-ner", f"{inj.id}-orchestrator"}
    ner_rules = created[f"{inj.id}-ner"]["spec"]["ingress"]
    # every peer of the copied rules now excludes the orchestrator's pods
    for rule in ner_rules:
        for peer in rule["from"]:
            assert {
                "key": "app.kubernetes.io/name",
                "operator": "NotIn",
                "values": ["orchestrator"],
            } in peer["podSelector"]["matchExpressions"]
    assert ner_rules[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    orch_rules = created[f"{inj.id}-orchestrator"]["spec"]["ingress"]
    assert all(
        {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["ner"]}
        in peer["podSelector"]["matchExpressions"]
        for rule in orch_rules
        for peer in rule["from"]
    )
    narrowed = sorted(c[1] for c in calls if c[0] == "PATCH")
    assert narrowed == [f"{NS_MODELS}/model-servers", f"{NS_ORCH}/orchestrator"]
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    for ns, name in (("ai-models", "model-servers"), ("pipeline-orchestrator", "orchestrator")):
        original = next(
            o
            for o in chart
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["name"] == name
            and o["metadata"]["namespace"] == ns
        )
        assert obj(kmock, "NetworkPolicy", ns, name)["spec"] == original["spec"]
    for name in created:
        ns = created[name]["metadata"]["namespace"]
        assert find(kmock, "networkpolicies", ns, name) is None


async def test_what_kubernetes_cannot_do_is_unsupported_with_a_reason(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    with pytest.raises(Unsupported, match="SIGSTOP"):
        await in_thread(p.outage, "redis", mode="freeze")
    with pytest.raises(Unsupported, match="mesh_fault"):
        await in_thread(p.partition, "gateway", "ner")
    with pytest.raises(Unsupported, match="outside the cluster"):
        await in_thread(p.outage, "memcached")
    with pytest.raises(Unsupported, match="back up redis"):
        await in_thread(p.backup, "redis")
    with pytest.raises(Unsupported, match="restore s3"):
        await in_thread(p.restore, "s3", "x")
    with pytest.raises(Unsupported, match="spot"):
        await in_thread(p.spot_interrupt, "spot-a", 1.0)
    assert mutations(kmock) == []


async def test_revert_refuses_another_platforms_injection(kmock: Any) -> None:
    seed(kmock)
    inj = Injection("drain-1", "local", "drain", "n", {}, {"node": "n"}, 0.0)
    with pytest.raises(FaultError, match="belongs to platform local"):
        await in_thread(platform_for(kmock).revert, inj)


async def test_port_forward_command_names_the_service_and_context() -> None:
    from harness.platform.kubernetes.platform import KubernetesPlatform
    from harness.platform.kubernetes.settings import KubernetesSettings

    p = KubernetesPlatform("kind", api=object(), settings=KubernetesSettings(context="kind-msai"))
    cmd = p.port_forward_command("monitoring/kube-prometheus-stack-prometheus:9090", 18000)
    assert cmd == [
        "kubectl",
        "port-forward",
        "-n",
        "monitoring",
        "svc/kube-prometheus-stack-prometheus",
        "18000:9090",
        "--address",
        "127.0.0.1",
        "--context",
        "kind-msai",
    ]
    with pytest.raises(ConfigError, match="NAMESPACE/SERVICE:PORT"):
        p.port_forward_command("prometheus", 1)


async def test_up_installs_the_stack_with_helm_and_waits_ready(kmock: Any, tmp_path: Path) -> None:
    seed(kmock)
    helm = tmp_path / "helm"
    helm.write_text("#!/bin/sh\nexit 0\n")
    helm.chmod(0o755)
    seen: list[tuple[list[str], Any]] = []

    def run(cmd: list[str]) -> None:
        values = yaml.safe_load(Path(cmd[cmd.index("-f") + 1]).read_text())
        seen.append((cmd, values))

    p = platform_for(kmock, context="kind-msai", helm=str(helm))
    p._run = run
    assert await in_thread(p.running)
    spec = StackSpec(profile="minimal", overrides={"ner.replicas": 2})
    await in_thread(p.up, spec)
    ((cmd, values),) = seen
    assert cmd[:5] == [str(helm), "upgrade", "--install", "modelserve", str(CHART_DIR)]
    assert cmd[cmd.index("--kube-context") + 1] == "kind-msai"
    assert "--wait" in cmd
    assert values == {
        "ner": {"replicas": 2},
        "vision": {"replicas": 1},
        "orchestrator": {"enabled": False},
    }
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        await in_thread(p.up, StackSpec(profile="nope"))
    assert len(seen) == 1


async def test_running_is_false_without_a_reachable_cluster() -> None:
    from kubernetes import client

    from harness.platform.kubernetes.platform import KubernetesPlatform
    from harness.platform.kubernetes.settings import KubernetesSettings

    cfg = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    p = KubernetesPlatform(
        "kind", api=client.ApiClient(cfg), settings=KubernetesSettings(request_timeout_s=2)
    )
    assert not await in_thread(p.running)


async def test_a_mesh_fault_failing_midway_leaves_nothing_injected(kmock: Any) -> None:
    chart = seed(kmock)
    # the second VirtualService refuses the patch: the first must be restored
    kmock[
        "patch",
        kmock_resource("networking.istio.io/v1/virtualservices"),
        kmock_name("modelserve-gateway"),
    ] << kmock_error(500)
    p = platform_for(kmock)
    with pytest.raises(Exception, match="500"):
        await in_thread(p.mesh_fault, "ner", abort_status=503)
    original = next(
        o for o in chart if o["kind"] == "VirtualService" and o["metadata"]["name"] == "ner"
    )
    assert obj(kmock, "VirtualService", "ai-models", "ner")["spec"] == original["spec"]
    # inject ner, gateway (refused); restore both (the refused one may have landed)
    assert [m[1].rsplit("/", 1)[-1] for m in mutations(kmock)] == [
        "ner",
        "modelserve-gateway",
        "ner",
        "modelserve-gateway",
    ]


async def test_reverting_an_isolation_twice_is_fine(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock)
    inj = await in_thread(p.outage, "redis", mode="cutoff")
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    await in_thread(platform_for(kmock).revert, reloaded(inj))  # the policy is gone: 404 is fine
    assert find(kmock, "networkpolicies", "pipeline-orchestrator", f"{inj.id}-redis") is None


async def test_a_partition_failing_midway_is_taken_back(kmock: Any) -> None:
    chart = seed(kmock)
    # the orchestrator's side cannot be narrowed: the ner side already done is undone
    kmock[
        "patch",
        kmock_resource("networking.k8s.io/v1/networkpolicies"),
        kmock_name("orchestrator"),
    ] << kmock_error(500)
    p = platform_for(kmock)
    with pytest.raises(Exception, match="500"):
        await in_thread(p.partition, "orchestrator", "ner")
    for ns, name in (("ai-models", "model-servers"), ("pipeline-orchestrator", "orchestrator")):
        original = next(
            o
            for o in chart
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["name"] == name
            and o["metadata"]["namespace"] == ns
        )
        assert obj(kmock, "NetworkPolicy", ns, name)["spec"] == original["spec"]
    created = [m[2]["metadata"]["name"] for m in mutations(kmock) if m[0] == "POST"]
    assert len(created) == 2
    for name in created:
        ns = "ai-models" if name.endswith("-ner") else "pipeline-orchestrator"
        assert find(kmock, "networkpolicies", ns, name) is None


async def test_up_without_helm_says_how_to_get_it(kmock: Any) -> None:
    seed(kmock)
    p = platform_for(kmock, helm="/nonexistent/helm")
    with pytest.raises(PlatformError, match=r"helm not found.*helm\.sh"):
        await in_thread(p.up, StackSpec())


FORWARD_SHIM = """#!{python}
import os, sys
args = sys.argv[1:]
if os.environ.get("SHIM_FAIL"):
    sys.exit("error: services \\"nope\\" not found")
local = next(a for a in args if ":" in a and a.split(":")[0].isdigit()).split(":")[0]
os.execv(sys.executable, [sys.executable, "-m", "http.server", local, "--bind", "127.0.0.1"])
"""


async def test_prometheus_is_port_forwarded_and_down_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import httpx
    import psutil

    from harness.platform.kubernetes.platform import KubernetesPlatform
    from harness.platform.kubernetes.settings import KubernetesSettings

    shim = tmp_path / "kubectl"
    shim.write_text(FORWARD_SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    p = KubernetesPlatform("kind", api=object(), settings=KubernetesSettings(kubectl=str(shim)))
    url = await in_thread(lambda: p.prometheus_url)
    assert url.startswith("http://127.0.0.1:")
    assert await in_thread(lambda: p.prometheus_url) == url  # one forward, reused
    async with httpx.AsyncClient() as client:
        assert (await client.get(url + "/")).status_code == 200
    (proc, _) = p._forwards["monitoring/kube-prometheus-stack-prometheus:9090"]
    pid = proc.pid
    p.down()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    monkeypatch.setenv("SHIM_FAIL", "1")
    with pytest.raises(PlatformError, match=r"port-forward to monitoring/.*not found"):
        await in_thread(lambda: p.alertmanager_url)


async def test_nodes_go_by_their_values_name_where_labelled(kmock: Any) -> None:
    seed(kmock)
    # as reference-stack/kind labels its workers: modelserve.ai/node = the values.yaml name
    kmock.objects["v1/nodes", None, "modelserve-worker4"] = {
        "metadata": {
            "name": "modelserve-worker4",
            "labels": {"modelserve.ai/node": "gpu-a", "capacity-type": "on-demand"},
        },
        "spec": {},
    }
    kmock.objects["v1/pods", "ai-models", "ner-0"].patch(
        {"spec": {"nodeName": "modelserve-worker4"}}
    )
    p = platform_for(kmock)
    nodes = {n.name: n for n in await in_thread(p.nodes)}
    assert nodes["gpu-a"].replicas == ["ner-0"]
    assert "modelserve-worker4" not in nodes
    ner = {r.name: r.node for r in await in_thread(p.replicas, "ner")}
    assert ner["ner-0"] == "gpu-a"
    before = len(list(kmock))
    inj = await in_thread(p.drain, "gpu-a")
    assert inj.target == "gpu-a"
    assert inj.undo["node"] == "modelserve-worker4"
    assert mutations(kmock, before)[0] == (
        "PATCH",
        "/api/v1/nodes/modelserve-worker4",
        {"spec": {"unschedulable": True}},
    )
    await in_thread(platform_for(kmock).revert, reloaded(inj))
    assert "unschedulable" not in obj(kmock, "v1/nodes", None, "modelserve-worker4")["spec"]
