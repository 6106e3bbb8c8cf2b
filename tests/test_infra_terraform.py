"""Terraform under infra/: parsed with python-hcl2 (no terraform binary or provider is
needed): standard module shape, every variable typed and described, every module reference
resolving, inputs and outputs that exist, state backend and default tags per environment, and
node groups whose labels and taints are the ones the chart schedules by (values.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra_support import (
    ENVIRONMENTS,
    INFRA,
    MODULE_FILES,
    ROOT,
    load_dir,
    module_dirs,
    module_output_refs,
    parse,
    references,
    tf_dirs,
    values_yaml,
)

_EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(INFRA)) for p in paths]


def test_every_hcl_file_parses() -> None:
    files = [*INFRA.rglob("*.tf"), *INFRA.rglob("*.tfvars"), *INFRA.rglob("*.hcl")]
    assert len(files) >= 30, "infra/ lost files"
    for file in files:
        parse(file)  # raises naming the file


def test_expected_modules_and_environments_exist() -> None:
    assert {p.name for p in module_dirs()} == {"vpc", "eks", "data", "observability"}
    for env in ENVIRONMENTS:
        assert (INFRA / "environments" / env / "main.tf").is_file()
    assert (INFRA / "examples" / "complete" / "main.tf").is_file()


@pytest.mark.parametrize("path", module_dirs(), ids=_ids(module_dirs()))
def test_module_has_standard_shape(path: Path) -> None:
    missing = [f for f in MODULE_FILES if not (path / f).is_file()]
    assert not missing, f"{path.name}: missing {missing}"
    tf = load_dir(path)
    assert any(r.endswith(".this") for r in tf.resources), (
        f"{path.name}: no main resource named 'this'"
    )
    assert tf.terraform, f"{path.name}: versions.tf has no terraform block"
    assert "required_providers" in tf.terraform[0], f"{path.name}: versions.tf"
    assert not tf.providers, f"{path.name}: modules take providers from the caller"


@pytest.mark.parametrize("path", tf_dirs(), ids=_ids(tf_dirs()))
def test_every_variable_and_output_is_typed_and_described(path: Path) -> None:
    tf = load_dir(path)
    for name, body in tf.variables.items():
        assert body.get("type"), f"{tf.rel}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), (
            f"{tf.rel}: variable {name} has no description"
        )
    for name, body in tf.outputs.items():
        assert str(body.get("description", "")).strip(), (
            f"{tf.rel}: output {name} has no description"
        )


@pytest.mark.parametrize("path", tf_dirs(), ids=_ids(tf_dirs()))
def test_var_and_local_references_resolve(path: Path) -> None:
    tf = load_dir(path)
    unknown_vars = references(tf.text, "var") - set(tf.variables)
    assert not unknown_vars, f"{tf.rel}: var.{sorted(unknown_vars)} not declared"
    unknown_locals = references(tf.text, "local") - set(tf.locals)
    assert not unknown_locals, f"{tf.rel}: local.{sorted(unknown_locals)} not defined"
    unused = set(tf.variables) - references(tf.text, "var")
    assert not unused, f"{tf.rel}: variables never used: {sorted(unused)}"


def _module_calls() -> list[tuple[Path, str, dict[str, Any]]]:
    calls = []
    for path in tf_dirs():
        for name, body in load_dir(path).modules.items():
            calls.append((path, name, body))
    return calls


def test_module_calls_exist() -> None:
    assert len(_module_calls()) >= 16  # 4 modules x (3 environments + example)


@pytest.mark.parametrize(
    ("path", "name", "body"),
    _module_calls(),
    ids=[f"{p.relative_to(INFRA)}:{n}" for p, n, _ in _module_calls()],
)
def test_module_call_matches_module_interface(path: Path, name: str, body: dict[str, Any]) -> None:
    source = (path / body["source"]).resolve()
    assert source.is_dir(), f"{path}: module {name} source {body['source']} is not a folder"
    missing = [f for f in MODULE_FILES if not (source / f).is_file()]
    assert not missing, f"module {name} ({source}): missing {missing}"
    module = load_dir(source)
    meta = {"source", "version", "providers", "depends_on", "count", "for_each"}
    passed = set(body) - meta
    unknown = passed - set(module.variables)
    assert not unknown, (
        f"{path.name}: module {name} gets inputs it does not declare: {sorted(unknown)}"
    )
    required = {v for v, b in module.variables.items() if "default" not in b}
    not_passed = required - passed
    assert not not_passed, f"{path.name}: module {name} misses required inputs {sorted(not_passed)}"


@pytest.mark.parametrize("path", tf_dirs(), ids=_ids(tf_dirs()))
def test_module_outputs_referenced_exist(path: Path) -> None:
    tf = load_dir(path)
    for module, output in module_output_refs(tf.text):
        assert module in tf.modules, f"{tf.rel}: module.{module} is not called here"
        source = (path / tf.modules[module]["source"]).resolve()
        assert output in load_dir(source).outputs, (
            f"{tf.rel}: module.{module}.{output} is not an output of {source.relative_to(ROOT)}"
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_state_backend_and_default_tags(env: str) -> None:
    path = INFRA / "environments" / env
    tf = load_dir(path)
    backends = [b for t in tf.terraform for b in t.get("backend", [])]
    assert backends == [{"s3": {}}], f'{env}: expected a partial backend "s3" {{}} block'
    backend = parse(path / "backend.hcl")
    assert backend["dynamodb_table"], f"{env}: backend.hcl needs a DynamoDB lock table"
    assert backend["encrypt"] is True
    assert env in backend["key"], f"{env}: state key must be per environment ({backend['key']})"
    keys = {e: parse(INFRA / "environments" / e / "backend.hcl")["key"] for e in ENVIRONMENTS}
    assert len(set(keys.values())) == len(ENVIRONMENTS), f"state keys collide: {keys}"
    aws = next(p["aws"] for p in tf.providers if "aws" in p)
    tags = aws["default_tags"][0]["tags"]
    assert {"Project", "Environment", "ManagedBy"} <= set(tags), f"{env}: default_tags {tags}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_tfvars_set_declared_and_required_variables(env: str) -> None:
    path = INFRA / "environments" / env
    tf = load_dir(path)
    tfvars = parse(path / "terraform.tfvars")
    unknown = set(tfvars) - set(tf.variables)
    assert not unknown, f"{env}: terraform.tfvars sets undeclared {sorted(unknown)}"
    required = {v for v, b in tf.variables.items() if "default" not in b}
    assert not required - set(tfvars), (
        f"{env}: terraform.tfvars misses {sorted(required - set(tfvars))}"
    )
    assert tfvars["environment"] == env


def test_backend_points_at_the_bootstrap_bucket_and_table() -> None:
    boot = load_dir(INFRA / "bootstrap")
    assert "aws_dynamodb_table.locks" in boot.resources
    assert boot.resources["aws_dynamodb_table.locks"]["hash_key"] == "LockID"
    for env in ENVIRONMENTS:
        backend = parse(INFRA / "environments" / env / "backend.hcl")
        assert backend["bucket"] == boot.variables["state_bucket"]["default"], env
        assert backend["dynamodb_table"] == boot.variables["lock_table"]["default"], env
        assert backend["region"] == boot.variables["region"]["default"], env


def test_models_irsa_role_trusts_the_chart_service_account() -> None:
    """values.yaml serviceAccount.annotations gets this role; the chart names its account
    ``modelserve`` (templates/_helpers.tpl) in namespaces.models."""
    values = values_yaml()
    helpers = (ROOT / "reference-stack/charts/modelserve/templates/_helpers.tpl").read_text()
    assert "modelserve{{- else -}}default" in helpers, "chart service account name changed"
    for env in ENVIRONMENTS:
        roles = load_dir(INFRA / "environments" / env).modules["eks"]["irsa_roles"]
        assert roles["models"]["namespace"] == values["namespaces"]["models"], env
        assert roles["models"]["service_account"] == "modelserve", env


def test_environment_outputs_the_eks_platform_reads() -> None:
    """harness/platform/kubernetes (MSAI_EKS_OUTPUTS = ``terraform output -json``) reads these;
    chart_values holds values.yaml keys the chart must know."""
    values = values_yaml()
    for env in ENVIRONMENTS:
        outputs = load_dir(INFRA / "environments" / env).outputs
        assert {"environment", "cluster_name", "chart_values", "fis_role_arn"} <= set(outputs)
        chart = outputs["chart_values"]["value"]
        for key, sub in chart.items():
            assert key in values, f"{env}: chart_values.{key} is no values.yaml key"
            for name in sub:
                assert name in values[key], (
                    f"{env}: chart_values.{key}.{name} unknown to values.yaml"
                )


def test_environments_share_one_composition() -> None:
    """The three environments differ only in terraform.tfvars / backend.hcl."""
    for file in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "providers.tf"):
        texts = {(INFRA / "environments" / e / file).read_text() for e in ENVIRONMENTS}
        assert len(texts) == 1, f"environments/*/{file} differ: change all three together"


def _node_group_sets() -> dict[str, dict[str, Any]]:
    """Every node-group map: the eks module default, each environment's tfvars."""
    eks = load_dir(INFRA / "modules" / "eks")
    sets = {"modules/eks default": eks.variables["node_groups"]["default"]}
    for env in ENVIRONMENTS:
        sets[env] = parse(INFRA / "environments" / env / "terraform.tfvars")["node_groups"]
    return sets


def _k8s_taints(group: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": t["key"], "value": t["value"], "effect": _EFFECTS[t["effect"]]}
        for t in group.get("taints", [])
    ]


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for tol in tolerations:
        if tol.get("key") != taint["key"] or tol.get("effect", taint["effect"]) != taint["effect"]:
            continue
        if tol.get("operator") == "Exists" or str(tol.get("value")) == taint["value"]:
            return True
    return False


@pytest.mark.parametrize("where", list(_node_group_sets()))
def test_node_groups_match_chart_scheduling(where: str) -> None:
    groups = _node_group_sets()[where]
    values = values_yaml()
    assert {"general", "spot", "gpu"} <= set(groups), f"{where}: node groups {sorted(groups)}"
    for name, group in groups.items():
        assert group["labels"]["node-group"] == name, f"{where}: {name} labelled {group['labels']}"
        assert group["min_size"] <= group["desired_size"] <= group["max_size"], f"{where}: {name}"
        for taint in group.get("taints", []):
            assert taint["effect"] in _EFFECTS, f"{where}: {name} taint effect {taint['effect']}"
    # Every node the chart/local platform declares exists as a group with those labels/taints.
    for node in values["nodes"]:
        matching = [g for g in groups.values() if node["labels"].items() <= g["labels"].items()]
        assert matching, (
            f"{where}: no node group carries {node['labels']} (values.yaml {node['name']})"
        )
        for group in matching:
            assert _k8s_taints(group) == node.get("taints", []), (
                f"{where}: taints of {group['labels']} differ from values.yaml {node['name']}"
            )
    spot = groups["spot"]
    assert spot["capacity_type"] == "SPOT", f"{where}: the spot group is not SPOT capacity"
    assert len(spot["instance_types"]) >= 3, f"{where}: spot needs mixed instance types"
    for name, group in groups.items():
        if name != "spot":
            assert group.get("capacity_type", "ON_DEMAND") == "ON_DEMAND", f"{where}: {name}"
    gpu = groups["gpu"]
    assert values["gpu"]["nodeSelector"].items() <= gpu["labels"].items()
    assert "NVIDIA" in gpu["ami_type"], f"{where}: GPU nodes need an NVIDIA AMI"
    for taint in _k8s_taints(gpu):
        assert _tolerates(values["gpu"]["tolerations"], taint), (
            f"{where}: gpu taint {taint} not tolerated"
        )
    if "high-memory" in groups:
        assert groups["high-memory"]["taints"], "high-memory nodes are reserved (tainted)"


def test_eks_module_essentials() -> None:
    eks = load_dir(INFRA / "modules" / "eks")
    cluster = eks.resources["aws_eks_cluster.this"]
    logged = set(eks.variables["cluster_log_types"]["default"])
    assert {"api", "audit", "authenticator"} <= logged
    assert "${var.cluster_log_types}" in str(cluster["enabled_cluster_log_types"])
    assert cluster["encryption_config"], "Secrets must be envelope-encrypted"
    roles = eks.locals["controller_roles"]
    assert set(roles) == {
        "aws-load-balancer-controller",
        "cluster-autoscaler",
        "ebs-csi-controller",
    }
    assert "aws_iam_openid_connect_provider.this" in eks.resources
    template = eks.resources["aws_launch_template.node"]
    assert template["metadata_options"][0]["http_tokens"] == "required", "IMDSv2 only"


def test_data_module_essentials() -> None:
    data = load_dir(INFRA / "modules" / "data")
    db = data.resources["aws_db_instance.this"]
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    assert db["multi_az"] == "${var.postgres_multi_az}"
    assert data.variables["postgres_multi_az"]["default"] is True
    assert db["backup_retention_period"] == "${var.postgres_backup_retention_days}"
    assert db["manage_master_user_password"] is True, "no password in Terraform state"
    redis = data.resources["aws_elasticache_replication_group.this"]
    assert redis["automatic_failover_enabled"] is True
    assert redis["multi_az_enabled"] is True
    assert redis["parameter_group_name"].endswith(".cluster.on"), "cluster mode"
    assert redis["at_rest_encryption_enabled"] is True
    assert redis["transit_encryption_enabled"] is True
    for part in (
        "versioning",
        "server_side_encryption_configuration",
        "lifecycle_configuration",
        "public_access_block",
    ):
        assert f"aws_s3_bucket_{part}.this" in data.resources, f"S3 {part}"


def test_observability_releases() -> None:
    obs = load_dir(INFRA / "modules" / "observability")
    charts = {
        body["chart"] for key, body in obs.resources.items() if key.startswith("helm_release.")
    }
    assert {
        "kube-prometheus-stack",
        "loki",
        "keda",
        "base",
        "istiod",
        "gateway",
        "aws-node-termination-handler",
        "nvidia-device-plugin",
        "dcgm-exporter",
    } <= charts
    for key, body in obs.resources.items():
        if key.startswith("helm_release."):
            assert "var.chart_versions." in str(body["version"]), f"{key}: chart version not pinned"
    assert "timeSlicing" in obs.text
    assert "var.gpu_time_slicing_replicas" in obs.text
    assert "aws_cloudwatch_log_group.this" in obs.resources
    versions = obs.variables["chart_versions"]["type"]
    assert versions.count("optional(string,") >= 11, "every chart version has a pinned default"
