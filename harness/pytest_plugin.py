"""The harness pytest plugin (registered by the root ``conftest.py``).

Options:
  --platform local|kind|eks   where scenarios run (default local, the embedded platform)
  --with-gpu                  run tests marked ``gpu`` (need a CUDA device)
  --with-soak                 run tests marked ``soak`` (long)

Tests marked ``kind`` / ``eks`` run only with the matching ``--platform``; ``gpu`` and
``soak`` only when asked. Each is skipped with the reason, never silently dropped.
"""

from __future__ import annotations

import pytest

__all__ = ["PLATFORMS"]

PLATFORMS = ("local", "kind", "eks")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msai", "ModelServeAI proving ground")
    group.addoption(
        "--platform",
        choices=PLATFORMS,
        default="local",
        help="platform the scenarios run on (default: local)",
    )
    group.addoption("--with-gpu", action="store_true", help="run tests marked gpu")
    group.addoption("--with-soak", action="store_true", help="run tests marked soak")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    platform = config.getoption("--platform")
    reasons = {
        "kind": None if platform == "kind" else "needs a kind cluster: run with --platform kind",
        "eks": None if platform == "eks" else "needs an EKS cluster: run with --platform eks",
        "gpu": None if config.getoption("--with-gpu") else "needs a CUDA GPU: run with --with-gpu",
        "soak": None if config.getoption("--with-soak") else "long soak: run with --with-soak",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(scope="session")
def msai_platform_name(request: pytest.FixtureRequest) -> str:
    """The ``--platform`` chosen for this run."""
    return str(request.config.getoption("--platform"))
