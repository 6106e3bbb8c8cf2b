"""Gate verdicts as JUnit XML, for CI systems that show test results.

Unit tests get their JUnit XML from pytest itself (``scripts/test`` passes ``--junitxml``);
this covers runs made outside pytest (``msai run``): one testsuite per run, one testcase per
gate; ``fail`` is a failure, ``inconclusive`` is skipped with its evidence, a partial run
adds an error case.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from reports.model import RunData

__all__ = ["render_junit"]


def render_junit(run: RunData) -> str:
    failures = sum(1 for g in run.gates if g.verdict == "fail")
    skipped = sum(1 for g in run.gates if g.verdict == "inconclusive")
    errors = 1 if run.partial or run.verdict == "error" else 0
    suite = ET.Element(
        "testsuite",
        name=f"msai.{run.scenario}",
        tests=str(len(run.gates) + errors),
        failures=str(failures),
        skipped=str(skipped),
        errors=str(errors),
        time=f"{run.duration_s:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for k, v in (("run_id", run.run_id), ("platform", run.platform), ("verdict", run.verdict)):
        ET.SubElement(props, "property", name=k, value=v)
    for g in run.gates:
        case = ET.SubElement(suite, "testcase", classname=f"msai.{run.scenario}", name=g.gate)
        text = json.dumps(
            {"expected": g.expected, "observed": g.observed, "evidence": g.evidence}, default=str
        )
        if g.verdict == "fail":
            ET.SubElement(case, "failure", message=f"gate {g.gate} failed").text = text
        elif g.verdict == "inconclusive":
            ET.SubElement(case, "skipped", message=f"gate {g.gate} inconclusive").text = text
    if errors:
        case = ET.SubElement(suite, "testcase", classname=f"msai.{run.scenario}", name="run")
        why = "partial record: no summary.json" if run.partial else str(run.error or "error")
        ET.SubElement(case, "error", message=why)
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )
