"""Envoy as the gateway and mesh: bootstrap, file-based xDS, runtime faults.

Layout under the state folder (``xds/``)::

    lds.yaml            one listener: routes ``/<route>/`` (prefix rewritten to ``/``) to
                        ``<service>-stable`` or a weighted stable/canary split; retries, per-try
                        timeout, route timeout, and the HTTP fault filter per route
    cds.yaml            one EDS cluster per service version: circuit breakers, outlier
                        detection (values.yaml ``mesh``, as Istio's DestinationRule maps them)
    eds-<cluster>.yaml  the cluster's endpoints (ready replicas, or the hold proxy at zero)

Each file is replaced by an atomic rename inside the watched directory, which is how Envoy's
``path_config_source`` + ``watched_directory`` picks it up; an endpoint change touches only the
cluster's EDS file, so connections and in-flight requests on other endpoints are untouched.

Faults: every route's fault filter reads runtime keys ``fault.<route>.delay.percent``,
``fault.<route>.delay.duration_ms``, ``fault.<route>.abort.percent`` and
``fault.<route>.abort.http_status``. Envoy reads a plain-integer runtime value for a fractional
percent as a whole percent out of 100 (and anything above 100 as "always"), so percents are
written as integers 0-100; a non-zero fraction rounds to at least 1 so it is never dropped. They are
set through the admin ``/runtime_modify`` endpoint, so a fault takes effect on the next request
without a config reload; the chart's ``mesh.fault`` block sets their static defaults.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import loopback
from harness.errors import FaultError, PlatformError
from harness.ports import LOOPBACK
from harness.values import MeshValues, StackValues

__all__ = [
    "FAULT_KEYS",
    "EnvoyAdmin",
    "EnvoyRoute",
    "bootstrap",
    "cluster_name",
    "fault_runtime",
    "initial_files",
    "routes_for",
    "write_atomic",
    "write_cds",
    "write_eds",
    "write_lds",
]


FAULT_KEYS = ("delay.percent", "delay.duration_ms", "abort.percent", "abort.http_status")


def cluster_name(service: str, version: str) -> str:
    return f"{service}-{version}"


@dataclass(frozen=True)
class EnvoyRoute:
    route: str
    service: str
    canary_weight: int  # 0 = stable only
    hold_timeout_s: float | None = None
    """Set while the service is at zero and its requests are held (KEDA HTTP add-on): the
    route then waits that long, with no per-try timeout, instead of failing fast."""


def write_atomic(path: Path, text: str) -> None:
    """Write beside, then rename over: Envoy's directory watch sees one complete file."""
    tmp = path.parent / f".{path.name}.tmp{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)


def _dur(seconds: float) -> str:
    return f"{seconds:.3f}s"


def _path_source(xds: Path, name: str) -> dict[str, Any]:
    return {
        "path_config_source": {
            "path": str(xds / name),
            "watched_directory": {"path": str(xds)},
        },
        "resource_api_version": "V3",
    }


def bootstrap(xds: Path, admin_port: int, mesh: MeshValues, routes: Sequence[str]) -> str:
    """The bootstrap YAML: admin on loopback, LDS/CDS from files, runtime layers for faults."""
    static: dict[str, Any] = {}
    for r in routes:
        static.update(fault_runtime(r, mesh_default=mesh))
    boot = {
        "node": {"id": "msai-local", "cluster": "msai"},
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": admin_port}}},
        "layered_runtime": {
            "layers": [
                {"name": "static", "static_layer": static},
                {"name": "admin", "admin_layer": {}},
            ]
        },
        "dynamic_resources": {
            "lds_config": _path_source(xds, "lds.yaml"),
            "cds_config": _path_source(xds, "cds.yaml"),
        },
    }
    return yaml.safe_dump(boot, sort_keys=False)


def fault_runtime(
    route: str,
    *,
    delay_ms: float | None = None,
    abort_status: int | None = None,
    percent: float = 0.0,
    mesh_default: MeshValues | None = None,
) -> dict[str, int]:
    """Runtime values for one route's fault keys (all four, so a set replaces a previous one)."""
    if mesh_default is not None and mesh_default.fault_enabled:
        d_pct, a_pct = mesh_default.fault_delay_percent, mesh_default.fault_abort_percent
        d_ms, status = mesh_default.fault_delay_s * 1000, mesh_default.fault_abort_status
    else:
        d_pct = percent if delay_ms is not None else 0.0
        a_pct = percent if abort_status is not None else 0.0
        d_ms, status = delay_ms or 0.0, abort_status or 503
    return {
        f"fault.{route}.delay.percent": _runtime_percent(d_pct),
        f"fault.{route}.delay.duration_ms": round(d_ms),
        f"fault.{route}.abort.percent": _runtime_percent(a_pct),
        f"fault.{route}.abort.http_status": int(status),
    }


def _runtime_percent(percent: float) -> int:
    """A whole percent for Envoy's integer runtime form (see the module docstring)."""
    if percent <= 0:
        return 0
    return min(100, max(1, round(percent)))


def _route_fault(route: str) -> dict[str, Any]:
    zero = {"numerator": 0, "denominator": "MILLION"}
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        # The delay block must exist for the runtime delay keys to apply (FIELD-NOTES).
        "delay": {"fixed_delay": "0.001s", "percentage": zero},
        "abort": {"http_status": 503, "percentage": zero},
        "delay_percent_runtime": f"fault.{route}.delay.percent",
        "delay_duration_runtime": f"fault.{route}.delay.duration_ms",
        "abort_percent_runtime": f"fault.{route}.abort.percent",
        "abort_http_status_runtime": f"fault.{route}.abort.http_status",
    }


def _retry_policy(mesh: MeshValues) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "retry_on": mesh.retry_on,
        "num_retries": mesh.retry_attempts,
        # What Istio adds to every retry policy: retry on another host where there is one.
        "retry_host_predicate": [
            {
                "name": "envoy.retry_host_predicates.previous_hosts",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.retry.host."
                    "previous_hosts.v3.PreviousHostsPredicate"
                },
            }
        ],
        "host_selection_retry_max_attempts": 5,
    }
    if mesh.per_try_timeout_s > 0:
        policy["per_try_timeout"] = _dur(mesh.per_try_timeout_s)
    return policy


def write_lds(xds: Path, port: int, mesh: MeshValues, routes: Sequence[EnvoyRoute]) -> None:
    vroutes = []
    for r in routes:
        action: dict[str, Any] = {
            "prefix_rewrite": "/",
            "timeout": _dur(mesh.timeout_s),
            "retry_policy": _retry_policy(mesh),
        }
        if r.hold_timeout_s is not None:
            action["timeout"] = _dur(max(mesh.timeout_s, r.hold_timeout_s + 5))
            action["retry_policy"].pop("per_try_timeout", None)
        if r.canary_weight > 0:
            action["weighted_clusters"] = {
                "clusters": [
                    {"name": cluster_name(r.service, "stable"), "weight": 100 - r.canary_weight},
                    {"name": cluster_name(r.service, "canary"), "weight": r.canary_weight},
                ]
            }
        else:
            action["cluster"] = cluster_name(r.service, "stable")
        fault = {"envoy.filters.http.fault": _route_fault(r.route)}
        vroutes.append(
            {
                "name": r.route,
                "match": {"prefix": f"/{r.route}/"},
                "route": action,
                "typed_per_filter_config": fault,
            }
        )
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "route_config": {
            "name": "gateway",
            "virtual_hosts": [{"name": "models", "domains": ["*"], "routes": vroutes}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.fault",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    listener = {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "gateway",
        "address": {"socket_address": {"address": LOOPBACK, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    write_atomic(xds / "lds.yaml", yaml.safe_dump({"resources": [listener]}, sort_keys=False))


def write_cds(xds: Path, mesh: MeshValues, clusters: Sequence[str]) -> None:
    resources = []
    for name in clusters:
        thresholds: dict[str, Any] = {
            "max_connections": mesh.max_connections,
            "max_pending_requests": mesh.max_pending_requests,
            "max_requests": mesh.max_requests,
            "max_retries": mesh.max_retries,
        }
        cluster: dict[str, Any] = {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name,
            "type": "EDS",
            "eds_cluster_config": {"eds_config": _path_source(xds, f"eds-{name}.yaml")},
            "connect_timeout": _dur(mesh.connect_timeout_s),
            "circuit_breakers": {"thresholds": [thresholds]},
            # Istio's DestinationRule mapping: consecutive 5xx only, other detectors off.
            "outlier_detection": {
                "consecutive_5xx": mesh.consecutive_5xx,
                "enforcing_consecutive_5xx": 100,
                "enforcing_consecutive_gateway_failure": 0,
                "enforcing_success_rate": 0,
                "interval": _dur(mesh.outlier_interval_s),
                "base_ejection_time": _dur(mesh.base_ejection_s),
                "max_ejection_percent": mesh.max_ejection_percent,
            },
            "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
        }
        if mesh.max_requests_per_connection > 0:
            cluster["typed_extension_protocol_options"] = {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                    "HttpProtocolOptions",
                    "common_http_protocol_options": {
                        "max_requests_per_connection": mesh.max_requests_per_connection
                    },
                    "explicit_http_config": {"http_protocol_options": {}},
                }
            }
        resources.append(cluster)
    write_atomic(xds / "cds.yaml", yaml.safe_dump({"resources": resources}, sort_keys=False))


def write_eds(xds: Path, cluster: str, endpoints: Sequence[tuple[str, int]]) -> None:
    cla = {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": cluster,
        "endpoints": [
            {
                "lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {"address": h, "port_value": p}}}}
                    for h, p in endpoints
                ]
            }
        ],
    }
    write_atomic(xds / f"eds-{cluster}.yaml", yaml.safe_dump({"resources": [cla]}, sort_keys=False))


def routes_for(values: StackValues, held: Mapping[str, float] | None = None) -> list[EnvoyRoute]:
    """One route per enabled service; ``held`` maps services at zero to their hold timeout."""
    held = held or {}
    return [
        EnvoyRoute(s.name, s.name, s.canary_weight if s.canary_enabled else 0, held.get(s.name))
        for s in values.enabled_services()
    ]


def initial_files(xds: Path, port: int, values: StackValues) -> list[str]:
    """Write LDS, CDS and empty EDS files for every enabled service; returns cluster names."""
    xds.mkdir(parents=True, exist_ok=True)
    clusters = []
    for s in values.enabled_services():
        clusters.append(cluster_name(s.name, "stable"))
        if s.canary_enabled:
            clusters.append(cluster_name(s.name, "canary"))
    for c in clusters:
        write_eds(xds, c, [])
    write_cds(xds, values.mesh, clusters)
    write_lds(xds, port, values.mesh, routes_for(values))
    return clusters


class EnvoyAdmin:
    """The admin API on loopback: readiness, runtime keys, stats."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{LOOPBACK}:{port}"

    def _call(self, method: str, path: str, timeout: float = 2.0) -> str:
        req = urllib.request.Request(self.base + path, method=method)
        try:
            with loopback.urlopen(req, timeout=timeout) as resp:
                return str(resp.read().decode())
        except (urllib.error.URLError, OSError) as exc:
            raise PlatformError(f"envoy admin {path}: {exc}") from exc

    def ready(self) -> bool:
        try:
            return self._call("GET", "/ready", timeout=0.5).strip() == "LIVE"
        except PlatformError:
            return False

    def set_runtime(self, values: Mapping[str, int | str]) -> None:
        query = urllib.parse.urlencode({k: str(v) for k, v in values.items()})
        try:
            self._call("POST", f"/runtime_modify?{query}")
        except PlatformError as exc:
            raise FaultError(f"cannot set Envoy runtime {dict(values)}: {exc}") from exc

    def runtime(self) -> dict[str, Any]:
        data = json.loads(self._call("GET", "/runtime"))
        entries = data.get("entries", {})
        return {k: v.get("final_value") for k, v in entries.items()}

    def stat(self, name: str) -> int:
        text = self._call("GET", f"/stats?filter=^{urllib.parse.quote(name)}$")
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def cluster_endpoints(self) -> dict[str, list[str]]:
        data = json.loads(self._call("GET", "/clusters?format=json"))
        out: dict[str, list[str]] = {}
        for c in data.get("cluster_statuses", []):
            hosts = []
            for h in c.get("host_statuses", []):
                sa = h.get("address", {}).get("socket_address", {})
                hosts.append(f"{sa.get('address')}:{sa.get('port_value')}")
            out[c.get("name", "")] = hosts
        return out
