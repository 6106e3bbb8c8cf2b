"""EKS: the allow-list and production guards, and spot interruptions as AWS FIS experiments
(EC2, FIS, CloudWatch on a moto server; the node on kmock), with their revert."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from k8s_support import obj, platform_for, seed
from moto.server import ThreadedMotoServer

from harness.errors import ConfigError, GuardViolation
from harness.platform.base import Injection
from harness.platform.kubernetes.eks import (
    SPOT_ACTION,
    FisSpot,
    checked_target,
    fis_duration,
    instance_id,
    load_outputs,
)
from harness.platform.kubernetes.settings import EksSettings, KubernetesSettings
from harness.platform.kubernetes.testing import find
from harness.ports import free_port
from msai.cli import cli

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/msai-fis"


def outputs_file(tmp_path: Path, environment: str = "staging") -> str:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "cluster_name": {"value": "msai-staging", "type": "string", "sensitive": False},
                "environment": {"value": environment, "type": "string", "sensitive": False},
                "chart_values": {"value": {"s3": {"region": REGION, "bucket": "m"}}},
            }
        )
    )
    return str(path)


def test_outputs_are_read_from_terraform_output_json(tmp_path: Path) -> None:
    out = load_outputs(outputs_file(tmp_path))
    assert out["cluster_name"] == "msai-staging"
    assert out["chart_values"]["s3"]["region"] == REGION
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match=r"bad\.json.*not JSON"):
        load_outputs(str(bad))


def test_guards_context_namespace_and_production(tmp_path: Path) -> None:
    k8s = KubernetesSettings(context="arn:aws:eks:us-east-1:1:cluster/msai-staging")
    allowed = EksSettings(outputs=outputs_file(tmp_path), allowed_contexts=["*msai-staging"])
    target = checked_target(k8s, allowed)
    assert (target.environment, target.cluster, target.region) == (
        "staging",
        "msai-staging",
        REGION,
    )
    with pytest.raises(GuardViolation, match="not allow-listed"):
        checked_target(k8s, EksSettings(outputs=outputs_file(tmp_path)))  # empty list: refuse
    other = KubernetesSettings(context="kind-msai")
    with pytest.raises(GuardViolation, match="'kind-msai' is not allow-listed"):
        checked_target(other, allowed)
    wide = KubernetesSettings(context=k8s.context, namespaces=["ai-models", "kube-system"])
    with pytest.raises(GuardViolation, match=r"\['kube-system'\] are not allow-listed"):
        checked_target(wide, allowed)
    prod = EksSettings(outputs=outputs_file(tmp_path, "prod"), allowed_contexts=["*"])
    with pytest.raises(GuardViolation, match="--i-know-this-is-production"):
        checked_target(k8s, prod)
    ok = EksSettings(**{**prod.__dict__, "allow_production": True})
    assert checked_target(k8s, ok).environment == "prod"


def test_eks_check_cli_refuses_production_without_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSAI_K8S_CONTEXT", "eks-prod")
    monkeypatch.setenv("MSAI_EKS_ALLOWED_CONTEXTS", "eks-*")
    monkeypatch.setenv("MSAI_EKS_OUTPUTS", outputs_file(tmp_path, "prod"))
    refused = CliRunner().invoke(cli, ["eks", "check"], standalone_mode=False)
    assert isinstance(refused.exception, GuardViolation)
    allowed = CliRunner().invoke(cli, ["eks", "check", "--i-know-this-is-production"])
    assert allowed.exit_code == 0, allowed.output
    assert "environment: prod" in allowed.output


def test_fis_notice_and_instance_parsing() -> None:
    assert fis_duration(30) == "PT2M"  # FIS's floor
    assert fis_duration(150) == "PT3M"
    assert fis_duration(10_000) == "PT15M"
    assert instance_id("aws:///us-east-1a/i-0abc123") == "i-0abc123"
    with pytest.raises(ConfigError):
        instance_id("kind://docker/kind/kind-worker")


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def spot_instance(url: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    inst = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        InstanceMarketOptions={"MarketType": "spot"},
    )["Instances"][0]
    return str(inst["InstanceId"])


@pytest.mark.asyncio
async def test_spot_interruption_is_a_fis_experiment_reverted_from_json(
    kmock: Any, moto_url: str, tmp_path: Path
) -> None:
    iid = await asyncio.to_thread(spot_instance, moto_url)
    seed(kmock, instance_ids={"spot-a": iid})
    es = EksSettings(aws_endpoint_url=moto_url, fis_role_arn=ROLE, region=REGION)
    k8s = KubernetesSettings(context="eks-staging")
    target = checked_target(
        k8s,
        EksSettings(**{**es.__dict__, "allowed_contexts": ["eks-*"], "environment": "staging"}),
    )
    p = platform_for(kmock, "eks", spot=FisSpot(es, target))
    inj = await asyncio.to_thread(p.spot_interrupt, "spot-a", 90)

    fis = boto3.client("fis", region_name=REGION, endpoint_url=moto_url)
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_url)
    template = fis.get_experiment_template(id=inj.undo["template"])["experimentTemplate"]
    assert template["roleArn"] == ROLE
    action = template["actions"]["interrupt"]
    assert action["actionId"] == SPOT_ACTION
    assert action["parameters"] == {"durationBeforeInterruption": "PT2M"}
    assert template["targets"]["spot"]["resourceType"] == "aws:ec2:spot-instance"
    assert template["targets"]["spot"]["resourceArns"][0].endswith(f":instance/{iid}")
    (stop,) = template["stopConditions"]
    assert stop["source"] == "aws:cloudwatch:alarm"
    alarm = cw.describe_alarms(AlarmNames=[inj.undo["alarm"]])["MetricAlarms"][0]
    assert stop["value"] == alarm["AlarmArn"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ModelServe", "ErrorRatio")
    exp = fis.get_experiment(id=inj.undo["experiment"])["experiment"]
    assert exp["experimentTemplateId"] == template["id"]
    # drained as a termination handler would, during the notice
    assert obj(kmock, "v1/nodes", None, "spot-a")["spec"]["unschedulable"] is True
    for _ in range(100):
        if find(kmock, "pods", "ai-models", "ner-1") is None:
            break
        await asyncio.sleep(0.05)
    assert find(kmock, "pods", "ai-models", "ner-1") is None

    fresh = platform_for(kmock, "eks", spot=FisSpot(es, target))
    again = Injection.from_json(json.loads(json.dumps(inj.to_json())))
    await asyncio.to_thread(fresh.revert, again)
    state = fis.get_experiment(id=inj.undo["experiment"])["experiment"]["state"]["status"]
    assert state in ("stopping", "stopped", "completed")
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    assert cw.describe_alarms(AlarmNames=[inj.undo["alarm"]])["MetricAlarms"] == []
    assert "unschedulable" not in obj(kmock, "v1/nodes", None, "spot-a")["spec"]
    await asyncio.to_thread(fresh.revert, again)  # idempotent


@pytest.mark.asyncio
async def test_an_on_demand_node_is_refused(kmock: Any, moto_url: str) -> None:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    seed(kmock, instance_ids={"general-a": iid})
    es = EksSettings(aws_endpoint_url=moto_url, fis_role_arn=ROLE, region=REGION)
    from harness.platform.kubernetes.eks import EksTarget

    target = EksTarget("eks-staging", "staging", "c", REGION, ROLE)
    p = platform_for(kmock, "eks", spot=FisSpot(es, target))
    with pytest.raises(ConfigError, match="not a spot instance"):
        await asyncio.to_thread(p.spot_interrupt, "general-a", 120)
    fis = boto3.client("fis", region_name=REGION, endpoint_url=moto_url)
    assert fis.list_experiment_templates()["experimentTemplates"] == []


@pytest.mark.asyncio
async def test_a_pending_fis_interruption_is_found_and_stopped_by_node(
    kmock: Any, moto_url: str
) -> None:
    iid = await asyncio.to_thread(spot_instance, moto_url)
    seed(kmock, instance_ids={"spot-a": iid})
    from harness.platform.kubernetes.eks import EksTarget

    es = EksSettings(aws_endpoint_url=moto_url, fis_role_arn=ROLE, region=REGION)
    target = EksTarget("eks-staging", "staging", "c", REGION, ROLE)
    p = platform_for(kmock, "eks", spot=FisSpot(es, target))
    inj = await asyncio.to_thread(p.spot_interrupt, "spot-a", 120)
    # a later process without the undo data (the harness died before the ledger write)
    fresh = FisSpot(es, target)
    await asyncio.to_thread(fresh.revert_from_plan, platform_for(kmock, "eks"), "spot-a")
    fis = boto3.client("fis", region_name=REGION, endpoint_url=moto_url)
    state = fis.get_experiment(id=inj.undo["experiment"])["experiment"]["state"]["status"]
    assert state in ("stopping", "stopped", "completed")
    assert fis.list_experiment_templates()["experimentTemplates"] == []
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_url)
    assert cw.describe_alarms(AlarmNames=[inj.undo["alarm"]])["MetricAlarms"] == []


def test_the_current_context_comes_from_the_kubeconfig(tmp_path: Path) -> None:
    from harness.platform.kubernetes.eks import current_context

    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: eks-staging\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: eks-staging, context: {cluster: c, user: u}}]\n"
    )
    assert current_context(KubernetesSettings(kubeconfig=str(cfg))) == "eks-staging"
    assert current_context(KubernetesSettings(kubeconfig=str(cfg), context="x")) == "x"
    with pytest.raises(ConfigError, match="MSAI_K8S_CONTEXT"):
        current_context(KubernetesSettings(kubeconfig=str(tmp_path / "missing")))
