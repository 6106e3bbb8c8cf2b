"""``msai export litmus``: the scenario files' faults as LitmusChaos manifests.

No PyPI or npm package publishes Litmus's CRD schemas (kubernetes-models has none), so the
Litmus documents are checked structurally against the fields Litmus 3 reads; the core objects
(ServiceAccount, ClusterRole, ClusterRoleBinding) are validated strictly like the chart's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_support import KUBE_VERSION
from click.testing import CliRunner

from harness.errors import ConfigError
from harness.platform.kubernetes.litmus import EXPERIMENTS, export_scenario, manifests
from harness.scenario import load_scenario
from msai.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXPORTABLE = ("mesh-faults", "spot-interruption")
PROBE_TYPES = {"httpProbe": "httpProbe/inputs", "promProbe": "promProbe/inputs"}
PROBE_MODES = {"SOT", "EOT", "Edge", "Continuous", "OnChaos"}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def structural_errors(docs: list[dict[str, Any]]) -> list[str]:
    """What Litmus 3's operator would reject or misread in these documents."""
    errors: list[str] = []
    experiments = {d["metadata"]["name"] for d in docs if d["kind"] == "ChaosExperiment"}
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    for d in docs:
        name = d["metadata"]["name"]
        if not DNS1123.match(name) or len(name) > 63:
            errors.append(f"{d['kind']} {name}: not a DNS-1123 label")
        if d["kind"] == "ChaosExperiment":
            definition = d["spec"]["definition"]
            for key in ("scope", "permissions", "image", "args", "command", "env"):
                if key not in definition:
                    errors.append(f"ChaosExperiment {name}: definition.{key} missing")
            if definition.get("scope") not in ("Namespaced", "Cluster"):
                errors.append(f"ChaosExperiment {name}: bad scope")
        if d["kind"] != "ChaosEngine":
            continue
        spec = d["spec"]
        if spec.get("engineState") not in ("active", "stop"):
            errors.append(f"ChaosEngine {name}: engineState")
        if spec.get("chaosServiceAccount") not in accounts:
            errors.append(f"ChaosEngine {name}: chaosServiceAccount not defined")
        if "appinfo" in spec and set(spec["appinfo"]) != {"appns", "applabel", "appkind"}:
            errors.append(f"ChaosEngine {name}: appinfo fields")
        for exp in spec["experiments"]:
            if exp["name"] not in experiments:
                errors.append(f"ChaosEngine {name}: experiment {exp['name']} not defined")
            for env in exp["spec"]["components"]["env"]:
                if set(env) != {"name", "value"} or not isinstance(env["value"], str):
                    errors.append(f"ChaosEngine {name}: env {env} (values are strings)")
                known = EXPERIMENTS.get(exp["name"], {})
                if env["name"] not in known and env["name"] != "PODS_AFFECTED_PERC":
                    errors.append(f"ChaosEngine {name}: {env['name']} unknown to {exp['name']}")
            for probe in exp["spec"]["probe"]:
                inputs = PROBE_TYPES.get(probe["type"])
                if inputs is None or inputs not in probe:
                    errors.append(f"ChaosEngine {name}: probe {probe['name']} inputs")
                if probe["mode"] not in PROBE_MODES:
                    errors.append(f"ChaosEngine {name}: probe {probe['name']} mode")
                run = probe.get("runProperties", {})
                if not {"probeTimeout", "interval"} <= set(run):
                    errors.append(f"ChaosEngine {name}: probe {probe['name']} runProperties")
                if probe["type"] == "promProbe":
                    cmp = probe["promProbe/inputs"]["comparator"]
                    if cmp["criteria"] not in (">=", "<=", "==", "!=", ">", "<"):
                        errors.append(f"ChaosEngine {name}: criteria {cmp['criteria']}")
                    if cmp.get("type") not in ("int", "float", "string"):
                        errors.append(f"ChaosEngine {name}: comparator type {cmp.get('type')}")
                    float(cmp["value"])  # numeric, as a string
    return errors


@pytest.mark.parametrize("name", EXPORTABLE)
def test_scenario_files_export_valid_manifests(name: str, tmp_path: Path) -> None:
    written = export_scenario(ROOT / "scenarios" / f"{name}.yaml", tmp_path)
    assert [p.name for p in written] == ["litmus.yaml", "README.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "litmus.yaml"]  # no tmp
    docs = [d for d in yaml.safe_load_all((tmp_path / "litmus.yaml").read_text()) if d]
    assert structural_errors(docs) == []
    for d in docs:
        if not d["apiVersion"].startswith("litmuschaos.io/"):
            kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
    assert any(d["kind"] == "ChaosEngine" for d in docs)


def test_structural_check_catches_a_broken_engine() -> None:
    docs, _ = manifests(load_scenario(ROOT / "scenarios" / "mesh-faults.yaml"))
    engine = next(d for d in docs if d["kind"] == "ChaosEngine")
    engine["spec"]["experiments"][0]["name"] = "pod-cpu-hog"
    engine["spec"]["experiments"][0]["spec"]["probe"][0]["mode"] = "Sometimes"
    errors = structural_errors(docs)
    assert any("pod-cpu-hog not defined" in e for e in errors)
    assert any("mode" in e for e in errors)


def test_mesh_faults_map_to_latency_http_status_and_pod_delete() -> None:
    docs, skipped = manifests(load_scenario(ROOT / "scenarios" / "mesh-faults.yaml"))
    engines = [d for d in docs if d["kind"] == "ChaosEngine"]
    by_exp = {e["spec"]["experiments"][0]["name"]: e for e in engines}
    assert list(by_exp) == ["pod-network-latency", "pod-http-status-code", "pod-delete"]

    def env(e: dict[str, Any]) -> dict[str, str]:
        return {
            x["name"]: x["value"] for x in e["spec"]["experiments"][0]["spec"]["components"]["env"]
        }

    assert env(by_exp["pod-network-latency"]) == {
        "NETWORK_LATENCY": "200",
        "PODS_AFFECTED_PERC": "50",
        "TOTAL_CHAOS_DURATION": "15",
    }
    assert env(by_exp["pod-http-status-code"])["STATUS_CODE"] == "503"
    assert env(by_exp["pod-http-status-code"])["TOXICITY"] == "5"
    assert env(by_exp["pod-delete"])["FORCE"] == "true"
    assert by_exp["pod-delete"]["spec"]["appinfo"]["applabel"] == "app.kubernetes.io/name=ner"

    # the 0.15 error budget belongs to the abort window only; the kill window keeps 0.01
    def budgets(e: dict[str, Any]) -> list[str]:
        return [
            p["promProbe/inputs"]["comparator"]["value"]
            for p in e["spec"]["experiments"][0]["spec"]["probe"]
            if "error-ratio" in p["name"]
        ]

    assert budgets(by_exp["pod-http-status-code"]) == ["0.15"]
    assert budgets(by_exp["pod-delete"]) == ["0.01"]
    http = [
        p
        for p in by_exp["pod-delete"]["spec"]["experiments"][0]["spec"]["probe"]
        if p["type"] == "httpProbe"
    ]
    assert http[0]["httpProbe/inputs"]["url"] == (
        "http://ner.ai-models.svc.cluster.local:8080/v2/health/ready"
    )
    assert skipped == ["expect[4] latency max_ms (a histogram has no maximum)"]


def test_spot_interruption_is_a_node_drain_for_the_notice() -> None:
    docs, _ = manifests(load_scenario(ROOT / "scenarios" / "spot-interruption.yaml"))
    (engine,) = [d for d in docs if d["kind"] == "ChaosEngine"]
    exp = engine["spec"]["experiments"][0]
    assert exp["name"] == "node-drain"
    env = {x["name"]: x["value"] for x in exp["spec"]["components"]["env"]}
    assert env == {"TOTAL_CHAOS_DURATION": "60", "NODE_LABEL": "capacity-type=spot"}
    alert = [p for p in exp["spec"]["probe"] if "alert" in p["name"]]
    assert alert[0]["promProbe/inputs"]["query"] == (
        'sum(ALERTS{alertname="NodeSpotInterruption",alertstate="firing"})'
    )
    (cexp,) = [d for d in docs if d["kind"] == "ChaosExperiment"]
    assert cexp["spec"]["definition"]["scope"] == "Cluster"


def test_a_scenario_with_nothing_exportable_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "outage.yaml"
    path.write_text(
        "name: outage\n"
        "faults:\n"
        "  - {at: 1s, kind: dependency_outage, target: {dependency: redis}, duration: 5s}\n"
        "expect:\n"
        "  - {gate: error_ratio, max: 0.5}\n"
    )
    with pytest.raises(ConfigError, match=r"outage\.yaml \[faults\].*no fault"):
        export_scenario(path, tmp_path / "out")
    assert not (tmp_path / "out" / "litmus.yaml").exists()
    result = CliRunner().invoke(cli, ["export", "litmus", str(path)], standalone_mode=False)
    assert isinstance(result.exception, ConfigError)


def test_cli_writes_the_files_it_names(tmp_path: Path) -> None:
    out = tmp_path / "x"
    result = CliRunner().invoke(
        cli,
        ["export", "litmus", str(ROOT / "scenarios" / "spot-interruption.yaml"), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out / "litmus.yaml"), str(out / "README.md")]
    assert (
        "Left out" in (out / "README.md").read_text()
        or "Nothing" in (out / "README.md").read_text()
    )
