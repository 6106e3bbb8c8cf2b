"""Game days: ``scenarios/*.yaml`` are collected by the harness pytest plugin (one item each,
run through ``msai.gameday`` with the ``ci`` profile); Python game days beside them use the
plugin's ``platform``, ``run_scenario`` and ``record`` fixtures.

Every game day in this folder must leave nothing injected: after the session, no fault this
process wrote to the ledger may still be open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos import Ledger


@pytest.fixture(autouse=True, scope="session")
def _nothing_stays_injected() -> Iterator[None]:
    yield
    mine = [e for e in Ledger().entries() if e.pid == os.getpid()]
    assert not mine, f"faults left open by this session: {[e.id for e in mine]}"
