"""PostgreSQL backup and restore through ``kubectl exec``: the platform finds the ready pod on
kmock, and a stand-in kubectl (it records its arguments, then runs the in-container command
here) feeds a real PostgreSQL's ``pg_dump``/``pg_restore``, so the round trip is real."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from k8s_support import platform_for, seed

from harness.binaries import find
from harness.errors import ConfigError, PlatformError, Unsupported
from harness.platform.kubernetes.backup import backup_dir
from harness.scratch_stores import ScratchPostgres

SHIM = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
cmd = args[args.index("--") + 1:]
os.execvp(cmd[0], cmd)
"""


@pytest.fixture
def postgres() -> Any:
    with ScratchPostgres() as pg:
        yield pg


@pytest.fixture
def kubectl(tmp_path: Path, postgres: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    shim = tmp_path / "kubectl"
    shim.write_text(SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    log = tmp_path / "kubectl.log"
    pgbin = str(Path(find("pg_dump")).parent)
    for key, value in {
        "SHIM_LOG": str(log),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "PATH": f"{pgbin}{os.pathsep}{os.environ['PATH']}",
        "MSAI_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(key, value)
    return shim


@pytest.mark.asyncio
async def test_backup_and_restore_round_trip(kmock: Any, postgres: Any, kubectl: Path) -> None:
    seed(kmock)
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id int PRIMARY KEY, status text)")
        conn.execute("INSERT INTO runs VALUES (1, 'succeeded')")
    p = platform_for(kmock, kubectl=str(kubectl), context="kind-msai")
    backup_id = await asyncio.to_thread(p.backup, "postgresql")
    dump = backup_dir() / f"{backup_id}.dump"
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert not list(backup_dir().glob("*.tmp"))
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("UPDATE runs SET status = 'lost'")
        conn.execute("INSERT INTO runs VALUES (2, 'after the backup')")
    await asyncio.to_thread(p.restore, "postgresql", backup_id)
    with psycopg.connect(postgres.dsn) as conn:
        rows = conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
    assert rows == [(1, "succeeded")]
    calls = [json.loads(line) for line in Path(os.environ["SHIM_LOG"]).read_text().splitlines()]
    head = ["-n", "pipeline-orchestrator", "postgresql-0", "-c", "postgresql"]
    assert calls[0][:7] == ["exec", *head, "--context"]
    assert calls[1][:8] == ["exec", "-i", *head, "--context"]
    assert "pg_dump -Fc" in calls[0][-1]
    assert "pg_restore --clean" in calls[1][-1]


@pytest.mark.asyncio
async def test_failures_are_named_and_leave_no_partial_dump(
    kmock: Any, kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(kmock)
    p = platform_for(kmock, kubectl=str(kubectl))
    monkeypatch.setenv("PGPORT", "1")  # nothing listens there
    with pytest.raises(PlatformError, match="pg_dump in pipeline-orchestrator/postgresql-0"):
        await asyncio.to_thread(p.backup, "postgresql")
    assert not list(backup_dir().glob("*"))
    with pytest.raises(ConfigError, match="not a PostgreSQL backup id"):
        await asyncio.to_thread(p.restore, "postgresql", "../etc/passwd")
    with pytest.raises(ConfigError, match="no backup"):
        await asyncio.to_thread(p.restore, "postgresql", "postgresql-20260101T000000-abcdef12")
    kmock.objects["apps/v1/statefulsets", "pipeline-orchestrator", "postgresql"].delete()
    with pytest.raises(Unsupported, match="RDS"):
        await asyncio.to_thread(p.backup, "postgresql")
