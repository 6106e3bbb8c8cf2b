"""Spot interruptions of a node whose machine the harness can stop: a kind node (a Docker
container) or a node of ``msai cluster`` (a kubelet and its containerd).

The notice is what aws-node-termination-handler does on EKS: the notice annotation, its taint
and a cordon in one write, then evictions through the API (PodDisruptionBudgets honoured)
until the notice ends; then the node's machine stops, as a reclaimed instance does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.platform.kubernetes.platform import KubernetesPlatform

__all__ = ["NOTICE_ANNOTATION", "SPOT_TAINT", "NodePower", "NodeStopSpot"]

NOTICE_ANNOTATION = "msai.dev/spot-interruption-notice"
#: The taint aws-node-termination-handler puts on a node with a spot notice.
SPOT_TAINT = {"key": "aws-node-termination-handler/spot-itn", "effect": "NoSchedule"}


class NodePower(Protocol):
    """Stops and starts the machine behind a node."""

    def stop(self, node: str) -> None: ...

    def start(self, node: str) -> None: ...


class NodeStopSpot:
    """Notice, cordon, drain, then the node's machine stops; revert starts it and uncordons."""

    def __init__(self, power: NodePower) -> None:
        self.power = power
        self._cancel: dict[str, threading.Event] = {}

    def interrupt(self, platform: KubernetesPlatform, node: str, notice_s: float) -> dict[str, Any]:
        obj = platform.call(platform.core.read_node, node)
        taints = list(obj.get("spec", {}).get("taints") or [])
        was = bool(obj.get("spec", {}).get("unschedulable", False))
        ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=notice_s)
        undo = {"node": node, "container": node, "taints": taints, "was_unschedulable": was}
        notice = {
            "metadata": {"annotations": {NOTICE_ANNOTATION: ends.isoformat()}},
            "spec": {
                "taints": [*taints, {**SPOT_TAINT, "value": "true"}],
                "unschedulable": True,
            },
        }
        platform.merge_patch(platform.core.patch_node, node, notice)  # notice + cordon, one write
        deadline = time.monotonic() + notice_s

        cancel = self._cancel.setdefault(node, threading.Event())
        cancel.clear()

        def terminate() -> None:
            with contextlib.suppress(Exception):
                platform.evict_all(node, deadline)
            if cancel.wait(max(0.0, deadline - time.monotonic())):
                return  # reverted in this process before the notice ran out
            with contextlib.suppress(Exception):  # reverted by another process, or power gone
                now = platform.call(platform.core.read_node, node)
                if NOTICE_ANNOTATION in (now["metadata"].get("annotations") or {}):
                    self.power.stop(node)

        t = threading.Thread(target=terminate, name=f"spot-{node}", daemon=True)
        t.start()
        platform.threads.append(t)
        return undo

    def revert(self, platform: KubernetesPlatform, undo: dict[str, Any]) -> None:
        node = undo["node"]
        if node in self._cancel:
            self._cancel[node].set()
        self.power.start(undo["container"])
        restore: dict[str, Any] = {
            "metadata": {"annotations": {NOTICE_ANNOTATION: None}},
            "spec": {"taints": undo["taints"] or None},
        }
        if not undo.get("was_unschedulable"):
            restore["spec"]["unschedulable"] = None
        platform.ignore_404(platform.merge_patch, platform.core.patch_node, node, restore)

    def revert_from_plan(self, platform: KubernetesPlatform, node: str) -> None:
        if node in self._cancel:
            self._cancel[node].set()
        self.power.start(node)
        obj = platform.ignore_404(platform.call, platform.core.read_node, node)
        if obj is None:
            return
        taints = [
            t for t in obj.get("spec", {}).get("taints") or [] if t.get("key") != SPOT_TAINT["key"]
        ]
        restore = {
            "metadata": {"annotations": {NOTICE_ANNOTATION: None}},
            "spec": {"taints": taints or None, "unschedulable": None},
        }
        platform.merge_patch(platform.core.patch_node, node, restore)
