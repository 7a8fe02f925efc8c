"""The analytic engine: a Graph in, a Report out. Pure integer arithmetic."""

from __future__ import annotations

import math

from . import conventions
from .errors import CnnCostError, did_you_mean
from .graph import Graph
from .kinds import KINDS
from .report import FIGURES, LayerCost, Report, Totals, make_layer_cost

DTYPE_BYTES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int8": 1,
    "uint8": 1,
}
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16",
                 "double": "float64", "fp64": "float64", "float": "float32"}


def dtype_bytes(dtype: str) -> tuple[str, int]:
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPE_BYTES:
        raise CnnCostError(f"unknown dtype '{dtype}'", hint=did_you_mean(dtype, list(DTYPE_BYTES) + list(DTYPE_ALIASES))
                           or "choose from " + ", ".join(DTYPE_BYTES))
    return name, DTYPE_BYTES[name]


def analyze(
    graph: Graph,
    *,
    batch: int = 1,
    dtype: str = "float32",
    convention: str = conventions.DEFAULT,
    include_side: bool = False,
) -> Report:
    """Cost every layer of ``graph``; MACs, FLOPs and memory are for the whole batch."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise CnnCostError(f"batch must be a positive integer, got {batch!r}")
    dtype, nbytes = dtype_bytes(dtype)
    rule = conventions.get(convention)
    rows = []
    for node in graph.nodes:
        kind = KINDS[node.kind]
        a, ins, out = node.args, node.input_shapes, node.output_shape
        macs = kind.macs(a, ins, out) * batch if kind.category in rule.counted else 0
        rows.append(
            make_layer_cost(  # LayerCost's fields, in order
                node.name,
                node.kind,
                ins,
                out,
                kind.params(a, ins, out),
                kind.buffers(a, ins, out),
                macs,
                2 * macs,
                0 if kind.inplace else math.prod(out) * batch * nbytes,
                node.side,
                node.inputs,
                a,
            )
        )
    counted = [r for r in rows if include_side or not r.side]
    return Report(
        model=graph.name,
        input=graph.input_shape,
        batch=batch,
        dtype=dtype,
        convention=rule.name,
        layers=tuple(rows),
        totals=Totals.of(counted),
        include_side=include_side,
        description=graph.description,
        notes=tuple(graph.notes),
    )


def group_by_depth(report: Report, depth: int) -> list[LayerCost]:
    """Subtotals: layers merged by the first ``depth`` parts of their names."""
    if depth < 1:
        raise CnnCostError(f"--depth must be at least 1, got {depth}")
    groups: dict[str, list[LayerCost]] = {}
    for layer in report.layers:
        key = ".".join(layer.name.split(".")[:depth])
        groups.setdefault(key, []).append(layer)
    merged = []
    for key, members in groups.items():
        if len(members) == 1 and members[0].name == key:
            merged.append(members[0])
            continue
        sums = Totals.of([m for m in members if report.include_side or not m.side])
        merged.append(
            LayerCost(
                name=key,
                type="block",
                input_shapes=members[0].input_shapes,
                output_shape=members[-1].output_shape,
                side=all(m.side for m in members),
                **{f: getattr(sums, f) for f in FIGURES},
            )
        )
    return merged
