"""Typed settings from environment variables: one frozen dataclass per component.

Each field is declared with :func:`env_field`, which records the variable's suffix and a
docstring (with units). :func:`load_settings` builds the object from ``os.environ`` with a
prefix (``MSAI_NER_MAX_BATCH_SIZE`` ...), converting by the field's type and failing at load
with a :class:`ConfigError` that names the variable, as kopf's configuration does::

    @dataclass(frozen=True)
    class BatchSettings:
        max_batch_size: int = env_field(16, "largest batch sent to the model (requests)")

    load_settings(BatchSettings, prefix="MSAI_NER_")
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from modelserve.common.errors import ConfigError

__all__ = ["describe_settings", "env_field", "load_settings"]

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_field(default: Any, doc: str, *, env: str | None = None) -> Any:
    """A settings field with a default and a docstring; ``env`` overrides the variable suffix."""
    if isinstance(default, (list, dict, set)):
        factory = type(default)(default)  # copy so instances never share a mutable default
        return dataclasses.field(
            default_factory=lambda: type(factory)(factory), metadata={"doc": doc, "env": env}
        )
    return dataclasses.field(default=default, metadata={"doc": doc, "env": env})


def _convert(raw: str, annotation: Any, var: str) -> Any:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if raw.strip().lower() in ("", "none", "null"):
            return None
        return _convert(raw, args[0], var)
    try:
        if annotation is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        if annotation is int:
            return int(raw)
        if annotation is float:
            return float(raw)
        if annotation is str:
            return raw
        if origin in (list, tuple):
            (item,) = get_args(annotation)[:1] or (str,)
            items = [_convert(p.strip(), item, var) for p in raw.split(",") if p.strip()]
            return items if origin is list else tuple(items)
        if origin is Mapping or origin is dict:
            pairs = [p.split("=", 1) for p in raw.split(",") if p.strip()]
            return {k.strip(): v.strip() for k, v in pairs}
    except ValueError as exc:
        raise ConfigError(f"{var}={raw!r}: {exc}", field=var) from exc
    raise ConfigError(f"{var}: unsupported settings type {annotation!r}", field=var)


def load_settings(
    cls: type[T], prefix: str, environ: Mapping[str, str] | None = None, **overrides: Any
) -> T:
    """Build ``cls`` from ``environ`` (default ``os.environ``); ``overrides`` win over both."""
    env = os.environ if environ is None else environ
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        var = prefix + (f.metadata.get("env") or f.name.upper())
        if var in env:
            values[f.name] = _convert(env[var], hints[f.name], var)
    try:
        obj = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{cls.__name__} ({prefix}*): {exc}") from exc
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def describe_settings(cls: type[Any], prefix: str) -> list[tuple[str, str, str]]:
    """``(variable, default, doc)`` rows, for ``--help`` texts and the README."""
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        else:
            default = f.default_factory()  # type: ignore[operator]
        var = prefix + (f.metadata.get("env") or f.name.upper())
        rows.append((var, repr(default), str(f.metadata.get("doc", ""))))
    return rows
