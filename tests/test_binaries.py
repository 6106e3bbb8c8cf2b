import os
import stat
from pathlib import Path

import pytest

from harness.binaries import find
from harness.errors import MissingBinary


def test_missing_binary_names_its_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("harness.binaries._candidates", lambda name: [str(tmp_path)])
    with pytest.raises(MissingBinary, match="prometheus-alertmanager"):
        find("alertmanager")


def test_alias_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = tmp_path / "prometheus-alertmanager"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr("harness.binaries._candidates", lambda name: [str(tmp_path)])
    assert find("alertmanager") == str(exe)
    monkeypatch.setenv("MSAI_BIN_ALERTMANAGER", os.fspath(exe))
    assert find("alertmanager") == str(exe)
