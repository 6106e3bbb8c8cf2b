from dataclasses import dataclass

import pytest
from modelserve.common import ConfigError, env_field, load_settings
from modelserve.common.settings import describe_settings


@dataclass(frozen=True)
class Example:
    max_batch_size: int = env_field(16, "largest batch (requests)")
    delay_s: float = env_field(0.005, "max queue delay (seconds)")
    enabled: bool = env_field(False, "feature switch")
    labels: list[str] = env_field(["a"], "labels")
    token: str | None = env_field(None, "admin token")


def test_defaults_when_environment_is_empty() -> None:
    s = load_settings(Example, "X_", environ={})
    assert (s.max_batch_size, s.delay_s, s.enabled, s.labels, s.token) == (
        16,
        0.005,
        False,
        ["a"],
        None,
    )


def test_values_are_converted_by_type() -> None:
    env = {
        "X_MAX_BATCH_SIZE": "8",
        "X_DELAY_S": "0.5",
        "X_ENABLED": "yes",
        "X_LABELS": "p, q",
        "X_TOKEN": "t",
    }
    s = load_settings(Example, "X_", environ=env)
    assert (s.max_batch_size, s.delay_s, s.enabled, s.labels, s.token) == (
        8,
        0.5,
        True,
        ["p", "q"],
        "t",
    )


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="X_MAX_BATCH_SIZE='many'"):
        load_settings(Example, "X_", environ={"X_MAX_BATCH_SIZE": "many"})
    with pytest.raises(ConfigError, match="X_ENABLED"):
        load_settings(Example, "X_", environ={"X_ENABLED": "perhaps"})


def test_overrides_win_and_defaults_are_not_shared() -> None:
    a = load_settings(Example, "X_", environ={"X_MAX_BATCH_SIZE": "8"}, max_batch_size=2)
    b = load_settings(Example, "X_", environ={})
    assert a.max_batch_size == 2
    assert a.labels is not b.labels


def test_describe_lists_every_variable() -> None:
    rows = describe_settings(Example, "X_")
    assert [r[0] for r in rows] == [
        "X_MAX_BATCH_SIZE",
        "X_DELAY_S",
        "X_ENABLED",
        "X_LABELS",
        "X_TOKEN",
    ]
    assert all(r[2] for r in rows)
