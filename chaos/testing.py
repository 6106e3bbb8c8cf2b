"""Test doubles shipped with chaos: an in-memory platform and a virtual clock.

:class:`FakePlatform` implements the whole :class:`~harness.platform.base.Platform` protocol
on a small model of the stack (services with replicas spread over nodes, a mesh with faults,
dependencies, backups) and records every call. It is for unit tests of the engine only; game
days run on the real local platform.

With ``world=PATH`` its state lives in a JSON file that every operation reads and writes, and
each Injection's ``undo`` names that file, so a second process (the next ``msai`` command)
can revert a fault that a killed process injected: exactly what the ledger's recovery must do
on a real platform.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import FaultError, PlatformError, Unsupported
from harness.latency import encode_histogram, merge_histograms, new_histogram, percentiles_ms
from harness.latency import record_us as _record_us
from harness.platform.base import (
    Endpoint,
    Injection,
    Node,
    Replica,
    StackSpec,
    Store,
    new_injection_id,
)

__all__ = ["FakeClock", "FakePlatform", "FakeResponse", "fake_load"]

_DEFAULT_NODES = [
    {"name": "general-a", "labels": {"node-group": "general", "capacity-type": "on-demand"}},
    {"name": "general-b", "labels": {"node-group": "general", "capacity-type": "on-demand"}},
    {"name": "spot-a", "labels": {"node-group": "spot", "capacity-type": "spot"}},
]
_DEFAULT_SERVICES = {"ner": 2, "vision": 2}


@dataclass(frozen=True)
class FakeResponse:
    status: int
    latency_ms: float


class FakePlatform:
    """An in-memory platform. ``startup_s``: how long a new replica takes to be ready."""

    name = "fake"

    def __init__(
        self,
        world: str | Path | None = None,
        *,
        startup_s: float = 0.0,
        base_latency_ms: float = 5.0,
        seed: int = 1,
        fail_on: set[str] | None = None,
    ) -> None:
        self.world = Path(world) if world else None
        self.startup_s = startup_s
        self.base_latency_ms = base_latency_ms
        self.fail_on = set(fail_on or ())
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._state: dict[str, Any] = {"up": False}
        if self.world and self.world.exists():
            self._load()

    # state -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.world and self.world.exists():
            self._state = json.loads(self.world.read_text(encoding="utf-8"))

    def _save(self) -> None:
        if self.world:
            tmp = self.world.with_name(f".{self.world.name}.tmp")
            tmp.write_text(json.dumps(self._state), encoding="utf-8")
            os.replace(tmp, self.world)

    @contextmanager
    def _op(self, name: str, **args: Any) -> Iterator[dict[str, Any]]:
        with self._lock:
            self._load()
            self.calls.append((name, args))
            if name in self.fail_on:
                raise FaultError(f"fake platform told to fail {name}")
            yield self._state
            self._save()

    def _need_up(self, state: dict[str, Any]) -> None:
        if not state.get("up"):
            raise PlatformError("the fake stack is not up (call up() first)")

    def _new_replica(self, state: dict[str, Any], service: str, version: str = "stable") -> None:
        nodes = [n for n in state["nodes"] if n["schedulable"] and not n.get("terminated")]
        if not nodes:
            state.setdefault("pending", []).append(service)
            return
        counts = {n["name"]: 0 for n in nodes}
        for r in state["replicas"]:
            if r["node"] in counts:
                counts[r["node"]] += 1
        node = min(nodes, key=lambda n: (counts[n["name"]], n["name"]))["name"]
        state["serial"] += 1
        state["replicas"].append(
            {
                "service": service,
                "name": f"{service}-{version}-{state['serial']}",
                "node": node,
                "version": version,
                "ready_at": time.time() + self.startup_s,
            }
        )

    def _evict(self, state: dict[str, Any], node: str) -> list[str]:
        moved = [r for r in state["replicas"] if r["node"] == node]
        state["replicas"] = [r for r in state["replicas"] if r["node"] != node]
        for r in moved:
            self._new_replica(state, r["service"], r["version"])
        return [r["name"] for r in moved]

    def _expire(self, state: dict[str, Any]) -> None:
        now = time.time()
        for inj in list(state["active"].values()):
            if inj["expires"] is not None and inj["expires"] <= now:
                self._undo(state, Injection.from_json(inj))
        for n in state["nodes"]:
            if n.get("terminate_at") and n["terminate_at"] <= now and not n.get("terminated"):
                n["terminated"] = True
                self._evict(state, n["name"])

    # lifecycle ---------------------------------------------------------------------------
    def up(self, stack: StackSpec) -> None:
        with self._op("up", profile=stack.profile) as st:
            services = dict(_DEFAULT_SERVICES)
            weights: dict[str, int] = {}
            for key, value in stack.overrides.items():
                svc, _, attr = key.partition(".")
                if attr == "replicas":
                    services[svc] = int(value)
                elif attr == "canary.enabled" and value:
                    weights[svc] = int(stack.overrides.get(f"{svc}.canary.weight", 10))
            st.clear()
            st.update(
                up=True,
                profile=stack.profile,
                serial=0,
                nodes=[{**n, "schedulable": True} for n in _DEFAULT_NODES],
                replicas=[],
                desired=services,
                active={},
                deps={"redis": "up", "postgresql": "up"},
                data={"postgresql": "v1", "redis": "v1", "s3": "v1"},
                backups={},
                weights=weights,
            )
            for svc, n in services.items():
                for _ in range(n):
                    self._new_replica(st, svc)
            for svc in weights:
                self._new_replica(st, svc, "canary")

    def down(self) -> None:
        with self._op("down") as st:
            st.clear()
            st["up"] = False

    # observation -------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        with self._op("endpoints") as st:
            self._need_up(st)
            return {s: Endpoint(s, f"fake://gateway/{s}", s) for s in st["desired"]}

    def services(self) -> list[str]:
        with self._op("services") as st:
            self._need_up(st)
            return sorted(st["desired"])

    def replicas(self, service: str) -> list[Replica]:
        with self._op("replicas", service=service) as st:
            self._need_up(st)
            self._expire(st)
            now = time.time()
            return [
                Replica(
                    r["service"],
                    r["name"],
                    r["node"],
                    f"fake://{r['name']}",
                    now >= r["ready_at"],
                    r["version"],
                )
                for r in st["replicas"]
                if r["service"] == service
            ]

    def nodes(self) -> list[Node]:
        with self._op("nodes") as st:
            self._need_up(st)
            self._expire(st)
            return [
                Node(
                    n["name"],
                    dict(n["labels"]),
                    n["schedulable"] and not n.get("terminated"),
                    [r["name"] for r in st["replicas"] if r["node"] == n["name"]],
                )
                for n in st["nodes"]
            ]

    @property
    def prometheus_url(self) -> str:
        raise Unsupported(self.name, "query Prometheus", "the fake platform runs no Prometheus")

    @property
    def alertmanager_url(self) -> str:
        raise Unsupported(self.name, "list alerts", "the fake platform runs no Alertmanager")

    def active_injections(self) -> list[Injection]:
        """Faults in force now (not reverted, not expired): what tests assert on."""
        with self._op("active_injections") as st:
            if not st.get("up"):
                return [Injection.from_json(i) for i in st.get("active", {}).values()]
            self._expire(st)
            return [Injection.from_json(i) for i in st["active"].values()]

    # faults ------------------------------------------------------------------------------
    def _inject(
        self,
        st: dict[str, Any],
        kind: str,
        target: str,
        params: dict[str, Any],
        undo: dict[str, Any],
        duration_s: float | None = None,
    ) -> Injection:
        now = time.time()
        inj = Injection(
            id=new_injection_id(kind),
            platform=self.name,
            kind=kind,
            target=target,
            params=params,
            undo={**undo, **({"world": str(self.world)} if self.world else {})},
            started=now,
            expires=now + duration_s if duration_s else None,
        )
        st["active"][inj.id] = inj.to_json()
        return inj

    def kill(self, service: str, count: int = 1, *, graceful: bool = False) -> list[str]:
        with self._op("kill", service=service, count=count, graceful=graceful) as st:
            self._need_up(st)
            now = time.time()
            ready = [r for r in st["replicas"] if r["service"] == service and now >= r["ready_at"]]
            victims = [r["name"] for r in ready[:count]]
            st["replicas"] = [r for r in st["replicas"] if r["name"] not in victims]
            for _ in victims:  # the supervisor / Deployment controller replaces them
                self._new_replica(st, service)
            return victims

    def drain(self, node: str) -> Injection:
        with self._op("drain", node=node) as st:
            self._need_up(st)
            n = self._node(st, node)
            n["schedulable"] = False
            moved = self._evict(st, node)
            return self._inject(st, "drain", node, {"moved": moved}, {"node": node})

    def spot_interrupt(self, node: str, notice_s: float) -> Injection:
        with self._op("spot_interrupt", node=node, notice_s=notice_s) as st:
            self._need_up(st)
            n = self._node(st, node)
            n["schedulable"] = False  # the termination handler cordons and drains at once
            n["terminate_at"] = time.time() + notice_s
            moved = self._evict(st, node)
            return self._inject(
                st, "spot_interrupt", node, {"notice_s": notice_s, "moved": moved}, {"node": node}
            )

    def mesh_fault(
        self,
        route: str,
        *,
        delay_ms: float | None = None,
        abort_status: int | None = None,
        percent: float = 100.0,
        duration_s: float | None = None,
    ) -> Injection:
        args = {"delay_ms": delay_ms, "abort_status": abort_status, "percent": percent}
        with self._op("mesh_fault", route=route, **args, duration_s=duration_s) as st:
            self._need_up(st)
            if route not in st["desired"]:
                raise FaultError(f"no route {route!r}")
            return self._inject(st, "mesh_fault", route, args, {"route": route}, duration_s)

    def outage(
        self, dependency: str, *, mode: str = "stop", duration_s: float | None = None
    ) -> Injection:
        with self._op("outage", dependency=dependency, mode=mode, duration_s=duration_s) as st:
            self._need_up(st)
            if dependency not in st["deps"]:
                raise FaultError(f"no dependency {dependency!r}")
            st["deps"][dependency] = mode
            return self._inject(
                st, "outage", dependency, {"mode": mode}, {"dependency": dependency}, duration_s
            )

    def partition(self, a: str, b: str, *, duration_s: float | None = None) -> Injection:
        with self._op("partition", a=a, b=b, duration_s=duration_s) as st:
            self._need_up(st)
            return self._inject(st, "partition", f"{a}|{b}", {}, {"a": a, "b": b}, duration_s)

    def revert(self, injection: Injection) -> None:
        if injection.undo.get("world") and self.world is None:
            # a fresh process reverting a fault recorded by another: act on its world file
            FakePlatform(injection.undo["world"]).revert(injection)
            return
        with self._op("revert", id=injection.id, kind=injection.kind) as st:
            if "active" not in st:
                return  # stack gone: nothing is injected any more
            self._undo(st, injection)

    def _undo(self, st: dict[str, Any], injection: Injection) -> None:
        st["active"].pop(injection.id, None)
        if injection.undo.get("from_plan"):  # a pending ledger entry: revert by kind + target
            for inj in [i for i in st["active"].values() if i["kind"] == injection.kind]:
                if inj["target"] == injection.target or (
                    injection.kind == "replica_fault"
                    and inj["target"].startswith(f"{injection.target}/")
                ):
                    st["active"].pop(inj["id"], None)
        if injection.kind in ("drain", "spot_interrupt"):
            n = self._node(st, injection.target)
            n.update(schedulable=True, terminated=False, terminate_at=None)  # replacement
            for svc in st.pop("pending", []):
                self._new_replica(st, svc)
        elif injection.kind == "outage":
            still = any(
                i["kind"] == "outage" and i["target"] == injection.target
                for i in st["active"].values()
            )
            if not still:
                st["deps"][injection.target] = "up"

        elif injection.kind == "replica_fault":
            u = injection.undo
            if u.get("weight") is not None and u["service"] in st.get("weights", {}):
                st["weights"][u["service"]] = int(u["weight"])

    # canary ------------------------------------------------------------------------------
    def canary_weights(self) -> dict[str, int]:
        with self._op("canary_weights") as st:
            self._need_up(st)
            return dict(st["weights"])

    def set_canary_weight(self, service: str, weight: int) -> int:
        """Percent of ``service``'s traffic to its canary; returns the previous weight."""
        with self._op("set_canary_weight", service=service, weight=weight) as st:
            self._need_up(st)
            if service not in st["weights"]:
                raise FaultError(f"{service!r} has no canary")
            old = int(st["weights"][service])
            st["weights"][service] = int(weight)
            return old

    def replica_fault(self, service: str, version: str, faults: dict[str, Any]) -> Injection:
        """Server fault hooks on one version's replicas (``error_ratio`` shapes requests)."""
        with self._op("replica_fault", service=service, version=version, faults=faults) as st:
            self._need_up(st)
            if not any(r["service"] == service and r["version"] == version for r in st["replicas"]):
                raise FaultError(f"no {version} replica of {service}")
            undo = {"service": service, "version": version, "weight": st["weights"].get(service)}
            return self._inject(
                st, "replica_fault", f"{service}/{version}", {"faults": dict(faults)}, undo
            )

    def _node(self, st: dict[str, Any], name: str) -> dict[str, Any]:
        for n in st["nodes"]:
            if n["name"] == name:
                node: dict[str, Any] = n
                return node
        raise FaultError(f"no node {name!r}")

    # data protection ---------------------------------------------------------------------
    def backup(self, store: Store) -> str:
        with self._op("backup", store=store) as st:
            self._need_up(st)
            backup_id = f"{store}-{len(st['backups']) + 1}"
            st["backups"][backup_id] = st["data"][store]
            return backup_id

    def restore(self, store: Store, backup_id: str) -> None:
        with self._op("restore", store=store, backup_id=backup_id) as st:
            self._need_up(st)
            if backup_id not in st["backups"]:
                raise PlatformError(f"no backup {backup_id!r}")
            st["data"][store] = st["backups"][backup_id]

    def read_data(self, store: Store) -> Any:
        """A store's contents (a JSON value; ``"v1"`` after up): what a test client reads."""
        with self._op("read_data", store=store) as st:
            self._need_up(st)
            return json.loads(json.dumps(st["data"][store]))

    def write_data(self, store: Store, value: Any) -> None:
        """Replace a store's contents (a copy is kept, so a backup never aliases it)."""
        with self._op("write_data", store=store) as st:
            self._need_up(st)
            st["data"][store] = json.loads(json.dumps(value))

    # what a client would see -------------------------------------------------------------
    def request(self, route: str) -> FakeResponse:
        """One request through the fake gateway, shaped by the mesh faults in force."""
        with self._lock:
            self._load()
            if not self._state.get("up"):
                return FakeResponse(503, 0.0)
            self._expire(self._state)
            latency = self.base_latency_ms * (0.5 + self._rng.random())
            ready = [
                r
                for r in self._state["replicas"]
                if r["service"] == route and time.time() >= r["ready_at"]
            ]
            if not ready:
                return FakeResponse(503, latency)
            weight = int(self._state.get("weights", {}).get(route, 0))
            if weight and self._rng.random() * 100 < weight:  # this request hits the canary
                for inj in self._state["active"].values():
                    if inj["kind"] == "replica_fault" and inj["target"] == f"{route}/canary":
                        ratio = float(inj["params"]["faults"].get("error_ratio", 0.0))
                        if self._rng.random() < ratio:
                            return FakeResponse(500, latency)
            for inj in self._state["active"].values():
                if inj["kind"] != "mesh_fault" or inj["target"] != route:
                    continue
                p = inj["params"]
                if self._rng.random() * 100 < float(p["percent"]):
                    if p.get("delay_ms"):
                        latency += float(p["delay_ms"])
                    if p.get("abort_status"):
                        return FakeResponse(int(p["abort_status"]), latency)
            return FakeResponse(200, latency)


class FakeClock:
    """A clock whose ``sleep`` advances virtual time at once (single-threaded tests)."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        return False


def fake_load(request: Any) -> None:
    """A tiny open-loop load for game days on :class:`FakePlatform` (a ``LoadRunner``).

    Sends ``rate`` requests/s for ``duration`` through ``platform.request(route)``, routes
    drawn by ``mix``, and writes ``load_bucket`` / ``load_summary`` events with HDR histograms
    as the real generator does, so gates read it the same way. Stops early on ``stop``."""
    from harness.durations import parse_duration

    spec, platform, record = request.spec, request.platform, request.record
    rate = float(spec.get("rate", 10))
    duration = parse_duration(spec.get("duration", 1))
    mix = dict(spec.get("mix") or {"ner": 1.0})
    routes = sorted(mix)
    rng = random.Random(request.seed)
    totals: dict[str, dict[str, Any]] = {}
    t0 = time.time()
    for second in range(int(duration)):
        row: dict[str, dict[str, Any]] = {}
        per_request = 1.0 / rate if rate else 1.0
        for i in range(int(rate)):
            due = t0 + second + i * per_request
            if request.stop.wait(max(0.0, due - time.time())):
                break
            route = rng.choices(routes, weights=[mix[r] for r in routes])[0]
            resp = platform.request(route)
            for key in (route, "all"):
                b = row.setdefault(
                    key, {"sent": 0, "completed": 0, "errors": {}, "hist": new_histogram()}
                )
                b["sent"] += 1
                if resp.status >= 400:
                    kind = f"http_{resp.status}"
                    b["errors"][kind] = b["errors"].get(kind, 0) + 1
                else:
                    b["completed"] += 1
                    _record_us(b["hist"], resp.latency_ms * 1000.0)
        for key in [*routes, "all"]:
            b = row.get(key, {"sent": 0, "completed": 0, "errors": {}, "hist": new_histogram()})
            pct = percentiles_ms(b["hist"])
            record.emit(
                "load_bucket",
                t=t0 + second + 1,
                second=second,
                route=key,
                sent=b["sent"],
                completed=b["completed"],
                errors=b["errors"],
                **pct,
                histogram=encode_histogram(b["hist"]),
            )
            tot = totals.setdefault(key, {"sent": 0, "completed": 0, "errors": {}, "hists": []})
            tot["sent"] += b["sent"]
            tot["completed"] += b["completed"]
            for k, v in b["errors"].items():
                tot["errors"][k] = tot["errors"].get(k, 0) + v
            tot["hists"].append(b["hist"])
        if request.stop.is_set():
            break
    for key, tot in totals.items():
        hist = merge_histograms(tot["hists"])
        record.emit(
            "load_summary",
            route=key,
            sent=tot["sent"],
            completed=tot["completed"],
            errors=tot["errors"],
            **percentiles_ms(hist),
            rate_rps=rate,
            histogram=encode_histogram(hist),
        )
