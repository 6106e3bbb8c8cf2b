"""Request bodies as JSON, and the text checks JSON alone does not make.

:func:`decode_json` turns a body into Python values or raises :class:`BadInput`: never a
``ValueError`` or ``RecursionError`` that would surface as a 500. The common case is one
``json.loads``; what it refuses is examined again only on the error path:

- an integer longer than Python's conversion limit (``sys.get_int_max_str_digits()``,
  4,300 digits) raises a bare ``ValueError`` from inside the decoder, which says neither
  where nor which field. The body is decoded a second time with a ``parse_int`` that stands
  in a marker for such an integer, and the error names the marker's JSON path;
- nesting deeper than the interpreter's recursion limit raises ``RecursionError``.

:func:`check_text` refuses a string holding a lone UTF-16 surrogate (``"\\ud800"``). JSON's
``\\u`` escapes can write one and ``json.loads`` keeps it; tokenizers and UTF-8 encoders
then fail on it, inside a forward pass shared with other requests. The check costs one flag
test for ASCII text; other text is scanned once.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from modelserve.common.errors import BadInput

__all__ = ["brief", "check_text", "decode_json", "json_path"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def brief(value: object, limit: int = 40) -> str:
    """``value`` for an error message: a short string's repr, else its JSON kind.

    A ``repr`` of a client's value could be megabytes long, or nested past the recursion
    limit."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if _small_int(value):
        return str(value)
    if isinstance(value, list) and len(value) <= 8 and all(_small_int(v) for v in value):
        return repr(value)  # a shape
    return {dict: "an object", list: "a list", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _small_int(value: object) -> bool:
    return type(value) is int and -(10**12) < value < 10**12


def check_text(text: str, field: str) -> str:
    """``text``, after refusing (400, naming ``field``) a lone surrogate in it."""
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found is not None:
            code = ord(found.group())
            raise BadInput(
                f"text holds a lone UTF-16 surrogate \\u{code:04x} at character "
                f"{found.start()}; it is not a Unicode character",
                field=field,
            )
    return text


def decode_json(raw: bytes) -> Any:
    """The body's JSON value; :class:`BadInput` (field ``body`` or the value's path) else."""
    if not raw.strip():
        raise BadInput("body is empty; expected a JSON object", field="body")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed JSON: {exc}", field="body") from None
    except RecursionError:
        raise BadInput("JSON is nested too deeply", field="body") from None
    except ValueError:  # an integer past the conversion limit; JSONDecodeError is caught above
        raise _long_integer(raw) from None


class _LongInt:
    """Stands in for an integer too long to convert, so its place can be found."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _long_integer(raw: bytes) -> BadInput:
    limit = sys.get_int_max_str_digits()

    def parse_int(text: str) -> int | _LongInt:
        digits = len(text.lstrip("-"))
        return _LongInt(digits) if limit and digits > limit else int(text)

    try:
        value = json.loads(raw, parse_int=parse_int)
    except (ValueError, RecursionError):
        return BadInput("malformed JSON: a number cannot be read", field="body")
    path, marker = _find_long(value)
    digits = marker.digits if marker is not None else limit
    return BadInput(
        f"integer of {digits} digits; at most {limit} digits are read", field=path or "body"
    )


def _find_long(value: Any) -> tuple[str, _LongInt | None]:
    """The JSON path of the first :class:`_LongInt` in ``value`` (iterative: any depth)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _LongInt):
            return json_path(where), node
        if isinstance(node, dict):
            stack.extend((v, (*where, k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(node))))
    return "", None


def json_path(parts: tuple[str | int, ...]) -> str:
    """``("inputs", 0, "shape")`` -> ``inputs[0].shape``, the form errors name fields in."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
