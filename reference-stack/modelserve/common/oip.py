"""Open Inference Protocol (KServe v2) request envelope: parse and check, before any model.

``parse_infer_request`` checks the JSON shape every model shares (``inputs`` is a list of
tensors, each with ``name``, ``shape``, ``datatype``, ``data``; the data's element count
matches the shape; the values fit the datatype) and then checks each tensor against the
model's metadata (known name, same datatype, same rank, fixed dimensions equal). Every
failure is a :class:`BadInput` whose ``field`` is a JSON path such as ``inputs[0].shape``.
The model's own ``parse_v2`` then turns the checked tensors into items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.common.errors import BadInput
from modelserve.common.json_body import brief, check_text
from modelserve.common.model import TensorSpec

__all__ = ["DATATYPES", "InferRequest", "flatten", "parse_infer_request"]

_INT_RANGES = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_FLOATS = {"FP16", "FP32", "FP64", "BF16"}
DATATYPES = frozenset({"BOOL", "BYTES", *_INT_RANGES, *_FLOATS})
_MAX_ELEMENTS = 1 << 24  # refuse absurd shapes before multiplying them out


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[dict[str, Any]]  # each: name, shape, datatype, data (flattened)
    parameters: dict[str, Any]
    outputs: list[str] | None


def flatten(data: Any, field: str) -> list[Any]:
    """Row-major flattening of nested lists (OIP allows both flat and nested data)."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[tuple[list[Any], int]] = [(data, 0)]
    while stack:
        seq, i = stack.pop()
        if i < len(seq):
            stack.append((seq, i + 1))
            item = seq[i]
            if isinstance(item, list):
                if len(stack) > 32:
                    raise BadInput("data is nested too deeply", field=field)
                stack.append((item, 0))
            else:
                out.append(item)
    return out


def _check_value(value: Any, datatype: str, field: str) -> None:
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise BadInput(f"BYTES elements must be strings, got {_kind(value)}", field=field)
        check_text(value, field)
    elif datatype == "BOOL":
        if not isinstance(value, bool):
            raise BadInput(f"BOOL elements must be true/false, got {_kind(value)}", field=field)
    elif datatype in _INT_RANGES:
        lo, hi = _INT_RANGES[datatype]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(f"{datatype} elements must be integers, got {_kind(value)}", field=field)
        if not lo <= value <= hi:
            raise BadInput(f"{value} is out of range for {datatype}", field=field)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{datatype} elements must be numbers, got {_kind(value)}", field=field)
    elif not math.isfinite(float(value)):
        raise BadInput(f"{datatype} elements must be finite", field=field)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _parse_tensor(raw: Any, i: int) -> dict[str, Any]:
    where = f"inputs[{i}]"
    if not isinstance(raw, dict):
        raise BadInput(f"each input must be an object, got {_kind(raw)}", field=where)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadInput("name must be a non-empty string", field=f"{where}.name")
    shape = raw.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadInput("shape must be a list of non-negative integers", field=f"{where}.shape")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise BadInput(
            f"datatype must be one of {sorted(DATATYPES)}, got {brief(datatype)}",
            field=f"{where}.datatype",
        )
    if "data" not in raw:
        raise BadInput("data is required", field=f"{where}.data")
    params = raw.get("parameters", {})
    if not isinstance(params, dict):
        raise BadInput("parameters must be an object", field=f"{where}.parameters")
    return {
        "name": name,
        "shape": shape,
        "datatype": datatype,
        "data": raw["data"],
        "parameters": params,
    }


def _check_data(tensor: dict[str, Any], i: int) -> None:
    """Element count matches the shape and every element fits the datatype (flattens data)."""
    where = f"inputs[{i}]"
    shape: list[int] = tensor["shape"]
    count = 1
    for d in shape:
        count *= d
        if count > _MAX_ELEMENTS:
            raise BadInput(f"shape {brief(shape)} has too many elements", field=f"{where}.shape")
    data = flatten(tensor["data"], f"{where}.data")
    if len(data) != count:
        raise BadInput(
            f"data has {len(data)} elements but shape {brief(shape)} needs {count}",
            field=f"{where}.data",
        )
    datatype = tensor["datatype"]
    for j, value in enumerate(data):
        _check_value(value, datatype, f"{where}.data[{j}]")
    tensor["data"] = data


def _fits(tensor: dict[str, Any], spec: TensorSpec) -> bool:
    shape: list[int] = tensor["shape"]
    return (
        tensor["datatype"] == spec.datatype
        and len(shape) == len(spec.shape)
        and all(want in (-1, got) for want, got in zip(spec.shape, shape, strict=True))
    )


def _check_spec(tensor: dict[str, Any], specs: list[TensorSpec], i: int) -> None:
    """``specs`` are the alternatives the model accepts under this name (e.g. BYTES or FP32)."""
    if any(_fits(tensor, spec) for spec in specs):
        return
    where = f"inputs[{i}]"
    wanted = " or ".join(f"{s.datatype} {s.shape}" for s in specs)
    if all(tensor["datatype"] != s.datatype for s in specs):
        raise BadInput(
            f"input {brief(tensor['name'])} takes {wanted} (-1: any size), "
            f"got datatype {tensor['datatype']}",
            field=f"{where}.datatype",
        )
    raise BadInput(
        f"input {brief(tensor['name'])} takes {wanted} (-1: any size), "
        f"got shape {brief(tensor['shape'])}",
        field=f"{where}.shape",
    )


def parse_infer_request(body: Any, specs: Sequence[TensorSpec]) -> InferRequest:
    """Check an ``/infer`` body against the protocol and the model's input specs."""
    if not isinstance(body, dict):
        raise BadInput(f"request body must be a JSON object, got {_kind(body)}", field="body")
    rid = body.get("id")
    if rid is not None and not isinstance(rid, str):
        raise BadInput("id must be a string", field="id")
    raw_inputs = body.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadInput("inputs must be a non-empty list of tensors", field="inputs")
    by_name: dict[str, list[TensorSpec]] = {}
    for spec in specs:
        by_name.setdefault(spec.name, []).append(spec)
    inputs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_inputs):
        tensor = _parse_tensor(raw, i)
        alternatives = by_name.get(tensor["name"])
        if alternatives is None:
            raise BadInput(
                f"unknown input {brief(tensor['name'])}; the model takes {sorted(by_name)}",
                field=f"inputs[{i}].name",
            )
        if tensor["name"] in seen:
            raise BadInput(f"input {brief(tensor['name'])} given twice", field=f"inputs[{i}].name")
        seen.add(tensor["name"])
        _check_spec(tensor, alternatives, i)
        _check_data(tensor, i)
        inputs.append(tensor)
    missing = sorted(set(by_name) - seen)
    if missing:
        raise BadInput(f"missing inputs {missing}", field="inputs")
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        raise BadInput("parameters must be an object", field="parameters")
    outputs: list[str] | None = None
    if "outputs" in body:
        raw_out = body["outputs"]
        if not isinstance(raw_out, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in raw_out
        ):
            raise BadInput("outputs must be a list of {name: string}", field="outputs")
        outputs = [o["name"] for o in raw_out]
    return InferRequest(id=rid, inputs=inputs, parameters=params, outputs=outputs)
