"""``LocalPlatform``: the Platform interface over the local controller process.

``up`` cleans up whatever a crashed run left (process ledger), starts the controller detached
(it owns the stack, so the stack outlives the caller and a later process can revert a fault),
and waits until every replica is ready. Every other method is one JSON call to the
controller; errors come back as the harness's own exception types.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from harness import loopback
from harness.errors import (
    ConfigError,
    FaultError,
    HarnessError,
    PlatformError,
    Unsupported,
)
from harness.platform.base import Endpoint, Injection, Node, Replica, StackSpec, Store
from harness.platform.local.control_token import read_token, write_token
from harness.platform.local.settings import local_settings, state_dir
from harness.ports import LOOPBACK, free_port
from harness.supervisor import Ledger, LedgerEntry, alive, cleanup, spawn
from harness.values import load_stack

__all__ = ["LocalPlatform"]

_ERRORS: dict[str, type[HarnessError]] = {
    "ConfigError": ConfigError,
    "FaultError": FaultError,
    "PlatformError": PlatformError,
}


class LocalPlatform:
    """Every component a real process on this machine (see ``harness.platform.local``)."""

    name = "local"
    # What scenarios may require of this backend (msai.gameday checks ``requires``).
    features = frozenset(
        {
            "canary_rollback",
            "spot_notices",
            "rebalance_notices",
            "scale_to_zero",
            "backup:postgresql",
            "backup:redis",
            "backup:s3",
            "backup_drill",
            "replica_faults",
        }
    )

    def __init__(self, home: Path | None = None, *, tied: bool = False) -> None:
        """``home``: state folder (default ``<MSAI_HOME>/local``). ``tied``: the stack stops by
        itself when this process ends, even by SIGKILL (tests); by default it outlives the
        caller, so a later ``msai`` process can revert faults and bring it down."""
        self.home = home or state_dir()
        self.ledger = Ledger(self.home / "ledger.json")
        self.tied = tied

    # ------------------------------------------------------------------ plumbing
    @property
    def _control_file(self) -> Path:
        return self.home / "controller.json"

    def _control(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self._control_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 120
    ) -> Any:
        ctl = self._control()
        if ctl is None:
            raise PlatformError("the local stack is not up (run `msai up`)")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{ctl['port']}{path}",
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {read_token(self.home)}",
            },
        )
        try:
            with loopback.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read())
            except ValueError:
                err = {"error": str(exc)}
            kind = err.get("type", "PlatformError")
            if kind == "Unsupported":
                raise Unsupported(
                    self.name, err.get("operation", path), err.get("reason", "")
                ) from None
            raise _ERRORS.get(kind, PlatformError)(err.get("error", str(exc))) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PlatformError(
                f"the local controller does not answer ({exc}); run `msai down` to clean up"
            ) from exc

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)["result"]

    def state(self) -> dict[str, Any]:
        """The controller's full view: phase, ports, replicas, nodes, injections."""
        result: dict[str, Any] = self._call("GET", "/state", timeout=10)
        return result

    def running(self) -> bool:
        ctl = self._control()
        if ctl is None:
            return False
        entry = LedgerEntry(**ctl["entry"])
        return alive(entry)

    def running_stack(self) -> StackSpec | None:
        """The stack the running controller was brought up with (None when none runs)."""
        ctl = self._control()
        if ctl is None or not self.running():
            return None
        cmd = list(ctl["entry"].get("cmd", []))
        if "--spec" not in cmd:
            return None
        spec = json.loads(cmd[cmd.index("--spec") + 1])
        return StackSpec(
            profile=str(spec.get("profile", "default")),
            values_file=spec.get("values_file"),
            overrides=dict(spec.get("overrides") or {}),
        )

    # ------------------------------------------------------------------ lifecycle
    def up(
        self,
        stack: StackSpec | None = None,
        *,
        progress: Callable[[dict[str, Any], float], None] | None = None,
    ) -> None:
        """Start the stack and wait until every service is ready. ``progress``, when given, is
        called about once a second while waiting with the controller's state (``/state``:
        ``waiting_for``, ``replicas`` ...; empty before the controller answers) and the
        seconds waited so far."""
        stack = stack or StackSpec()
        load_stack(stack)  # fail here, with the file and field, before starting anything
        self.cleanup()
        settings = local_settings()
        self.home.mkdir(parents=True, exist_ok=True)
        for stale in ("events.jsonl", "alerts.jsonl"):
            with contextlib.suppress(FileNotFoundError):
                (self.home / stale).unlink()
        # Every up starts from empty stores: Alertmanager's notification log would otherwise
        # swallow an alert that fired in the previous run, and old series or keys would leak
        # into this run's gates. Backups (backups/) are kept.
        for state in ("prometheus", "alertmanager", "redis", "postgresql", "xds"):
            shutil.rmtree(self.home / state, ignore_errors=True)
        # The previous run's logs stay readable one run longer, in logs.prev/.
        logs = self.home / "logs"
        if logs.is_dir():
            shutil.rmtree(self.home / "logs.prev", ignore_errors=True)
            logs.rename(self.home / "logs.prev")
        port = free_port()
        write_token(self.home)  # a new one each up: a token read before it is worth nothing
        cmd = [
            sys.executable,
            "-m",
            "harness.platform.local.controller",
            "--home",
            str(self.home),
            "--control-port",
            str(port),
            "--spec",
            json.dumps(asdict(stack)),
        ]
        if self.tied:
            me = psutil.Process()
            cmd += ["--owner-pid", str(me.pid), "--owner-start", repr(me.create_time())]
        proc = spawn(
            self.ledger,
            "controller",
            cmd,
            log=self.home / "logs" / "controller.log",
            role="controller",
            # The controller and every process it starts (replicas, Prometheus, boto3 to moto)
            # talk to each other on loopback, where an environment proxy cannot reach.
            env=loopback.no_proxy_env(),
        )
        tmp = self._control_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": port, "entry": asdict(proc.entry)}))
        os.replace(tmp, self._control_file)
        self._popen = proc.popen
        started = time.monotonic()
        deadline = started + settings.ready_timeout_s + 60
        next_progress = started + 1.0
        try:
            while True:
                if proc.popen.poll() is not None:
                    raise PlatformError(
                        f"the local controller exited ({proc.popen.returncode}): "
                        + _tail(Path(proc.entry.log))
                    )
                st: dict[str, Any] = {}
                with contextlib.suppress(PlatformError):
                    st = self._call("GET", "/state", timeout=2)
                if st.get("phase") == "ready":
                    return
                if st.get("phase") == "failed":
                    raise PlatformError(f"msai up failed: {st['error']}")
                if progress is not None and time.monotonic() >= next_progress:
                    next_progress += 1.0
                    progress(st, time.monotonic() - started)
                if time.monotonic() > deadline:
                    raise PlatformError(
                        f"the local stack did not come up in time; see {self.home / 'logs'}"
                    )
                time.sleep(0.1)
        except BaseException:
            self.down()
            raise

    def cleanup(self) -> list[LedgerEntry]:
        """Stop everything the ledger names (what a crashed run left); returns those found."""
        left = cleanup(self.ledger)
        with contextlib.suppress(FileNotFoundError):
            self._control_file.unlink()
        return left

    def down(self) -> None:
        ctl = self._control()
        if ctl is not None and alive(LedgerEntry(**ctl["entry"])):
            with contextlib.suppress(HarnessError):
                self._call("POST", "/shutdown", {}, timeout=5)
            entry = LedgerEntry(**ctl["entry"])
            deadline = time.monotonic() + 60
            while alive(entry) and time.monotonic() < deadline:
                time.sleep(0.1)
        popen = getattr(self, "_popen", None)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=1)  # reap our child so no zombie stays behind
        self.cleanup()
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)

    # ------------------------------------------------------------------ observation
    def endpoints(self) -> dict[str, Endpoint]:
        st = self.state()
        gw = st["urls"]["gateway"]
        return {s: Endpoint(s, f"{gw}/{s}", s) for s in st["services"]}

    def services(self) -> list[str]:
        return list(self.state()["services"])

    def replicas(self, service: str) -> list[Replica]:
        return [
            Replica(
                r["service"],
                r["name"],
                r["node"],
                r["url"],
                r["ready"] and r["phase"] == "running",
                r["version"],
            )
            for r in self.state()["replicas"]
            if r["service"] == service and r["phase"] != "terminating"
        ]

    def nodes(self) -> list[Node]:
        return [
            Node(n["name"], n["labels"], n["schedulable"], n["replicas"])
            for n in self.state()["nodes"]
        ]

    @property
    def prometheus_url(self) -> str:
        return str(self.state()["urls"]["prometheus"])

    @property
    def alertmanager_url(self) -> str:
        return str(self.state()["urls"]["alertmanager"])

    def alerts(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every alert the webhook receiver recorded (see :mod:`.webhook` for the fields)."""
        result: list[dict[str, Any]] = self._call("GET", f"/alerts?since={since}", timeout=10)
        return result

    def events(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The controller's events (``t``, ``kind`` and fields): replica_start / ready / exit /
        stop / kill, scale (from_replicas, to_replicas, reason), node_drain, node_terminated,
        node_replaced, cold_start (service, seconds), fault_start / fault_rollback, backup,
        restore, model_upload, ready, error. Read from ``events.jsonl``."""
        out = []
        try:
            lines = (self.home / "events.jsonl").read_text().splitlines()
        except OSError:
            return []
        for line in lines:
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if row.get("t", 0) >= since:
                    out.append(row)
        return out

    def received_alerts(self) -> list[dict[str, Any]]:
        """Alias of :meth:`alerts` under the name the harness observers look for."""
        return self.alerts()

    def cold_starts(self) -> list[dict[str, Any]]:
        """Scale-from-zero times: ``service``, ``seconds`` (first held request to first ready
        replica), ``t``."""
        return list(self.state()["cold_starts"])

    # ------------------------------------------------------------------ faults
    def kill(self, service: str, count: int = 1, *, graceful: bool = False) -> list[str]:
        return list(self._post("/kill", {"service": service, "count": count, "graceful": graceful}))

    def drain(self, node: str) -> Injection:
        return Injection.from_json(self._post("/drain", {"node": node}))

    def spot_interrupt(self, node: str, notice_s: float) -> Injection:
        return Injection.from_json(self._post("/spot", {"node": node, "notice_s": notice_s}))

    def rebalance_recommendation(self, node: str) -> Injection:
        """Post an EC2 rebalance recommendation on the node (drained if values say so)."""
        return Injection.from_json(self._post("/spot", {"node": node, "rebalance": True}))

    def mesh_fault(
        self,
        route: str,
        *,
        delay_ms: float | None = None,
        abort_status: int | None = None,
        percent: float = 100.0,
        duration_s: float | None = None,
    ) -> Injection:
        body = {
            "route": route,
            "delay_ms": delay_ms,
            "abort_status": abort_status,
            "percent": percent,
            "duration_s": duration_s,
        }
        return Injection.from_json(self._post("/mesh_fault", body))

    def outage(
        self, dependency: str, *, mode: str = "stop", duration_s: float | None = None
    ) -> Injection:
        body = {"dependency": dependency, "mode": mode, "duration_s": duration_s}
        return Injection.from_json(self._post("/outage", body))

    def partition(self, a: str, b: str, *, duration_s: float | None = None) -> Injection:
        """Cut traffic between ``a`` and ``b``. With ``gateway`` as one side, the service's Envoy
        endpoints are emptied (the gateway answers 503); between a service and a dependency (or
        the orchestrator and a model service) the per-pair TCP links are cut: open connections
        reset, new ones black-holed (see :mod:`.links`)."""
        return Injection.from_json(
            self._post("/partition", {"a": a, "b": b, "duration_s": duration_s})
        )

    def revert(self, injection: Injection) -> None:
        """Take a fault back (idempotent). With no stack running there is nothing it could
        still affect: a no-op. With the controller dead but processes of its stack left (a
        crash), those orphans are stopped -- no one manages them, and one may carry the fault."""
        if injection.platform != self.name:
            raise FaultError(f"injection {injection.id} belongs to platform {injection.platform}")
        if not self.running():
            self.cleanup()
            return
        self._post("/revert", {"injection": injection.to_json()})

    def set_canary_weight(self, service: str, weight: int) -> int:
        """Percent of the service's traffic to its canary (0 = all back on stable); returns the
        previous weight."""
        return int(self._post("/canary_weight", {"service": service, "weight": weight}))

    def canary_weights(self) -> dict[str, int]:
        """Each canaried service's current weight (percent of its traffic to the canary)."""
        return {k: int(v) for k, v in self.state()["canary_weights"].items()}

    def replica_fault(self, service: str, version: str, faults: dict[str, Any]) -> Injection:
        """The servers' built-in fault hooks (``error_ratio``, ``latency_ms``...) on the
        replicas of one version only (a bad canary); revert clears them and restores the
        canary weight the service had at injection."""
        return Injection.from_json(
            self._post("/replica_fault", {"service": service, "version": version, "faults": faults})
        )

    def admin_token(self) -> str:
        """Token for the replicas' ``/admin/faults`` when ``faultHooks.enabled`` is set."""
        return str(self.state()["admin_token"])

    def scale(self, service: str, replicas: int) -> None:
        """Set a service's desired replicas by hand (the autoscaler may change it again)."""
        self._post("/scale", {"service": service, "replicas": replicas})

    # ------------------------------------------------------------------ data protection
    def data_stores(self) -> dict[str, dict[str, str]]:
        """How a client reaches each store (backup drills write and verify data through it):
        ``postgresql``/``redis``: ``url``; ``s3``: ``endpoint``, ``bucket``, ``region``."""
        st = self.state()
        return {
            "postgresql": {"url": str(st["urls"]["postgresql"])},
            "redis": {"url": str(st["urls"]["redis"])},
            "s3": {
                "endpoint": str(st["urls"]["s3"]),
                "bucket": str(st["s3_bucket"]),
                "region": str(st["s3_region"]),
            },
        }

    def backup(self, store: Store) -> str:
        return str(self._post("/backup", {"store": store}))

    def restore(self, store: Store, backup_id: str) -> None:
        self._post("/restore", {"store": store, "backup_id": backup_id})


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return f"(no log at {path})"
