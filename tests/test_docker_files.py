"""The Dockerfiles and what they install, checked without Docker (the build itself is
tests/test_docker_images.py, opt-in): multi-stage, BASE_IMAGE argument, non-root, health
check, pinned packages, and serving code that needs neither torch nor transformers."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "reference-stack" / "docker"
PACKAGE = ROOT / "reference-stack" / "modelserve"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
# Import name -> distribution, where they differ.
DIST = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "prometheus_client": "prometheus-client",
    "botocore": "boto3",  # boto3 depends on it
}
# Only on optional paths (runtime=torch, or exporting a checkpoint with no model.onnx).
OPTIONAL = {"torch", "transformers"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(*files: str) -> set[str]:
    names = set()
    for file in files:
        for raw in (DOCKER / file).read_text().splitlines():
            line = raw.split("#")[0].strip()
            if line:
                names.add(_norm(re.split(r"[\[=<>!~ ]", line)[0]))
    return names


def test_dockerfiles_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"model-server.Dockerfile", "orchestrator.Dockerfile"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_dockerfile_shape(path: Path) -> None:
    ins = _instructions(path)
    assert ins[0] == ("ARG", "BASE_IMAGE=modelserve-base:bookworm"), "BASE_IMAGE build argument"
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) >= 2, "multi-stage: build stage + runtime stage"
    assert all(f.startswith("${BASE_IMAGE}") for f in froms), froms
    runtime = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users == ["10001:10001"], "the runtime stage runs as the chart's uid 10001"
    assert any(w == "COPY" and "--from=build" in r for w, r in runtime), "copies the build stage"
    health = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert len(health) == 1, "one HEALTHCHECK"
    assert "/v2/health/ready" in health[0]
    entry = [rest for word, rest in runtime if word == "ENTRYPOINT"]
    assert entry == ['["python3", "-m", "modelserve"]'], "exec form: python is PID 1 (SIGTERM)"
    for word, rest in ins:
        if word == "RUN" and "pip install" in rest:
            assert "-c /build/constraints.txt" in rest, f"pip without the pins: {rest}"
        if word == "RUN" and "apt-get install" in rest:
            args = re.split(r"&&|>|;", rest.split("apt-get install", 1)[1])[0].split()
            pkgs = [a.strip('"') for a in args if not a.startswith("-")]
            assert pkgs, rest
            for pkg in pkgs:
                assert "=" in pkg, f"{path.name}: apt package {pkg} not pinned"
        assert ":latest" not in rest


def test_served_imports_are_installed_and_pinned() -> None:
    """Every third-party import of the served code is in the image's requirements (and pinned
    by constraints.txt); torch and transformers only on optional paths."""
    wanted = _requirements("requirements-serve.txt", "requirements-orchestrator.txt")
    pinned = {
        _norm(line.split("==")[0]) for line in CONSTRAINTS.read_text().splitlines() if "==" in line
    }
    assert wanted <= pinned, f"not pinned in constraints.txt: {sorted(wanted - pinned)}"
    stdlib = set(sys.stdlib_module_names)
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "models" or path.name.endswith("_build.py") or "testing" in path.name:
            continue  # model building and in-process fakes never run in an image
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "modelserve" or top in OPTIONAL:
                    continue
                dist = _norm(DIST.get(top, top))
                assert dist in wanted, f"{rel} imports {top}: add it to reference-stack/docker"


def test_torch_is_never_imported_at_module_level() -> None:
    """Serving images have no torch: importing the servers must not need it."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module.split(".")[0]]
            rel = path.relative_to(PACKAGE)
            assert not set(mods) & OPTIONAL or rel.parts[0] == "models", (
                f"{rel}: module-level import of {mods} (serving images have no torch)"
            )


@pytest.mark.parametrize("script", ["build-base.sh", "build-images.sh"])
def test_build_scripts(script: str) -> None:
    path = DOCKER / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    usage = subprocess.run([str(path), "--bogus"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2, "unknown options are refused"
    assert "--bogus" in usage.stderr


def test_gpu_images_swap_in_onnx_runtimes_cuda_build(tmp_path: Path) -> None:
    """``--gpu`` adds a ``-gpu`` twin of each model-server image, built with ``ORT_GPU``; the
    Dockerfile swaps the CPU wheel for it only when that argument is set."""
    log = tmp_path / "docker.log"
    fake = tmp_path / "docker"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    run = subprocess.run(
        [str(DOCKER / "build-images.sh"), "--gpu", "modelserve-ner", "modelserve-orchestrator"],
        env={**os.environ, "DOCKER": str(fake), "ORT_GPU": "onnxruntime-gpu==9.9"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    builds = [line.split() for line in log.read_text().splitlines() if line.startswith("build")]
    tags = [b[b.index("-t") + 1] for b in builds]
    assert tags == [
        "modelserve-ner:0.1.0",
        "modelserve-orchestrator:0.1.0",
        "modelserve-ner-gpu:0.1.0",
    ]
    gpu_args = " ".join(builds[2])
    assert "SERVER=ner" in gpu_args
    assert "ORT_GPU=onnxruntime-gpu==9.9" in gpu_args
    assert "ORT_GPU" not in " ".join(builds[0])  # the CPU image keeps the CPU wheel
    dockerfile = (DOCKER / "model-server.Dockerfile").read_text()
    assert 'if [ -n "$ORT_GPU" ]; then' in dockerfile
    # The CUDA build replaces the CPU wheel's requirement line: one install, not two.
    assert "grep -vx onnxruntime /build/requirements-serve.txt" in dockerfile
    assert "pip uninstall -y -q onnxruntime" not in dockerfile
    serve_reqs = (DOCKER / "requirements-serve.txt").read_text().splitlines()
    assert "onnxruntime" in serve_reqs  # the exact line the grep removes
