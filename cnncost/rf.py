"""Receptive fields: for every layer, the input pixels one of its units sees, per axis.

Per axis, a layer's field is three integers (Araujo, Norris and Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019): unit i of the layer sees input pixels
[i*stride - padding, i*stride - padding + size - 1]. A window (conv, pooling) of span K = d*(k-1) + 1,
stride s and left padding p maps (size, stride, padding) to (size + (K-1)*stride, stride*s,
padding + p*stride); element-wise layers keep the field. Extended here to:

- dilation (the span above);
- global dependence: a global pool, a flatten, a group norm (whose statistics span every position) give
  every unit the same field, the union over all input positions; such a field has stride 0;
- several paths: a merge (add, concat, mul) sees the union of its inputs' fields. Where the paths'
  strides or centres disagree the layer is marked not aligned (the union of unit 0's fields is given),
  as Araujo et al.'s library reports; a path whose field already covers every other (a squeeze-and-
  excitation gate) makes the merge global;
- adaptive average pooling: exact when the output divides the input; otherwise the windows differ in
  length, and the field of the longest is given, marked not uniform (as is everything after it).

Plain data; ``cnncost validate --rf`` checks the fields against torch gradients (docs/receptive-field.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import CnnCostError
from .graph import INPUT, Graph, Node
from .kinds import KINDS


@dataclass(frozen=True)
class Axis:
    size: int  # input pixels one unit sees, padding included
    stride: int  # between neighbouring units' fields, in input pixels; 0: every unit sees the same field
    padding: int  # unit 0's field starts at -padding

    def span(self, units: int) -> tuple[int, int]:
        """First and last input pixel that any of the first ``units`` units sees."""
        return -self.padding, (units - 1) * self.stride - self.padding + self.size - 1

    @property
    def centre2(self) -> int:
        """Twice unit 0's centre, an integer."""
        return 2 * -self.padding + self.size - 1


@dataclass(frozen=True)
class Field:
    h: Axis
    w: Axis
    aligned: bool = True  # the paths into it agree on stride and centre
    uniform: bool = True  # every unit's field has this size (not after irregular adaptive pooling)

    def axes(self):
        return self.h, self.w


@dataclass(frozen=True)
class LayerField:
    name: str
    kind: str
    side: bool
    field: Field | None  # None: the network's input is not a feature map

    def to_dict(self) -> dict:
        f = self.field
        if f is None:
            return {"name": self.name, "kind": self.kind, "side": self.side, "receptive_field": None,
                    "effective_stride": None, "effective_padding": None, "aligned": None, "uniform": None}
        return {"name": self.name, "kind": self.kind, "side": self.side,
                "receptive_field": [f.h.size, f.w.size], "effective_stride": [f.h.stride, f.w.stride],
                "effective_padding": [f.h.padding, f.w.padding], "aligned": f.aligned, "uniform": f.uniform}


# --- per-kind rules: (node, input fields) -> output field ---


def _window(axis: Axis, kernel: int, stride: int, left: int, dilation: int = 1) -> Axis:
    span = dilation * (kernel - 1) + 1
    return Axis(axis.size + (span - 1) * axis.stride, axis.stride * stride, axis.padding + left * axis.stride)


def _conv(node: Node, fields):
    (field,), a = fields, node.args
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    top, _, left, _ = a["padding"]
    return Field(_window(field.h, kh, sh, top, dh), _window(field.w, kw, sw, left, dw), field.aligned, field.uniform)


def _pool(node: Node, fields):
    (field,), a = fields, node.args
    (kh, kw), (ph, pw) = a["kernel"], a["padding"]
    sh, sw = a["stride"] or a["kernel"]
    dh, dw = a.get("dilation", (1, 1))
    return Field(_window(field.h, kh, sh, ph, dh), _window(field.w, kw, sw, pw, dw), field.aligned, field.uniform)


def _global_axis(axis: Axis, units: int) -> Axis:
    first, last = axis.span(units)
    return Axis(last - first + 1, 0, -first)


def _global(node: Node, fields):
    (field,), (_, h, w) = fields, node.input_shapes[0]
    return Field(_global_axis(field.h, h), _global_axis(field.w, w), field.aligned, field.uniform)


def _vector(node: Node, fields):
    (field,), shape = fields, node.input_shapes[0]
    if len(shape) != 3:
        return field  # already one field for the whole vector
    return _global(node, fields)


def _adaptive(node: Node, fields):
    (field,), (_, h, w) = fields, node.input_shapes[0]
    oh, ow = node.args["output"]
    uniform = field.uniform and h % oh == 0 and w % ow == 0

    def axis(a: Axis, size: int, out: int) -> Axis:
        if out == 1:
            return _global_axis(a, size)
        # PyTorch's window i is [floor(i*size/out), ceil((i+1)*size/out)): the longest gives the field
        longest = max(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))
        return Axis(a.size + (longest - 1) * a.stride, a.stride * -(-size // out), a.padding)

    return Field(axis(field.h, h, oh), axis(field.w, w, ow), field.aligned, uniform)


def _subsample(node: Node, fields):
    (field,), s = fields, node.args["stride"]
    return Field(_window(field.h, 1, s, 0), _window(field.w, 1, s, 0), field.aligned, field.uniform)


def _pointwise(node: Node, fields):
    return fields[0]


def _merge_axis(axes: list[Axis], units: int) -> tuple[Axis, bool]:
    """The union of the inputs' fields along one axis, and whether the paths agree."""
    spans = [a.span(units) for a in axes]
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    for a, (a_first, a_last) in zip(axes, spans):
        if a.stride == 0 and a_first == first and a_last == last:
            return a, True  # one path already sees all the others see: a global gate
    strides = {a.stride for a in axes}
    aligned = len(strides) == 1 and len({a.centre2 for a in axes}) == 1
    if len(strides) == 1:
        heads = [a.span(1) for a in axes]
        head_first, head_last = min(s[0] for s in heads), max(s[1] for s in heads)
        return Axis(head_last - head_first + 1, axes[0].stride, -head_first), aligned
    # strides disagree: unit 0's union, at the largest stride
    heads = [a.span(1) for a in axes]
    head_first, head_last = min(s[0] for s in heads), max(s[1] for s in heads)
    return Axis(head_last - head_first + 1, max(strides), -head_first), False


def _merge(node: Node, fields):
    out = node.output_shape
    units_h, units_w = (out[1], out[2]) if len(out) == 3 else (1, 1)
    h, h_aligned = _merge_axis([f.h for f in fields], units_h)
    w, w_aligned = _merge_axis([f.w for f in fields], units_w)
    return Field(h, w, h_aligned and w_aligned and all(f.aligned for f in fields), all(f.uniform for f in fields))


FIELD_BY_KIND: dict[str, Callable] = {
    "conv": _conv,
    "dwconv": _conv,
    "maxpool": _pool,
    "avgpool": _pool,
    "adaptive_avgpool": _adaptive,
    "global_avgpool": _global,
    "groupnorm": _global,  # its mean and variance run over every position of the sample
    "flatten": _vector,
    "linear": _vector,
    "subsample_pad": _subsample,
}
FIELD_BY_CATEGORY: dict[str, Callable] = {
    "activation": _pointwise,
    "norm": _pointwise,  # batch norm at inference (running statistics), LRN (across channels)
    "elementwise": _merge,  # add, mul
    "reshape": _pointwise,  # channel shuffle and split, concat (merged below)
    "other": _pointwise,  # dropout, stochastic depth, identity, softmax (over channels)
}


def field_rule(node: Node) -> Callable:
    if KINDS[node.kind].inputs == "many":
        return _merge
    rule = FIELD_BY_KIND.get(node.kind) or FIELD_BY_CATEGORY.get(KINDS[node.kind].category)
    if rule is None:
        raise CnnCostError(f"no receptive-field rule for layer kind '{node.kind}' (add one to cnncost/rf.py)")
    return rule


def receptive_fields(graph: Graph, include_side: bool = True) -> list[LayerField]:
    """Every layer's field, in execution order (side outputs too, unless asked not to)."""
    fields: dict[str, Field | None] = {}
    if len(graph.input_shape) == 3:
        fields[INPUT] = Field(Axis(1, 1, 0), Axis(1, 1, 0))
    else:
        fields[INPUT] = None
    rows = []
    for node in graph.nodes:
        if node.side and not include_side:
            continue
        inputs = [fields[i] for i in node.inputs]
        field = None if any(f is None for f in inputs) else field_rule(node)(node, inputs)
        fields[node.name] = field
        rows.append(LayerField(node.name, node.kind, node.side, field))
    return rows
