"""The PromQL of the monitoring sources, and what each expression must return from a live
Prometheus during a game day.

:func:`expressions` lists every expression the rule files and dashboards of
``reference-stack/monitoring`` hold, keyed by where it is (``alert:Name``, ``record:name``,
``<dashboard uid>/<panel title>/<refId>``), with the queries that must return data:

- a recording rule or a panel: the expression itself (dashboard template variables filled as
  Grafana's "All" does: ``$service`` -> ``.*``, ``$__rate_interval`` -> ``1m``);
- an alert: its operands. ``error_ratio > 0.05`` is empty while all is well, which says
  nothing about whether ``error_ratio`` exists; so each side of a top-level comparison,
  ``and`` or ``unless`` is queried on its own, less number literals and vector-matching
  modifiers (``on (...)``, ``ignoring (...)``, ``group_left``, ``bool``); a side that one
  pair of brackets encloses is split in turn (``(a == 0 and b > 0) unless c`` -> ``a``,
  ``b``, ``c``).

Recording rules of a ``*platform-bridge`` group translate Kubernetes sources
(kube-state-metrics, the Redis and PostgreSQL exporters) into the names the local platform
exports itself; they have data on kind and EKS only (``kubernetes_only``), and promtool's unit
tests (``reference-stack/monitoring/tests``) check them on every platform.

"Returns data" means at least one series with a finite value: a histogram quantile over
buckets that saw nothing is NaN, and a panel of NaN is an empty panel.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.settings import project_root

__all__ = [
    "TEMPLATE_VALUES",
    "Expression",
    "expressions",
    "finite_series",
    "monitoring_dir",
    "operands",
    "rule_files",
]

#: Values for the dashboards' template variables outside Grafana ("All" services, 1m rates).
TEMPLATE_VALUES = {"$__rate_interval": "1m", "$service": ".*"}

_BRIDGE_SUFFIX = "platform-bridge"
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_SET_OPS = re.compile(r"(?<![\w:])(and|unless)(?![\w:])")
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_MODIFIERS = re.compile(
    r"^\s*(?:bool\s+)?(?:(?:on|ignoring)\s*\([^)]*\)\s*)?"
    r"(?:(?:group_left|group_right)\s*(?:\([^)]*\))?\s*)?"
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Expression:
    key: str
    expr: str
    queries: tuple[str, ...]
    kubernetes_only: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "expr": self.expr,
            "queries": list(self.queries),
            "kubernetes_only": self.kubernetes_only,
        }


def monitoring_dir() -> Path:
    return project_root() / "reference-stack" / "monitoring"


def rule_files(folder: Path | None = None) -> list[Path]:
    """Alert and recording rule files (``*.rules.yaml`` / ``*.rules.yml``), sorted: what the
    local platform's Prometheus loads, and so what :func:`expressions` checks."""
    folder = folder or monitoring_dir()
    if not folder.is_dir():
        return []
    found = {*folder.rglob("*.rules.yaml"), *folder.rglob("*.rules.yml")}
    return sorted(found)


def _top_level(expr: str) -> list[bool]:
    """For each character: True where it is outside brackets and string literals."""
    out: list[bool] = []
    stack: list[str] = []
    quote = ""
    escaped = False
    for ch in expr:
        if quote:
            out.append(False)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
            out.append(False)
        elif ch in _PAIRS:
            out.append(False)
            stack.append(_PAIRS[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            out.append(False)
        else:
            out.append(not stack)
    return out


def operands(expr: str) -> list[str]:
    """The sides of ``expr``'s top-level comparisons, ``and`` and ``unless`` (number literals
    and matching modifiers dropped); ``[expr]`` when it has none. ``or`` is not split: either
    side is enough for it to have data."""
    top = _top_level(expr)
    cuts: list[tuple[int, int]] = []
    i = 0
    while i < len(expr):
        if not top[i]:
            i += 1
            continue
        m = _SET_OPS.match(expr, i)
        if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
            cuts.append((i, m.end()))
            i = m.end()
            continue
        op = next((c for c in _COMPARISONS if expr.startswith(c, i)), None)
        # "=~" and "!~" only appear inside selectors (not top level); "=" alone is not PromQL
        if op and all(top[i : i + len(op)]):
            cuts.append((i, i + len(op)))
            i += len(op)
            continue
        i += 1
    if not cuts:
        return _unwrapped(expr.strip())
    parts, start = [], 0
    for a, b in cuts:
        parts.append(expr[start:a])
        start = b
    parts.append(expr[start:])
    out = []
    for part in parts:
        text = _MODIFIERS.sub("", part, count=1).strip()
        if text and not _NUMBER.match(text):
            out += _unwrapped(text)
    return out


def _closing(text: str) -> int:
    """Index of the bracket that closes ``text[0]`` (-1 if none), string literals skipped."""
    depth, quote, escaped = 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch in _PAIRS:
            depth += 1
        elif ch in _PAIRS.values():
            depth -= 1
            if depth == 0:
                return i
    return -1


def _unwrapped(text: str) -> list[str]:
    """``text``'s own operands where one pair of brackets holds all of it and splits inside
    (``(a == 0 and b > 0) unless c``: the bracket is as empty as ``a == 0`` while all is
    well); ``[text]`` otherwise, brackets kept (``(a - b)`` is one query)."""
    if not (text.startswith("(") and _closing(text) == len(text) - 1):
        return [text]
    inner = text[1:-1]
    parts = operands(inner)
    return [text] if parts == [inner.strip()] else parts


def _fill(expr: str) -> str:
    for var, value in TEMPLATE_VALUES.items():
        expr = expr.replace(var, value)
    return expr


def expressions(folder: Path | None = None) -> list[Expression]:
    """Every rule and panel expression of the monitoring sources in ``folder``."""
    folder = folder or monitoring_dir()
    out: list[Expression] = []
    seen: set[str] = set()
    paths = rule_files(folder)
    if not paths:
        raise ConfigError(f"no *.rules.yaml in {folder}")
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text())
            groups = doc["groups"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read rule groups: {exc}", source=str(path)) from exc
        for group in groups:
            bridge = str(group.get("name", "")).endswith(_BRIDGE_SUFFIX)
            for rule in group.get("rules", []):
                expr = str(rule["expr"]).strip()
                if "alert" in rule:
                    key, queries = f"alert:{rule['alert']}", tuple(operands(expr))
                else:
                    key, queries = f"record:{rule['record']}", (expr,)
                while key in seen:  # a recorded name may have several rules
                    key += "'"
                seen.add(key)
                out.append(Expression(key, expr, queries, kubernetes_only=bridge))
    for path in sorted((folder / "dashboards").glob("*.json")):
        try:
            dash = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read dashboard: {exc}", source=str(path)) from exc
        for panel in dash.get("panels", []):
            for target in panel.get("targets", []):
                if not target.get("expr"):
                    continue
                key = f"{dash.get('uid', path.stem)}/{panel.get('title')}/{target.get('refId')}"
                expr = _fill(str(target["expr"]))
                out.append(Expression(key, expr, (expr,)))
    return out


def finite_series(data: dict[str, Any]) -> int:
    """How many series of a Prometheus query answer (``data``) hold a finite value."""
    result = data.get("result", [])
    if data.get("resultType") == "scalar":
        return int(math.isfinite(float(result[1])))
    count = 0
    for series in result:
        value = series.get("value")
        values = [value] if value else series.get("values", [])
        if any(math.isfinite(float(v[1])) for v in values):
            count += 1
    return count
