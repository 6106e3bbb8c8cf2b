"""The images in reference-stack/docker, built and run with a real Docker Engine (Debian
``docker.io``). No registry is reachable, so the base image comes from Debian packages
(build-base.sh: debootstrap + ``docker import``); then build-images.sh builds every image and
each container is run on the host network, loopback only: health, one inference, SIGTERM
drain with exit 0, as non-root on a read-only root filesystem like the chart runs it.

Marked ``docker`` (minutes on a first run): ``pytest --with-docker tests/test_docker_images.py``.
Uses the daemon at DOCKER_HOST / /var/run/docker.sock when one answers; otherwise starts
``dockerd`` itself (images cached under .msai/docker between runs) and stops it afterwards.
Skipped with the reason where Docker cannot run.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from harness.binaries import find
from harness.errors import MissingBinary
from harness.ports import free_port

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
DOCKER_DIR = ROOT / "reference-stack" / "docker"
STATE = ROOT / ".msai" / "docker"
MODELS = Path(os.environ.get("MSAI_MODELS_DIR") or ROOT / ".models")
BASE = "modelserve-base:bookworm"
_VALUES = yaml.safe_load((ROOT / "reference-stack/charts/modelserve/values.yaml").read_text())
TAG = str(_VALUES["global"]["imageTag"])
IMAGES = {
    "ner": f"{_VALUES['ner']['image']}:{TAG}",
    "vision": f"{_VALUES['vision']['image']}:{TAG}",
    "orchestrator": f"{_VALUES['orchestrator']['image']}:{TAG}",
}


@dataclass
class Engine:
    docker: str
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        out = subprocess.run(
            [self.docker, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args[:3])} ...: {out.stderr.strip()[-2000:]}")
        return out.stdout.strip()

    def logs(self, container: str) -> str:
        """stdout and stderr of a container (the servers log JSON lines to stderr)."""
        out = subprocess.run(
            [self.docker, "logs", container],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return out.stdout + out.stderr

    def answers(self) -> bool:
        try:
            self.run("info", "--format", "{{.ServerVersion}}", timeout=10)
        except (AssertionError, subprocess.TimeoutExpired):
            return False
        return True


def _find(name: str, hint: str) -> str:
    try:
        return find(name)
    except MissingBinary:
        pytest.skip(f"{name} not installed: {hint}")


@dataclass
class Daemon:
    """A dockerd this test started: its process, run folder (sockets, exec root) and log."""

    proc: subprocess.Popen[bytes]
    run_dir: Path
    log: io.BufferedWriter


def _start_dockerd(docker: str) -> tuple[Engine, Daemon]:
    dockerd = _find("dockerd", "scripts/setup --docker (Debian docker.io)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root here (no rootless Docker set up)")
    run_dir = Path(tempfile.mkdtemp(prefix="msai-dk-", dir="/tmp"))  # unix socket paths are short
    (STATE / "data").mkdir(parents=True, exist_ok=True)
    sock = run_dir / "docker.sock"
    log = (run_dir / "dockerd.log").open("wb")  # closed by _stop_dockerd
    # No bridge and no iptables: every container here uses the host network (loopback).
    proc = subprocess.Popen(
        [
            dockerd,
            "--host",
            f"unix://{sock}",
            "--data-root",
            str(STATE / "data"),
            "--exec-root",
            str(run_dir / "exec"),
            "--pidfile",
            str(run_dir / "dockerd.pid"),
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    daemon = Daemon(proc, run_dir, log)
    engine = Engine(docker, {**os.environ, "DOCKER_HOST": f"unix://{sock}"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if sock.exists() and engine.answers():
            return engine, daemon
        time.sleep(0.5)
    code = proc.poll()
    why = f"dockerd exited with {code}" if code is not None else "dockerd did not answer in 60 s"
    tail = (run_dir / "dockerd.log").read_text(errors="replace").strip()[-1500:]
    _stop_dockerd(daemon)
    pytest.skip(f"Docker Engine cannot run here: {why}: {tail or '(no log)'}")


def _unmount_under(folder: Path) -> None:
    """dockerd leaves its default network namespace mounted in the exec root: unmount it."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{folder}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=10, check=False)


def _stop_dockerd(daemon: Daemon) -> None:
    proc, run_dir = daemon.proc, daemon.run_dir
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()
    daemon.log.close()
    _unmount_under(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    assert not alive, f"dockerd left processes behind: {[p.pid for p in alive]}"
    assert not run_dir.exists(), f"{run_dir} left behind (a mount dockerd did not release?)"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    docker = _find("docker", "scripts/setup --docker (Debian docker.io)")
    existing = Engine(docker, dict(os.environ))
    if existing.answers():
        yield existing
        return
    started, daemon = _start_dockerd(docker)
    try:
        yield started
    finally:
        for cid in started.run("ps", "-aq", "--filter", "label=msai-test", check=False).split():
            started.run("rm", "-f", cid, check=False)
        _stop_dockerd(daemon)


@pytest.fixture(scope="module")
def images(engine: Engine) -> dict[str, str]:
    """The base (built once, then cached by the engine) and every image (layer cache)."""
    if not engine.run("images", "-q", BASE):
        _find("debootstrap", "scripts/setup --docker (Debian debootstrap)")
        env = {**engine.env, "DEBOOTSTRAP_CACHE": str(STATE / "debs")}
        subprocess.run(
            [str(DOCKER_DIR / "build-base.sh"), "--tag", BASE], env=env, check=True, timeout=1200
        )
    subprocess.run(
        [str(DOCKER_DIR / "build-images.sh"), "--base", BASE, "--tag", TAG],
        env=engine.env,
        check=True,
        timeout=1800,
    )
    return IMAGES


def _need_models(*names: str) -> None:
    for name in names:
        if not (MODELS / name / "model.onnx").is_file():
            pytest.skip(f"no built model {MODELS / name}: run msai models build")


def _inspect(engine: Engine, ref: str) -> dict[str, Any]:
    import json

    data: list[dict[str, Any]] = json.loads(engine.run("inspect", ref))
    return data[0]


@pytest.mark.parametrize("service", list(IMAGES))
def test_image_is_non_root_healthchecked_and_torch_free(
    engine: Engine, images: dict[str, str], service: str
) -> None:
    config = _inspect(engine, images[service])["Config"]
    assert config["User"] == "10001:10001", "the chart runs as uid 10001 (runAsNonRoot)"
    assert "/v2/health/ready" in " ".join(config["Healthcheck"]["Test"])
    assert config["Entrypoint"] == ["python3", "-m", "modelserve"], "the chart passes serve args"
    probe = (
        "import importlib.util as u, onnxruntime, modelserve.cli; "
        "print([m for m in ('torch', 'transformers', 'pip') if u.find_spec(m)])"
    )
    found = engine.run(
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "python3",
        images[service],
        "-c",
        probe,
        timeout=60,
    )
    assert found == "[]", f"{service} image carries {found}: ONNX Runtime serving needs none"


def _wait_ready(url: str, container: str, engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = engine.run("inspect", "-f", "{{.State.Status}}", container, check=False)
        if state == "exited":
            break
        time.sleep(0.5)
    logs = engine.logs(container)[-3000:]
    raise AssertionError(f"{container} never became ready: {logs}")


def _start(
    engine: Engine,
    image: str,
    name: str,
    port: int,
    env: dict[str, str],
    mounts: dict[Path, str],
    args: list[str],
) -> str:
    cmd = [
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "msai-test=1",
        "--network",
        "host",
        # As the chart runs it: read-only root, no capabilities, no privilege escalation.
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/cache/modelserve:uid=10001",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--health-interval",
        "1s",
        "--health-start-period",
        "60s",
        "-e",
        f"MSAI_SERVE_PORT={port}",
    ]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    for src, dst in mounts.items():
        cmd += ["-v", f"{src}:{dst}:ro"]
    engine.run(*cmd, image, *args, "--host", "127.0.0.1", "--port", str(port))
    return name


def _sigterm_drains(engine: Engine, container: str, url: str) -> None:
    start = time.monotonic()
    engine.run("kill", "--signal", "SIGTERM", container)
    # Not ready at once (load balancers stop sending), still answering during the delay.
    ready = httpx.get(f"{url}/v2/health/ready", timeout=2)
    assert ready.status_code == 503, f"ready during drain: {ready.status_code}"
    code = engine.run("wait", container, timeout=60)
    took = time.monotonic() - start
    logs = engine.logs(container)
    assert code == "0", f"{container} exited {code} after SIGTERM: {logs[-2000:]}"
    assert "stopped" in logs, f"{container}: no 'stopped' line after drain"
    assert took < 30, f"drain took {took:.1f}s"


def _wait_healthy(engine: Engine, container: str) -> None:
    deadline = time.monotonic() + 20
    status = ""
    while time.monotonic() < deadline:
        status = engine.run("inspect", "-f", "{{.State.Health.Status}}", container)
        if status == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"{container}: Docker HEALTHCHECK says {status!r}")


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("service", ["ner", "vision"])
def test_model_server_container(engine: Engine, images: dict[str, str], service: str) -> None:
    _need_models(service)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    prefix = f"MSAI_{service.upper()}_"
    name = f"msai-test-{service}-{port}"
    env = {
        f"{prefix}MODEL_URI": f"/models/{service}",
        f"{prefix}DRAIN_DELAY_S": "1",
        f"{prefix}DRAIN_DEADLINE_S": "10",
        f"{prefix}THREADS": "1",
    }
    _start(
        engine,
        images[service],
        name,
        port,
        env,
        {MODELS / service: f"/models/{service}"},
        ["serve", service],
    )
    try:
        _wait_ready(url, name, engine, timeout=120)
        if service == "ner":
            resp = httpx.post(
                f"{url}/v1/ner", json={"text": "Angela Merkel visited Paris."}, timeout=30
            )
            assert resp.status_code == 200, resp.text
            assert isinstance(resp.json()["entities"], list)
        else:
            resp = httpx.post(
                f"{url}/v1/classify", json={"image_b64": _png(), "top_k": 3}, timeout=30
            )
            assert resp.status_code == 200, resp.text
            assert len(resp.json()["predictions"]) == 3
        _wait_healthy(engine, name)
        _sigterm_drains(engine, name, url)
    finally:
        engine.run("rm", "-f", name, check=False)


def test_orchestrator_container(engine: Engine, images: dict[str, str]) -> None:
    _need_models("sentiment", "topic")
    redis_server = _find("redis-server", "apt-get install redis-server")
    redis_port, port = free_port(), free_port()
    redis = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    name = f"msai-test-orchestrator-{port}"
    env = {
        "MSAI_ORCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MSAI_ORCH_MODELS_DIR": "/models",
        "MSAI_ORCH_DRAIN_DELAY_S": "1",
        "MSAI_ORCH_DRAIN_DEADLINE_S": "10",
    }
    mounts = {MODELS / m: f"/models/{m}" for m in ("sentiment", "topic")}
    try:
        _start(engine, images["orchestrator"], name, port, env, mounts, ["serve", "orchestrator"])
        _wait_ready(url, name, engine, timeout=60)
        resp = httpx.post(
            f"{url}/v1/pipelines/text-insights/run",
            json={"input": {"text": "The team won the final match."}},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert out["status"] == "succeeded", out
        assert out["result"]["sentiment"], out
        tesseract = engine.run(
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "tesseract",
            images["orchestrator"],
            "--version",
        )
        assert tesseract.startswith("tesseract 5"), tesseract
        _wait_healthy(engine, name)
        _sigterm_drains(engine, name, url)
    finally:
        engine.run("rm", "-f", name, check=False)
        redis.terminate()
        redis.wait(timeout=10)
