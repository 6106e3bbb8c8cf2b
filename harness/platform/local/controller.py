"""The local platform's controller: one process that owns the running stack.

``msai up`` (or :meth:`LocalPlatform.up`) starts it detached; it starts every component (each
recorded in the process ledger), then keeps the stack at its desired state until told to
stop, much as Kubernetes' controllers do:

- reconcile: replicas that died are replaced, extras are drained, readiness is probed, and
  Envoy's endpoints and Prometheus' targets follow the ready set;
- autoscale: the HPA algorithm and KEDA rules (:mod:`.autoscaler`) on Prometheus metrics;
- spot: polls each node's EC2 metadata endpoint and drains a node that got a notice;
- faults: applies and reverts injections, and reverts timed ones when they expire.

Clients (the platform object in any process, the ``msai`` commands) talk to it over a small
JSON API on loopback (``GET /state``, ``POST /kill`` ...); Alertmanager posts to its
``/webhook/<receiver>``. Every request needs the bearer token of ``<home>/control.token``
(:mod:`.control_token`): any local user can reach a loopback port, only the stack's owner can
read that file. A request without it gets 401 and a JSON error. A fault applied by one
process can be reverted by a later one, because the controller, not the caller, holds the
stack.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import loopback
from harness.errors import ConfigError, FaultError, HarnessError, PlatformError, Unsupported
from harness.platform.base import Injection, StackSpec, new_injection_id
from harness.platform.local import envoy
from harness.platform.local.alertmanager import Alertmanager
from harness.platform.local.autoscaler import (
    HpaState,
    KedaState,
    MetricsUnavailable,
    PodInfo,
    hpa_query,
    hpa_step,
    keda_step,
    replica_pods,
)
from harness.platform.local.autoscaler import pods_metric_replicas as _pods_replicas
from harness.platform.local.control_token import authorized, read_token, token_path
from harness.platform.local.dependencies import S3, S3_CREDENTIALS, Postgres, Redis, model_dir_for
from harness.platform.local.hold import HoldProxy
from harness.platform.local.hpa.pods import status_replicas
from harness.platform.local.links import Links
from harness.platform.local.probe import http_status, wait_for
from harness.platform.local.prometheus import Prometheus, ScrapeTarget, rule_files
from harness.platform.local.respond import send, send_json
from harness.platform.local.settings import LocalSettings, local_settings
from harness.platform.local.spot import MetadataServer, poll_notice
from harness.platform.local.webhook import AlertLog
from harness.ports import LOOPBACK, check_free, free_port
from harness.settings import settings as harness_settings
from harness.supervisor import Ledger, Supervised, spawn
from harness.values import ServiceValues, StackValues, load_stack

__all__ = ["Controller", "main"]

PLATFORM = "local"
# Envoy counts each listener reload it attempted from the LDS file.
LDS_UPDATES = "listener_manager.lds.update_attempt"
_ENV_PREFIX = {"ner": "MSAI_NER_", "vision": "MSAI_VISION_", "orchestrator": "MSAI_ORCH_"}
DEPENDENCIES = ("redis", "postgresql", "s3")


@dataclass
class Rep:
    name: str
    service: str
    version: str
    node: str
    port: int
    proc: Supervised
    started: float
    phase: str = "running"  # running | evicting | terminating
    ready: bool = False
    ready_at: float | None = None
    evict_deadline: float = 0.0
    term_deadline: float = 0.0


@dataclass
class NodeState:
    name: str
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]
    imds: MetadataServer
    schedulable: bool = True
    terminated: bool = False
    notice_handled: float | None = None
    terminate_at: float | None = None


@dataclass
class Scaler:
    service: str
    values: ServiceValues
    hpa: HpaState = field(default_factory=HpaState)
    keda: KedaState = field(default_factory=KedaState)
    next_at: float = 0.0


class Controller:
    def __init__(self, home: Path, spec: StackSpec, control_port: int) -> None:
        self.home = home
        self.spec = spec
        self.values: StackValues = load_stack(spec)
        self.settings: LocalSettings = local_settings()
        self.control_port = control_port
        self.token = read_token(home)
        self.ledger = Ledger(home / "ledger.json")
        self.logs = home / "logs"
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.phase = "starting"
        self.error: str | None = None
        self.started = time.time()
        self.ready_s: float | None = None
        # What start() waits for now ("" once ready): `msai up` shows it while it waits.
        self.waiting_for = "its processes to start"
        self.replicas: dict[str, Rep] = {}
        self.desired: dict[tuple[str, str], int] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.injections: dict[str, Injection] = {}
        self.events_path = home / "events.jsonl"
        self.alerts = AlertLog(home / "alerts.jsonl")
        self.infra: dict[str, Supervised] = {}
        self.cuts: set[str] = set()  # services whose gateway routes are partitioned
        self.cold_start_since: dict[str, float] = {}
        self.cold_starts: list[dict[str, Any]] = []
        self.scalers: dict[str, Scaler] = {}
        # Empty until the first probe: a dependency not yet probed is not down, and exporting 0
        # for it would put RedisDown / PostgreSQLDown in pending while the stack starts.
        self.dependency_up: dict[str, bool] = {}
        self.admin_token = os.urandom(16).hex()
        self.weights: dict[str, int] = {
            sv.name: sv.canary_weight for sv in self.values.enabled_services() if sv.canary_enabled
        }
        self.crashes: dict[tuple[str, str], int] = {}
        self.last_crash_log: dict[tuple[str, str], str] = {}
        self.backoff_until: dict[tuple[str, str], float] = {}
        self.holds: dict[str, HoldProxy] = {}
        self.links = Links()
        self._eds: dict[str, list[tuple[str, int]]] = {}
        self._held: dict[str, float] = {}
        self._targets: list[ScrapeTarget] = []
        self._probe_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        svc = self.values.enabled_services()
        self.services = [s.name for s in svc if s.name != "orchestrator" or _has_orchestrator()]
        self.ports: dict[str, int] = {}
        self.nodes: dict[str, NodeState] = {}
        for n in self.values.nodes:
            spot = n.labels.get("capacity-type") == "spot"
            self.nodes[n.name] = NodeState(
                n.name, n.labels, n.taints, MetadataServer(n.name, free_port(), spot=spot)
            )
        self.xds = home / "xds"
        self.redis = Redis(home / "redis", 0, self.values.deps.redis_append_only)
        self.pg = Postgres(home / "postgresql", 0, self.values.deps.postgresql_database)
        if "orchestrator" in self.services:
            orch_schema = _module_file("modelserve.orchestrator", "schema.sql")
            if orch_schema is not None:
                self.pg.extra_schemas = (orch_schema,)
        self.s3 = S3(
            0,
            self.values.deps.s3_bucket,
            self.values.deps.s3_region,
            self.values.deps.s3_versioning,
        )
        self.prom = Prometheus(home / "prometheus", 0, rule_files())
        self.am = Alertmanager(home / "alertmanager", 0)

    # ------------------------------------------------------------------ events
    def event(self, kind: str, **fields: Any) -> None:
        row = {"t": time.time(), "kind": kind, **fields}
        with open(self.events_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    # ------------------------------------------------------------------ start up
    def _allocate_ports(self) -> None:
        gw = self.settings.gateway_port
        if gw:
            check_free(gw)
        self.ports = {
            "gateway": gw or free_port(),
            "envoy_admin": free_port(),
            "redis": free_port(),
            "postgresql": free_port(),
            "s3": free_port(),
            "prometheus": free_port(),
            "alertmanager": free_port(),
            "control": self.control_port,
        }
        self.redis.port = self.ports["redis"]
        self.pg.port = self.ports["postgresql"]
        self.s3.port = self.ports["s3"]
        self.prom.port = self.ports["prometheus"]
        self.am.port = self.ports["alertmanager"]

    def _replica_cmd(self, service: str, port: int) -> list[str]:
        tmpl = self.settings.replica_command
        if not tmpl:
            return [sys.executable, "-m", "modelserve", "serve", service, "--port", str(port)]
        return [
            part.format(python=sys.executable, service=service, port=port) for part in tmpl.split()
        ]

    def _check_models(self) -> None:
        if self.settings.replica_command:
            return
        if not _module_exists("modelserve.cli"):
            raise PlatformError(
                "`msai serve` is not available in this checkout (model servers not installed)"
            )
        models = harness_settings().models_path
        for s in self.services:
            if s != "orchestrator" and model_dir_for(models, s, "1") is None:
                raise PlatformError(
                    f"the {s} model is not built ({models / s} is missing or empty): "
                    "run `msai models build`"
                )

    def start(self) -> None:
        t0 = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._check_models()
        self._allocate_ports()
        for p in (self.ports[k] for k in self.ports if k != "control"):
            check_free(p)
        # Everything at once, the slowest to boot (moto, PostgreSQL's initdb) first.
        self.infra["s3"] = self.s3.start(self.ledger, self.logs)
        pg_errors: list[BaseException] = []
        pg_thread = threading.Thread(target=self._start_pg, args=(pg_errors,), name="postgresql")
        pg_thread.start()
        self.prom.check_rules()
        clusters = envoy.initial_files(self.xds, self.ports["gateway"], self.values)
        self._eds = {c: [] for c in clusters}
        boot = self.home / "envoy.yaml"
        envoy.write_atomic(
            boot,
            envoy.bootstrap(self.xds, self.ports["envoy_admin"], self.values.mesh, self.services),
        )
        from harness.binaries import find

        self.infra["envoy"] = spawn(
            self.ledger,
            "envoy",
            [find("envoy"), "-c", str(boot), "--log-level", "warn", "--disable-hot-restart"],
            log=self.logs / "envoy.log",
            role="envoy",
        )
        self.infra["redis"] = self.redis.start(self.ledger, self.logs)
        self.prom.write_config(
            self.values.local,
            envoy_admin=self.ports["envoy_admin"],
            alertmanager=self.ports["alertmanager"],
            platform=self.control_port,
            platform_token=token_path(self.home),
        )
        self.infra["prometheus"] = self.prom.start(self.ledger, self.logs)
        self.am.write_config(
            f"http://{LOOPBACK}:{self.control_port}", self.values.local, token_path(self.home)
        )
        self.infra["alertmanager"] = self.am.start(self.ledger, self.logs)
        # Links: how each service reaches its dependencies (cut for partitions / outages).
        for s in self.services:
            self.links.add(s, "s3", self.ports["s3"])
            if s == "orchestrator":
                self.links.add(s, "redis", self.ports["redis"])
                self.links.add(s, "postgresql", self.ports["postgresql"])
                for other in self.services:
                    if other != "orchestrator":
                        self.links.add(s, other, self.ports["gateway"])
        self.links.add("harness", "redis", self.ports["redis"])
        self.links.add("harness", "postgresql", self.ports["postgresql"])
        admin = envoy.EnvoyAdmin(self.ports["envoy_admin"])
        envoy_proc = self.infra["envoy"]
        self.waiting_for = "envoy"
        wait_for(
            "envoy", admin.ready, timeout_s=30, alive=envoy_proc.running, log=envoy_proc.entry.log
        )
        wait_for(
            "envoy gateway listener",
            lambda: _tcp(self.ports["gateway"]),
            timeout_s=15,
            alive=envoy_proc.running,
            log=envoy_proc.entry.log,
        )
        self._step("envoy", t0)
        self.waiting_for = "s3 (moto) and the model upload"
        self.s3.wait()
        self.s3.create_bucket()
        self._upload_models()
        self._step("s3 + model upload", t0)
        for sv in self.values.enabled_services():
            if sv.name not in self.services:
                continue
            self.desired[(sv.name, "stable")] = _initial_replicas(sv)
            if sv.canary_enabled:
                self.desired[(sv.name, "canary")] = sv.canary_replicas
            self.scalers[sv.name] = Scaler(sv.name, sv)
            if sv.keda and sv.keda.hold_enabled:
                hold_s = sv.keda.hold_timeout_s
                self.holds[sv.name] = HoldProxy(
                    sv.name,
                    free_port(),
                    pick=self._pick_ready,
                    timeout_s=functools.partial(float, hold_s),
                    on_hold=self._on_hold,
                )
        # Datastores and their schema before any replica: like a migration job, so replicas
        # never race each other creating tables.
        self.waiting_for = "redis and postgresql"
        self.redis.wait()
        pg_thread.join()
        if pg_errors:
            raise pg_errors[0]
        self._step("redis + postgresql", t0)
        self._probe_dependencies()  # the gauges start at their real value
        threading.Thread(
            target=self._loop,
            args=(self._reconcile, self.settings.probe_interval_s),
            name="reconcile",
            daemon=True,
        ).start()
        self.waiting_for = "prometheus and alertmanager"
        self.prom.wait()
        self.am.wait()
        self.waiting_for = "replicas"
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while not self._all_ready():
            for (svc, ver), n in list(self.crashes.items()):
                if n >= 3:  # fail fast: a replica that cannot start will not start on try 4
                    log = self.last_crash_log[(svc, ver)]
                    raise PlatformError(
                        f"{svc} ({ver}) replicas exited {n} times before becoming ready; "
                        f"see {log}:\n{_tail(Path(log))}"
                    )
            if time.monotonic() > deadline:
                raise PlatformError(
                    f"replicas not ready after {self.settings.ready_timeout_s:.0f} s: "
                    + ", ".join(
                        f"{r.name} (log {r.proc.entry.log})"
                        for r in self.replicas.values()
                        if not r.ready
                    )
                )
            time.sleep(0.05)
        threading.Thread(
            target=self._loop, args=(self._autoscale, 0.2), name="autoscale", daemon=True
        ).start()
        threading.Thread(
            target=self._loop,
            args=(self._spot, self.values.local.spot_poll_interval_s),
            name="spot",
            daemon=True,
        ).start()
        threading.Thread(
            target=self._loop, args=(self._expire, 0.05), name="expiry", daemon=True
        ).start()
        threading.Thread(
            target=self._loop,
            args=(self._probe_dependencies, self.values.local.scrape_interval_s),
            name="dependency-probe",
            daemon=True,
        ).start()
        self._step("replicas ready", t0)
        self.ready_s = time.monotonic() - t0
        self.waiting_for = ""
        self.phase = "ready"
        self.event("ready", seconds=self.ready_s)

    def _step(self, name: str, t0: float) -> None:
        self.event("startup", step=name, seconds=round(time.monotonic() - t0, 3))

    def _start_pg(self, errors: list[BaseException]) -> None:
        try:
            self.pg.init()
            self.infra["postgresql"] = self.pg.start(self.ledger, self.logs)
            self.pg.wait()
            self.pg.create_schema()
        except BaseException as exc:
            errors.append(exc)

    def _upload_models(self) -> None:
        models = harness_settings().models_path
        jobs: list[tuple[str, str, Path, str]] = []
        for s in self.values.enabled_services():
            for version, uri in (("stable", s.model_uri), ("canary", s.canary_model_uri)):
                if version == "canary" and not s.canary_enabled:
                    continue
                if not uri.startswith(f"s3://{self.s3.bucket}/"):
                    continue
                key_prefix = uri.removeprefix(f"s3://{self.s3.bucket}/")
                version_dir = key_prefix.rstrip("/").rsplit("/", 1)[-1]
                folder = model_dir_for(models, s.name, version_dir)
                if folder is not None:
                    jobs.append((s.name, uri, folder, key_prefix))
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload") as pool:
            counts = list(pool.map(lambda j: self.s3.upload_dir(j[2], j[3]), jobs))
        for (name, uri, _, _), n in zip(jobs, counts, strict=True):
            self.event("model_upload", service=name, uri=uri, files=n)

    def _all_ready(self) -> bool:
        with self.lock:
            for (svc, ver), want in self.desired.items():
                ready = [
                    r
                    for r in self.replicas.values()
                    if r.service == svc and r.version == ver and r.ready and r.phase == "running"
                ]
                if len(ready) < want:
                    return False
            return True

    # ------------------------------------------------------------------ loops
    def _loop(self, fn: Callable[[], None], period: float) -> None:
        while not self.stopping.is_set():
            try:
                fn()
            except Exception:
                self.event("error", where=fn.__name__, trace=traceback.format_exc()[-2000:])
            self.stopping.wait(period)

    def _replica_env(self, service: str, version: str, node: str, name: str) -> dict[str, str]:
        s = self.values.services[service]
        prefix = _ENV_PREFIX.get(service, f"MSAI_{service.upper()}_")
        raw = s.raw
        batching = raw.get("batching", {}) or {}
        env = {
            **S3_CREDENTIALS,
            "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{self.links.port(service, 's3')}",
            "AWS_DEFAULT_REGION": self.values.deps.s3_region,
            "MSAI_NODE": node,
            "MSAI_REPLICA": name,
            "MSAI_SERVICE": service,
            "MSAI_VERSION": version,
            "MSAI_DRAIN_DELAY_S": str(s.drain_delay_s),
            f"{prefix}MODEL_URI": s.canary_model_uri if version == "canary" else s.model_uri,
            f"{prefix}DRAIN_DELAY_S": str(s.drain_delay_s),
            f"{prefix}DRAIN_DEADLINE_S": str(s.drain_deadline_s),
        }
        for key, var in (
            ("maxBatchSize", "MAX_BATCH_SIZE"),
            ("maxQueueDelayMs", "MAX_QUEUE_DELAY_MS"),
            ("queueCapacity", "QUEUE_CAPACITY"),
            ("defaultDeadlineMs", "DEFAULT_DEADLINE_MS"),
        ):
            if key in batching:
                env[prefix + var] = str(batching[key])
        hooks = raw.get("faultHooks", {}) or {}
        if hooks.get("enabled"):
            # The Secret the chart names holds the token on Kubernetes; locally one per stack.
            env[prefix + "FAULT_HOOKS"] = "true"
            env[prefix + "ADMIN_TOKEN"] = self.admin_token
        for key, var in (("maxTextChars", "MAX_TEXT_CHARS"), ("maxImageBytes", "MAX_IMAGE_BYTES")):
            if key in raw:
                env[prefix + var] = str(raw[key])
        if service == "orchestrator":
            env[prefix + "REDIS_URL"] = f"redis://{LOOPBACK}:{self.links.port(service, 'redis')}/0"
            pg = self.links.port(service, "postgresql")
            db = self.values.deps.postgresql_database
            env[prefix + "POSTGRES_DSN"] = f"postgresql://postgres@{LOOPBACK}:{pg}/{db}"
            env[prefix + "REPLICA_ID"] = name
            if "leaseSeconds" in raw:
                env[prefix + "LEASE_S"] = str(raw["leaseSeconds"])
            # Model services through per-pair links into the gateway (partitionable).
            env[prefix + "SERVICES"] = ",".join(
                f"{o}=http://{LOOPBACK}:{self.links.port(service, o)}/{o}"
                for o in self.services
                if o != "orchestrator"
            )
        return env

    def _schedule(self, service: str) -> str | None:
        def tolerated(n: NodeState) -> bool:
            return all(
                t.get("key") == "spot" and self.values.tolerate_spot
                for t in n.taints
                if t.get("effect") in ("NoSchedule", "NoExecute")
            )

        cands = [
            n for n in self.nodes.values() if n.schedulable and not n.terminated and tolerated(n)
        ]
        if not cands:
            return None
        order = list(self.nodes)

        def load(n: NodeState) -> tuple[int, int, int]:
            mine = [
                r for r in self.replicas.values() if r.node == n.name and r.phase != "terminating"
            ]
            return (sum(r.service == service for r in mine), len(mine), order.index(n.name))

        return min(cands, key=load).name

    def _start_replica(self, service: str, version: str, node: str) -> Rep:
        key = (service, version)
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        name = f"{service}-{version}-{n}"
        port = free_port()
        proc = spawn(
            self.ledger,
            name,
            self._replica_cmd(service, port),
            log=self.logs / f"{name}.log",
            role="replica",
            env=self._replica_env(service, version, node, name),
        )
        rep = Rep(name, service, version, node, port, proc, time.time())
        self.replicas[name] = rep
        self.event("replica_start", replica=name, service=service, version=version, node=node)
        return rep

    def _terminate(self, rep: Rep, reason: str) -> None:
        """Graceful: out of routing first, then SIGTERM; SIGKILL after drain + grace."""
        if rep.phase == "terminating":
            return
        rep.phase = "terminating"
        s = self.values.services[rep.service]
        rep.term_deadline = (
            time.time() + s.drain_delay_s + s.drain_deadline_s + self.settings.kill_grace_s
        )
        self._sync_routes()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rep.proc.pid, signal.SIGTERM)
        self.event("replica_stop", replica=rep.name, reason=reason, graceful=True)

    def _reconcile(self) -> None:
        with self.lock:
            now = time.time()
            for rep in list(self.replicas.values()):
                code = rep.proc.popen.poll()
                if code is None:
                    if rep.phase == "terminating" and now > rep.term_deadline:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(rep.proc.pid, signal.SIGKILL)
                    continue
                rep.proc.stop(self.ledger, grace_s=0)  # reap the group, drop from the ledger
                del self.replicas[rep.name]
                if rep.phase != "terminating":
                    self.event("replica_exit", replica=rep.name, code=code, unexpected=True)
                    if rep.ready_at is None:
                        # Died before it was ever ready: back off like CrashLoopBackOff.
                        key = (rep.service, rep.version)
                        n = self.crashes.get(key, 0) + 1
                        self.crashes[key] = n
                        self.last_crash_log[key] = rep.proc.entry.log
                        self.backoff_until[key] = time.time() + min(0.5 * 2 ** (n - 1), 10.0)
            # Evictions: keep routing until another ready replica serves, or the deadline.
            for rep in list(self.replicas.values()):
                if rep.phase == "evicting":
                    others = [
                        o
                        for o in self.replicas.values()
                        if o.service == rep.service
                        and o.version == rep.version
                        and o.phase == "running"
                        and o.ready
                    ]
                    if others or now >= rep.evict_deadline or not rep.ready:
                        self._terminate(rep, "evicted")
            for (svc, ver), want in self.desired.items():
                active = [
                    r
                    for r in self.replicas.values()
                    if r.service == svc and r.version == ver and r.phase == "running"
                ]
                if now < self.backoff_until.get((svc, ver), 0.0):
                    continue
                for _ in range(want - len(active)):
                    node = self._schedule(svc)
                    if node is None:
                        break
                    self._start_replica(svc, ver, node)
                if len(active) > want:
                    victims = sorted(
                        active, key=lambda r: (r.ready, self.nodes[r.node].schedulable, -r.started)
                    )
                    for r in victims[: len(active) - want]:
                        self._terminate(r, "scale_down")
            probe = [r for r in self.replicas.values() if r.phase != "terminating"]
        results = list(
            self._probe_pool.map(
                lambda r: http_status(r.port, "/v2/health/ready", timeout=0.5) == 200, probe
            )
        )
        with self.lock:
            changed = False
            for rep, ok in zip(probe, results, strict=True):
                if rep.name in self.replicas and rep.ready != ok:
                    rep.ready = ok
                    changed = True
                    if ok and rep.ready_at is None:
                        rep.ready_at = time.time()
                        self.crashes.pop((rep.service, rep.version), None)
                        self.event(
                            "replica_ready", replica=rep.name, seconds=rep.ready_at - rep.started
                        )
                        self._cold_start_done(rep.service)
            self._sync_routes()
            self._sync_targets()
        if changed:
            for h in self.holds.values():
                h.notify()

    def _routable(self, svc: str, ver: str) -> list[Rep]:
        reps = [
            r
            for r in self.replicas.values()
            if r.service == svc
            and r.version == ver
            and r.ready
            and r.phase in ("running", "evicting")
        ]
        running = [r for r in reps if r.phase == "running"]
        return running or reps

    def _pick_ready(self, service: str) -> int | None:
        with self.lock:
            reps = self._routable(service, "stable")
            if not reps or service in self.cuts:
                return None
            return min(reps, key=lambda r: r.name).port

    def _sync_routes(self) -> None:
        wanted: dict[str, list[tuple[str, int]]] = {}
        held: dict[str, float] = {}
        for cluster in self._eds:
            svc, ver = cluster.rsplit("-", 1)
            reps = [] if svc in self.cuts else self._routable(svc, ver)
            eps = [(LOOPBACK, r.port) for r in sorted(reps, key=lambda r: r.name)]
            if not eps and ver == "stable" and svc in self.holds and svc not in self.cuts:
                eps = [(LOOPBACK, self.holds[svc].port)]
                held[svc] = self.holds[svc].timeout_s()
            wanted[cluster] = eps
        # Into hold: the route's longer timeout first, then the endpoints; out of it, the
        # reverse, so no request meets the hold proxy with the fail-fast per-try timeout.
        if held.keys() - self._held.keys():
            self._write_routes(held)
        for cluster, eps in wanted.items():
            if eps != self._eds[cluster]:
                envoy.write_eds(self.xds, cluster, eps)
                self._eds[cluster] = eps
        if held.keys() != self._held.keys():
            self._write_routes(held)

    def _await_envoy_endpoints(self, service: str, timeout_s: float = 10.0) -> None:
        """Envoy reads EDS files asynchronously (inotify); a partition must be in effect when
        the call returns, so wait until the admin API shows the service's endpoints as written."""
        admin = envoy.EnvoyAdmin(self.ports["envoy_admin"])

        def applied() -> bool:
            with self.lock:
                want = {
                    c: sorted(f"{h}:{p}" for h, p in eps)
                    for c, eps in self._eds.items()
                    if c.rsplit("-", 1)[0] == service
                }
            try:
                seen = admin.cluster_endpoints()
            except PlatformError:
                return False
            return all(sorted(seen.get(c, [])) == eps for c, eps in want.items())

        wait_for(
            f"envoy to apply the endpoints of {service}",
            applied,
            timeout_s=timeout_s,
            interval_s=0.02,
        )

    def _write_routes(self, held: dict[str, float]) -> None:
        routes = [
            dataclasses.replace(r, canary_weight=self.weights.get(r.service, 0))
            for r in envoy.routes_for(self.values, held)
            if r.service in self.services
        ]
        envoy.write_lds(self.xds, self.ports["gateway"], self.values.mesh, routes)
        self._held = dict(held)

    def _sync_targets(self) -> None:
        targets = [
            ScrapeTarget(r.port, r.service, r.node, r.name, r.version)
            for r in sorted(self.replicas.values(), key=lambda r: r.name)
        ]
        if targets != self._targets:
            self.prom.write_targets(targets)
            self._targets = targets

    # ------------------------------------------------------------------ autoscaling
    def _prom_query(self, query: str) -> list[tuple[dict[str, str], float]]:
        url = f"{self.prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with loopback.urlopen(url, timeout=2) as resp:
            data = json.loads(resp.read())
        out = []
        for row in data.get("data", {}).get("result", []):
            with contextlib.suppress(KeyError, ValueError, TypeError):
                out.append((row["metric"], float(row["value"][1])))
        return out

    def _on_hold(self, service: str, pending: int) -> None:
        with self.lock:
            if not self._routable(service, "stable") and service not in self.cold_start_since:
                self.cold_start_since[service] = time.time()
            sc = self.scalers.get(service)
            if sc is not None:
                # The add-on pushes activity to KEDA: it scales from zero at once, not at the
                # next poll.
                sc.next_at = 0.0
                sc.keda.next_poll = 0.0

    def _cold_start_done(self, service: str) -> None:
        since = self.cold_start_since.pop(service, None)
        if since is not None:
            row = {"service": service, "seconds": time.time() - since, "t": time.time()}
            self.cold_starts.append(row)
            self.event("cold_start", **row)

    def _autoscale(self) -> None:
        now = time.time()
        for sc in list(self.scalers.values()):
            if now < sc.next_at:
                continue
            v = sc.values
            if v.keda:
                # KEDA polls its trigger and the HPA it creates syncs, each on its own period.
                sc.next_at = now + min(v.keda.polling_s, self.values.local.hpa_sync_period_s)
                self._keda(sc, now)
            elif v.hpa:
                sc.next_at = now + self.values.local.hpa_sync_period_s
                self._hpa(sc, now)

    def _hpa_pods(self, service: str, desired: int, now: float) -> list[PodInfo]:
        """The pods of the service's stable Deployment as the HPA lists them (lock held): see
        :func:`~harness.platform.local.hpa.pods.replica_pods` for the phase of each state."""
        reps = [r for r in self.replicas.values() if r.service == service and r.version == "stable"]
        backoff = now < self.backoff_until.get((service, "stable"), 0.0)
        return replica_pods(reps, desired, service=service, crash_backoff=backoff)

    def _set_desired(self, svc: str, new: int, reason: str) -> None:
        with self.lock:
            old = self.desired.get((svc, "stable"), 0)
            if new != old:
                self.desired[(svc, "stable")] = new
                self.event("scale", service=svc, from_replicas=old, to_replicas=new, reason=reason)

    def _hpa(self, sc: Scaler, now: float) -> None:
        hpa = sc.values.hpa
        assert hpa is not None
        rows = self._prom_query(hpa_query(hpa.metric, sc.service, self.values.local))
        metrics = {m.get("replica", ""): v for m, v in rows}
        with self.lock:
            current = self.desired.get((sc.service, "stable"), 0)
            pods = self._hpa_pods(sc.service, current, now)
        raw: int | None
        try:
            raw = _pods_replicas(
                current,
                metrics,
                hpa.target_average_value,
                pods,
                now=now,
                tolerance=self.values.local.hpa_tolerance,
            )
        except MetricsUnavailable:
            raw = None  # kube-controller-manager keeps the count and records nothing
        new = hpa_step(sc.hpa, now, current, raw, hpa)
        avg = sum(metrics.values()) / len(metrics) if metrics else None
        self._set_desired(sc.service, new, f"hpa {hpa.metric} avg={avg} raw={raw}")

    def _keda(self, sc: Scaler, now: float) -> None:
        keda = sc.values.keda
        assert keda is not None
        rows = self._prom_query(keda.query.replace("{{service}}", sc.service))
        value = sum(v for _, v in rows)
        hold = self.holds.get(sc.service)
        held = hold.pending if hold is not None else 0
        value += held
        with self.lock:
            current = self.desired.get((sc.service, "stable"), 0)
            pods = self._hpa_pods(sc.service, current, now)
        new = keda_step(
            sc.keda,
            now,
            current,
            value,
            keda,
            # The chart's ScaledObject carries the HPA behavior; the add-on's HTTPScaledObject
            # sets none, so its HPA syncs without behavior.
            behavior=None if keda.hold_enabled else sc.values.hpa,
            tolerance=self.values.local.hpa_tolerance,
            held=held,
            status_replicas=status_replicas(pods),
            hpa_sync_period_s=self.values.local.hpa_sync_period_s,
        )
        self._set_desired(sc.service, new, f"keda value={value:g} held={held}")

    # ------------------------------------------------------------------ spot + drain
    def _evict_node(self, node: str, deadline: float, reason: str) -> None:
        with self.lock:
            n = self.nodes[node]
            n.schedulable = False
            for rep in self.replicas.values():
                if rep.node == node and rep.phase == "running":
                    rep.phase = "evicting"
                    rep.evict_deadline = deadline
            self.event("node_drain", node=node, reason=reason, deadline=deadline)

    def _spot(self) -> None:
        now = time.time()
        for n in list(self.nodes.values()):
            if n.terminate_at is not None and now >= n.terminate_at and not n.terminated:
                self._terminate_node(n)
            if not self.values.termination_handler or n.terminated:
                continue
            notice = poll_notice(n.imds.port)
            if notice is None or n.notice_handled is not None:
                continue
            if notice.kind == "rebalance" and not self.values.drain_on_rebalance:
                continue
            n.notice_handled = now
            if notice.kind == "terminate":
                drain = max(s.drain_delay_s for s in self.values.services.values())
                self._evict_node(n.name, max(now, notice.at - drain - 1), "spot-interruption")
            else:
                deadline = now + max(s.drain_deadline_s for s in self.values.services.values())
                self._evict_node(n.name, deadline, "rebalance-recommendation")

    def _terminate_node(self, n: NodeState) -> None:
        with self.lock:
            n.terminated = True
            n.schedulable = False
            for rep in self.replicas.values():
                if rep.node == n.name:
                    rep.phase = "terminating"
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(rep.proc.pid, signal.SIGKILL)
            self._sync_routes()
            self.event("node_terminated", node=n.name)

    # ------------------------------------------------------------------ faults
    def _record(self, inj: Injection) -> Injection:
        with self.lock:
            self.injections[inj.id] = inj
        self.event(
            "fault_start", fault_id=inj.id, fault=inj.kind, target=inj.target, params=inj.params
        )
        return inj

    def kill(self, service: str, count: int, graceful: bool) -> list[str]:
        if service not in self.services:
            raise FaultError(f"unknown service {service!r}; services: {', '.join(self.services)}")
        with self.lock:
            # Stable before canary, oldest first: what "kill a replica of ner" usually means.
            victims = sorted(
                (
                    r
                    for r in self.replicas.values()
                    if r.service == service and r.phase == "running"
                ),
                key=lambda r: (r.version != "stable", r.started, r.name),
            )[:count]
            for r in victims:
                if graceful:
                    self._terminate(r, "kill-graceful")
                else:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(r.proc.pid, signal.SIGKILL)
                    self.event("replica_kill", replica=r.name)
            return [r.name for r in victims]

    def set_canary_weight(self, service: str, weight: int) -> int:
        """Shift traffic between stable and canary (what a canary analysis does when it rolls
        back); returns the previous weight. Takes effect by a listener update, in-flight
        requests finish on the old one."""
        if service not in self.weights:
            raise FaultError(f"{service!r} has no canary (values {service}.canary.enabled)")
        if not 0 <= weight <= 100:
            raise FaultError(f"canary weight must be 0..100, got {weight}")
        admin = envoy.EnvoyAdmin(self.ports["envoy_admin"])
        before = admin.stat(LDS_UPDATES)
        with self.lock:
            old = self.weights[service]
            self.weights[service] = weight
            self._write_routes(self._held)
        # File LDS is read asynchronously: return once Envoy took the new routes, so traffic
        # right after the call already follows the new weight.
        wait_for(
            f"envoy to apply {service}'s canary weight",
            lambda: admin.stat(LDS_UPDATES) > before,
            timeout_s=10,
        )
        self.event("canary_weight", service=service, from_weight=old, to_weight=weight)
        return old

    def _replica_hooks(self, service: str, version: str, faults: dict[str, Any] | None) -> int:
        """Set (``faults``) or clear (None) the built-in fault hooks of every running replica
        of ``service``/``version`` through ``/admin/faults``; returns how many answered."""
        with self.lock:
            reps = [
                r
                for r in self.replicas.values()
                if r.service == service and r.version == version and r.phase == "running"
            ]
        done = 0
        for r in reps:
            req = urllib.request.Request(
                f"http://{LOOPBACK}:{r.port}/admin/faults",
                data=json.dumps(faults).encode() if faults is not None else None,
                method="POST" if faults is not None else "DELETE",
                headers={"Content-Type": "application/json", "x-admin-token": self.admin_token},
            )
            try:
                with loopback.urlopen(req, timeout=5) as resp:
                    resp.read()
                done += 1
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                raise FaultError(
                    f"{r.name} refused /admin/faults (HTTP {exc.code}: {detail}); fault hooks "
                    f"need values {service}.faultHooks.enabled"
                ) from None
            except OSError:
                continue  # a replica going away: it comes back without the fault
        return done

    def replica_fault(self, service: str, version: str, faults: dict[str, Any]) -> Injection:
        """Built-in server faults (error_ratio, latency_ms...) on one version's replicas only,
        e.g. a bad canary. Revert clears them and puts the canary weight back as it was."""
        if service not in self.services:
            raise FaultError(f"unknown service {service!r}; services: {', '.join(self.services)}")
        if not faults:
            raise FaultError("replica_fault needs at least one fault (e.g. error_ratio)")
        n = self._replica_hooks(service, version, faults)
        if n == 0:
            raise FaultError(f"no running {version} replica of {service} to inject into")
        now = time.time()
        return self._record(
            Injection(
                new_injection_id("replica_fault"),
                PLATFORM,
                "replica_fault",
                f"{service}/{version}",
                {"faults": faults, "replicas": n},
                {"service": service, "version": version, "weight": self.weights.get(service)},
                now,
                None,
            )
        )

    def act_on_alerts(self, payload: dict[str, Any]) -> None:
        """Automatic canary rollback, as Flagger / Argo Rollouts do from an analysis: a firing
        alert labelled ``action: rollback-canary`` (CanaryHighErrorRatio in the monitoring
        rules) shifts that service's canary weight to 0."""
        for alert in payload.get("alerts", []):
            labels = alert.get("labels") or {}
            service = labels.get("service", "")
            if (
                alert.get("status") == "firing"
                and labels.get("action") == "rollback-canary"
                and self.weights.get(service, 0) > 0
            ):
                old = self.set_canary_weight(service, 0)
                self.event(
                    "canary_rollback",
                    service=service,
                    alert=labels.get("alertname", ""),
                    from_weight=old,
                )

    def _node(self, node: str) -> NodeState:
        if node not in self.nodes:
            raise FaultError(f"unknown node {node!r}; nodes: {', '.join(self.nodes)}")
        return self.nodes[node]

    def drain(self, node: str) -> Injection:
        self._node(node)
        s = max(sv.drain_deadline_s for sv in self.values.services.values())
        self._evict_node(node, time.time() + s, "drain")
        return self._record(
            Injection(
                new_injection_id("drain"), PLATFORM, "drain", node, {}, {"node": node}, time.time()
            )
        )

    def spot_interrupt(self, node: str, notice_s: float, rebalance: bool = False) -> Injection:
        n = self._node(node)
        if n.terminated:
            raise FaultError(f"node {node} is already terminated; revert the earlier interruption")
        if rebalance:
            n.imds.recommend_rebalance()
            params: dict[str, Any] = {"rebalance": True}
        else:
            if notice_s <= 0:
                raise FaultError("notice_s must be > 0")
            at = n.imds.interrupt(notice_s)
            n.terminate_at = at
            params = {"notice_s": notice_s, "terminate_at": at}
        return self._record(
            Injection(
                new_injection_id("spot_interrupt"),
                PLATFORM,
                "spot_interrupt",
                node,
                params,
                {"node": node},
                time.time(),
            )
        )

    def mesh_fault(
        self,
        route: str,
        delay_ms: float | None,
        abort_status: int | None,
        percent: float,
        duration_s: float | None,
    ) -> Injection:
        if route not in self.services:
            raise FaultError(f"unknown route {route!r}; routes: {', '.join(self.services)}")
        if delay_ms is None and abort_status is None:
            raise FaultError("a mesh fault needs delay_ms or abort_status")
        if not 0 <= percent <= 100:
            raise FaultError(f"percent must be 0..100, got {percent}")
        if abort_status is not None and not 200 <= abort_status <= 599:
            raise FaultError(f"abort_status must be an HTTP status 200..599, got {abort_status}")
        if delay_ms is not None and delay_ms < 0:
            raise FaultError(f"delay_ms must be >= 0, got {delay_ms}")
        admin = envoy.EnvoyAdmin(self.ports["envoy_admin"])
        admin.set_runtime(
            envoy.fault_runtime(
                route, delay_ms=delay_ms, abort_status=abort_status, percent=percent
            )
        )
        now = time.time()
        params = {
            "delay_ms": delay_ms,
            "abort_status": abort_status,
            "percent": percent,
            "duration_s": duration_s,
        }
        return self._record(
            Injection(
                new_injection_id("mesh_fault"),
                PLATFORM,
                "mesh_fault",
                route,
                params,
                {"route": route},
                now,
                now + duration_s if duration_s else None,
            )
        )

    def outage(self, dependency: str, mode: str, duration_s: float | None) -> Injection:
        if dependency not in DEPENDENCIES:
            raise FaultError(f"unknown dependency {dependency!r}; one of {', '.join(DEPENDENCIES)}")
        mode = {"cutoff": "cut", "cut_off": "cut", "cut-off": "cut"}.get(mode, mode)
        if mode not in ("stop", "freeze", "cut"):
            raise FaultError(f"outage mode must be stop, freeze or cut, got {mode!r}")
        if dependency == "s3" and mode == "stop":
            raise Unsupported(
                PLATFORM,
                "stop s3",
                "moto keeps objects in memory, so a stopped S3 would lose the bucket; "
                "use mode freeze or cut",
            )
        proc = self.infra[dependency]
        if mode == "stop":
            sig = signal.SIGINT if dependency == "postgresql" else signal.SIGTERM
            proc.stop(self.ledger, sig=sig)
        elif mode == "freeze":
            os.killpg(proc.pid, signal.SIGSTOP)
        else:
            self.links.set_cut(self.links.into(dependency), True)
        now = time.time()
        return self._record(
            Injection(
                new_injection_id("outage"),
                PLATFORM,
                "outage",
                dependency,
                {"mode": mode, "duration_s": duration_s},
                {"dependency": dependency, "mode": mode},
                now,
                now + duration_s if duration_s else None,
            )
        )

    def partition(self, a: str, b: str, duration_s: float | None) -> Injection:
        pair = {a, b}
        if "gateway" in pair:
            other = (pair - {"gateway"}).pop() if len(pair) == 2 else ""
            if other not in self.services:
                raise FaultError(
                    f"partition gateway from a service: one of {', '.join(self.services)}"
                )
            with self.lock:
                self.cuts.add(other)
                self._sync_routes()
            self._await_envoy_endpoints(other)
            undo: dict[str, Any] = {"gateway": other}
        else:
            links = self.links.between(a, b)
            if not links:
                known = sorted({f"{x.client}<->{x.server}" for x in self.links.links.values()})
                raise FaultError(
                    f"no traffic path between {a} and {b}; known pairs: "
                    + ", ".join(known + [f"gateway<->{s}" for s in self.services])
                )
            self.links.set_cut(links, True)
            undo = {"links": [x.name for x in links]}
        now = time.time()
        return self._record(
            Injection(
                new_injection_id("partition"),
                PLATFORM,
                "partition",
                f"{a}<->{b}",
                {"duration_s": duration_s},
                undo,
                now,
                now + duration_s if duration_s else None,
            )
        )

    def revert(self, inj: Injection) -> None:
        """Take a fault back; safe to call twice and for faults that already ended."""
        u = inj.undo
        if u.get("from_plan"):
            self._revert_from_plan(inj)
            return
        if inj.kind == "mesh_fault":
            # Faults on one route stack: taking one back re-applies the newest left, if any.
            with self.lock:
                others = sorted(
                    (
                        i
                        for i in self.injections.values()
                        if i.kind == "mesh_fault" and i.target == u["route"] and i.id != inj.id
                    ),
                    key=lambda i: i.started,
                )
            admin = envoy.EnvoyAdmin(self.ports["envoy_admin"])
            if others:
                p = others[-1].params
                values = envoy.fault_runtime(
                    u["route"],
                    delay_ms=p.get("delay_ms"),
                    abort_status=p.get("abort_status"),
                    percent=float(p.get("percent", 100.0)),
                )
            else:
                values = envoy.fault_runtime(u["route"], mesh_default=self.values.mesh)
            admin.set_runtime(values)
        elif inj.kind == "drain":
            with self.lock:
                n = self._node(u["node"])
                if not n.terminated:
                    n.schedulable = True
        elif inj.kind == "spot_interrupt":
            with self.lock:
                n = self._node(u["node"])
                n.imds.clear()
                n.terminated = False
                n.schedulable = True
                n.notice_handled = None
                n.terminate_at = None
                self.event("node_replaced", node=n.name)
        elif inj.kind == "outage":
            dep, mode = u["dependency"], u["mode"]
            if mode == "cut":
                self.links.set_cut(self.links.into(dep), False)
            elif mode == "freeze":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.infra[dep].pid, signal.SIGCONT)
            elif not self.infra[dep].running():
                comp: Redis | Postgres = self.redis if dep == "redis" else self.pg
                self.infra[dep] = comp.start(self.ledger, self.logs)
                comp.wait()
        elif inj.kind == "partition":
            if "gateway" in u:
                with self.lock:
                    self.cuts.discard(u["gateway"])
                    self._sync_routes()
                self._await_envoy_endpoints(u["gateway"])
            else:
                links = [self.links.links[n] for n in u["links"] if n in self.links.links]
                if links:
                    self.links.set_cut(links, False)
        elif inj.kind == "replica_fault":
            # Rebuilt from a ledger plan (harness died mid-inject): the target is the service,
            # the hooks were on its canary, and the weight before is unknown (left as is).
            svc = str(u.get("service") or inj.target.partition("/")[0])
            self._replica_hooks(svc, str(u.get("version", "canary")), None)
            weight = u.get("weight")
            if weight is not None and svc in self.weights and self.weights[svc] != int(weight):
                self.set_canary_weight(svc, int(weight))
        else:
            raise FaultError(f"cannot revert unknown fault kind {inj.kind!r}")
        with self.lock:
            known = self.injections.pop(inj.id, None)
        if known is not None:
            self.event("fault_rollback", fault_id=inj.id, ok=True)

    def _revert_from_plan(self, inj: Injection) -> None:
        """A fault the chaos ledger rebuilt from its plan (its harness died before the
        platform's answer reached the disk): it names kind and targets, not this controller's
        undo data, so every fault held here of that kind on those targets is taken back with
        its own. A route is reset even with none held: nothing else may leave it faulted."""
        targets = {str(t) for t in inj.undo.get("targets") or [inj.target]}

        def hit(i: Injection) -> bool:
            if i.kind == "partition":
                return set(i.target.split("<->")) == targets
            if i.kind == "replica_fault":
                return i.target.partition("/")[0] in targets
            return i.target in targets

        with self.lock:
            held = [i for i in self.injections.values() if i.kind == inj.kind and hit(i)]
        for i in held:
            self.revert(i)
        if inj.kind == "mesh_fault" and not held:
            for route in sorted(targets & set(self.services)):
                self.revert(dataclasses.replace(inj, target=route, undo={"route": route}))

    def _expire(self) -> None:
        now = time.time()
        with self.lock:
            due = [
                i for i in self.injections.values() if i.expires is not None and i.expires <= now
            ]
        for inj in due:
            try:
                self.revert(inj)
            except HarnessError as exc:
                # Retry in a second rather than on every tick; the error is in events.jsonl.
                with self.lock:
                    if inj.id in self.injections:
                        self.injections[inj.id] = dataclasses.replace(inj, expires=now + 1.0)
                self.event("fault_rollback", fault_id=inj.id, ok=False, error=str(exc))

    # ------------------------------------------------------------------ backups
    def backup(self, store: str) -> str:
        bid = f"{store}-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(2).hex()}"
        dest = self.home / "backups" / bid
        if store == "postgresql":
            meta = self.pg.backup(dest)
        elif store == "redis":
            meta = self.redis.backup(dest)
        elif store == "s3":
            meta = self.s3.backup(dest)
        else:
            raise FaultError(f"unknown store {store!r}; one of postgresql, redis, s3")
        meta.update({"store": store, "t": time.time()})
        (dest / "meta.json").write_text(json.dumps(meta, indent=1))
        self.event("backup", backup_id=bid, **meta)
        return bid

    def restore(self, store: str, backup_id: str) -> None:
        src = self.home / "backups" / backup_id
        if "/" in backup_id or not (src / "meta.json").exists():
            raise FaultError(f"no backup {backup_id!r} under {self.home / 'backups'}")
        meta = json.loads((src / "meta.json").read_text())
        if meta.get("store") != store:
            raise FaultError(f"backup {backup_id} is of {meta.get('store')}, not {store}")
        if store == "postgresql":
            self.pg.restore(src)
        elif store == "redis":
            self.redis.restore(src, self.ledger, self.logs)
            assert self.redis.proc is not None
            self.infra["redis"] = self.redis.proc
        else:
            self.s3.restore(src)
        self.event("restore", store=store, backup_id=backup_id)

    # ------------------------------------------------------------------ platform metrics
    def _probe_dependencies(self) -> None:
        up = {
            "redis": _redis_ping(self.links.port("harness", "redis")),
            "postgresql": _pg_select1(self.links.port("harness", "postgresql"), self.pg.database),
        }
        with self.lock:
            self.dependency_up = up

    def metrics_text(self) -> str:
        """The gauges docs/contracts.md says the platform exports (alert rules read them)."""
        with self.lock:
            lines = [
                "# HELP modelserve_replicas_desired replicas the spec/autoscaler wants",
                "# TYPE modelserve_replicas_desired gauge",
            ]
            for svc in self.services:
                want = sum(n for (s, _), n in self.desired.items() if s == svc)
                lines.append(f'modelserve_replicas_desired{{service="{svc}"}} {want}')
            lines += [
                "# HELP modelserve_replicas_ready replicas passing readiness",
                "# TYPE modelserve_replicas_ready gauge",
            ]
            for svc in self.services:
                ready = sum(
                    1
                    for r in self.replicas.values()
                    if r.service == svc and r.ready and r.phase == "running"
                )
                lines.append(f'modelserve_replicas_ready{{service="{svc}"}} {ready}')
            lines += [
                "# HELP modelserve_node_spot_interruption 1 while a spot notice is active",
                "# TYPE modelserve_node_spot_interruption gauge",
            ]
            for n in self.nodes.values():
                active = int(n.imds.action_time is not None and not n.terminated)
                lines.append(f'modelserve_node_spot_interruption{{node="{n.name}"}} {active}')
            lines += [
                "# HELP modelserve_dependency_up 1 when PING / SELECT 1 succeeds",
                "# TYPE modelserve_dependency_up gauge",
            ]
            for dep, ok in sorted(self.dependency_up.items()):
                lines.append(f'modelserve_dependency_up{{dependency="{dep}"}} {int(ok)}')
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ state + stop
    def state(self) -> dict[str, Any]:
        with self.lock:
            gw = self.ports.get("gateway", 0)
            return {
                "phase": self.phase,
                "error": self.error,
                "pid": os.getpid(),
                "profile": self.values.profile,
                "values_file": self.values.source,
                "ready_s": self.ready_s,
                "waiting_for": self.waiting_for,
                "ports": self.ports,
                "urls": {
                    "gateway": f"http://{LOOPBACK}:{gw}",
                    "prometheus": self.prom.url,
                    "alertmanager": self.am.url,
                    "envoy_admin": f"http://{LOOPBACK}:{self.ports.get('envoy_admin', 0)}",
                    "s3": self.s3.endpoint,
                    "redis": f"redis://{LOOPBACK}:{self.redis.port}/0",
                    "postgresql": self.pg.url,
                    "webhook": f"http://{LOOPBACK}:{self.control_port}/webhook",
                },
                "services": self.services,
                "desired": {f"{s}/{v}": n for (s, v), n in self.desired.items()},
                "replicas": [
                    {
                        "name": r.name,
                        "service": r.service,
                        "version": r.version,
                        "node": r.node,
                        "url": f"http://{LOOPBACK}:{r.port}",
                        "ready": r.ready,
                        "phase": r.phase,
                        "pid": r.proc.pid,
                    }
                    for r in sorted(self.replicas.values(), key=lambda r: r.name)
                ],
                "nodes": [
                    {
                        "name": n.name,
                        "labels": n.labels,
                        "schedulable": n.schedulable,
                        "terminated": n.terminated,
                        "imds": f"http://{LOOPBACK}:{n.imds.port}",
                        "replicas": sorted(
                            r.name for r in self.replicas.values() if r.node == n.name
                        ),
                    }
                    for n in self.nodes.values()
                ],
                "links": {k: v.port for k, v in self.links.links.items()},
                "injections": [i.to_json() for i in self.injections.values()],
                "cold_starts": list(self.cold_starts),
                "canary_weights": dict(self.weights),
                "s3_bucket": self.s3.bucket,
                "s3_region": self.values.deps.s3_region,
                "admin_token": self.admin_token,
                "infra": {k: {"pid": p.pid, "running": p.running()} for k, p in self.infra.items()},
            }

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            reps = list(self.replicas.values())
            self.desired = {k: 0 for k in self.desired}
        for r in reps:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(r.proc.pid, signal.SIGTERM)
        for proc in self.infra.values():
            if proc.running():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGCONT)  # a frozen one cannot handle SIGTERM
        for r in reps:
            r.proc.stop(self.ledger, grace_s=5)
        for name, proc in self.infra.items():
            proc.stop(self.ledger, sig=signal.SIGINT if name == "postgresql" else signal.SIGTERM)
        if self.pg.folder.name.startswith("msai-postgresql-"):
            shutil.rmtree(self.pg.folder, ignore_errors=True)  # the temp-dir fallback only
        for h in self.holds.values():
            h.close()
        for n in self.nodes.values():
            n.imds.close()
        self.links.close()
        self._probe_pool.shutdown(wait=False)


def _tcp(port: int) -> bool:
    from harness.platform.local.probe import tcp_open

    return tcp_open(port)


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _pg_select1(port: int, database: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host=LOOPBACK, port=port, user="postgres", dbname=database, connect_timeout=2
        ) as conn:
            conn.execute("SET statement_timeout = 1000")
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _module_file(package: str, name: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / name
    return path if path.is_file() else None


def _has_orchestrator() -> bool:
    # The orchestrator joins the stack once its server module exists.
    return _module_exists("modelserve.orchestrator.api")


def _initial_replicas(s: ServiceValues) -> int:
    n = s.replicas
    if s.hpa:
        n = max(min(n, s.hpa.max_replicas), s.hpa.min_replicas)
    if s.keda:
        n = max(min(n, s.keda.max_replicas), s.keda.min_replicas)
    return n


# ---------------------------------------------------------------------- control API
def _serve_api(ctl: Controller, done: threading.Event) -> ThreadingHTTPServer:
    routes: dict[str, Callable[[dict[str, Any]], Any]] = {
        "/kill": lambda b: ctl.kill(b["service"], int(b.get("count", 1)), bool(b.get("graceful"))),
        "/drain": lambda b: ctl.drain(b["node"]).to_json(),
        "/spot": lambda b: ctl.spot_interrupt(
            b["node"], float(b.get("notice_s", 120)), bool(b.get("rebalance"))
        ).to_json(),
        "/mesh_fault": lambda b: ctl.mesh_fault(
            b["route"],
            b.get("delay_ms"),
            b.get("abort_status"),
            float(b.get("percent", 100.0)),
            b.get("duration_s"),
        ).to_json(),
        "/outage": lambda b: ctl.outage(
            b["dependency"], b.get("mode", "stop"), b.get("duration_s")
        ).to_json(),
        "/partition": lambda b: ctl.partition(b["a"], b["b"], b.get("duration_s")).to_json(),
        "/revert": lambda b: ctl.revert(Injection.from_json(b["injection"])),
        "/backup": lambda b: ctl.backup(b["store"]),
        "/restore": lambda b: ctl.restore(b["store"], b["backup_id"]),
        "/scale": lambda b: ctl._set_desired(b["service"], int(b["replicas"]), "manual"),
        "/canary_weight": lambda b: ctl.set_canary_weight(b["service"], int(b["weight"])),
        "/replica_fault": lambda b: ctl.replica_fault(
            b["service"], b["version"], dict(b["faults"])
        ).to_json(),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _refused(self) -> bool:
            """Answer 401 unless the request carries the control token."""
            if authorized(self.headers.get("Authorization"), ctl.token):
                return False
            self.close_connection = True  # the body of a refused POST stays unread
            send_json(
                self,
                401,
                {
                    "error": "missing or wrong bearer token (Authorization: Bearer <token>, "
                    f"the token in {token_path(ctl.home)})",
                    "type": "PlatformError",
                },
            )
            return True

        def do_GET(self) -> None:
            if self._refused():
                return None
            path, _, query = self.path.partition("?")
            if path == "/state":
                return send_json(self, 200, ctl.state())
            if path == "/metrics":
                return send(self, 200, ctl.metrics_text().encode(), "text/plain; version=0.0.4")
            if path == "/alerts":
                since = float(urllib.parse.parse_qs(query).get("since", ["0"])[0])
                return send_json(self, 200, ctl.alerts.alerts(since))
            send_json(self, 404, {"error": f"no route {path}"})

        def do_POST(self) -> None:
            if self._refused():
                return None
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return send_json(self, 400, {"error": "body is not JSON", "type": "ConfigError"})
            if self.path.startswith("/webhook"):
                receiver = self.path.removeprefix("/webhook").strip("/") or "default"
                try:
                    n = ctl.alerts.record(receiver, body)
                except ValueError as exc:
                    return send_json(self, 400, {"error": str(exc), "type": "ConfigError"})
                ctl.act_on_alerts(body)
                return send_json(self, 200, {"recorded": n})
            if self.path == "/shutdown":
                send_json(self, 200, {"ok": True})
                done.set()
                return None
            fn = routes.get(self.path)
            if fn is None:
                return send_json(self, 404, {"error": f"no route {self.path}"})
            if ctl.phase != "ready":
                return send_json(
                    self, 409, {"error": f"stack is {ctl.phase}", "type": "PlatformError"}
                )
            try:
                return send_json(self, 200, {"result": fn(body)})
            except KeyError as exc:
                return send_json(
                    self, 400, {"error": f"missing field {exc}", "type": "ConfigError"}
                )
            except (HarnessError, ValueError, TypeError) as exc:
                kind = type(exc).__name__ if isinstance(exc, HarnessError) else "ConfigError"
                extra = {}
                if isinstance(exc, Unsupported):
                    extra = {"operation": exc.operation, "reason": exc.reason}
                return send_json(self, 400, {"error": str(exc), "type": kind, **extra})
            except Exception as exc:
                ctl.event("error", where=self.path, trace=traceback.format_exc()[-2000:])
                return send_json(
                    self, 500, {"error": f"{type(exc).__name__}: {exc}", "type": "PlatformError"}
                )

    server = ThreadingHTTPServer((LOOPBACK, ctl.control_port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="api", daemon=True).start()
    return server


def _watch_owner(pid: int, started: float, done: threading.Event) -> None:
    """A stack tied to its caller (tests) goes when the caller goes, even killed with -9."""
    import psutil

    while not done.wait(0.5):
        try:
            proc = psutil.Process(pid)
            gone = abs(proc.create_time() - started) > 0.05 or proc.status() == "zombie"
        except psutil.Error:
            gone = True
        if gone:
            done.set()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="local platform controller (started by msai up)")
    ap.add_argument("--home", required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--spec", required=True, help="StackSpec as JSON")
    ap.add_argument(
        "--owner-pid", type=int, default=0, help="stop the stack when this process is gone"
    )
    ap.add_argument("--owner-start", type=float, default=0.0, help="its create time")
    a = ap.parse_args(argv)
    spec_data = json.loads(a.spec)
    spec = StackSpec(**spec_data)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        ctl = Controller(Path(a.home), spec, a.control_port)
    except (HarnessError, ConfigError) as exc:
        print(f"controller: {exc}", file=sys.stderr, flush=True)
        return 4
    server = _serve_api(ctl, done)
    if a.owner_pid:
        threading.Thread(
            target=_watch_owner, args=(a.owner_pid, a.owner_start, done), daemon=True
        ).start()
    try:
        ctl.start()
    except Exception as exc:
        ctl.phase = "failed"
        ctl.error = (
            str(exc)
            if isinstance(exc, HarnessError)
            else (f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}")
        )
        print(f"controller: start failed: {ctl.error}", file=sys.stderr, flush=True)
        # Stay up until told to stop, so the caller can read the error, but not forever.
        done.wait(timeout=60)
    else:
        done.wait()
    ctl.phase = "stopping"
    ctl.shutdown()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
