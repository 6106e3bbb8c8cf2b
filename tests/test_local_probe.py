"""harness.platform.local.probe: readiness waits fail early, naming what the process said."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import PlatformError
from harness.platform.local.probe import wait_for


def test_a_process_that_exits_while_starting_is_reported_with_its_last_words(
    tmp_path: Path,
) -> None:
    log = tmp_path / "s3.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)) + "OSError: [Errno 98] in use\n\n")
    with pytest.raises(PlatformError) as err:
        wait_for("moto s3 server", lambda: False, timeout_s=5, alive=lambda: False, log=str(log))
    message = str(err.value)
    assert message.startswith(f"moto s3 server exited while starting; see {log}")
    assert message.endswith("\n    OSError: [Errno 98] in use")  # blank lines dropped
    assert "line 29" in message  # the last 12 lines, no more
    assert "line 28" not in message


def test_a_missing_log_still_names_it(tmp_path: Path) -> None:
    log = tmp_path / "never-written.log"
    with pytest.raises(PlatformError, match=r"exited while starting; see .*never-written\.log$"):
        wait_for("envoy", lambda: False, timeout_s=5, alive=lambda: False, log=str(log))


def test_not_ready_in_time(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="not ready after 0 s"):
        wait_for("redis", lambda: False, timeout_s=0.05, alive=lambda: True, interval_s=0.01)
