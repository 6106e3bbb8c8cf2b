"""Pipelines declared in YAML, validated into frozen dataclasses.

A pipeline is a sequence of steps. A step is one of three shapes::

    - name: ner                       # call: one model service (or a built-in step)
      service: ner                    #   a name in MSAI_ORCH_SERVICES ... or `builtin: ocr`
      path: /v1/ner                   #   POST here with the rendered `input` as JSON
      input: {text: $steps.ocr.text}  #   output -> input mapping (see mapping.py)
      timeout_s: 5                    #   per attempt, never past the run's deadline
      retries: {attempts: 3, backoff_s: 0.05, max_backoff_s: 1}  # 5xx / connection only
      dependency: hard                #   hard: failure fails the run; soft: output null

    - name: insights                  # parallel: branches run at once (an ensemble)
      parallel: [<step>, <step>]

    - name: route                     # switch: on a previous step's output
      switch:
        by: $steps.classify.label     # a previous step's output
        cases: {"0": [<step>...], "1": [<step>...]}   # or a list of
                                                      # {when: ["0", "6"], steps: [...]}
        default: [<step>...]                          # optional

Top level: ``name``, ``description``, ``timeout_s`` (run deadline), ``sync`` (allowed on the
synchronous route), ``input`` (a JSON schema for the run input), ``steps``, ``output`` (a
template of the result; default: every step's output). Every error names the file and the
field (``steps[1].retries.attempts``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from modelserve.common.errors import ConfigError
from modelserve.orchestrator.mapping import RefError, references

__all__ = [
    "BUILTINS",
    "CallStep",
    "ParallelStep",
    "Pipeline",
    "PipelineSpecError",
    "Retry",
    "Step",
    "SwitchStep",
    "iter_calls",
    "load_pipeline",
    "load_pipelines",
    "parse_pipeline",
]

BUILTINS = ("ocr", "sentiment", "topic")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class PipelineSpecError(ConfigError):
    """A pipeline file is wrong: ``source`` is the file, ``field`` the path inside it."""

    def __init__(self, source: str, field: str, message: str) -> None:
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")
        self.field = field
        self.source = source


@dataclass(frozen=True)
class Retry:
    attempts: int = 1
    """Tries in all (1 = no retry)."""
    backoff_s: float = 0.05
    """First wait; doubles each retry, with jitter."""
    max_backoff_s: float = 1.0


@dataclass(frozen=True)
class CallStep:
    name: str
    input: Any
    service: str | None = None
    builtin: str | None = None
    path: str = "/"
    timeout_s: float = 10.0
    retry: Retry = field(default_factory=Retry)
    dependency: Literal["hard", "soft"] = "hard"


@dataclass(frozen=True)
class ParallelStep:
    name: str
    branches: tuple[Step, ...]


@dataclass(frozen=True)
class SwitchStep:
    name: str
    by: str
    cases: Mapping[str, tuple[Step, ...]]
    default: tuple[Step, ...] = ()


Step = CallStep | ParallelStep | SwitchStep


@dataclass(frozen=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    timeout_s: float | None = None
    sync: bool = True
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    output: Any = None
    source: str = "<memory>"

    def services(self) -> set[str]:
        return {s.service for s in iter_calls(self.steps) if s.service}

    def builtins(self) -> set[str]:
        return {s.builtin for s in iter_calls(self.steps) if s.builtin}


def iter_calls(steps: tuple[Step, ...]) -> Iterator[CallStep]:
    """Every call step, in declaration order, through parallel and switch blocks."""
    for s in steps:
        if isinstance(s, CallStep):
            yield s
        elif isinstance(s, ParallelStep):
            yield from iter_calls(s.branches)
        else:
            for branch in s.cases.values():
                yield from iter_calls(branch)
            yield from iter_calls(s.default)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.names: set[str] = set()

    def err(self, where: str, message: str) -> PipelineSpecError:
        return PipelineSpecError(self.source, where, message)

    def keys(self, obj: Any, where: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise self.err(where, f"must be a mapping, got {type(obj).__name__}")
        unknown = sorted((k for k in obj if k not in allowed), key=str)
        if unknown:
            hint = ""
            if unknown[0] is True:  # YAML 1.1 reads a bare `on` (or `yes`) key as true
                hint = "; a bare `on` or `yes` key reads as true in YAML (switch uses `by`)"
            at = _join(where, str(unknown[0]))
            raise self.err(at, f"unknown key (allowed: {sorted(allowed)}){hint}")
        for key in sorted(required - set(obj)):
            raise self.err(_join(where, key), "is required")
        return obj

    def number(self, value: Any, where: str, *, minimum: float, integer: bool = False) -> float:
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value < minimum:
            kind = "an integer" if integer else "a number"
            raise self.err(where, f"must be {kind} >= {minimum}, got {value!r}")
        return value  # type: ignore[no-any-return]

    def name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.err(where, f"must match {_NAME.pattern}, got {value!r}")
        if value in self.names:
            raise self.err(where, f"step name {value!r} is used twice")
        self.names.add(value)
        return value

    def steps(self, obj: Any, where: str, done: set[str]) -> tuple[Step, ...]:
        """Parse a sequence; ``done`` grows with the steps whose output later steps may use."""
        if not isinstance(obj, list) or not obj:
            raise self.err(where, "must be a non-empty list of steps")
        return tuple(self.step(s, f"{where}[{i}]", done) for i, s in enumerate(obj))

    def step(self, obj: Any, where: str, done: set[str]) -> Step:
        if isinstance(obj, dict) and "parallel" in obj:
            d = self.keys(obj, where, {"name", "parallel"}, {"name", "parallel"})
            name = self.name(d["name"], f"{where}.name")
            if not isinstance(d["parallel"], list) or len(d["parallel"]) < 2:
                raise self.err(f"{where}.parallel", "must list at least two steps")
            # Branches see only what was done before the block, never each other.
            before = set(done)
            branches = []
            for i, b in enumerate(d["parallel"]):
                seen = set(before)
                branches.append(self.step(b, f"{where}.parallel[{i}]", seen))
                done |= seen
            done.add(name)
            return ParallelStep(name, tuple(branches))
        if isinstance(obj, dict) and "switch" in obj:
            d = self.keys(obj, where, {"name", "switch"}, {"name", "switch"})
            name = self.name(d["name"], f"{where}.name")
            # `by`, not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
            sw = self.keys(d["switch"], f"{where}.switch", {"by", "cases", "default"}, {"by"})
            self.check_refs(sw["by"], f"{where}.switch.by", done, single=True)
            cases_obj = sw.get("cases", {})
            if isinstance(cases_obj, dict):  # {value: [steps]}
                entries = [([k], v, f"{where}.switch.cases.{k}") for k, v in cases_obj.items()]
            elif isinstance(cases_obj, list):  # [{when: [values], steps: [steps]}]
                entries = []
                for i, raw_case in enumerate(cases_obj):
                    at = f"{where}.switch.cases[{i}]"
                    c = self.keys(raw_case, at, {"when", "steps"}, {"when", "steps"})
                    if not isinstance(c["when"], list) or not c["when"]:
                        raise self.err(f"{at}.when", "must be a non-empty list of values")
                    entries.append((c["when"], c["steps"], f"{at}.steps"))
            else:
                entries = None
            if entries is None or not (entries or sw.get("default")):
                raise self.err(f"{where}.switch.cases", "must map values to lists of steps")
            cases: dict[str, tuple[Step, ...]] = {}
            after = set(done)
            for values, branch, at in entries:
                seen = set(done)
                parsed = self.steps(branch, at, seen)
                for v in values:
                    if str(v) in cases:
                        raise self.err(at, f"value {v!r} is matched by two cases")
                    cases[str(v)] = parsed
                after |= seen
            default: tuple[Step, ...] = ()
            if sw.get("default") is not None:
                seen = set(done)
                default = self.steps(sw["default"], f"{where}.switch.default", seen)
                after |= seen
            done |= after  # a branch not taken leaves null outputs, which is well defined
            done.add(name)
            return SwitchStep(name, sw["by"], cases, default)
        allowed = {"name", "service", "builtin", "path", "input", "timeout_s", "retries"}
        d = self.keys(obj, where, allowed | {"dependency"}, {"name", "input"})
        name = self.name(d["name"], f"{where}.name")
        service, builtin = d.get("service"), d.get("builtin")
        if (service is None) == (builtin is None):
            raise self.err(where, "give exactly one of service (a model service) or builtin")
        if service is not None and (not isinstance(service, str) or not _NAME.match(service)):
            raise self.err(f"{where}.service", f"must be a service name, got {service!r}")
        if builtin is not None and builtin not in BUILTINS:
            raise self.err(f"{where}.builtin", f"unknown built-in {builtin!r} (have {BUILTINS})")
        path = d.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/"):
            raise self.err(f"{where}.path", f"must be a URL path starting with /, got {path!r}")
        self.check_refs(d["input"], f"{where}.input", done)
        timeout = self.number(d.get("timeout_s", 10.0), f"{where}.timeout_s", minimum=0.001)
        retry = Retry()
        if "retries" in d:
            r = self.keys(
                d["retries"], f"{where}.retries", {"attempts", "backoff_s", "max_backoff_s"}, set()
            )
            retry = Retry(
                attempts=int(
                    self.number(
                        r.get("attempts", 1), f"{where}.retries.attempts", minimum=1, integer=True
                    )
                ),
                backoff_s=self.number(
                    r.get("backoff_s", 0.05), f"{where}.retries.backoff_s", minimum=0
                ),
                max_backoff_s=self.number(
                    r.get("max_backoff_s", 1.0), f"{where}.retries.max_backoff_s", minimum=0
                ),
            )
        dep = d.get("dependency", "hard")
        if dep not in ("hard", "soft"):
            raise self.err(f"{where}.dependency", f"must be hard or soft, got {dep!r}")
        done.add(name)
        return CallStep(name, d["input"], service, builtin, path, float(timeout), retry, dep)

    def check_refs(
        self, template: Any, where: str, done: set[str], *, single: bool = False
    ) -> None:
        if single and not (isinstance(template, str) and template.startswith("$")):
            raise self.err(where, f"must be a reference like $steps.NAME.field, got {template!r}")
        try:
            refs = references(template)
        except RefError as exc:
            raise self.err(where, str(exc)) from None
        for at, ref in refs:
            if ref.step is not None and ref.step not in done:
                loc = f"{where}.{at}" if at else where
                raise self.err(loc, f"{ref} reads step {ref.step!r}, which does not run before it")


def parse_pipeline(doc: Any, source: str = "<memory>") -> Pipeline:
    """Validate one pipeline document; raises :class:`PipelineSpecError` naming the field."""
    p = _Parser(source)
    allowed = {"name", "description", "timeout_s", "sync", "input", "steps", "output"}
    d = p.keys(doc, "", allowed, {"name", "steps"}) if isinstance(doc, dict) else None
    if d is None:
        raise p.err("", "a pipeline file holds one mapping (name, steps, ...)")
    name = d["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise p.err("name", f"must match {_NAME.pattern}, got {name!r}")
    schema = d.get("input", {"type": "object"})
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = ".".join(str(x) for x in exc.path)
        raise p.err(
            "input" + (f".{path}" if path else ""), f"not a JSON schema: {exc.message}"
        ) from None
    done: set[str] = set()
    steps = p.steps(d["steps"], "steps", done)
    if "output" in d:
        p.check_refs(d["output"], "output", done)
    timeout = d.get("timeout_s")
    if timeout is not None:
        timeout = float(p.number(timeout, "timeout_s", minimum=0.001))
    sync = d.get("sync", True)
    if not isinstance(sync, bool):
        raise p.err("sync", f"must be true or false, got {sync!r}")
    desc = d.get("description", "")
    return Pipeline(name, steps, str(desc), timeout, sync, schema, d.get("output"), source)


def load_pipeline(path: Path) -> Pipeline:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PipelineSpecError(str(path), "", f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise PipelineSpecError(str(path), "", f"{line}not valid YAML: {exc}") from exc
    return parse_pipeline(doc, str(path))


def load_pipelines(folder: Path) -> dict[str, Pipeline]:
    """Every ``*.yaml`` in ``folder`` by pipeline name; two files with one name is an error."""
    if not folder.is_dir():
        raise PipelineSpecError(str(folder), "", "pipeline folder does not exist")
    out: dict[str, Pipeline] = {}
    for path in sorted(folder.glob("*.yaml")):
        pipe = load_pipeline(path)
        if pipe.name in out:
            raise PipelineSpecError(
                str(path), "name", f"{pipe.name!r} also in {out[pipe.name].source}"
            )
        out[pipe.name] = pipe
    return out
