"""The chart rendered and linted with Helm's own engine for every environment, core objects
validated strictly against Kubernetes' schemas, and the rendered policies checked against
values.yaml (the file the local platform reads too)."""

from __future__ import annotations

import copy
import re
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from chart_support import (
    CHART,
    ENVIRONMENTS,
    KUBE_VERSION,
    find,
    ident,
    is_custom,
    kinds,
    render,
    render_env,
    values_for,
)

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
NAMESPACES = {"ai-models", "pipeline-orchestrator", "monitoring"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_lint_is_clean(env: str) -> None:
    report = helm_python.lint(
        CHART, values_for(env), strict=True, kube_version=f"v{KUBE_VERSION}", quiet=False
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
#: The oldest Kubernetes the chart claims (Chart.yaml kubeVersion) and the newest schemas known.
OLDEST = re.sub(r"^>=\s*([0-9.]+).*$", r"\1", CHART_META["kubeVersion"])
KUBE_VERSIONS = (OLDEST, KUBE_VERSION, kubernetes_validate.latest_version())


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_core_objects_are_valid_kubernetes(env: str, kube: str) -> None:
    objs = render_env(env)
    core = [o for o in objs if not is_custom(o)]
    assert len(core) > 20
    failures = []
    for obj in core:
        try:
            kubernetes_validate.validate(obj, kube, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{ident(obj)}: {exc.message} at {list(exc.path)}")
    assert not failures, "\n".join(failures)


def test_strict_validation_catches_an_unknown_field() -> None:
    dep = copy.deepcopy(find(render_env("default"), "Deployment", "ner"))
    dep["spec"]["template"]["spec"]["containers"][0]["startupProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_objects_live_in_the_stack_namespaces_and_names_are_unique(env: str) -> None:
    objs = render_env(env)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys))
    for obj in objs:
        if obj["kind"] == "Namespace":
            continue
        if obj["kind"] == "EnvoyFilter":  # the ingress gateway's limits, beside the gateway
            assert obj["metadata"]["namespace"] == VALUES["networkPolicy"]["ingressNamespace"]
            continue
        assert obj["metadata"].get("namespace") in NAMESPACES, ident(obj)
    names = {o["metadata"]["name"] for o in kinds(objs, "Namespace")}
    assert names == {"ai-models", "pipeline-orchestrator"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_values_in_the_chart(env: str) -> None:
    objs = render_env(env)
    assert not kinds(objs, "Secret")
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for d in kinds(objs, "Deployment") + kinds(objs, "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert VALUES["postgresql"]["credentialsSecret"] in refs


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(c, dict)
    return c


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_probes_and_drain_match_the_drain_settings(env: str) -> None:
    drain = VALUES["modelDefaults"]["drain"]
    for dep in kinds(render_env(env), "Deployment"):
        c = _container(dep)
        assert c["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        startup = c["startupProbe"]
        assert (
            startup["periodSeconds"] * startup["failureThreshold"]
            == VALUES["modelDefaults"]["probes"]["startupTimeoutSeconds"]
        )
        assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(drain["delaySeconds"])]
        grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # preStop sleep, then the server's own delay and in-flight deadline, then a margin:
        # the kubelet must never SIGKILL a replica that is still draining.
        assert grace == 2 * drain["delaySeconds"] + drain["deadlineSeconds"] + 5
        env_map = {
            k: v
            for cm in kinds(render_env(env), "ConfigMap")
            if cm["metadata"]["name"] == dep["metadata"]["name"]
            and cm["metadata"]["namespace"] == dep["metadata"]["namespace"]
            for k, v in cm["data"].items()
        }
        prefix = "MSAI_ORCH_" if dep["metadata"]["name"] == "orchestrator" else None
        prefix = prefix or f"MSAI_{dep['metadata']['labels']['app.kubernetes.io/name'].upper()}_"
        assert env_map[f"{prefix}DRAIN_DELAY_S"] == str(drain["delaySeconds"])
        assert env_map[f"{prefix}DRAIN_DEADLINE_S"] == str(drain["deadlineSeconds"])
        assert c["resources"]["requests"]
        assert c["resources"]["limits"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_service_settings_merge_defaults_with_the_service_block() -> None:
    objs = render_env("default")
    ner = find(objs, "ConfigMap", "ner")["data"]
    vision = find(objs, "ConfigMap", "vision")["data"]
    assert ner["MSAI_NER_MAX_BATCH_SIZE"] == str(VALUES["ner"]["batching"]["maxBatchSize"])
    assert vision["MSAI_VISION_MAX_BATCH_SIZE"] == str(VALUES["vision"]["batching"]["maxBatchSize"])
    # not overridden by the service: the default's value
    assert ner["MSAI_NER_QUEUE_CAPACITY"] == str(
        VALUES["modelDefaults"]["batching"]["queueCapacity"]
    )
    assert vision["MSAI_VISION_MAX_IMAGE_BYTES"] == str(VALUES["vision"]["maxImageBytes"])
    # false in a service block replaces true from the defaults (orchestrator: no HPA)
    assert {h["metadata"]["name"] for h in kinds(objs, "HorizontalPodAutoscaler")} == {
        "ner",
        "vision",
    }


def test_hpa_follows_values() -> None:
    hpa_values = VALUES["modelDefaults"]["autoscaling"]["hpa"]
    hpa = find(render_env("default"), "HorizontalPodAutoscaler", "ner")["spec"]
    assert hpa["minReplicas"] == hpa_values["minReplicas"]
    assert hpa["maxReplicas"] == hpa_values["maxReplicas"]
    metric = hpa["metrics"][0]["pods"]
    assert metric["metric"]["name"] == hpa_values["metric"] == "modelserve_pending_requests"
    assert metric["target"]["averageValue"] == str(hpa_values["targetAverageValue"])
    for direction in ("scaleUp", "scaleDown"):
        want = hpa_values["behavior"][direction]
        got = hpa["behavior"][direction]
        assert got["stabilizationWindowSeconds"] == want["stabilizationWindowSeconds"]
        assert got["policies"] == want["policies"]
    # the autoscaler owns the replica count
    assert "replicas" not in find(render_env("default"), "Deployment", "ner")["spec"]


def test_mesh_policies_follow_values() -> None:
    mesh = VALUES["mesh"]
    objs = render_env("default")
    dr = find(objs, "DestinationRule", "ner")["spec"]
    assert dr["host"] == "ner.ai-models.svc.cluster.local"
    assert dr["trafficPolicy"]["connectionPool"] == mesh["connectionPool"]
    assert dr["trafficPolicy"]["outlierDetection"] == mesh["outlierDetection"]
    assert [s["name"] for s in dr["subsets"]] == ["stable", "canary"]
    route = find(objs, "VirtualService", "ner")["spec"]["http"][0]
    assert route["timeout"] == mesh["timeout"]
    assert route["retries"] == mesh["retries"]
    assert [d["weight"] for d in route["route"]] == [100]
    assert "fault" not in route
    assert find(objs, "Gateway", "modelserve")["spec"]["selector"] == mesh["gatewaySelector"]


def test_canary_weights_and_fault_block() -> None:
    objs = render(
        {
            "ner": {"canary": {"enabled": True, "weight": 25}},
            "mesh": {
                "fault": {
                    "enabled": True,
                    "delay": {"percent": 5, "fixedDelay": "200ms"},
                    "abort": {"percent": 2.5, "httpStatus": 503},
                }
            },
        }
    )
    route = find(objs, "VirtualService", "ner")["spec"]["http"][0]
    assert [(d["destination"]["subset"], d["weight"]) for d in route["route"]] == [
        ("stable", 75),
        ("canary", 25),
    ]
    assert route["fault"] == {
        "delay": {"percentage": {"value": 5}, "fixedDelay": "200ms"},
        "abort": {"percentage": {"value": 2.5}, "httpStatus": 503},
    }
    canary = find(objs, "Deployment", "ner-canary")
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["selector"]["matchLabels"]["version"] == "canary"
    cm = find(objs, "ConfigMap", "ner-canary")["data"]
    assert cm["MSAI_NER_MODEL_URI"] == VALUES["ner"]["canary"]["modelUri"]


def test_keda_scale_to_zero_and_http_addon() -> None:
    staging = render_env("staging")
    so = find(staging, "ScaledObject", "vision")["spec"]
    assert so["minReplicaCount"] == 0
    trigger = so["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert 'service="vision"' in trigger["metadata"]["query"]
    assert trigger["metadata"]["activationThreshold"] == str(
        VALUES["modelDefaults"]["autoscaling"]["keda"]["activationThreshold"]
    )
    assert not [
        h for h in kinds(staging, "HorizontalPodAutoscaler") if h["metadata"]["name"] == "vision"
    ]

    dev = render_env("dev")
    http = find(dev, "HTTPScaledObject", "ner")["spec"]
    assert http["replicas"]["min"] == 0
    assert http["hosts"] == ["ner.ai-models.svc.cluster.local"]
    assert http["scaleTargetRef"]["service"] == "ner"
    assert http["scaledownPeriod"] == 30
    assert not [s for s in kinds(dev, "ScaledObject") if s["metadata"]["name"] == "ner"]
    # the gateway sends a scaled-to-zero service through the interceptor, which holds requests
    gw = find(dev, "VirtualService", "modelserve-gateway")["spec"]["http"]
    ner_route = next(r for r in gw if r["name"] == "ner")
    assert ner_route["route"][0]["destination"]["host"].startswith("keda-add-ons-http-interceptor")
    assert ner_route["rewrite"] == {"authority": "ner.ai-models.svc.cluster.local", "uri": "/"}


def test_gateway_routes_like_the_local_envoy() -> None:
    """/<service>/ with the prefix rewritten to /, as harness/platform/local/envoy.py does,
    so clients use the same URLs on every platform."""
    gw = find(render_env("default"), "VirtualService", "modelserve-gateway")["spec"]
    assert gw["gateways"] == ["modelserve"]
    for route in gw["http"]:
        assert route["match"] == [{"uri": {"prefix": f"/{route['name']}/"}}]
        assert route["rewrite"] == {"uri": "/"}
    assert [r["name"] for r in gw["http"]] == ["ner", "vision", "orchestrator"]
    mesh_vs = find(render_env("default"), "VirtualService", "ner")["spec"]
    assert mesh_vs["gateways"] == ["mesh"]
    assert "rewrite" not in mesh_vs["http"][0]


def test_http_addon_with_a_canary_is_refused_with_a_clear_error() -> None:
    with pytest.raises(helm_python.HelmError, match=r"ner: canary\.enabled and autoscaling\.keda"):
        render(
            {
                "ner": {
                    "canary": {"enabled": True},
                    "autoscaling": {"keda": {"enabled": True}},
                }
            }
        )


def test_bad_values_name_the_field() -> None:
    with pytest.raises(helm_python.HelmValuesError) as err:
        render({"redis": {"mode": "cloud"}, "mesh": {"timeout": "ten seconds"}})
    assert "/redis/mode" in str(err.value)
    assert "/mesh/timeout" in str(err.value)


def test_gpu_scheduling_in_prod() -> None:
    prod = render_env("prod")
    ner = find(prod, "Deployment", "ner")["spec"]["template"]["spec"]
    assert ner["nodeSelector"] == {"node-group": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in ner[
        "tolerations"
    ]
    assert ner["containers"][0]["resources"]["limits"]["nvidia.com/gpu.shared"] == 1
    # ONNX Runtime's CUDA build (build-images.sh --gpu), not the CPU image on a GPU node
    assert ner["containers"][0]["image"].rsplit("/", 1)[-1].startswith("modelserve-ner-gpu:")
    orch = find(prod, "Deployment", "orchestrator")["spec"]["template"]["spec"]
    assert "nodeSelector" not in orch  # the orchestrator needs no GPU
    assert "-gpu:" not in orch["containers"][0]["image"]
    default = find(render_env("default"), "Deployment", "ner")["spec"]["template"]["spec"]
    assert "nodeSelector" not in default
    assert "-gpu:" not in default["containers"][0]["image"]
    assert {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in default[
        "tolerations"
    ]


def test_datastores_in_cluster_or_external() -> None:
    dev = render_env("dev")
    assert {s["metadata"]["name"] for s in kinds(dev, "StatefulSet")} == {"redis", "postgresql"}
    assert find(dev, "Service", "redis")["spec"]["type"] == "ClusterIP"
    prod = render_env("prod")
    assert not kinds(prod, "StatefulSet")
    redis = find(prod, "Service", "redis")["spec"]
    assert redis["type"] == "ExternalName"
    assert redis["externalName"].endswith(".cache.amazonaws.com")
    assert find(prod, "Service", "postgresql")["spec"]["externalName"].endswith(
        ".rds.amazonaws.com"
    )
    # the orchestrator reaches both by the same in-namespace names either way
    for objs in (dev, prod):
        data = find(objs, "ConfigMap", "orchestrator")["data"]
        assert data["MSAI_ORCH_REDIS_URL"].startswith("redis://redis.pipeline-orchestrator.svc")


def test_network_policies_default_deny_then_needed_paths() -> None:
    objs = render_env("default")
    pols = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p for p in kinds(objs, "NetworkPolicy")
    }
    for ns in ("ai-models", "pipeline-orchestrator"):
        deny = pols[(ns, "default-deny")]["spec"]
        assert deny["podSelector"] == {}
        assert deny["policyTypes"] == ["Ingress", "Egress"]
        assert "ingress" not in deny
        assert "egress" not in deny
    models = pols[("ai-models", "model-servers")]["spec"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in models["ingress"][0]["from"]
    }
    assert {"istio-system", "pipeline-orchestrator", "monitoring"} <= sources
    orch = pols[("pipeline-orchestrator", "orchestrator")]["spec"]
    egress_ports = {p["port"] for rule in orch["egress"] for p in rule["ports"]}
    assert {8080, 6379, 5432} <= egress_ports


def test_pdbs_quotas_vpas() -> None:
    objs = render({"vpa": {"enabled": True}})
    assert {p["metadata"]["name"] for p in kinds(objs, "PodDisruptionBudget")} == {
        "ner",
        "vision",
        "orchestrator",
    }
    assert all(p["spec"]["minAvailable"] == 1 for p in kinds(objs, "PodDisruptionBudget"))
    quotas = {q["metadata"]["namespace"]: q["spec"]["hard"] for q in kinds(objs, "ResourceQuota")}
    assert quotas["ai-models"]["requests.nvidia.com/gpu"] == "8"
    assert set(quotas) == {"ai-models", "pipeline-orchestrator"}
    vpas = kinds(objs, "VerticalPodAutoscaler")
    assert len(vpas) == 3
    assert all(v["spec"]["updatePolicy"]["updateMode"] == "Off" for v in vpas)


def test_argo_workflow_template_keeps_argo_expressions() -> None:
    wt = find(render({"argo": {"enabled": True}}), "WorkflowTemplate", "batch-pipeline")["spec"]
    run = next(t for t in wt["templates"] if t["name"] == "batch")["dag"]["tasks"][1]
    assert run["withParam"] == "{{tasks.list.outputs.result}}"
    assert run["arguments"]["parameters"][0]["value"] == "{{item}}"
    run_one = next(t for t in wt["templates"] if t["name"] == "run-one")
    url = next(e["value"] for e in run_one["script"]["env"] if e["name"] == "URL")
    assert url.startswith("http://orchestrator.pipeline-orchestrator.svc.cluster.local:8080/")
    assert "{{workflow.parameters.pipeline}}" in url


def test_every_value_is_commented() -> None:
    """Each key in values.yaml has a `# --` comment line right above it (helm-docs style;
    a flow mapping's comment covers its members). `profiles` (game-day overlays) and `local`
    (read only by the local platform) are documented by their section comment."""
    undocumented = []
    section = ""
    prev = ""
    for no, line in enumerate((CHART / "values.yaml").read_text().splitlines(), start=1):
        m = re.match(r"^(\s*)([A-Za-z0-9_.-]+):", line)
        if m and not m.group(1):
            section = m.group(2)
        if m and section not in {"profiles", "local"} and not prev.lstrip().startswith("#"):
            undocumented.append(f"values.yaml:{no}: {line.strip()}")
        if line.strip():
            prev = line
    assert not undocumented, "\n".join(undocumented)


def test_notes_name_the_secrets_to_create() -> None:
    chart = helm_python.Chart.load(CHART)
    try:
        notes = chart.render(values_for("dev"), name="modelserve", namespace="default")
    finally:
        chart.close()
    text = notes["modelserve/templates/NOTES.txt"]
    assert "create secret generic modelserve-postgresql" in text
    assert "create secret generic modelserve-admin-token" in text  # dev turns fault hooks on


@pytest.mark.parametrize("profile", sorted(VALUES["profiles"]))
def test_game_day_profiles_render(profile: str) -> None:
    """The profiles the local platform applies render on Kubernetes too (kind applies them
    as values overrides)."""
    objs = render({**VALUES["profiles"][profile], "argo": {"enabled": True}})
    deployments = {d["metadata"]["name"] for d in kinds(objs, "Deployment")}
    assert {"ner", "vision"} <= deployments
    if profile == "scale-to-zero":
        assert find(objs, "HTTPScaledObject", "ner")["spec"]["replicas"]["min"] == 0
        assert "ner" not in {h["metadata"]["name"] for h in kinds(objs, "HorizontalPodAutoscaler")}
    if profile == "minimal":
        assert "orchestrator" not in deployments
        assert not kinds(objs, "WorkflowTemplate")


CRD_KINDS = {
    "VirtualService",
    "DestinationRule",
    "Gateway",
    "EnvoyFilter",
    "ScaledObject",
    "HTTPScaledObject",
    "PrometheusRule",
    "ServiceMonitor",
    "WorkflowTemplate",
    "VerticalPodAutoscaler",
}


def test_argo_and_vpa_render_only_when_asked_for() -> None:
    objs = render_env("default")
    assert not kinds(objs, "VerticalPodAutoscaler")
    assert not kinds(objs, "WorkflowTemplate")
    asked = render({"vpa": {"enabled": True}, "argo": {"enabled": True}})
    assert kinds(asked, "VerticalPodAutoscaler")
    assert kinds(asked, "WorkflowTemplate")


@pytest.mark.parametrize("profile", ["default", "scale-to-zero"])
def test_crd_objects_render_only_where_their_api_is_served(profile: str) -> None:
    """A cluster without Istio, KEDA, prometheus-operator, Argo or VPA (msai cluster, a bare
    EKS from infra/) gets none of their objects, even when asked for; with one API served,
    exactly that API's objects appear."""
    values = {
        **(VALUES["profiles"][profile] if profile != "default" else {}),
        "vpa": {"enabled": True},
        "argo": {"enabled": True},
    }
    bare = render(values, apis={"global": {"assumeApis": []}})
    assert not {o["kind"] for o in bare} & CRD_KINDS
    assert kinds(bare, "Deployment")
    istio = render(values, apis={"global": {"assumeApis": ["networking.istio.io/v1"]}})
    assert {o["kind"] for o in istio} & CRD_KINDS == {
        "VirtualService",
        "DestinationRule",
        "Gateway",
    }
    everything = render(values)
    assert {o["kind"] for o in everything} & CRD_KINDS >= {
        "VirtualService",
        "PrometheusRule",
        "WorkflowTemplate",
        "VerticalPodAutoscaler",
    }
