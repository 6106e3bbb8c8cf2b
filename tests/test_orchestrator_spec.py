"""Pipeline YAML: the shipped pipelines load; every mistake names the file and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.orchestrator.mapping import RefError, parse_ref, references, render
from modelserve.orchestrator.settings import load_orchestrator_settings
from modelserve.orchestrator.spec import (
    CallStep,
    ParallelStep,
    PipelineSpecError,
    SwitchStep,
    load_pipeline,
    load_pipelines,
    parse_pipeline,
)

GOOD = """
name: demo
steps:
  - {name: a, service: svc, path: /v1/a, input: {x: $input.x}}
  - name: both
    parallel:
      - {name: l, service: svc, input: {y: $steps.a.y}}
      - {name: r, builtin: sentiment, input: {text: $input.t}, dependency: soft}
  - name: pick
    switch:
      by: $steps.l.label
      cases: {yes: [{name: y1, service: svc, input: {}}]}
      default: [{name: n1, service: svc, input: {}}]
output: {a: $steps.a, y: $steps.y1}
"""


def doc(text: str) -> object:
    return yaml.safe_load(textwrap.dedent(text))


def test_shipped_pipelines_load() -> None:
    pipes = load_pipelines(load_orchestrator_settings().pipelines_path)
    assert set(pipes) == {"document-entities", "text-insights", "image-triage"}
    assert pipes["document-entities"].services() == {"ner"}
    assert pipes["document-entities"].builtins() == {"ocr"}
    insights = pipes["text-insights"].steps[0]
    assert isinstance(insights, ParallelStep)
    assert [b.name for b in insights.branches] == ["sentiment", "topic"]
    triage = pipes["image-triage"].steps[1]
    assert isinstance(triage, SwitchStep)
    assert set(triage.cases) == {"1", "4", "7", "9"}


def test_a_good_pipeline_parses() -> None:
    p = parse_pipeline(doc(GOOD), "demo.yaml")
    a, both, pick = p.steps
    assert isinstance(a, CallStep)
    assert a.retry.attempts == 1
    assert a.dependency == "hard"
    assert isinstance(both, ParallelStep)
    assert isinstance(pick, SwitchStep)
    assert pick.by == "$steps.l.label"
    assert p.services() == {"svc"}
    assert p.builtins() == {"sentiment"}


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"steps": []}, "steps", "non-empty"),
        ({"name": "Bad Name"}, "name", "must match"),
        ({"colour": 1}, "colour", "unknown key"),
        ({"steps": [{"name": "a", "input": {}}]}, "steps[0]", "exactly one of service"),
        (
            {"steps": [{"name": "a", "service": "s", "builtin": "ocr", "input": {}}]},
            "steps[0]",
            "exactly one",
        ),
        (
            {"steps": [{"name": "a", "builtin": "magic", "input": {}}]},
            "steps[0].builtin",
            "unknown",
        ),
        ({"steps": [{"name": "a", "service": "s"}]}, "steps[0].input", "is required"),
        (
            {"steps": [{"name": "a", "service": "s", "input": {}, "timeout_s": 0}]},
            "steps[0].timeout_s",
            ">= 0.001",
        ),
        (
            {"steps": [{"name": "a", "service": "s", "input": {}, "retries": {"attempts": 0}}]},
            "steps[0].retries.attempts",
            "integer >= 1",
        ),
        (
            {"steps": [{"name": "a", "service": "s", "input": {}, "dependency": "maybe"}]},
            "steps[0].dependency",
            "hard or soft",
        ),
        (
            {"steps": [{"name": "a", "service": "s", "input": {"x": "$steps.b.y"}}]},
            "steps[0].input.x",
            "does not run before it",
        ),
        (
            {"steps": [{"name": "a", "service": "s", "input": {"x": "$nowhere"}}]},
            "steps[0].input",
            "$input or $steps",
        ),
        (
            {"steps": [{"name": "a", "service": "s", "input": {}, "path": "v1"}]},
            "steps[0].path",
            "starting with /",
        ),
        (
            {
                "steps": [
                    {"name": "a", "service": "s", "input": {}},
                    {"name": "a", "service": "s", "input": {}},
                ]
            },
            "steps[1].name",
            "used twice",
        ),
        (
            {
                "steps": [
                    {
                        "name": "p",
                        "parallel": [
                            {"name": "l", "service": "s", "input": {}},
                            {"name": "r", "service": "s", "input": {"x": "$steps.l.z"}},
                        ],
                    }
                ]
            },
            "steps[0].parallel[1].input.x",
            "does not run before it",
        ),
        (
            {"steps": [{"name": "sw", "switch": {"by": "literal", "cases": {}}}]},
            "steps[0].switch.by",
            "reference",
        ),
        ({"input": {"type": "nonsense"}}, "input", "not a JSON schema"),
        ({"output": {"x": "$steps.zzz"}}, "output.x", "does not run before it"),
    ],
)
def test_errors_name_file_and_field(patch: dict[str, object], field: str, words: str) -> None:
    base = {"name": "p", "steps": [{"name": "a", "service": "s", "input": {}}]}
    with pytest.raises(PipelineSpecError) as info:
        parse_pipeline({**base, **patch}, "pipes/p.yaml")
    msg = str(info.value)
    assert msg.startswith("pipes/p.yaml: ")
    assert field in msg
    assert words in msg
    assert info.value.field.startswith(field)


def test_yaml_on_key_trap_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "sw.yaml"
    path.write_text(
        "name: sw\nsteps:\n  - {name: a, service: s, input: {}}\n  - name: b\n"
        "    switch: {on: $steps.a.x, cases: {k: [{name: c, service: s, input: {}}]}}\n"
    )
    with pytest.raises(PipelineSpecError, match=r"sw.yaml: steps\[1\].switch.True: unknown") as e:
        load_pipeline(path)
    assert "switch uses `by`" in str(e.value)


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsteps: [\n")
    with pytest.raises(PipelineSpecError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_pipeline(path)


def test_duplicate_pipeline_names_across_files(tmp_path: Path) -> None:
    for f in ("one.yaml", "two.yaml"):
        (tmp_path / f).write_text("name: same\nsteps: [{name: a, service: s, input: {}}]\n")
    with pytest.raises(PipelineSpecError, match=r"two.yaml: name: 'same' also in .*one.yaml"):
        load_pipelines(tmp_path)


def test_mapping_resolves_paths_and_absent_values() -> None:
    ctx = {"input": {"t": "x"}, "steps": {"c": {"top": [{"label": "7"}]}, "soft": None}}
    tpl = {"a": "$input.t", "b": ["$steps.c.top[0].label", "$$money"], "c": "$steps.soft.x", "d": 3}
    assert render(tpl, ctx) == {"a": "x", "b": ["7", "$money"], "c": None, "d": 3}
    assert str(parse_ref("$steps.c.top[0].label")) == "$steps.c.top[0].label"
    with pytest.raises(RefError):
        parse_ref("$steps")
    with pytest.raises(RefError):
        parse_ref("$input..x")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet="abc$. []0", max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet="xyz", min_size=1, max_size=3), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_any_template_either_renders_or_raises_referror(template: object) -> None:
    """render and the load-time check agree: what validation accepts always renders."""
    ctx: dict[str, object] = {"input": {}, "steps": {}}
    try:
        refs = references(template)
    except RefError:
        with pytest.raises(RefError):
            render(template, ctx)
        return
    out = render(template, ctx)
    if not refs and not _has_escape(template):
        assert out == template  # nothing to replace: an exact copy


def _has_escape(value: object) -> bool:
    if isinstance(value, str):
        return value.startswith("$$")
    if isinstance(value, dict):
        return any(_has_escape(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_escape(v) for v in value)
    return False
