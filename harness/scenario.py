"""The scenario file: one game day as data (YAML, validated by a JSON schema).

Shape (DESIGN.md "A scenario file, sketched")::

    name: spot-interruption                 # required, [a-z0-9-]
    description: ...                        # optional, one paragraph
    platform: [local, kind, eks]            # where it may run (default: all)
    stack: {profile: default, overrides: {ner.replicas: 3}}
    requires: [spot_notices]                # platform features it needs; missing -> skipped
    steady_state:                           # probes checked before, during and after
      - {probe: http, route: ner, expect: {status: 200}}
    load: {shape: open-loop, rate: 40, duration: 60s, mix: {ner: 0.7, vision: 0.3}}
    faults:
      - {at: 30s, kind: spot_interruption, target: {node_label: spot}, notice: 60s}
    expect:
      - {gate: error_ratio, max: 0.01}
    observe: {interval: 1s, prometheus: [{name: pending, query: sum(...)}], monitoring: true}
    report: {html: true, baseline: reports/baselines/x.json}
    profiles:                               # overlays merged over the document by name
      ci: {load: {duration: 20s}}

Errors are :class:`~harness.errors.ConfigError` naming the file, the field (``faults[0].at``)
and the line, taken from the YAML node marks. Durations are a number of seconds or a string
with a unit (``500ms``, ``30s``, ``2m``, ``1h``).

Fault parameters are declared here (the file format is a contract); what a fault does with
them is ``chaos.faults``'s business, and a test checks that both name the same kinds. Gate
entries are validated by ``harness.gates`` (one place); this schema only requires ``gate``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness.durations import parse_duration as _parse_duration
from harness.errors import ConfigError
from harness.load_spec import check_load, load_schema
from harness.platform.base import PLATFORM_NAMES

__all__ = [
    "FAULT_KINDS",
    "PROBE_KINDS",
    "SCHEMA",
    "FaultEntry",
    "Scenario",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
]

_DURATION = r"^\s*([0-9]+(\.[0-9]+)?(ms|s|m|h)?)+\s*$"


def parse_duration(value: Any, *, what: str = "duration") -> float:
    """Seconds from ``12``, ``1.5``, ``"500ms"``, ``"30s"``, ``"2m"``, ``"1m30s"``; ValueError
    otherwise (callers turn it into a ConfigError that names the file and line)."""
    try:
        return _parse_duration(value, field=what)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


_duration_schema: dict[str, Any] = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": _DURATION},
    ],
    "description": "seconds, or a string with a unit: 500ms, 30s, 2m",
}
_percent = {"type": "number", "exclusiveMinimum": 0, "maximum": 100}
_name = {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9_.\-]+$"}

_target: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "service": _name,
        "node": _name,
        "node_label": {"type": "string", "minLength": 1},
        "holding": _name,
        "route": _name,
        "dependency": {"enum": ["redis", "postgresql"]},
        "between": {"type": "array", "items": _name, "minItems": 2, "maxItems": 2},
        "store": {"enum": ["postgresql", "redis", "s3"]},
    },
}

# kind -> (required target keys (any of), extra properties, required extra properties)
_FAULTS: dict[str, tuple[list[str], dict[str, Any], list[str]]] = {
    "kill": (
        ["service"],
        {"count": {"type": "integer", "minimum": 1}, "graceful": {"type": "boolean"}},
        [],
    ),
    "restart": (["service"], {"count": {"type": "integer", "minimum": 1}}, []),
    "drain": (["node", "node_label"], {}, []),
    "spot_interruption": (["node", "node_label"], {"notice": _duration_schema}, []),
    "mesh_delay": (["route"], {"delay": _duration_schema, "percent": _percent}, ["delay"]),
    "mesh_abort": (
        ["route"],
        {"status": {"type": "integer", "minimum": 400, "maximum": 599}, "percent": _percent},
        [],
    ),
    "dependency_outage": (["dependency"], {"mode": {"enum": ["stop", "freeze", "cutoff"]}}, []),
    "partition": (["between"], {}, []),
    "backup_drill": (
        ["store"],
        {
            "items": {"type": "integer", "minimum": 2},
            "write_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
            "backup_every": _duration_schema,
            "window": _duration_schema,
            "seed": {"type": "integer"},
        },
        [],
    ),
    "canary_fault": (
        ["service"],
        {
            "error_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "rollback_within": _duration_schema,
        },
        [],
    ),
}
FAULT_KINDS: tuple[str, ...] = tuple(_FAULTS)


def _fault_schema(kind: str) -> dict[str, Any]:
    targets, extra, required = _FAULTS[kind]
    return {
        "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
        "then": {
            "properties": {
                "target": {"anyOf": [{"required": [t]} for t in targets]},
                **extra,
            },
            "required": required,
            "propertyNames": {
                "enum": ["at", "kind", "target", "duration", "allow_all", "name", *extra]
            },
        },
    }


_probe: dict[str, Any] = {
    "type": "object",
    "required": ["probe"],
    "properties": {
        "probe": {"enum": ["http", "replicas", "prometheus"]},
        "name": {"type": "string"},
        "route": _name,
        "service": _name,
        "path": {"type": "string", "pattern": "^/"},
        "method": {"enum": ["GET", "POST"]},
        "json": {},
        "expect": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"status": {"type": "integer", "minimum": 100, "maximum": 599}},
        },
        "at_least": {"type": "integer", "minimum": 0},
        "query": {"type": "string", "minLength": 1},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "timeout": _duration_schema,
        "during": {"type": "boolean"},
    },
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"probe": {"const": "http"}}},
            "then": {"required": ["route"]},
        },
        {
            "if": {"properties": {"probe": {"const": "replicas"}}},
            "then": {"required": ["service", "at_least"]},
        },
        {
            "if": {"properties": {"probe": {"const": "prometheus"}}},
            "then": {"required": ["query"]},
        },
    ],
}
PROBE_KINDS = ("http", "replicas", "prometheus")

_document_properties: dict[str, Any] = {
    "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9\-]*$"},
    "description": {"type": "string"},
    "platform": {
        "type": "array",
        "items": {"enum": list(PLATFORM_NAMES)},
        "minItems": 1,
        "uniqueItems": True,
    },
    "stack": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "profile": {"type": "string", "minLength": 1},
            "overrides": {"type": "object"},
            "values_file": {"type": "string"},
        },
    },
    "requires": {"type": "array", "items": {"type": "string", "minLength": 1}},
    "steady_state": {"type": "array", "items": _probe},
    "load": load_schema(_duration_schema),
    "faults": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["at", "kind", "target"],
            "properties": {
                "at": _duration_schema,
                "kind": {"enum": list(FAULT_KINDS)},
                "name": {"type": "string"},
                "target": _target,
                "duration": _duration_schema,
                "allow_all": {"type": "boolean"},
            },
            "allOf": [_fault_schema(k) for k in FAULT_KINDS],
        },
    },
    "expect": {
        "type": "array",
        "minItems": 1,
        "items": {"type": "object", "required": ["gate"], "properties": {"gate": _name}},
    },
    "observe": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "interval": _duration_schema,
            "services": {"type": "array", "items": _name},
            "alerts": {"type": "boolean"},
            "monitoring": {"type": "boolean"},
            "prometheus": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "query"],
                    "additionalProperties": False,
                    "properties": {
                        "name": _name,
                        "query": {"type": "string", "minLength": 1},
                        "unit": {"type": "string"},
                        "delta": {
                            "type": "boolean",
                            "description": "record the change since the run's first value",
                        },
                    },
                },
            },
        },
    },
    "report": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "html": {"type": "boolean"},
            "markdown": {"type": "boolean"},
            "baseline": {"type": "string"},
        },
    },
    "inconclusive": {
        "enum": ["fail", "pass", "skip"],
        "description": "how the pytest plugin reports an inconclusive verdict (default fail)",
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "msai scenario",
    "type": "object",
    "required": ["name", "expect"],
    "additionalProperties": False,
    "properties": {
        **_document_properties,
        "profiles": {
            "type": "object",
            "additionalProperties": {"type": "object"},
        },
    },
}


@dataclass(frozen=True)
class FaultEntry:
    """One fault of the timeline. ``params`` are the kind's own keys (``notice``, ``delay``...)."""

    index: int
    at_s: float
    kind: str
    target: dict[str, Any]
    params: dict[str, Any]
    duration_s: float | None = None
    allow_all: bool = False
    name: str | None = None
    line: int | None = None

    @property
    def label(self) -> str:
        return self.name or f"faults[{self.index}] {self.kind}"


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (profile already applied). ``data`` is the merged document."""

    name: str
    path: Path | None
    data: dict[str, Any]
    profile: str | None = None
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, repr=False)
    origin: str | None = None  # what errors name when there is no path ("<string>")

    @property
    def platforms(self) -> list[str]:
        return list(self.data.get("platform", PLATFORM_NAMES))

    @property
    def stack(self) -> dict[str, Any]:
        return dict(self.data.get("stack", {}))

    @property
    def requires(self) -> list[str]:
        return list(self.data.get("requires", []))

    @property
    def steady_state(self) -> list[dict[str, Any]]:
        return list(self.data.get("steady_state", []))

    @property
    def load(self) -> dict[str, Any]:
        return dict(self.data.get("load", {"shape": "none"}))

    @property
    def load_duration_s(self) -> float:
        load = self.load
        if load.get("shape", "none") == "none":
            return 0.0
        if "duration" in load:
            return parse_duration(load["duration"])
        return sum(parse_duration(step.get("for", 0)) for step in load.get("steps", []))

    @property
    def expect(self) -> list[dict[str, Any]]:
        return list(self.data.get("expect", []))

    @property
    def observe(self) -> dict[str, Any]:
        return dict(self.data.get("observe", {}))

    @property
    def report(self) -> dict[str, Any]:
        return dict(self.data.get("report", {}))

    @property
    def inconclusive(self) -> str:
        return str(self.data.get("inconclusive", "fail"))

    @property
    def source(self) -> str:
        return str(self.path) if self.path else (self.origin or f"<scenario {self.name}>")

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path`` (or of its nearest parent) in the file, 1-based."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)

    def error(self, message: str, path: tuple[str | int, ...]) -> ConfigError:
        """A ConfigError pointing at ``path`` in this scenario's file."""
        return ConfigError(
            message, source=self.source, field=_dotted(path), line=self.line_of(path)
        )

    @property
    def faults(self) -> list[FaultEntry]:
        out = []
        for i, raw in enumerate(self.data.get("faults", [])):
            known = {"at", "kind", "target", "duration", "allow_all", "name"}
            params = {k: v for k, v in raw.items() if k not in known}
            out.append(
                FaultEntry(
                    index=i,
                    at_s=parse_duration(raw["at"]),
                    kind=raw["kind"],
                    target=dict(raw["target"]),
                    params=params,
                    duration_s=parse_duration(raw["duration"]) if "duration" in raw else None,
                    allow_all=bool(raw.get("allow_all", False)),
                    name=raw.get("name"),
                    line=self.line_of(("faults", i)),
                )
            )
        return out


def _dotted(path: tuple[str | int, ...] | list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _marks(node: yaml.Node, path: tuple[str | int, ...], out: dict[Any, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[(*path, k)] = key.start_mark.line + 1
            _marks(value, (*path, k), out)
            out[(*path, k)] = key.start_mark.line + 1  # the key's line reads best in errors
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _marks(item, (*path, i), out)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _schema(err: jsonschema.ValidationError) -> dict[str, Any]:
    return err.schema if isinstance(err.schema, dict) else {}


def _explain(err: jsonschema.ValidationError) -> str:
    """A sentence for one schema error, in the file's terms."""
    if err.validator == "pattern" and _schema(err).get("pattern") == _DURATION:
        return f"{err.instance!r} is not a duration (seconds, or like 500ms, 30s, 2m)"
    if err.validator == "minItems" and list(err.absolute_path) == ["expect"]:
        return "a scenario needs at least one gate: one that expects nothing cannot fail"
    if err.validator == "enum":
        options = _schema(err).get("enum", [])
        if "propertyNames" in err.schema_path:
            return f"unknown key {err.instance!r} (allowed here: {', '.join(options)})"
        return f"{err.instance!r} is not one of: {', '.join(map(str, options))}"
    if err.validator == "additionalProperties":
        instance: Any = err.instance
        extra = sorted(set(instance) - set(_schema(err).get("properties", {})))
        allowed = ", ".join(_schema(err).get("properties", {}))
        return f"unknown key(s) {extra} (allowed here: {allowed})"
    if _is_target_choice(err):
        keys = [next(iter(s["required"])) for s in _schema(err)["anyOf"]]
        got: Any = err.instance
        return f"target needs one of: {', '.join(keys)} (got {sorted(got)})"
    return err.message


def _is_target_choice(err: jsonschema.ValidationError) -> bool:
    return err.validator == "anyOf" and list(err.absolute_path)[-1:] == ["target"]


def _where(err: jsonschema.ValidationError) -> tuple[str | int, ...]:
    """The error's path; for an unknown key, the key itself (so the line is the key's)."""
    path = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        extra = sorted(set(err.instance) - set(_schema(err).get("properties", {})))
        if extra:
            return (*path, extra[0])
    if "propertyNames" in err.schema_path and isinstance(err.instance, str):
        return (*path, err.instance)
    return path


def _line(lines: dict[Any, int], path: tuple[str | int, ...]) -> int | None:
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None


def _check(doc: Any, source: str, lines: dict[Any, int]) -> None:
    errors = list(_VALIDATOR.iter_errors(doc))
    if not errors:
        return
    leaves = []
    for err in errors:  # descend into if/then, allOf, propertyNames to the specific cause
        best = jsonschema.exceptions.best_match([err]) or err
        while best.context and not _is_target_choice(best):
            best = jsonschema.exceptions.best_match(best.context) or best
            if not best.context:
                break
        leaves.append(best)
    # an unknown key explains a missing one ("expec:" for "expect:"): show those first
    leaves.sort(
        key=lambda e: (
            e.validator != "additionalProperties",
            _line(lines, tuple(e.absolute_path)) or 0,
        )
    )
    first = leaves[0]
    path: tuple[str | int, ...] = _where(first)
    msg = _explain(first)
    for other in leaves[1:3]:
        opath = _where(other)
        line = _line(lines, opath)
        msg += f"; also {_dotted(opath)}" + (f" (line {line})" if line else "")
        msg += f": {_explain(other)}"
    if len(leaves) > 3:
        msg += f"; and {len(leaves) - 3} more"
    raise ConfigError(msg, source=source, field=_dotted(path), line=_line(lines, path))


def parse_scenario(
    text: str, *, source: str = "<string>", profile: str | None = None, path: Path | None = None
) -> Scenario:
    """Validate a scenario document and apply ``profile`` (an entry of ``profiles``).

    ``profile`` may name a profile the file does not define only when it is ``"ci"`` (the
    document is then used as written: files are short by default)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc}", source=source, line=line) from exc
    if node is None or not isinstance(doc, dict):
        raise ConfigError("a scenario is a YAML mapping (name:, expect:, ...)", source=source)
    lines: dict[tuple[str | int, ...], int] = {}
    _marks(node, (), lines)
    _check(doc, source, lines)
    merged = doc
    profiles = doc.get("profiles", {})
    if profile:
        if profile in profiles:
            merged = _merge({k: v for k, v in doc.items() if k != "profiles"}, profiles[profile])
            # errors inside the overlay point at the overlay's lines first
            over_lines = {
                k[2:]: v for k, v in lines.items() if k[:2] == ("profiles", profile) and len(k) > 2
            }
            _check(merged, source, {**lines, **over_lines})
        elif profile != "ci":
            raise ConfigError(
                f"no profile {profile!r} (defined: {sorted(profiles) or 'none'})",
                source=source,
                field="profiles",
                line=lines.get(("profiles",)),
            )
    scenario = Scenario(
        name=str(merged["name"]),
        path=path,
        data={k: v for k, v in merged.items() if k != "profiles"},
        profile=profile if profile in profiles else None,
        lines=lines,
        origin=source,
    )
    _semantic_checks(scenario)
    return scenario


def _gate_path(field_name: str | None) -> tuple[str | int, ...]:
    """``expect[2].window.from`` -> ("expect", 2, "window", "from")."""
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+", field_name or ""):
        out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def _check_gates(s: Scenario) -> None:
    """Each gate is built once here (harness.gates, the one place), so a bad gate fails at
    load time with its line, not after a ten-minute run."""
    from harness.gates import gates_from_specs

    try:
        gates_from_specs(s.expect, source=s.source)
    except ConfigError as exc:
        path = _gate_path(exc.field) or ("expect",)
        message = str(exc)
        prefix = f"{exc.source} [{exc.field}]: " if exc.source else f"[{exc.field}]: "
        message = message.removeprefix(prefix)
        raise s.error(message, path) from None


def _semantic_checks(s: Scenario) -> None:
    """What a schema cannot say: durations in range, mix weights, windows inside the load."""
    _check_gates(s)
    check_load(s.load, s.error)
    for f in s.faults:
        if f.duration_s is not None and f.duration_s <= 0:
            raise s.error("duration must be more than 0", ("faults", f.index, "duration"))
        for key in ("notice", "delay"):
            if key in f.params:
                try:
                    parse_duration(f.params[key])
                except ValueError as exc:
                    raise s.error(str(exc), ("faults", f.index, key)) from exc
        between = f.target.get("between")
        if between and between[0] == between[1]:
            raise s.error("a partition needs two different services", ("faults", f.index))
    for i, p in enumerate(s.steady_state):
        if "timeout" in p:
            parse_duration(p["timeout"])
        if p["probe"] == "prometheus" and "min" not in p and "max" not in p:
            raise s.error("a prometheus probe needs min or max", ("steady_state", i))


def load_scenario(path: str | Path, *, profile: str | None = None) -> Scenario:
    """Read and validate a scenario file; errors name the file, field and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such scenario file", source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(p)) from exc
    return parse_scenario(text, source=str(p), profile=profile, path=p)
