"""The chart's request limits (``mesh.limits``): one set of values, applied at the ingress
gateway (an EnvoyFilter) and by the model replicas themselves (their ConfigMaps)."""

from __future__ import annotations

import pytest
import yaml
from chart_support import CHART, find, kinds, render, render_env
from modelserve.common.server_settings import load_server_settings

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def _env(objs: tuple[dict, ...], name: str) -> dict[str, str]:
    return {
        k: v
        for cm in kinds(objs, "ConfigMap")
        if cm["metadata"]["name"] == name
        for k, v in cm["data"].items()
    }


def test_gateway_and_replicas_apply_the_same_limits() -> None:
    limits = VALUES["mesh"]["limits"]
    objs = render_env("default")
    patch = find(objs, "EnvoyFilter", "modelserve-gateway-limits")["spec"]
    assert patch["workloadSelector"]["labels"] == VALUES["mesh"]["gatewaySelector"]
    hcm = patch["configPatches"][0]["patch"]["value"]["typed_config"]
    assert hcm["max_request_headers_kb"] == limits["maxRequestHeadersKb"]
    assert hcm["common_http_protocol_options"]["max_headers_count"] == limits["maxHeadersCount"]
    assert hcm["stream_idle_timeout"] == f"{limits['readTimeoutSeconds']}s"
    for svc in ("ner", "vision"):
        env = _env(objs, svc)
        prefix = f"MSAI_{svc.upper()}_"
        # The replica reads them as its own settings (a wrong name or value fails here).
        settings = load_server_settings(
            prefix,
            {
                k: v
                for k, v in env.items()
                if k.startswith(prefix)
                and k[len(prefix) :]
                in {
                    "MAX_HEADER_BYTES",
                    "MAX_HEADERS",
                    "READ_TIMEOUT_S",
                    "KEEP_ALIVE_S",
                    "MAX_CONNECTIONS",
                }
            },
        )
        assert settings.max_header_bytes == limits["maxRequestHeadersKb"] * 1024
        assert settings.max_headers == limits["maxHeadersCount"]
        assert settings.read_timeout_s == limits["readTimeoutSeconds"]
        assert settings.keep_alive_s == limits["keepAliveSeconds"]
        assert settings.max_connections == limits["maxConnectionsPerReplica"]


def test_the_sidecar_drops_idle_connections_before_the_replica_does() -> None:
    # Otherwise the sidecar may send a request on a connection the replica is closing.
    idle = VALUES["mesh"]["connectionPool"]["http"]["idleTimeout"]
    assert idle.endswith("s")
    assert not idle.endswith("ms")
    assert float(idle[:-1]) < VALUES["mesh"]["limits"]["keepAliveSeconds"]
    dr = find(render_env("default"), "DestinationRule", "vision")["spec"]
    assert dr["trafficPolicy"]["connectionPool"]["http"]["idleTimeout"] == idle


def test_the_gateway_filter_can_be_left_out() -> None:
    objs = render({"mesh": {"limits": {"gatewayFilter": False}}})
    assert not kinds(objs, "EnvoyFilter")
    assert _env(tuple(objs), "ner")["MSAI_NER_MAX_HEADERS"] == str(
        VALUES["mesh"]["limits"]["maxHeadersCount"]
    )


@pytest.mark.parametrize(
    "bad", [{"maxRequestHeadersKb": 0}, {"readTimeoutSeconds": "30s"}, {"nope": 1}]
)
def test_values_schema_refuses_bad_limits(bad: dict) -> None:
    with pytest.raises(Exception, match=r"(?i)schema|values"):
        render({"mesh": {"limits": bad}})
