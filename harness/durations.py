"""Durations as scenario files write them: ``90``, ``90s``, ``250ms``, ``2m``, ``1h``, ``1m30s``."""

from __future__ import annotations

import re

from harness.errors import ConfigError

__all__ = ["parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, *, source: str | None = None, field: str | None = None) -> float:
    """Seconds from a number (seconds) or a string of number+unit parts; never negative.

    Raises :class:`ConfigError` naming ``source`` and ``field`` when the value is not one."""
    if isinstance(value, bool):
        raise ConfigError(f"expected a duration, got {value!r}", source=source, field=field)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ConfigError(
                    f"expected a duration like 90s, 250ms, 2m or 1h, got {value!r}",
                    source=source,
                    field=field,
                ) from None
            seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    else:
        raise ConfigError(f"expected a duration, got {value!r}", source=source, field=field)
    if not seconds >= 0:  # also refuses NaN
        raise ConfigError(f"duration must be >= 0, got {value!r}", source=source, field=field)
    return seconds
