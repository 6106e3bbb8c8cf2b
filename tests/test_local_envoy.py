"""Envoy and monitoring config generated from values.yaml (no process started)."""

from pathlib import Path

import yaml

from harness.platform.base import StackSpec
from harness.platform.local import envoy
from harness.platform.local.alertmanager import local_config
from harness.platform.local.prometheus import rule_files
from harness.values import load_stack


def _files(tmp_path: Path, overrides: dict[str, object] | None = None) -> dict[str, object]:
    v = load_stack(StackSpec(profile="minimal", overrides=overrides or {}))
    clusters = envoy.initial_files(tmp_path, 10000, v)
    return {
        "values": v,
        "clusters": clusters,
        "lds": yaml.safe_load((tmp_path / "lds.yaml").read_text()),
        "cds": yaml.safe_load((tmp_path / "cds.yaml").read_text()),
    }


def test_clusters_carry_the_destination_rule(tmp_path: Path) -> None:
    f = _files(tmp_path)
    assert f["clusters"] == ["ner-stable", "vision-stable"]
    c = f["cds"]["resources"][0]
    t = c["circuit_breakers"]["thresholds"][0]
    assert t["max_connections"] == 256
    assert t["max_pending_requests"] == 128
    od = c["outlier_detection"]
    assert od["consecutive_5xx"] == 5
    assert od["interval"] == "5.000s"
    assert od["base_ejection_time"] == "15.000s"
    assert od["max_ejection_percent"] == 50
    assert c["type"] == "EDS"


def test_routes_carry_the_virtual_service(tmp_path: Path) -> None:
    f = _files(tmp_path, {"ner.canary.enabled": True, "ner.canary.weight": 10})
    hcm = f["lds"]["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = {r["name"]: r for r in hcm["route_config"]["virtual_hosts"][0]["routes"]}
    ner = routes["ner"]["route"]
    assert ner["timeout"] == "10.000s"
    assert ner["retry_policy"]["num_retries"] == 2
    assert ner["retry_policy"]["per_try_timeout"] == "3.000s"
    assert ner["retry_policy"]["retry_on"] == "5xx,reset,connect-failure,refused-stream"
    weights = {c["name"]: c["weight"] for c in ner["weighted_clusters"]["clusters"]}
    assert weights == {"ner-stable": 90, "ner-canary": 10}
    fault = routes["ner"]["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["abort_percent_runtime"] == "fault.ner.abort.percent"
    assert routes["vision"]["route"]["cluster"] == "vision-stable"


def test_fault_runtime_values() -> None:
    on = envoy.fault_runtime("ner", abort_status=503, percent=5.5)
    assert on["fault.ner.abort.percent"] == 6  # whole percent (Envoy integer runtime form)
    assert on["fault.ner.delay.percent"] == 0
    off = envoy.fault_runtime("ner")
    assert all(v == 0 for k, v in off.items() if k.endswith("percent"))


def test_chart_fault_block_sets_static_defaults() -> None:
    v = load_stack(StackSpec(overrides={"mesh.fault.enabled": True, "mesh.fault.abort.percent": 5}))
    boot = yaml.safe_load(envoy.bootstrap(Path("/x"), 1, v.mesh, ["ner"]))
    static = boot["layered_runtime"]["layers"][0]["static_layer"]
    assert static["fault.ner.abort.percent"] == 5
    assert static["fault.ner.delay.duration_ms"] == 200


def test_alertmanager_routes_point_at_the_harness() -> None:
    v = load_stack(StackSpec())
    cfg = local_config("http://127.0.0.1:9", v.local, None)
    assert cfg["receivers"][0]["webhook_configs"][0]["url"] == "http://127.0.0.1:9/webhook/harness"
    source = Path(__file__).parents[1] / "reference-stack" / "monitoring" / "alertmanager.yaml"
    if source.exists():
        cfg = local_config("http://127.0.0.1:9", v.local, source)
        urls = [w["url"] for r in cfg["receivers"] for w in r["webhook_configs"]]
        assert urls
        assert all(u.startswith("http://127.0.0.1:9/webhook/") for u in urls)
        assert cfg["route"]["group_wait"] == "1s"  # 10s in the source, capped locally
        critical = cfg["route"]["routes"][0]
        assert critical["group_wait"] == "0s"  # shorter than the cap: kept


def test_rule_files_found() -> None:
    names = {p.name for p in rule_files()}
    assert {"alerts.rules.yaml", "recording.rules.yaml"} <= names
