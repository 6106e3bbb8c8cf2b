"""Settings of the Kubernetes backends: ``MSAI_K8S_*`` (both), ``MSAI_KIND_*``, ``MSAI_EKS_*``.

Stack settings (replicas, autoscaling, names) come from the chart's ``values.yaml``; these say
how the harness reaches the cluster and how long it waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.common.settings import env_field, load_settings

from harness.errors import ConfigError

__all__ = [
    "EksSettings",
    "KindSettings",
    "KubernetesSettings",
    "eks_settings",
    "k8s_settings",
    "kind_settings",
]


@dataclass(frozen=True)
class KubernetesSettings:
    context: str = env_field("", "kube context to use; empty = the kubeconfig's current one")
    kubeconfig: str = env_field("", "kubeconfig file; empty = $KUBECONFIG or ~/.kube/config")
    namespaces: list[str] = env_field(
        ["ai-models", "pipeline-orchestrator"],
        "namespaces the chart installs into (values.yaml namespaces); the only ones touched",
    )
    gateway_url: str = env_field(
        "", "base URL of the Istio ingress gateway; empty = the gateway Service's load balancer"
    )
    gateway_service: str = env_field(
        "istio-system/istio-ingressgateway", "NAMESPACE/NAME of the ingress gateway Service"
    )
    prometheus_url: str = env_field("", "Prometheus base URL; empty = kubectl port-forward")
    prometheus_service: str = env_field(
        "monitoring/kube-prometheus-stack-prometheus:9090",
        "NAMESPACE/SERVICE:PORT port-forwarded when prometheus_url is empty",
    )
    alertmanager_url: str = env_field("", "Alertmanager base URL; empty = kubectl port-forward")
    alertmanager_service: str = env_field(
        "monitoring/kube-prometheus-stack-alertmanager:9093",
        "NAMESPACE/SERVICE:PORT port-forwarded when alertmanager_url is empty",
    )
    kubectl: str = env_field("kubectl", "kubectl program (name on PATH or a path)")
    helm: str = env_field("helm", "helm program: `up` installs the chart with a scenario's stack")
    release: str = env_field("modelserve", "Helm release name of the chart")
    release_namespace: str = env_field("default", "namespace holding the Helm release record")
    ready_timeout_s: float = env_field(
        600.0, "`up` fails when the chart's services are not all ready within this (s)"
    )
    container_port: int = env_field(8080, "model servers' HTTP port inside the pod")
    drain_timeout_s: float = env_field(
        120.0, "a drain fails (and uncordons) when PodDisruptionBudgets block it this long (s)"
    )
    eviction_retry_s: float = env_field(
        2.0, "seconds between eviction retries refused by a PodDisruptionBudget (HTTP 429)"
    )
    request_timeout_s: float = env_field(30.0, "timeout of one Kubernetes API request (s)")
    allowed_contexts: list[str] = env_field(
        ["msai-local"],
        "kube contexts --platform k8s may touch (exact names or globs); default: the context "
        "`msai cluster up` writes",
    )

    def validate(self) -> None:
        for name in ("drain_timeout_s", "eviction_retry_s", "request_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError("must be > 0", field=f"MSAI_K8S_{name.upper()}")
        if not self.namespaces:
            raise ConfigError("needs at least one namespace", field="MSAI_K8S_NAMESPACES")


@dataclass(frozen=True)
class KindSettings:
    cluster: str = env_field(
        "modelserve", "kind cluster name (kube context kind-<cluster>; reference-stack/kind's)"
    )
    kind: str = env_field("kind", "kind program (name on PATH or a path): any current release")
    node_image: str = env_field(
        "", "kindest/node image for `kind create cluster --image`; empty = the kind's default"
    )
    config: str = env_field(
        "", "kind cluster config; empty = the kind Cluster file in reference-stack/kind"
    )
    docker: str = env_field("docker", "docker program (builds images, stops kind nodes)")
    helm: str = env_field("helm", "helm program (installs the chart and its dependencies)")
    kubectl: str = env_field("kubectl", "kubectl program (a prerequisite users need with kind)")
    image_tag: str = env_field("kind", "tag given to the images built and loaded into kind")
    wait_s: float = env_field(900.0, "`msai kind up` fails when not ready within this (s)")
    allowed_contexts: list[str] = env_field(
        [],
        "kube contexts --platform kind may touch beside kind's own kind-* (exact names or "
        "globs); any other context (an EKS ARN, a staging cluster) is refused",
    )


@dataclass(frozen=True)
class EksSettings:
    outputs: str = env_field(
        "", "`terraform output -json` of an infra/environments/* root, saved to a file"
    )
    environment: str = env_field(
        "", "environment name (dev/staging/prod); empty = the outputs' `environment`"
    )
    allowed_contexts: list[str] = env_field(
        [], "kube contexts the harness may touch (exact names or globs); empty refuses all"
    )
    allowed_namespaces: list[str] = env_field(
        ["ai-models", "pipeline-orchestrator"], "namespaces the harness may touch"
    )
    production_environments: list[str] = env_field(
        ["prod", "production"], "environment names that need --i-know-this-is-production"
    )
    allow_production: bool = env_field(
        False, "same as --i-know-this-is-production (set by the CLI flag)"
    )
    region: str = env_field("", "AWS region; empty = the outputs' chart_values.s3.region")
    aws_endpoint_url: str = env_field("", "AWS endpoint override (moto in tests); empty = AWS")
    fis_role_arn: str = env_field("", "IAM role FIS assumes; empty = the outputs' `fis_role_arn`")
    drain_on_notice: bool = env_field(
        True,
        "cordon and drain the node when the FIS notice starts, as a termination handler does; "
        "false when aws-node-termination-handler runs in the cluster (it drains by itself)",
    )
    stop_alarm_arn: str = env_field(
        "", "CloudWatch alarm that stops a FIS experiment; empty = one created per experiment"
    )
    stop_alarm_namespace: str = env_field("ModelServe", "metric namespace of the created alarm")
    stop_alarm_metric: str = env_field("ErrorRatio", "metric of the created stop alarm")
    stop_alarm_threshold: float = env_field(
        0.05, "the created alarm fires (and FIS stops) above this value"
    )


def k8s_settings() -> KubernetesSettings:
    s = load_settings(KubernetesSettings, prefix="MSAI_K8S_")
    s.validate()
    return s


def kind_settings() -> KindSettings:
    return load_settings(KindSettings, prefix="MSAI_KIND_")


def eks_settings() -> EksSettings:
    return load_settings(EksSettings, prefix="MSAI_EKS_")
