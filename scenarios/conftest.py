"""Game days: ``scenarios/*.yaml`` are collected by the harness pytest plugin (one item each,
run through ``msai.gameday`` with the ``ci`` profile); Python game days beside them use the
plugin's ``platform``, ``run_scenario`` and ``record`` fixtures.

Every game day in this folder must leave nothing injected: after the session, no fault this
process wrote to the ledger may still be open.

Each scenario's null and broken runs (``test_null_runs.py``) run right after the scenario's own
game day, so they reuse the stack it left up instead of bringing it up again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos import Ledger


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    follows: dict[str, list[pytest.Item]] = {}
    rest: list[pytest.Item] = []
    for item in items:
        case = getattr(item, "callspec", None)
        scenario = getattr(case.params.get("case"), "scenario", None) if case else None
        if item.path.name == "test_null_runs.py" and scenario is not None:
            follows.setdefault(str(scenario), []).append(item)
        else:
            rest.append(item)
    ordered: list[pytest.Item] = []
    for item in rest:
        ordered.append(item)
        if item.path.parent.name == "scenarios" and item.path.suffix == ".yaml":
            ordered += follows.pop(item.name, [])
    items[:] = ordered + [i for group in follows.values() for i in group]


@pytest.fixture(autouse=True, scope="session")
def _nothing_stays_injected() -> Iterator[None]:
    yield
    mine = [e for e in Ledger().entries() if e.pid == os.getpid()]
    assert not mine, f"faults left open by this session: {[e.id for e in mine]}"
