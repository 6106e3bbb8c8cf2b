"""``msai export litmus SCENARIO``: the scenario's faults as LitmusChaos manifests.

For teams that run LitmusChaos (litmuschaos.io/v1alpha1), one ChaosExperiment per experiment
used and one ChaosEngine per fault, plus the ServiceAccount and RBAC the runners need:

=================== ====================== =============================================
scenario fault      Litmus experiment      parameters
=================== ====================== =============================================
kill                pod-delete             FORCE (not graceful), PODS_AFFECTED_PERC
drain               node-drain             TARGET_NODE or NODE_LABEL
spot_interruption   node-drain             NODE_LABEL, duration = the notice
mesh_delay          pod-network-latency    NETWORK_LATENCY (ms), PODS_AFFECTED_PERC
mesh_abort          pod-http-status-code   STATUS_CODE, TOXICITY (percent of requests)
=================== ====================== =============================================

Faults with no Litmus equivalent here (restart, dependency_outage, partition) are left out and
named in ``README.md`` next to the manifests; a scenario with none exportable is an error.

Expectations become probes on every engine: steady-state ``http`` probes are Continuous
httpProbes, ``replicas`` probes and gates are promProbes on ``modelserve_replicas_ready``,
``error_ratio`` and ``latency`` gates promProbes on the servers' metrics, ``alert`` gates
promProbes on ``ALERTS``; ``prometheus`` probes are copied. What has no probe form (throughput,
error budgets, ``max_ms``) is listed in the README.

No package on PyPI or npm publishes the Litmus CRD schemas (checked: kubernetes-models has no
Litmus module), so tests check the documents structurally against the fields Litmus 3 reads;
the core objects (ServiceAccount, ClusterRole, ClusterRoleBinding) are validated strictly.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.scenario import FaultEntry, Scenario, load_scenario

__all__ = ["EXPERIMENTS", "LITMUS_IMAGE", "export_scenario", "manifests"]

API = "litmuschaos.io/v1alpha1"
LITMUS_IMAGE = "litmuschaos/go-runner:3.12.0"
SERVICE_ACCOUNT = "msai-litmus"
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
SERVICE_PORT = 8080

#: experiment -> (scope, extra env defaults)
EXPERIMENTS: dict[str, dict[str, str]] = {
    "pod-delete": {"TOTAL_CHAOS_DURATION": "15", "CHAOS_INTERVAL": "5", "FORCE": "true"},
    "node-drain": {"TOTAL_CHAOS_DURATION": "60", "TARGET_NODE": "", "NODE_LABEL": ""},
    "pod-network-latency": {
        "TOTAL_CHAOS_DURATION": "60",
        "NETWORK_LATENCY": "2000",
        "JITTER": "0",
        "CONTAINER_RUNTIME": "containerd",
        "SOCKET_PATH": "/run/containerd/containerd.sock",
    },
    "pod-http-status-code": {
        "TOTAL_CHAOS_DURATION": "60",
        "STATUS_CODE": "500",
        "MODIFY_RESPONSE_BODY": "true",
        "TARGET_SERVICE_PORT": str(SERVICE_PORT),
        "TOXICITY": "100",
        "CONTAINER_RUNTIME": "containerd",
        "SOCKET_PATH": "/run/containerd/containerd.sock",
    },
}

_FAULT_TO_EXPERIMENT = {
    "kill": "pod-delete",
    "drain": "node-drain",
    "spot_interruption": "node-drain",
    "mesh_delay": "pod-network-latency",
    "mesh_abort": "pod-http-status-code",
}

_RULES = [
    {"apiGroups": [""], "resources": ["pods", "events", "configmaps", "secrets", "services"],
     "verbs": ["create", "delete", "get", "list", "patch", "update", "deletecollection"]},
    {"apiGroups": [""], "resources": ["pods/log", "pods/exec", "pods/eviction"],
     "verbs": ["get", "list", "create"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch", "update"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets",
                                           "daemonsets"], "verbs": ["get", "list"]},
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["create", "delete", "get", "list", "deletecollection"]},
    {"apiGroups": ["litmuschaos.io"],
     "resources": ["chaosengines", "chaosexperiments", "chaosresults"],
     "verbs": ["create", "delete", "get", "list", "patch", "update"]},
]  # fmt: skip


def _seconds(value: float | None, default: float) -> str:
    return str(max(1, math.ceil(value if value is not None else default)))


def _experiment(name: str) -> dict[str, Any]:
    scope = "Cluster" if name == "node-drain" else "Namespaced"
    env = [{"name": k, "value": v} for k, v in EXPERIMENTS[name].items()]
    return {
        "apiVersion": API,
        "kind": "ChaosExperiment",
        "metadata": {
            "name": name,
            "labels": {"name": name, "app.kubernetes.io/part-of": "litmus"},
        },
        "spec": {
            "definition": {
                "scope": scope,
                "permissions": copy.deepcopy(_RULES),
                "image": LITMUS_IMAGE,
                "imagePullPolicy": "Always",
                "command": ["/bin/bash"],
                "args": ["-c", f"./experiments -name {name}"],
                "env": env,
                "labels": {"name": name, "app.kubernetes.io/runtime-api-usage": "true"},
            }
        },
    }


def _fault_env(entry: FaultEntry, scenario: Scenario) -> tuple[str, dict[str, str], str]:
    """(experiment, env overrides, target service or "") for one fault."""
    exp = _FAULT_TO_EXPERIMENT[entry.kind]
    p, t = entry.params, entry.target
    duration = _seconds(entry.duration_s, 60)
    if entry.kind == "kill":
        service = str(t["service"])
        replicas = (scenario.stack.get("overrides") or {}).get(f"{service}.replicas")
        count = int(p.get("count", 1))
        # Litmus counts a percentage of the target's pods; 0 means exactly one pod
        perc = "0" if count == 1 or not replicas else str(math.ceil(100 * count / replicas))
        env = {"FORCE": "false" if p.get("graceful") else "true", "PODS_AFFECTED_PERC": perc,
               "TOTAL_CHAOS_DURATION": _seconds(entry.duration_s, 15)}  # fmt: skip
        return exp, env, service
    if entry.kind in ("drain", "spot_interruption"):
        env = {"TOTAL_CHAOS_DURATION": duration}
        if "node" in t:
            env["TARGET_NODE"] = str(t["node"])
        else:
            label = str(t["node_label"])
            env["NODE_LABEL"] = label if "=" in label else f"capacity-type={label}"
        if entry.kind == "spot_interruption":
            from harness.scenario import parse_duration

            env["TOTAL_CHAOS_DURATION"] = _seconds(parse_duration(p.get("notice", 120)), 120)
        return exp, env, ""
    route = str(t["route"])
    if entry.kind == "mesh_delay":
        from harness.scenario import parse_duration

        env = {
            "NETWORK_LATENCY": str(round(parse_duration(p["delay"]) * 1000)),
            "PODS_AFFECTED_PERC": str(round(float(p.get("percent", 100)))),
            "TOTAL_CHAOS_DURATION": duration,
        }
        return exp, env, route
    env = {
        "STATUS_CODE": str(p.get("status", 500)),
        "TOXICITY": str(round(float(p.get("percent", 100)))),
        "TOTAL_CHAOS_DURATION": duration,
    }
    return exp, env, route


def _prom(name: str, query: str, criteria: str, value: float, mode: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "promProbe",
        "mode": mode,
        "promProbe/inputs": {
            "endpoint": PROMETHEUS,
            "query": query,
            "comparator": {"type": "float", "criteria": criteria, "value": f"{value:g}"},
        },
        "runProperties": {"probeTimeout": "10s", "interval": "5s", "attempt": 3},
    }


def _sel(route: str | None) -> str:
    return f'{{service="{route}"}}' if route else ""


Window = tuple[float, float] | None


def _window(gate: dict[str, Any]) -> Window:
    from harness.scenario import parse_duration

    w = gate.get("window")
    if not w:
        return None
    return parse_duration(w.get("from", 0)), parse_duration(w.get("to", 1e9))


def _probes(
    scenario: Scenario, namespace: str
) -> tuple[list[tuple[dict[str, Any], Window]], list[str]]:
    """Probes for the scenario's expectations (each with the gate's time window, if any), and
    what could not be expressed."""
    found: list[tuple[dict[str, Any], Window]] = []
    skipped: list[str] = []
    probes: list[dict[str, Any]] = []
    for i, probe in enumerate(scenario.steady_state):
        name = f"steady-{i}-{probe['probe']}"
        if probe["probe"] == "http":
            url = (
                f"http://{probe['route']}.{namespace}.svc.cluster.local:{SERVICE_PORT}"
                f"{probe.get('path', '/v2/health/ready')}"
            )
            status = str(probe.get("expect", {}).get("status", 200))
            method = probe.get("method", "GET").lower()
            inputs: dict[str, Any] = {"criteria": "==", "responseCode": status}
            if method == "post":
                inputs["body"] = yaml.safe_dump(probe.get("json", {}), default_flow_style=True)
            probes.append(
                {
                    "name": name,
                    "type": "httpProbe",
                    "mode": "Continuous",
                    "httpProbe/inputs": {"url": url, "method": {method: inputs}},
                    "runProperties": {"probeTimeout": "5s", "interval": "2s", "attempt": 1},
                }
            )
        elif probe["probe"] == "replicas":
            q = f'sum(modelserve_replicas_ready{{service="{probe["service"]}"}})'
            probes.append(_prom(name, q, ">=", probe["at_least"], "Edge"))
        else:  # prometheus
            if "min" in probe:
                probes.append(_prom(name + "-min", probe["query"], ">=", probe["min"], "Edge"))
            if "max" in probe:
                probes.append(_prom(name + "-max", probe["query"], "<=", probe["max"], "Edge"))
    found += [(p, None) for p in probes]
    for i, gate in enumerate(scenario.expect):
        probes = []
        kind = gate["gate"]
        name = f"expect-{i}-{kind.replace('_', '-')}"
        route = gate.get("route")
        if kind == "error_ratio":
            sel = f'service="{route}",' if route else ""
            q = (
                f'sum(rate(modelserve_requests_total{{{sel}code=~"5.."}}[1m])) / '
                f"sum(rate(modelserve_requests_total{_sel(route)}[1m]))"
            )
            probes.append(_prom(name, q, "<=", gate["max"], "Continuous"))
        elif kind == "latency":
            for key, quantile in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
                if key in gate:
                    q = (
                        f"1000 * histogram_quantile({quantile}, sum by (le) (rate("
                        f"modelserve_request_duration_seconds_bucket{_sel(route)}[1m])))"
                    )
                    probes.append(_prom(f"{name}-{key[:3]}", q, "<=", gate[key], "Continuous"))
            if "max_ms" in gate:
                skipped.append(f"expect[{i}] latency max_ms (a histogram has no maximum)")
        elif kind == "replicas":
            q = f'sum(modelserve_replicas_ready{{service="{gate["service"]}"}})'
            probes.append(_prom(name, q, ">=", gate["at_least"], "EOT"))
        elif kind == "alert":
            q = f'sum(ALERTS{{alertname="{gate["name"]}",alertstate="firing"}})'
            probes.append(_prom(name, q, ">=", 1, "OnChaos"))
        else:
            skipped.append(f"expect[{i}] {kind} (no Litmus probe form)")
        found += [(p, _window(gate)) for p in probes]
    return found, skipped


def manifests(
    scenario: Scenario, *, namespace: str = "ai-models"
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every document to write, and the lines saying what was left out."""
    probes, skipped = _probes(scenario, namespace)
    engines: list[dict[str, Any]] = []
    used: list[str] = []
    for entry in scenario.faults:
        if entry.kind not in _FAULT_TO_EXPERIMENT:
            skipped.append(f"{entry.label}: {entry.kind} has no Litmus experiment here")
            continue
        exp, env, target = _fault_env(entry, scenario)
        start = entry.at_s
        end = start + float(env.get("TOTAL_CHAOS_DURATION", 60))
        # a gate with a window goes with the faults in force during it; others with every one
        mine = [p for p, w in probes if w is None or (w[0] < end and w[1] > start)]
        if exp not in used:
            used.append(exp)
        spec: dict[str, Any] = {
            "engineState": "active",
            "chaosServiceAccount": SERVICE_ACCOUNT,
            "jobCleanUpPolicy": "delete",
            "experiments": [
                {
                    "name": exp,
                    "spec": {
                        "components": {"env": [{"name": k, "value": v} for k, v in env.items()]},
                        "probe": copy.deepcopy(mine),
                    },
                }
            ],
        }
        if target:
            spec["appinfo"] = {
                "appns": namespace,
                "applabel": f"app.kubernetes.io/name={target}",
                "appkind": "deployment",
            }
        engines.append(
            {
                "apiVersion": API,
                "kind": "ChaosEngine",
                "metadata": {
                    "name": f"{scenario.name}-{entry.index}-{exp}"[:63].rstrip("-"),
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/managed-by": "msai"},
                    "annotations": {
                        "msai.dev/scenario": scenario.name,
                        "msai.dev/fault": entry.label,
                        "msai.dev/at": f"{entry.at_s:g}s",
                    },
                },
                "spec": spec,
            }
        )
    if not engines:
        raise ConfigError(
            "no fault of this scenario has a Litmus equivalent ("
            + ", ".join(sorted(_FAULT_TO_EXPERIMENT))
            + ")",
            source=scenario.source,
            field="faults",
        )
    rbac = _rbac(namespace)
    experiments = [_experiment(e) for e in used]
    for e in experiments:
        e["metadata"]["namespace"] = namespace
    return [*rbac, *experiments, *engines], skipped


def _rbac(namespace: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/managed-by": "msai"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": SERVICE_ACCOUNT, "labels": labels},
            "rules": copy.deepcopy(_RULES),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": SERVICE_ACCOUNT, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": SERVICE_ACCOUNT,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}
            ],
        },
    ]


def _write(path: Path, text: str) -> None:
    """Atomically: a crash never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_scenario(
    path: Path,
    out: Path | None = None,
    *,
    namespace: str = "ai-models",
    profile: str | None = None,
) -> list[Path]:
    """Write ``litmus.yaml`` (all documents) and ``README.md`` into ``out``; returns them."""
    scenario = load_scenario(path, profile=profile)
    docs, skipped = manifests(scenario, namespace=namespace)
    out = out or Path("litmus") / scenario.name
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "litmus.yaml"
    header = f"# LitmusChaos manifests for scenario {scenario.name} ({scenario.source})\n"
    _write(manifest, header + yaml.safe_dump_all(docs, sort_keys=False))
    lines = [
        f"# Litmus export of `{scenario.name}`",
        "",
        f"From `{scenario.source}` by `msai export litmus`. Apply with "
        f"`kubectl apply -f litmus.yaml` (Litmus 3 operator installed; experiments run in "
        f"namespace `{namespace}`). Each ChaosEngine carries the fault's start offset in its "
        "`msai.dev/at` annotation: Litmus starts an engine when it is applied.",
        "",
        "Left out (no Litmus form):" if skipped else "Nothing was left out.",
        *[f"- {s}" for s in skipped],
        "",
    ]
    readme = out / "README.md"
    _write(readme, "\n".join(lines))
    return [manifest, readme]
