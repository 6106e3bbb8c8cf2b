"""reference-stack/kind/cluster.yaml: a valid kind v1alpha4 config whose workers carry the
labels and taints values.yaml gives its nodes (and the GPU node group's), so what the chart
schedules on EKS it can schedule on kind."""

from __future__ import annotations

from typing import Any

import yaml

from tests.infra_support import ROOT, values_yaml

CONFIG = ROOT / "reference-stack" / "kind" / "cluster.yaml"

# Field names of kind's v1alpha4 types (sigs.k8s.io/kind pkg/apis/config/v1alpha4/types.go):
# kind rejects unknown fields, so a typo here would only show on `kind create cluster`.
_CLUSTER = {
    "kind",
    "apiVersion",
    "name",
    "nodes",
    "networking",
    "featureGates",
    "runtimeConfig",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches",
    "containerdConfigPatchesJSON6902",
}
_NODE = {
    "role",
    "image",
    "labels",
    "extraMounts",
    "extraPortMappings",
    "gpus",
    "kubeadmConfigPatches",
    "kubeadmConfigPatchesJSON6902",
}
_NETWORKING = {
    "ipFamily",
    "apiServerPort",
    "apiServerAddress",
    "podSubnet",
    "serviceSubnet",
    "disableDefaultCNI",
    "kubeProxyMode",
    "dnsSearch",
}
_PORT_MAPPING = {"containerPort", "hostPort", "listenAddress", "protocol"}
NODE_LABEL = "modelserve.ai/node"


def _config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return data


def _taints(node: dict[str, Any]) -> list[dict[str, str]]:
    taints: list[dict[str, str]] = []
    for patch in node.get("kubeadmConfigPatches", []):
        doc = yaml.safe_load(patch)
        assert doc["kind"] in {"JoinConfiguration", "InitConfiguration"}, doc["kind"]
        taints += doc.get("nodeRegistration", {}).get("taints", [])
    return taints


def _workers() -> list[dict[str, Any]]:
    return [n for n in _config()["nodes"] if n["role"] == "worker"]


def test_config_uses_only_kind_v1alpha4_fields() -> None:
    config = _config()
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert set(config) <= _CLUSTER, set(config) - _CLUSTER
    assert set(config.get("networking", {})) <= _NETWORKING
    roles = [n["role"] for n in config["nodes"]]
    assert roles.count("control-plane") == 1, roles
    assert set(roles) == {"control-plane", "worker"}
    images = {n.get("image") for n in config["nodes"]}
    assert len(images) == 1, f"one kindest/node version for every node: {images}"
    assert all(str(i).startswith("kindest/node:v") for i in images), images
    for node in config["nodes"]:
        assert set(node) <= _NODE, set(node) - _NODE
        for mapping in node.get("extraPortMappings", []):
            assert set(mapping) <= _PORT_MAPPING, mapping
            assert mapping.get("listenAddress") == "127.0.0.1", "host ports on loopback only"
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"


def test_every_values_node_has_a_matching_worker() -> None:
    by_name = {w["labels"].get(NODE_LABEL): w for w in _workers()}
    for node in values_yaml()["nodes"]:
        worker = by_name.get(node["name"])
        assert worker is not None, f"no kind worker labelled {NODE_LABEL}={node['name']}"
        assert node["labels"].items() <= worker["labels"].items(), (
            f"{node['name']}: kind labels {worker['labels']} lack {node['labels']}"
        )
        assert _taints(worker) == node.get("taints", []), f"{node['name']}: taints differ"


def test_general_spot_and_gpu_workers() -> None:
    groups = [w["labels"]["node-group"] for w in _workers()]
    assert {"general", "spot", "gpu"} <= set(groups), groups
    assert len(set(w["labels"][NODE_LABEL] for w in _workers())) == len(_workers()), "unique names"
    gpu = next(w for w in _workers() if w["labels"]["node-group"] == "gpu")
    values = values_yaml()
    assert values["gpu"]["nodeSelector"].items() <= gpu["labels"].items()
    for taint in _taints(gpu):
        assert any(
            t["key"] == taint["key"]
            and t.get("effect", taint["effect"]) == taint["effect"]
            and (t.get("operator") == "Exists" or t.get("value") == taint["value"])
            for t in values["gpu"]["tolerations"]
        ), f"gpu worker taint {taint} is not tolerated by values.yaml gpu.tolerations"
    spot = next(w for w in _workers() if w["labels"]["node-group"] == "spot")
    assert spot["labels"]["capacity-type"] == "spot"
    assert _taints(spot), "spot workers are tainted like the EKS spot group"
