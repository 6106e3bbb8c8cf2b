"""Faults left by a dead harness on Kubernetes are rolled back by the next process through the
fault ledger (chaos.ledger.recover_orphans), against kmock: from the recorded undo data, and
from the plan alone when the harness died between the platform's inject and the ledger write."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from k8s_support import obj, platform_for, seed

from chaos.ledger import Ledger, recover_orphans
from harness.platform.kubernetes.kind import NOTICE_ANNOTATION, SPOT_TAINT, KindSpot
from harness.platform.kubernetes.settings import KindSettings
from harness.platform.kubernetes.testing import find

pytestmark = pytest.mark.asyncio

WRITE = """
import json, sys
from pathlib import Path
from chaos.ledger import Ledger
from harness.platform.base import Injection
args = json.loads(sys.argv[1])
ledger = Ledger(Path(args["dir"]))
entry = ledger.open(run_id="dead-run", platform="kind", kind=args["kind"],
                    targets=args["targets"], plan={"params": args["params"]})
if args["injections"]:
    ledger.injected(entry, [Injection.from_json(i) for i in args["injections"]])
"""


def orphan(
    folder: Path,
    kind: str,
    targets: list[str],
    params: dict[str, Any] | None = None,
    injections: list[dict[str, Any]] | None = None,
) -> None:
    """Write a ledger entry from a process that then exits: an orphan, as after a crash."""
    arg = {
        "dir": str(folder),
        "kind": kind,
        "targets": targets,
        "params": params or {},
        "injections": injections or [],
    }
    subprocess.run([sys.executable, "-c", WRITE, json.dumps(arg)], check=True, timeout=60)


class Docker:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> None:
        self.calls.append(list(args))


async def recover(kmock: Any, folder: Path, docker: Docker | None = None) -> list[str]:
    spot = KindSpot(KindSettings(), docker=docker or Docker())
    fresh = platform_for(kmock, spot=spot)
    report = await asyncio.to_thread(recover_orphans, lambda _name: fresh, Ledger(folder))
    assert report.failed == []
    assert report.abandoned == []
    assert Ledger(folder).entries() == []
    return report.reverted


async def test_recorded_undo_is_used(kmock: Any, tmp_path: Path) -> None:
    chart = seed(kmock)
    inj = await asyncio.to_thread(platform_for(kmock).mesh_fault, "ner", abort_status=503)
    orphan(tmp_path, "mesh_abort", ["ner"], {"status": 503}, [inj.to_json()])
    assert len(await recover(kmock, tmp_path)) == 1
    for name in ("ner", "modelserve-gateway"):
        original = next(
            o for o in chart if o["kind"] == "VirtualService" and o["metadata"]["name"] == name
        )
        assert obj(kmock, "VirtualService", "ai-models", name)["spec"] == original["spec"]


async def test_pending_mesh_fault_is_cleared_from_the_plan(kmock: Any, tmp_path: Path) -> None:
    seed(kmock)
    await asyncio.to_thread(platform_for(kmock).mesh_fault, "ner", delay_ms=100)
    orphan(tmp_path, "mesh_delay", ["ner"], {"delay_ms": 100.0})  # died before `injected`
    await recover(kmock, tmp_path)
    for name in ("ner", "modelserve-gateway"):
        http = obj(kmock, "VirtualService", "ai-models", name)["spec"]["http"]
        assert all("fault" not in h for h in http)


async def test_pending_drain_and_outage_stop_are_taken_back(kmock: Any, tmp_path: Path) -> None:
    seed(kmock)
    p = platform_for(kmock)
    await asyncio.to_thread(p.drain, "spot-a")
    await asyncio.to_thread(p.outage, "redis", mode="stop")
    orphan(tmp_path, "drain", ["spot-a"])
    orphan(tmp_path, "dependency_outage", ["redis"], {"mode": "stop"})
    assert len(await recover(kmock, tmp_path)) == 2
    assert "unschedulable" not in obj(kmock, "v1/nodes", None, "spot-a")["spec"]
    assert obj(kmock, "StatefulSet", "pipeline-orchestrator", "redis")["spec"]["replicas"] == 1


async def test_pending_isolations_are_cleared(kmock: Any, tmp_path: Path) -> None:
    chart = seed(kmock)
    p = platform_for(kmock)
    cut = await asyncio.to_thread(p.outage, "postgresql", mode="cutoff")
    part = await asyncio.to_thread(p.partition, "orchestrator", "ner")
    orphan(tmp_path, "dependency_outage", ["postgresql"], {"mode": "cutoff"})
    orphan(tmp_path, "partition", ["orchestrator", "ner"])
    await recover(kmock, tmp_path)
    policies = [o for o in chart if o["kind"] == "NetworkPolicy"]
    for original in policies:
        meta = original["metadata"]
        assert (
            obj(kmock, "NetworkPolicy", meta["namespace"], meta["name"])["spec"]
            == (original["spec"])
        )
    for made in (
        ("pipeline-orchestrator", f"{cut.id}-postgresql"),
        ("ai-models", f"{part.id}-ner"),
        ("pipeline-orchestrator", f"{part.id}-orchestrator"),
    ):
        assert find(kmock, "networkpolicies", *made) is None


async def test_pending_kind_spot_interruption_restarts_the_node(kmock: Any, tmp_path: Path) -> None:
    seed(kmock)
    docker = Docker()
    p = platform_for(kmock, spot=KindSpot(KindSettings(), docker=docker))
    await asyncio.to_thread(p.spot_interrupt, "spot-a", 0.05)
    for _ in range(100):
        if docker.calls:
            break
        await asyncio.sleep(0.05)
    assert docker.calls == [["stop", "spot-a"]]
    orphan(tmp_path, "spot_interruption", ["spot-a"], {"notice_s": 0.05})
    later = Docker()
    await recover(kmock, tmp_path, later)
    assert later.calls == [["start", "spot-a"]]
    node = obj(kmock, "v1/nodes", None, "spot-a")
    assert "unschedulable" not in node["spec"]
    assert all(t["key"] != SPOT_TAINT["key"] for t in node["spec"].get("taints") or [])
    assert NOTICE_ANNOTATION not in (node["metadata"].get("annotations") or {})
