"""Output -> input mappings: references such as ``$steps.ocr.text`` inside JSON templates.

A template is any JSON value. A string that starts with ``$`` is a reference and is replaced
by the value it points at; every other value is copied. ``$$`` at the start escapes a literal
dollar. References start at one of two roots::

    $input.text                 the run's input
    $steps.classify.top[0].label  a previous step's output (list items by index)

A reference to something absent (a soft step that failed, a branch not taken, a missing key)
resolves to ``null``: what to do with it is the next step's business, and a hard step that
needs a value gets a 4xx from its service, which fails the run with that service's message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Ref", "RefError", "parse_ref", "references", "render", "resolve"]

_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_ROOTS = ("input", "steps")


class RefError(ValueError):
    """A reference string is malformed; the message says where."""


@dataclass(frozen=True)
class Ref:
    root: str  # "input" | "steps"
    path: tuple[str | int, ...]

    @property
    def step(self) -> str | None:
        """The step a ``$steps`` reference reads, or None for ``$input``."""
        if self.root == "steps" and self.path and isinstance(self.path[0], str):
            return self.path[0]
        return None

    def __str__(self) -> str:
        out = "$" + self.root
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else f".{p}"
        return out


def parse_ref(text: str) -> Ref:
    """``"$steps.ocr.text"`` -> ``Ref("steps", ("ocr", "text"))``; raises :class:`RefError`."""
    if not text.startswith("$"):
        raise RefError(f"{text!r} is not a reference (must start with $)")
    body = text[1:]
    root = next((r for r in _ROOTS if body == r or body.startswith((r + ".", r + "["))), None)
    if root is None:
        raise RefError(f"{text!r}: a reference starts with $input or $steps")
    rest = body[len(root) :]
    path: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _SEGMENT.match(rest, pos)
        if m is None:
            raise RefError(f"{text!r}: cannot read {rest[pos:]!r} (use .name or [index])")
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if root == "steps" and (not path or not isinstance(path[0], str)):
        raise RefError(f"{text!r}: $steps must name a step ($steps.NAME...)")
    return Ref(root, tuple(path))


def _is_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith("$") and not value.startswith("$$")


def references(template: Any, where: str = "") -> list[tuple[str, Ref]]:
    """Every reference in ``template`` with its location (``input.text``); raises RefError."""
    found: list[tuple[str, Ref]] = []
    if _is_ref(template):
        try:
            found.append((where, parse_ref(template)))
        except RefError as exc:
            raise RefError(f"{where or '<value>'}: {exc}") from None
    elif isinstance(template, dict):
        for k, v in template.items():
            found += references(v, f"{where}.{k}" if where else str(k))
    elif isinstance(template, list):
        for i, v in enumerate(template):
            found += references(v, f"{where}[{i}]")
    return found


def resolve(ref: Ref, context: dict[str, Any]) -> Any:
    """The value ``ref`` points at in ``{"input": ..., "steps": {...}}``, or None if absent."""
    value: Any = context.get(ref.root)
    for p in ref.path:
        if isinstance(p, int):
            value = value[p] if isinstance(value, list) and -len(value) <= p < len(value) else None
        else:
            value = value.get(p) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def render(template: Any, context: dict[str, Any]) -> Any:
    """Copy ``template`` with every reference replaced by its value in ``context``."""
    if isinstance(template, str):
        if _is_ref(template):
            return resolve(parse_ref(template), context)
        return template[1:] if template.startswith("$$") else template
    if isinstance(template, dict):
        return {k: render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, context) for v in template]
    return template
