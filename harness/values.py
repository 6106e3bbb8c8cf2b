"""``values.yaml`` + profile + overrides -> a typed stack spec (the ONE source of stack settings).

The chart renders the same keys, so the local platform reads only what is here: replicas,
autoscaling (HPA and KEDA), mesh policies, nodes, dependencies. Keys the chart does not need
and only the local platform reads sit under ``local:`` in ``values.yaml``.

Merging: ``modelDefaults`` under each service, then the profile (deep merge), then overrides
(dotted keys, ``{"ner.replicas": 3}``). A wrong key or type raises :class:`ConfigError` naming
the file and the dotted field.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.platform.base import StackSpec
from harness.settings import project_root

__all__ = [
    "K8S_DEFAULT_SCALE_DOWN",
    "K8S_DEFAULT_SCALE_UP",
    "MODEL_SERVICES",
    "DependencyValues",
    "HpaValues",
    "KedaValues",
    "LocalValues",
    "MeshValues",
    "NodeValues",
    "ScalingPolicy",
    "ScalingRules",
    "ServiceValues",
    "StackValues",
    "default_values_file",
    "load_stack",
    "parse_duration",
]

MODEL_SERVICES = ("ner", "vision", "orchestrator")


def default_values_file() -> Path:
    return project_root() / "reference-stack" / "charts" / "modelserve" / "values.yaml"


@dataclass(frozen=True)
class ScalingPolicy:
    type: str  # "Pods" | "Percent"
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """One direction of HPA ``behavior`` (scaleUp or scaleDown)."""

    stabilization_s: float
    policies: tuple[ScalingPolicy, ...]
    select_policy: str = "Max"  # "Max" | "Min" | "Disabled"


@dataclass(frozen=True)
class HpaValues:
    enabled: bool
    min_replicas: int
    max_replicas: int
    metric: str
    target_average_value: float
    scale_up: ScalingRules
    scale_down: ScalingRules


@dataclass(frozen=True)
class KedaValues:
    enabled: bool
    min_replicas: int
    max_replicas: int
    activation_threshold: float
    threshold: float
    cooldown_s: float
    polling_s: float
    query: str
    hold_enabled: bool
    hold_timeout_s: float


@dataclass(frozen=True)
class ServiceValues:
    name: str
    enabled: bool
    replicas: int
    model_uri: str
    canary_enabled: bool
    canary_weight: int
    canary_model_uri: str
    canary_replicas: int
    hpa: HpaValues | None
    keda: KedaValues | None
    drain_delay_s: float
    drain_deadline_s: float
    startup_timeout_s: float
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    """The merged values of this service (batching, limits ...) for the server settings."""


@dataclass(frozen=True)
class MeshValues:
    timeout_s: float
    retry_attempts: int
    per_try_timeout_s: float
    retry_on: str
    max_connections: int
    max_pending_requests: int
    max_requests: int
    max_retries: int
    max_requests_per_connection: int
    connect_timeout_s: float
    consecutive_5xx: int
    outlier_interval_s: float
    base_ejection_s: float
    max_ejection_percent: int
    fault_enabled: bool
    fault_delay_percent: float
    fault_delay_s: float
    fault_abort_percent: float
    fault_abort_status: int


@dataclass(frozen=True)
class NodeValues:
    name: str
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class DependencyValues:
    redis_append_only: bool
    postgresql_database: str
    s3_bucket: str
    s3_region: str
    s3_versioning: bool


@dataclass(frozen=True)
class LocalValues:
    scrape_interval_s: float
    evaluation_interval_s: float
    hpa_sync_period_s: float
    hpa_metric_window_s: float
    hpa_tolerance: float
    spot_poll_interval_s: float
    alert_group_wait_s: float
    alert_group_interval_s: float
    alert_repeat_interval_s: float


@dataclass(frozen=True)
class StackValues:
    source: str
    profile: str
    services: dict[str, ServiceValues]
    mesh: MeshValues
    nodes: tuple[NodeValues, ...]
    tolerate_spot: bool
    termination_handler: bool
    drain_on_rebalance: bool
    deps: DependencyValues
    local: LocalValues
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def enabled_services(self) -> list[ServiceValues]:
        return [s for s in self.services.values() if s.enabled]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _set_dotted(tree: dict[str, Any], key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    node = tree
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(
                "override goes through a value that is not a mapping",
                source=source,
                field=".".join(parts[: i + 1]),
            )
        node = nxt
    node[parts[-1]] = value


class _Reader:
    """Typed access into the merged tree; errors name the file and dotted field."""

    def __init__(self, tree: dict[str, Any], source: str) -> None:
        self.tree = tree
        self.source = source

    def get(self, path: str, default: Any = ...) -> Any:
        node: Any = self.tree
        for p in path.split("."):
            if not isinstance(node, dict) or p not in node:
                if default is ...:
                    raise ConfigError("missing value", source=self.source, field=path)
                return default
            node = node[p]
        return node

    def typed(self, path: str, kind: type, default: Any = ...) -> Any:
        v = self.get(path, default)
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if kind is int and isinstance(v, bool):
            raise ConfigError(f"expected an integer, got {v!r}", source=self.source, field=path)
        if not isinstance(v, kind):
            raise ConfigError(
                f"expected {kind.__name__}, got {type(v).__name__} {v!r}",
                source=self.source,
                field=path,
            )
        return v

    def duration(self, path: str, default: Any = ...) -> float:
        return parse_duration(self.get(path, default), source=self.source, field=path)

    def non_negative(self, path: str, kind: type, default: Any = ...) -> Any:
        v = self.typed(path, kind, default)
        if v < 0:
            raise ConfigError(f"must be >= 0, got {v!r}", source=self.source, field=path)
        return v


def _rules(r: _Reader, path: str, defaults: ScalingRules) -> ScalingRules:
    if r.get(path, None) is None:
        return defaults
    pols: list[ScalingPolicy] = []
    raw_pols = r.get(f"{path}.policies", None)
    if raw_pols is None:
        pols = list(defaults.policies)
    else:
        if not isinstance(raw_pols, list):
            raise ConfigError("expected a list", source=r.source, field=f"{path}.policies")
        for i, _ in enumerate(raw_pols):
            p = f"{path}.policies[{i}]"
            kind = r.typed(f"{path}.policies", list)[i].get("type")
            if kind not in ("Pods", "Percent"):
                raise ConfigError(
                    f"type must be Pods or Percent, got {kind!r}", source=r.source, field=p
                )
            item = _Reader(raw_pols[i], r.source)
            value = item.typed("value", int)
            period = item.typed("periodSeconds", int)
            if value <= 0 or period <= 0:
                raise ConfigError("value and periodSeconds must be > 0", source=r.source, field=p)
            pols.append(ScalingPolicy(kind, value, float(period)))
    select = r.get(f"{path}.selectPolicy", "Max")
    if select not in ("Max", "Min", "Disabled"):
        raise ConfigError(
            f"selectPolicy must be Max, Min or Disabled, got {select!r}",
            source=r.source,
            field=f"{path}.selectPolicy",
        )
    stab = r.non_negative(f"{path}.stabilizationWindowSeconds", float, defaults.stabilization_s)
    return ScalingRules(float(stab), tuple(pols), select)


# Kubernetes' defaults when an HPA has no behavior (autoscaling/v2 documentation).
K8S_DEFAULT_SCALE_UP = ScalingRules(
    0.0, (ScalingPolicy("Percent", 100, 15.0), ScalingPolicy("Pods", 4, 15.0)), "Max"
)
K8S_DEFAULT_SCALE_DOWN = ScalingRules(300.0, (ScalingPolicy("Percent", 100, 15.0),), "Max")


def _service(r: _Reader, name: str, defaults: dict[str, Any]) -> ServiceValues:
    merged = _deep_merge(defaults, r.get(name, {}) or {})
    s = _Reader({name: merged}, r.source)
    a = f"{name}.autoscaling"
    hpa: HpaValues | None = None
    if s.get(f"{a}.hpa.enabled", False):
        hpa = HpaValues(
            enabled=True,
            min_replicas=s.non_negative(f"{a}.hpa.minReplicas", int, 1),
            max_replicas=s.non_negative(f"{a}.hpa.maxReplicas", int),
            metric=s.typed(f"{a}.hpa.metric", str),
            target_average_value=s.typed(f"{a}.hpa.targetAverageValue", float),
            scale_up=_rules(s, f"{a}.hpa.behavior.scaleUp", K8S_DEFAULT_SCALE_UP),
            scale_down=_rules(s, f"{a}.hpa.behavior.scaleDown", K8S_DEFAULT_SCALE_DOWN),
        )
        if hpa.max_replicas < max(hpa.min_replicas, 1):
            raise ConfigError(
                "maxReplicas must be >= minReplicas and >= 1", source=r.source, field=f"{a}.hpa"
            )
        if hpa.target_average_value <= 0:
            raise ConfigError("must be > 0", source=r.source, field=f"{a}.hpa.targetAverageValue")
    keda: KedaValues | None = None
    if s.get(f"{a}.keda.enabled", False):
        k = f"{a}.keda"
        keda = KedaValues(
            enabled=True,
            min_replicas=s.non_negative(f"{k}.minReplicaCount", int, 0),
            max_replicas=s.non_negative(f"{k}.maxReplicaCount", int),
            activation_threshold=s.non_negative(f"{k}.activationThreshold", float, 0.0),
            threshold=s.typed(f"{k}.threshold", float),
            cooldown_s=s.non_negative(f"{k}.cooldownPeriod", float, 300.0),
            polling_s=s.non_negative(f"{k}.pollingInterval", float, 30.0),
            query=s.typed(f"{k}.query", str),
            hold_enabled=bool(s.get(f"{k}.httpAddon.enabled", False)),
            hold_timeout_s=s.non_negative(f"{k}.httpAddon.holdTimeoutSeconds", float, 60.0),
        )
        if keda.threshold <= 0 or keda.polling_s <= 0:
            raise ConfigError("threshold and pollingInterval must be > 0", source=r.source, field=k)
        if hpa is not None:
            raise ConfigError(
                "enable either hpa or keda, not both (KEDA creates its own HPA)",
                source=r.source,
                field=a,
            )
    weight = s.non_negative(f"{name}.canary.weight", int, 0)
    if weight > 100:
        raise ConfigError("must be 0..100", source=r.source, field=f"{name}.canary.weight")
    return ServiceValues(
        name=name,
        enabled=bool(s.get(f"{name}.enabled", True)),
        replicas=s.non_negative(f"{name}.replicas", int, 1),
        model_uri=str(s.get(f"{name}.modelUri", "")),
        canary_enabled=bool(s.get(f"{name}.canary.enabled", False)),
        canary_weight=weight,
        canary_model_uri=str(s.get(f"{name}.canary.modelUri", "")),
        canary_replicas=s.non_negative(f"{name}.canary.replicas", int, 1),
        hpa=hpa,
        keda=keda,
        drain_delay_s=s.non_negative(f"{name}.drain.delaySeconds", float, 0.0),
        drain_deadline_s=s.non_negative(f"{name}.drain.deadlineSeconds", float, 30.0),
        startup_timeout_s=s.non_negative(f"{name}.probes.startupTimeoutSeconds", float, 120.0),
        raw=merged,
    )


def _mesh(r: _Reader) -> MeshValues:
    m = "mesh"
    return MeshValues(
        timeout_s=r.duration(f"{m}.timeout", "15s"),
        retry_attempts=r.non_negative(f"{m}.retries.attempts", int, 2),
        per_try_timeout_s=r.duration(f"{m}.retries.perTryTimeout", "0s"),
        retry_on=r.typed(f"{m}.retries.retryOn", str, "connect-failure,refused-stream,unavailable"),
        max_connections=r.non_negative(f"{m}.connectionPool.tcp.maxConnections", int, 2**32 - 1),
        max_pending_requests=r.non_negative(
            f"{m}.connectionPool.http.http1MaxPendingRequests", int, 2**32 - 1
        ),
        # Istio's defaults when unset (Envoy's own would be 1024 and 3).
        max_requests=r.non_negative(f"{m}.connectionPool.http.http2MaxRequests", int, 2**32 - 1),
        max_retries=r.non_negative(f"{m}.connectionPool.http.maxRetries", int, 2**32 - 1),
        max_requests_per_connection=r.non_negative(
            f"{m}.connectionPool.http.maxRequestsPerConnection", int, 0
        ),
        # Istio's default connectTimeout when the DestinationRule sets none.
        connect_timeout_s=r.duration(f"{m}.connectionPool.tcp.connectTimeout", "10s"),
        consecutive_5xx=r.non_negative(f"{m}.outlierDetection.consecutive5xxErrors", int, 5),
        outlier_interval_s=r.duration(f"{m}.outlierDetection.interval", "10s"),
        base_ejection_s=r.duration(f"{m}.outlierDetection.baseEjectionTime", "30s"),
        max_ejection_percent=r.non_negative(f"{m}.outlierDetection.maxEjectionPercent", int, 10),
        fault_enabled=bool(r.get(f"{m}.fault.enabled", False)),
        fault_delay_percent=r.non_negative(f"{m}.fault.delay.percent", float, 0.0),
        fault_delay_s=r.duration(f"{m}.fault.delay.fixedDelay", "0s"),
        fault_abort_percent=r.non_negative(f"{m}.fault.abort.percent", float, 0.0),
        fault_abort_status=r.typed(f"{m}.fault.abort.httpStatus", int, 503),
    )


def _nodes(r: _Reader) -> tuple[NodeValues, ...]:
    raw = r.typed("nodes", list)
    out: list[NodeValues] = []
    for i, n in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(n, dict) or not isinstance(n.get("name"), str):
            raise ConfigError("each node needs a name", source=r.source, field=where)
        labels = n.get("labels", {}) or {}
        taints = n.get("taints", []) or []
        if not isinstance(labels, dict) or not isinstance(taints, list):
            raise ConfigError(
                "labels must be a mapping, taints a list", source=r.source, field=where
            )
        out.append(
            NodeValues(
                n["name"],
                {str(k): str(v) for k, v in labels.items()},
                tuple({str(k): str(v) for k, v in t.items()} for t in taints),
            )
        )
    if not out:
        raise ConfigError("at least one node is needed", source=r.source, field="nodes")
    if len({n.name for n in out}) != len(out):
        raise ConfigError("node names must be unique", source=r.source, field="nodes")
    return tuple(out)


def load_stack(spec: StackSpec | None = None) -> StackValues:
    """Read ``values.yaml``, apply ``spec.profile`` then ``spec.overrides``."""
    spec = spec or StackSpec()
    path = Path(spec.values_file) if spec.values_file else default_values_file()
    source = str(path)
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=source) from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(
            f"not valid YAML: {exc}", source=source, line=None if line is None else line + 1
        ) from exc
    if not isinstance(tree, dict):
        raise ConfigError("top level must be a mapping", source=source)
    profiles = tree.get("profiles", {}) or {}
    if spec.profile not in profiles:
        raise ConfigError(
            f"unknown profile {spec.profile!r}; known: {', '.join(sorted(profiles))}",
            source=source,
            field="profiles",
        )
    tree = _deep_merge(tree, profiles[spec.profile] or {})
    for key, value in spec.overrides.items():
        _set_dotted(tree, key, value, source)
    r = _Reader(tree, source)
    defaults = r.typed("modelDefaults", dict, {})
    services = {
        name: _service(r, name, defaults)
        for name in MODEL_SERVICES
        if isinstance(tree.get(name), dict)
    }
    loc = "local"
    local = LocalValues(
        scrape_interval_s=r.duration(f"{loc}.scrapeInterval", "1s"),
        evaluation_interval_s=r.duration(f"{loc}.evaluationInterval", "1s"),
        hpa_sync_period_s=r.duration(f"{loc}.hpaSyncPeriod", "15s"),
        hpa_metric_window_s=r.duration(f"{loc}.hpaMetricWindow", "10s"),
        hpa_tolerance=r.non_negative(f"{loc}.hpaTolerance", float, 0.1),
        spot_poll_interval_s=r.duration(f"{loc}.spotPollInterval", "2s"),
        alert_group_wait_s=r.duration(f"{loc}.alertGroupWait", "1s"),
        alert_group_interval_s=r.duration(f"{loc}.alertGroupInterval", "1s"),
        alert_repeat_interval_s=r.duration(f"{loc}.alertRepeatInterval", "1h"),
    )
    for f_name in ("scrape_interval_s", "evaluation_interval_s", "hpa_sync_period_s"):
        if getattr(local, f_name) <= 0 or math.isinf(getattr(local, f_name)):
            raise ConfigError("must be > 0", source=source, field=f"local.{f_name}")
    if local.hpa_metric_window_s < 0 or math.isinf(local.hpa_metric_window_s):
        raise ConfigError("must be >= 0", source=source, field="local.hpaMetricWindow")
    return StackValues(
        source=source,
        profile=spec.profile,
        services=services,
        mesh=_mesh(r),
        nodes=_nodes(r),
        tolerate_spot=bool(r.get("spot.tolerate", True)),
        termination_handler=bool(r.get("spot.terminationHandler.enabled", True)),
        drain_on_rebalance=bool(r.get("spot.terminationHandler.drainOnRebalance", False)),
        deps=DependencyValues(
            redis_append_only=bool(r.get("redis.appendOnly", True)),
            postgresql_database=r.typed("postgresql.database", str, "modelserve"),
            s3_bucket=r.typed("s3.bucket", str, "modelserve-artifacts"),
            s3_region=r.typed("s3.region", str, "us-east-1"),
            s3_versioning=bool(r.get("s3.versioning", True)),
        ),
        local=local,
        raw=tree,
    )
