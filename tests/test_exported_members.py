"""Each package's public API is what its ``__all__`` says, and every name in it exists."""

import importlib

import pytest

PACKAGES = [
    "modelserve",
    "modelserve.common",
    "modelserve.orchestrator",
    "harness",
    "loadtests",
    "chaos",
    "reports",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("name", PACKAGES)
def test_public_members_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, type(importlib))  # submodules are reached by their path
        and getattr(v, "__module__", name).startswith(name.split(".", maxsplit=1)[0])
        and n not in {"annotations"}
    }
    assert public <= set(module.__all__), f"not in {name}.__all__: {public - set(module.__all__)}"
