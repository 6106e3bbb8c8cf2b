"""EKS: which cluster the harness may touch, and spot interruptions through AWS FIS.

The cluster is the current kube context (or ``MSAI_K8S_CONTEXT``), checked against
``MSAI_EKS_ALLOWED_CONTEXTS`` (names or globs; empty refuses everything), and the namespaces
against ``MSAI_EKS_ALLOWED_NAMESPACES``. The environment comes from the Terraform outputs of
``infra/environments/*`` (``terraform output -json > FILE``, ``MSAI_EKS_OUTPUTS=FILE``) or
``MSAI_EKS_ENVIRONMENT``; a production one is refused unless ``--i-know-this-is-production``
(``MSAI_EKS_ALLOW_PRODUCTION=1``) says otherwise.

A spot interruption is an AWS FIS experiment with the action
``aws:ec2:send-spot-instance-interruptions`` on the node's instance (its ``providerID``) and a
CloudWatch-alarm stop condition; the node is then cordoned and drained as a termination
handler would on a real notice (``MSAI_EKS_DRAIN_ON_NOTICE=0`` leaves that to
aws-node-termination-handler when it runs in the cluster). Revert stops the experiment if it
still runs, deletes what was created for it (template, alarm) and uncordons; the interrupted
instance itself is replaced by its node group.
"""

from __future__ import annotations

import fnmatch
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, FaultError, GuardViolation
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.platform.kubernetes.settings import EksSettings, KubernetesSettings

__all__ = ["EksTarget", "FisSpot", "checked_target", "current_context", "load_outputs"]

SPOT_ACTION = "aws:ec2:send-spot-instance-interruptions"
#: FIS takes the notice as an ISO duration from 2 to 15 minutes.
FIS_MIN_NOTICE_S, FIS_MAX_NOTICE_S = 120.0, 900.0


@dataclass(frozen=True)
class EksTarget:
    context: str
    environment: str
    cluster: str
    region: str
    fis_role_arn: str


def load_outputs(path: str) -> dict[str, Any]:
    """``terraform output -json`` (``{name: {value, type, sensitive}}``) as ``{name: value}``."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}", field="MSAI_EKS_OUTPUTS") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}", source=path) from exc
    if not isinstance(raw, dict):
        raise ConfigError("expected terraform output -json (an object)", source=path)
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in raw.items()}


def current_context(k8s: KubernetesSettings) -> str:
    if k8s.context:
        return k8s.context
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=k8s.kubeconfig or None)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise ConfigError(f"no kube context: {exc}", field="MSAI_K8S_CONTEXT") from exc
    return str(active["name"])


def checked_target(
    k8s: KubernetesSettings, eks: EksSettings, *, context: str | None = None
) -> EksTarget:
    """The EKS cluster to use, or GuardViolation saying why not."""
    outputs = load_outputs(eks.outputs) if eks.outputs else {}
    ctx = context or current_context(k8s)
    if not any(fnmatch.fnmatchcase(ctx, pat) for pat in eks.allowed_contexts):
        raise GuardViolation(
            f"kube context {ctx!r} is not allow-listed (MSAI_EKS_ALLOWED_CONTEXTS="
            f"{','.join(eks.allowed_contexts) or '<empty>'})"
        )
    bad = [ns for ns in k8s.namespaces if ns not in eks.allowed_namespaces]
    if bad:
        raise GuardViolation(
            f"namespaces {bad} are not allow-listed (MSAI_EKS_ALLOWED_NAMESPACES="
            f"{','.join(eks.allowed_namespaces)})"
        )
    env = eks.environment or str(outputs.get("environment", ""))
    if not env:
        raise ConfigError(
            "unknown environment: set MSAI_EKS_ENVIRONMENT or MSAI_EKS_OUTPUTS (with an "
            "`environment` output)",
            field="MSAI_EKS_ENVIRONMENT",
        )
    if env in eks.production_environments and not eks.allow_production:
        raise GuardViolation(
            f"environment {env!r} is production: pass --i-know-this-is-production "
            "(MSAI_EKS_ALLOW_PRODUCTION=1) to run faults there"
        )
    chart_values = outputs.get("chart_values") or {}
    region = eks.region or str((chart_values.get("s3") or {}).get("region", ""))
    return EksTarget(
        context=ctx,
        environment=env,
        cluster=str(outputs.get("cluster_name", "")),
        region=region,
        fis_role_arn=eks.fis_role_arn or str(outputs.get("fis_role_arn", "")),
    )


def instance_id(provider_id: str) -> str:
    """``aws:///us-east-1a/i-0abc`` -> ``i-0abc``."""
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    if not last.startswith("i-"):
        raise ConfigError(f"providerID {provider_id!r} names no EC2 instance", field="node")
    return last


def fis_duration(notice_s: float) -> str:
    minutes = math.ceil(min(max(notice_s, FIS_MIN_NOTICE_S), FIS_MAX_NOTICE_S) / 60)
    return f"PT{minutes}M"


class FisSpot:
    """Spot interruptions on EKS through AWS FIS (boto3)."""

    def __init__(self, settings: EksSettings, target: EksTarget) -> None:
        self.settings = settings
        self.target = target

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        kwargs: dict[str, Any] = {"region_name": region or self.target.region or None}
        if self.settings.aws_endpoint_url:
            kwargs["endpoint_url"] = self.settings.aws_endpoint_url
        return boto3.client(service, **kwargs)

    def interrupt(self, platform: KubernetesPlatform, node: str, notice_s: float) -> dict[str, Any]:
        if not self.target.fis_role_arn:
            raise ConfigError(
                "FIS needs an IAM role: set MSAI_EKS_FIS_ROLE_ARN or a `fis_role_arn` output",
                field="MSAI_EKS_FIS_ROLE_ARN",
            )
        obj = platform.call(platform.core.read_node, node)
        iid = instance_id(str(obj.get("spec", {}).get("providerID", "")))
        ec2, fis = self.client("ec2"), self.client("fis")
        found = ec2.describe_instances(InstanceIds=[iid])["Reservations"]
        inst = found[0]["Instances"][0] if found and found[0]["Instances"] else None
        if inst is None or inst.get("InstanceLifecycle") != "spot":
            raise ConfigError(f"node {node} ({iid}) is not a spot instance", field="target")
        account = found[0]["OwnerId"]
        arn = f"arn:aws:ec2:{self.target.region}:{account}:instance/{iid}"
        tag = f"msai-spot-{iid}-{int(time.time())}"
        undo: dict[str, Any] = {"node": node, "instance": iid, "region": self.target.region}
        alarm_arn = self.settings.stop_alarm_arn
        if not alarm_arn:
            alarm_arn = self._create_alarm(tag)
            undo["alarm"] = tag
        template = fis.create_experiment_template(
            clientToken=tag,
            description=f"msai: spot interruption of {node} ({iid})",
            roleArn=self.target.fis_role_arn,
            stopConditions=[{"source": "aws:cloudwatch:alarm", "value": alarm_arn}],
            targets={
                "spot": {
                    "resourceType": "aws:ec2:spot-instance",
                    "resourceArns": [arn],
                    "selectionMode": "ALL",
                }
            },
            actions={
                "interrupt": {
                    "actionId": SPOT_ACTION,
                    "parameters": {"durationBeforeInterruption": fis_duration(notice_s)},
                    "targets": {"SpotInstances": "spot"},
                }
            },
            tags={"managed-by": "msai", "Name": tag},
        )["experimentTemplate"]
        undo["template"] = template["id"]
        try:
            exp = fis.start_experiment(
                clientToken=tag, experimentTemplateId=template["id"], tags={"managed-by": "msai"}
            )["experiment"]
        except Exception:
            self.revert(platform, undo)
            raise
        undo["experiment"] = exp["id"]
        if self.settings.drain_on_notice:
            undo["was_unschedulable"] = platform.cordon(node)
            platform.drain_in_background(node, time.monotonic() + notice_s)
        return undo

    def _create_alarm(self, name: str) -> str:
        cw = self.client("cloudwatch")
        cw.put_metric_alarm(
            AlarmName=name,
            AlarmDescription="msai: stops the FIS spot experiment when the error ratio climbs",
            Namespace=self.settings.stop_alarm_namespace,
            MetricName=self.settings.stop_alarm_metric,
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=self.settings.stop_alarm_threshold,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
        alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return str(alarms[0]["AlarmArn"])

    def revert(self, platform: KubernetesPlatform, undo: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        fis = self.client("fis", undo.get("region"))
        errors = []
        if "experiment" in undo:
            try:
                state = fis.get_experiment(id=undo["experiment"])["experiment"]["state"]["status"]
                if state in ("pending", "initiating", "running"):
                    fis.stop_experiment(id=undo["experiment"])
            except ClientError as exc:
                if "NotFound" not in str(exc) and "ResourceNotFound" not in str(exc):
                    errors.append(f"stop experiment: {exc}")
        if "template" in undo:
            try:
                fis.delete_experiment_template(id=undo["template"])
            except ClientError as exc:
                if "NotFound" not in str(exc):
                    errors.append(f"delete template: {exc}")
        if "alarm" in undo:
            try:
                self.client("cloudwatch", undo.get("region")).delete_alarms(
                    AlarmNames=[undo["alarm"]]
                )
            except ClientError as exc:
                errors.append(f"delete alarm: {exc}")
        # The instance is gone or going; if the node object is still there, let it schedule
        # again (a stopped experiment leaves a healthy node cordoned by the handler).
        if not undo.get("was_unschedulable"):
            platform.uncordon(undo["node"])
        if errors:
            raise FaultError("; ".join(errors))

    def revert_from_plan(self, platform: KubernetesPlatform, node: str) -> None:
        """Stop every running experiment this harness started against ``node`` (its template
        says so in its description), delete those templates, uncordon."""
        fis = self.client("fis")
        marker = f"msai: spot interruption of {node} ("
        for exp in fis.list_experiments().get("experiments", []):
            if exp.get("tags", {}).get("managed-by") != "msai":
                continue
            template_id = exp.get("experimentTemplateId", "")
            try:
                template = fis.get_experiment_template(id=template_id)["experimentTemplate"]
            except Exception:  # the template is gone: not ours to judge
                continue
            if not str(template.get("description", "")).startswith(marker):
                continue
            undo = {"node": node, "region": self.target.region, "experiment": exp["id"],
                    "template": template_id}  # fmt: skip
            for cond in template.get("stopConditions") or []:
                alarm = str(cond.get("value", "")).rsplit(":alarm:", 1)[-1]
                if alarm.startswith("msai-spot-"):  # created for this experiment
                    undo["alarm"] = alarm
            self.revert(platform, undo)
        platform.uncordon(node)
