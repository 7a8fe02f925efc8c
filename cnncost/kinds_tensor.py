"""Tensor-op kinds: the vocabulary that ordinary PyTorch code is written in, beyond layers.

Element-wise arithmetic with a constant, a broadcast parameter or a second tensor; reductions; stacking,
slicing and views; matrix products; softmax on any axis; attention; pixel shuffles; instance norm and GRN.
Each is one record, as in kinds.py (which imports this module, so the registry is one), with every rule.

Shapes are per sample, of any rank: (C, H, W) maps, (L, C) tokens, (F,) vectors. Every ``dim`` argument is
a torch dim, counting the batch axis as 0, negative from the end; the batch axis itself is refused, since
cnncost's figures are per sample.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .errors import CnnCostError
from .kinds import (Arg, Measure, _optional, _same_shape, boolean, choice, define, format_shape, integer, number,
                    positive_int)


# --- argument types ---


def integers(value, what):
    """A list of integers, or one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise CnnCostError(f"{what} must be a non-empty list of integers")
    if len(value) > 64:
        raise CnnCostError(f"{what} has {len(value)} entries; at most 64")
    return tuple(integer(v, what) for v in value)


def text(value, what):
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise CnnCostError(f"{what} must be a string of 1 to 200 characters")
    return value


def ops(*names):
    return lambda v, w: choice(v, w, names)


# --- axes ---


def axis(dim: int, shape, what: str = "dim") -> int:
    """The per-sample axis of torch dim ``dim`` on a tensor of per-sample ``shape``."""
    full = len(shape) + 1
    d = dim + full if dim < 0 else dim
    if not 0 <= d < full:
        raise CnnCostError(f"{what} {dim} is out of range for a {full}-dimensional tensor "
                           f"(batch included; per sample {format_shape(shape) or 'a scalar'})")
    if d == 0:
        raise CnnCostError(f"{what} {dim} is the batch axis; cnncost's figures are per sample")
    return d - 1


def axes(dims, shape, what: str = "dims") -> tuple:
    found = tuple(axis(d, shape, what) for d in dims)
    if len(set(found)) != len(found):
        raise CnnCostError(f"{what} {list(dims)} names an axis twice")
    return found


def broadcast_shapes(shapes, kind: str):
    """numpy's and torch's broadcasting, shapes aligned on the right."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        if len(sizes) > 1:
            raise CnnCostError(f"{kind} inputs cannot broadcast: " + ", ".join(format_shape(s) for s in shapes))
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _numel(shape) -> int:
    return math.prod(shape)


_PER_ELEMENT = Measure(lambda s: s.output_numel, "output numel")


# --- element-wise: a constant, a parameter, a second tensor, or nothing ---

SCALAR_OPS = ("add", "sub", "mul", "div", "rsub", "rdiv", "pow", "maximum", "minimum")


def _scalar(m, x):
    v = m.value
    return {"add": lambda: x + v, "sub": lambda: x - v, "mul": lambda: x * v, "div": lambda: x / v,
            "rsub": lambda: v - x, "rdiv": lambda: v / x, "pow": lambda: x ** v,
            "maximum": lambda: x.clamp_min(v), "minimum": lambda: x.clamp_max(v)}[m.kind]()


def _scalar_saved(node, ctx):
    # measured with saved_tensors_hooks (torch 2.13): + - * / and rsub save nothing; pow and clamp their
    # input; v / x the reciprocal it multiplies
    from .saved_rules import _input, _new

    if not ctx.grad_inputs[0]:
        return ()
    op = node.args["op"]
    if op in ("pow", "maximum", "minimum"):
        return (_input(),)
    if op == "rdiv":
        return (_new(_numel(node.output_shape) * ctx.batch * ctx.element_bytes),)
    return ()


define(
    "scalar",
    "elementwise",
    "Element-wise arithmetic with a constant: x + 3, x * 0.5, 3 - x (rsub), 1 / x (rdiv), x ** 2, "
    "clamp_min(x, 0) (maximum).",
    args=(Arg("op", ops(*SCALAR_OPS), doc=", ".join(SCALAR_OPS)), Arg("value", number, doc="the constant")),
    shape=_same_shape,
    macs=lambda a, ins, out: _numel(out),
    calls=("operator", "function"),
    build=lambda t, a, ins, out: t.op("Scalar", _scalar, kind=a["op"], value=a["value"]),
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "0", "macs": "numel (one operation per element)"},
    saved=_scalar_saved, rf="pointwise", latency="per_element", counts="elementwise", layout="kept",
    rf_stand_in="identity",
)

UNARY_OPS = ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "square", "erf", "sin", "cos")
# what each saves for backward (saved_tensors_hooks, torch 2.13): its output, its input, or nothing
_UNARY_SAVES = {"neg": None, "abs": "input", "exp": "output", "log": "input", "sqrt": "output", "rsqrt": "output",
                "reciprocal": "output", "square": "input", "erf": "input", "sin": "input", "cos": "input"}


def _unary(m, x):
    return getattr(x, m.kind)()


def _unary_saved(node, ctx):
    from .saved_rules import OUTPUT, _input

    saves = _UNARY_SAVES[node.args["op"]]
    if not ctx.grad_inputs[0] or saves is None:
        return ()
    return (OUTPUT,) if saves == "output" else (_input(),)


define(
    "unary",
    "elementwise",
    "An element-wise function of one tensor: " + ", ".join(UNARY_OPS) + " (torch.exp(x), x.rsqrt(), ...).",
    args=(Arg("op", ops(*UNARY_OPS), doc=", ".join(UNARY_OPS)),),
    shape=_same_shape,
    macs=lambda a, ins, out: _numel(out),
    calls=("function", "operator"),
    build=lambda t, a, ins, out: t.op("Unary", _unary, kind=a["op"]),
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "0", "macs": "numel"},
    saved=_unary_saved, rf="pointwise", latency="per_element", counts="elementwise", layout="kept",
    rf_stand_in="identity",
)

BINARY_OPS = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")


def _binary(m, x, y):
    import torch

    functions: dict[str, Callable[..., Any]] = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
        "maximum": torch.maximum, "minimum": torch.minimum}
    return functions[m.kind](x, y)


def _binary_saved(node, ctx):
    # + and - save nothing; * / maximum minimum each operand the other's gradient needs (both, measured);
    # pow both and its output
    from .saved_rules import OUTPUT, _input

    op = node.args["op"]
    if op in ("add", "sub") or not any(ctx.grad_inputs):
        return ()
    saved = [_input(1), _input(0)] if op != "mul" else [
        *([_input(1)] if ctx.grad_inputs[0] else []), *([_input(0)] if ctx.grad_inputs[1] else [])]
    return (*saved, OUTPUT) if op == "pow" else tuple(saved)


def _binary_shape(a, shapes):
    if len(shapes) != 2:
        raise CnnCostError(f"binary needs exactly two inputs, got {len(shapes)}")
    return broadcast_shapes(shapes, "binary")


define(
    "binary",
    "elementwise",
    "Element-wise arithmetic of two tensors with torch's broadcasting (shapes aligned on the right): "
    + ", ".join(BINARY_OPS) + ".",
    args=(Arg("op", ops(*BINARY_OPS), doc=", ".join(BINARY_OPS)),),
    shape=_binary_shape,
    macs=lambda a, ins, out: _numel(out),
    inputs="many",
    calls=("operator", "function"),
    build=lambda t, a, ins, out: t.op("Binary", _binary, kind=a["op"]),
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "the broadcast of both", "params": "0", "macs": "numel",
              "arguments": "needs `input: [a, b]`"},
    saved=_binary_saved, rf="merge", latency="per_element", counts="elementwise", layout="kept",
)

PARAM_OPS = ("add", "sub", "mul", "div")


def _param_shape(a, shapes):
    (shape,) = shapes
    out = broadcast_shapes((shape, a["shape"]), "param")
    if out != tuple(shape):
        raise CnnCostError(f"param of shape {format_shape(a['shape'])} would change the input's shape "
                           f"{format_shape(shape)}; it must broadcast to it")
    return out


def _param(m, x):
    import torch

    functions: dict[str, Callable[..., Any]] = {"add": torch.add, "sub": torch.sub, "mul": torch.mul,
                                                "div": torch.div}
    return functions[m.kind](x, m.value)


def _build_param(t, a, ins, out):
    module = t.op("Param", _param, kind=a["op"])
    value = t.torch.full(a["shape"], float(a["init"]))
    if a["learnable"]:
        module.value = t.nn.Parameter(value)
    else:
        module.register_buffer("value", value)
    return module


def _param_saved(node, ctx):
    # x * p and x / p keep x for p's gradient when p is learnable (p itself is a parameter, not an activation)
    from .saved_rules import _input

    return (_input(),) if ctx.trainable and node.args["learnable"] and node.args["op"] in ("mul", "div") else ()


def _shape_arg(value, what):
    sizes = integers(value, what)
    if any(s < 1 for s in sizes):
        raise CnnCostError(f"{what} must be positive sizes, got {list(sizes)}")
    return sizes


define(
    "param",
    "elementwise",
    "Element-wise arithmetic with a tensor of the model's own, broadcast to the input: a learnable parameter "
    "(timm's layer scale x * gamma.reshape(1, -1, 1, 1), a channels-last gamma * x) or a constant buffer "
    "((x - mean) / std).",
    args=(Arg("op", ops(*PARAM_OPS), doc=", ".join(PARAM_OPS)),
          Arg("shape", _shape_arg, doc="its per-sample shape, broadcast on the right: [C, 1, 1] on a map, [C] on "
              "tokens"),
          Arg("learnable", boolean, True, "a parameter; false: a buffer"),
          Arg("init", number, 1.0, "its initial value")),
    shape=_param_shape,
    params=lambda a, ins, out: _numel(a["shape"]) if a["learnable"] else 0,
    buffers=lambda a, ins, out: 0 if a["learnable"] else _numel(a["shape"]),
    macs=lambda a, ins, out: _numel(out),
    calls=("operator", "function"),
    build=_build_param,
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "numel of shape (learnable)", "macs": "numel"},
    saved=_param_saved, rf="pointwise", latency="per_element", counts="elementwise", layout="kept",
    rf_stand_in="identity",
)


def _table_bias_shape(a, shapes):
    (shape,) = shapes
    out = broadcast_shapes((shape, a["shape"]), "table_bias")
    if out != tuple(shape):
        raise CnnCostError(f"table_bias of shape {format_shape(a['shape'])} would change the input's shape "
                           f"{format_shape(shape)}; it must broadcast to it")
    return out


def _table_bias(m, x):
    return x + m.table.reshape(-1)[m.index]


def _build_table_bias(t, a, ins, out):
    # the table's entries gathered by a constant integer index to the bias's shape (every entry read once at
    # least where the bias has as many); the index is integer state, not a floating-point buffer
    module = t.op("TableBias", _table_bias)
    module.table = t.nn.Parameter(t.torch.zeros(a["table"]))
    module.register_buffer("index", t.torch.arange(_numel(a["shape"])).remainder(_numel(a["table"]))
                           .reshape(a["shape"]))
    return module


define(
    "table_bias",
    "elementwise",
    "x + table[index]: a learnable table of biases gathered by a constant integer index (a buffer) and added to "
    "the input, the relative position bias of attention logits (LeViT, EfficientFormer, EfficientViT, CoAtNet: "
    "attn + self.attention_biases[:, self.attention_bias_idxs]).",
    args=(Arg("table", _shape_arg, doc="the table's shape: [heads, offsets], say"),
          Arg("shape", _shape_arg, doc="the gathered bias's per-sample shape, broadcast on the right: [heads, L, "
              "L] on attention logits")),
    shape=_table_bias_shape,
    params=lambda a, ins, out: _numel(a["table"]),
    macs=lambda a, ins, out: _numel(out),
    calls=("operator", "function"),
    build=_build_table_bias,
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "numel of table", "macs": "numel"},
    # the add saves nothing; the gather saves its index, a buffer
    saved=lambda node, ctx: (), rf="pointwise", latency="per_element", counts="elementwise", layout="kept",
    rf_stand_in="identity",
)


# --- reductions ---

REDUCE_OPS = ("sum", "mean", "amax", "amin", "norm")


def _reduce_shape(a, shapes):
    (shape,) = shapes
    reduced = axes(a["dims"], shape)
    return tuple(1 if i in reduced else s for i, s in enumerate(shape) if a["keepdim"] or i not in reduced)


def _reduce(m, x):
    import torch

    if m.kind == "norm":
        return torch.linalg.vector_norm(x, 2, dim=m.dims, keepdim=m.keepdim)
    return getattr(torch, m.kind)(x, dim=m.dims, keepdim=m.keepdim)


def _reduce_saved(node, ctx):
    # sum and mean need only the sizes; amax, amin and the norm keep their input and output
    from .saved_rules import OUTPUT, _input

    return (_input(), OUTPUT) if ctx.grad_inputs[0] and node.args["op"] in ("amax", "amin", "norm") else ()


def _reduce_field(node, fields):
    from .rf import FIELD_RULES

    shape = node.input_shapes[0]
    if len(shape) != 3:
        return None
    reduced = set(axes(node.args["dims"], shape))
    if not reduced & {1, 2}:
        return fields[0]  # over the channels only: each position keeps its field
    return FIELD_RULES["global"](node, fields) if node.args["keepdim"] or reduced >= {1, 2} else None


define(
    "reduce",
    "other",
    "A reduction over given axes: sum, mean, amax, amin, or the 2-norm (x.sum(dim=1), "
    "x.mean((2, 3), keepdim=True), torch.norm(x, p=2, dim=(2, 3), keepdim=True)).",
    args=(Arg("op", ops(*REDUCE_OPS), doc=", ".join(REDUCE_OPS)),
          Arg("dims", integers, doc="torch dims (the batch is 0)"),
          Arg("keepdim", boolean, False, "keep reduced axes as size 1")),
    shape=_reduce_shape,
    macs=lambda a, ins, out: _numel(ins[0]),
    calls=("function", "operator"),
    build=lambda t, a, ins, out: t.op("Reduce", _reduce, kind=a["op"], dims=a["dims"], keepdim=a["keepdim"]),
    measure={"macs": Measure(lambda s: math.prod(s.input_shapes[0]), "input numel")},
    formulas={"output": "reduced axes dropped (or 1 with keepdim)", "params": "0",
              "macs": "input numel (one operation per element read)"},
    saved=_reduce_saved, rf=_reduce_field, latency="macs", counts="other",
)


# --- stacking, slicing, views ---


def _stack_shape(a, shapes):
    if len(shapes) < 2:
        raise CnnCostError("stack needs at least two inputs")
    if any(s != shapes[0] for s in shapes):
        raise CnnCostError("stack inputs differ in shape: " + ", ".join(format_shape(s) for s in shapes))
    at = axis(a["dim"], (*shapes[0], 1))
    return (*shapes[0][:at], len(shapes), *shapes[0][at:])


define(
    "stack",
    "reshape",
    "Stack equal shapes along a new axis (torch.stack(xs, dim)), as an FPN's torch.stack(...).sum(0).",
    args=(Arg("dim", integer, 1, "where the new axis goes, a torch dim"),),
    shape=_stack_shape,
    inputs="many",
    calls=("function",),
    build=lambda t, a, ins, out: t.op("Stack", lambda m, *xs: t.torch.stack(xs, dim=m.dim), dim=a["dim"]),
    formulas={"output": "a new axis of size len(inputs)", "params": "0", "macs": "0",
              "arguments": "needs `input: [a, b, ...]`"},
    saved="nothing", rf="merge", latency="copy", counts="reshape",
)


def _slice_bounds(a, size):
    start, end, step = a["start"], a["end"], a["step"]
    return range(size)[slice(start, end, step)]


def _slice_shape(a, shapes):
    (shape,) = shapes
    at = axis(a["dim"], shape)
    kept = len(_slice_bounds(a, shape[at]))
    if kept == 0:
        raise CnnCostError(f"slice [{a['start']}:{a['end']}:{a['step']}] of an axis of {shape[at]} is empty")
    return (*shape[:at], kept, *shape[at + 1:])


def _slice(m, x):
    index = [slice(None)] * x.dim()
    index[m.dim] = slice(m.start, m.end, m.step)
    return x[tuple(index)]


def _slice_layout(node, layout: str, batch: int) -> str:
    shape = node.input_shapes[0]
    at = axis(node.args["dim"], shape)
    whole = node.output_shape == shape
    leading = batch == 1 and all(s == 1 for s in shape[:at]) and node.args["step"] == 1
    if whole or (leading and layout == "contiguous"):
        return layout
    if layout in ("contiguous", "sample") and node.args["step"] == 1 and all(s == 1 for s in shape[:at]):
        return "sample"  # a channel slice x[:, :c] at batch > 1: only the batch axis's stride differs
    if layout in ("strided", "transposed") or (at == len(shape) - 1 and node.args["step"] > 1):
        return "strided"
    return "rows"


def _slice_field(node, fields):
    from .rf import Axis

    shape = node.input_shapes[0]
    at = axis(node.args["dim"], shape)
    if len(shape) != 3 or at == 0:
        return fields[0]  # channels, or not a map
    bounds = _slice_bounds(node.args, shape[at])
    field = fields[0]
    h, w = field.axes()
    a = h if at == 1 else w
    moved = Axis(a.size, a.stride * bounds.step, a.padding - bounds.start * a.stride)
    return field.like(moved, w) if at == 1 else field.like(h, moved)


define(
    "slice",
    "reshape",
    "A slice along one axis, of any size: x[:, :27], x[:, 27:], one piece of x.split([a, b], dim) or "
    "x.chunk(n, dim). A view.",
    args=(Arg("dim", integer, doc="a torch dim"), Arg("start", integer, 0), Arg("end", _optional(integer), None,
          "exclusive; null: to the end; negative counts from the end"), Arg("step", positive_int, 1)),
    shape=_slice_shape,
    calls=("operator", "function"),
    build=lambda t, a, ins, out: t.op("Slice", _slice, dim=a["dim"], start=a["start"], end=a["end"],
                                      step=a["step"]),
    formulas={"output": "the axis cut to the slice", "params": "0", "macs": "0"},
    saved="nothing", rf=_slice_field, latency="free", counts="reshape", view=True, layout=_slice_layout,
)


def _reshape_shape(a, shapes):
    (shape,) = shapes
    return resolve_sizes(a["shape"], _numel(shape), f"reshape of {format_shape(shape)} to")


def _reshape_layout(node, first: str, batch: int) -> str:
    from .memory import unit_axes_only

    if unit_axes_only(node):
        return first  # a squeeze keeps the strides
    return "sample" if first == "sample" else "contiguous"  # a view of each sample, or a copy


def resolve_sizes(sizes, numel: int, what: str) -> tuple:
    """Sizes with at most one -1, which takes what the others leave of ``numel``."""
    if sum(1 for s in sizes if s == -1) > 1 or any(s < -1 or s == 0 for s in sizes):
        raise CnnCostError(f"{what} {list(sizes)}: sizes must be positive, with at most one -1")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if numel % known:
            raise CnnCostError(f"{what} {list(sizes)}: {numel} elements do not divide by {known}")
        sizes = tuple(numel // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != numel:
        raise CnnCostError(f"{what} {list(sizes)}: {math.prod(sizes)} elements, not {numel}")
    return tuple(sizes)



define(
    "reshape",
    "reshape",
    "A new shape for the same elements (x.reshape, x.view): a view of a contiguous tensor, else a copy.",
    args=(Arg("shape", integers, doc="the per-sample shape (no batch); one size may be -1"),),
    shape=_reshape_shape,
    calls=("function", "operator"),
    build=lambda t, a, ins, out: t.op("Reshape", lambda m, x: x.reshape(x.shape[0], *m.sizes), sizes=out),
    formulas={"output": "the given shape", "params": "0", "macs": "0"},
    saved="nothing", rf="none", latency="free", counts="reshape", view="if contiguous", layout=_reshape_layout,
)


def _unflatten_shape(a, shapes):
    (shape,) = shapes
    at = axis(a["dim"], shape)
    sizes = resolve_sizes(a["sizes"], shape[at], f"unflatten of an axis of {shape[at]} to")
    return (*shape[:at], *sizes, *shape[at + 1:])


define(
    "unflatten",
    "reshape",
    "One axis split into several (x.unflatten(1, (heads, -1))): a view.",
    args=(Arg("dim", integer, doc="a torch dim"), Arg("sizes", integers, doc="its new sizes; one may be -1")),
    shape=_unflatten_shape,
    calls=("function",),
    build=lambda t, a, ins, out: t.op("Unflatten", lambda m, x: x.unflatten(m.dim, m.sizes), dim=a["dim"],
                                      sizes=a["sizes"]),
    formulas={"output": "the axis replaced by sizes", "params": "0", "macs": "0"},
    # splitting one axis needs no copy, whatever the strides
    saved="nothing", rf="none", latency="free", counts="reshape", view=True, layout="kept",
)


def _permutation(dims, shape) -> tuple:
    """Per-sample axes in their new order; torch's dims must keep the batch first."""
    full = len(shape) + 1
    if len(dims) != full:
        raise CnnCostError(f"permute dims {list(dims)} must name all {full} axes (batch included)")
    normal = tuple(d + full if d < 0 else d for d in dims)
    if sorted(normal) != list(range(full)):
        raise CnnCostError(f"permute dims {list(dims)} are not a permutation of 0..{full - 1}")
    if normal[0] != 0:
        raise CnnCostError(f"permute dims {list(dims)} must keep the batch axis (0) first")
    return tuple(d - 1 for d in normal[1:])


def _moves_data(order, shape) -> bool:
    """Whether a permutation changes the order of the axes that have more than one element."""
    kept = [i for i in order if shape[i] != 1]
    return kept != sorted(kept)


def _permute_layout(order):
    def layout(node, first: str, batch: int) -> str:
        moved = order(node)
        if not _moves_data(moved, node.input_shapes[0]):
            return first
        if first == "swapped" and moved[:2] == (1, 0) and list(moved[2:]) == list(range(2, len(moved))):
            return "contiguous"  # swapping back the first two axes of attention's output
        if first == "swapped_inner" and moved[:3] == (0, 2, 1) and list(moved[3:]) == list(range(3, len(moved))):
            return "contiguous"  # the same after a folded attention (its windows first)
        if first == "contiguous" and list(moved) == [*range(len(moved) - 2), len(moved) - 1, len(moved) - 2]:
            return "transposed"  # k.transpose(-2, -1) of a contiguous k
        return "rows" if moved[-1] == len(moved) - 1 and first not in ("strided", "transposed") else "strided"

    return layout


def _permute_order(node):
    return _permutation(node.args["dims"], node.input_shapes[0])


define(
    "permute",
    "reshape",
    "The axes in a new order (x.permute(0, 2, 3, 1)): a strided view.",
    args=(Arg("dims", integers, doc="all torch dims in their new order; 0 (the batch) stays first"),),
    shape=lambda a, ins: tuple(ins[0][i] for i in _permutation(a["dims"], ins[0])),
    calls=("function", "operator"),
    build=lambda t, a, ins, out: t.op("Permute", lambda m, x: x.permute(*m.dims), dims=a["dims"]),
    formulas={"output": "the axes reordered", "params": "0", "macs": "0"},
    saved="nothing", rf="none", latency="free", counts="reshape", view=True,
    layout=_permute_layout(_permute_order),
)


def _transpose_order(node):
    shape = node.input_shapes[0]
    i, j = axis(node.args["dim0"], shape, "dim0"), axis(node.args["dim1"], shape, "dim1")
    order = list(range(len(shape)))
    order[i], order[j] = order[j], order[i]
    return tuple(order)


def _transpose_shape(a, shapes):
    (shape,) = shapes
    i, j = axis(a["dim0"], shape, "dim0"), axis(a["dim1"], shape, "dim1")
    out = list(shape)
    out[i], out[j] = out[j], out[i]
    return tuple(out)


define(
    "transpose",
    "reshape",
    "Two axes swapped (x.transpose(1, 2), k.transpose(-2, -1)): a strided view.",
    args=(Arg("dim0", integer, doc="a torch dim"), Arg("dim1", integer, doc="a torch dim")),
    shape=_transpose_shape,
    calls=("function", "operator"),
    build=lambda t, a, ins, out: t.op("Transpose", lambda m, x: x.transpose(m.dim0, m.dim1), dim0=a["dim0"],
                                      dim1=a["dim1"]),
    formulas={"output": "two axes swapped", "params": "0", "macs": "0"},
    saved="nothing", rf="none", latency="free", counts="reshape", view=True,
    layout=_permute_layout(_transpose_order),
)


# --- matrix products ---


def _matmul_shape(a, shapes):
    if len(shapes) != 2:
        raise CnnCostError(f"matmul needs exactly two inputs, got {len(shapes)}")
    x, y = shapes
    if len(x) < 2 or len(y) < 2:
        raise CnnCostError(f"matmul needs at least two axes per sample in each input, got {format_shape(x)} and "
                           f"{format_shape(y)}")
    if x[-1] != y[-2]:
        raise CnnCostError(f"matmul needs the first input's columns ({x[-1]}) to be the second's rows ({y[-2]}): "
                           f"{format_shape(x)} and {format_shape(y)}")
    return (*broadcast_shapes((x[:-2], y[:-2]), "matmul"), x[-2], y[-1])


def operand(node, ctx, i, transposed_ok=False):
    """An operand a batched product saves: the input itself where contiguous, else the contiguous copy that
    torch's matmul (folding batch axes), einsum and the CPU's attention kernel make of it (measured).
    ``transposed_ok``: matmul folds the batch axes of a contiguous tensor with its last two axes swapped as a
    view, and bmm takes it as it is (measured: EfficientFormerV2's attn @ v.permute(0, 1, 3, 2) copies nothing)."""
    from .saved_rules import _input, _new

    if not ctx.layouts or ctx.layouts[i] == "contiguous" or len(node.input_shapes[i]) < 2 or (
            transposed_ok and ctx.layouts[i] == "transposed"):
        return _input(i)
    return _new(_numel(node.input_shapes[i]) * ctx.batch * ctx.element_bytes)


def _products_saved(node, ctx, as_given=False, transposed_ok=False):
    from .memory import _input

    saved = []
    if ctx.grad_inputs[0]:
        saved.append(_input(1) if as_given else operand(node, ctx, 1, transposed_ok))
    if ctx.grad_inputs[1]:
        saved.append(_input(0) if as_given else operand(node, ctx, 0, transposed_ok))
    return tuple(saved)


def _matmul_saved(node, ctx):
    # two (L, E) operands per sample go to bmm as they are, strides and all (measured: no copy is saved); more
    # axes are folded into bmm's batch by a reshape, a copy where not contiguous
    shapes = node.input_shapes
    saved = _products_saved(node, ctx, as_given=len(shapes[0]) == len(shapes[1]) == 2,
                            transposed_ok=shapes[0][:-2] == shapes[1][:-2])
    batch_axes = node.output_shape[:-2]
    if ctx.batch == 1 or all(s[:-2] == batch_axes for s in shapes):
        return saved
    # an operand broadcast over the other's axes (LambdaNet's q @ lam.unsqueeze(1)): at::matmul expands it to the
    # broadcast batch and reshapes that to bmm's (N*..., rows, columns), which a stride-0 axis after the batch
    # makes a copy of the expanded size: that copy is what bmm saves (measured on lambda_resnet26t)
    from .saved_rules import _new

    def expanded(i):
        if shapes[i][:-2] == batch_axes:
            return None
        return _new(ctx.batch * _numel(batch_axes) * shapes[i][-2] * shapes[i][-1] * ctx.element_bytes)

    order = [i for i, needs in ((1, ctx.grad_inputs[0]), (0, ctx.grad_inputs[1])) if needs]
    return tuple(expanded(i) or item for i, item in zip(order, saved))


define(
    "matmul",
    "linear",
    "The product of two tensors' last two axes, broadcast over the others (a @ b, torch.matmul, bmm); "
    "both per sample.",
    shape=_matmul_shape,
    macs=lambda a, ins, out: _numel(out) * ins[0][-1],
    inputs="many",
    calls=("operator", "function"),
    build=lambda t, a, ins, out: t.op("MatMul", lambda m, x, y: x @ y),
    formulas={"output": "(..., M, N) from (..., M, K) and (..., K, N)", "params": "0", "macs": "numel * K",
              "arguments": "needs `input: [a, b]`"},
    saved=_matmul_saved, rf="none", latency="matrix", counts="matmul",
)


def _einsum_parts(equation: str, shapes):
    """The operands' letters and the output's, with the batch letter (each operand's first) checked."""
    if "..." in equation or "->" not in equation:
        raise CnnCostError(f"einsum equation '{equation}' must be explicit, as 'bij,bjk->bik', with no '...'")
    left, right = equation.replace(" ", "").split("->")
    operands = left.split(",")
    if len(operands) != len(shapes):
        raise CnnCostError(f"einsum equation '{equation}' has {len(operands)} operands and the row {len(shapes)} "
                           "inputs")
    letters = operands + [right]
    if any(not s.isalpha() or len(set(s)) != len(s) for s in letters if s):
        raise CnnCostError(f"einsum equation '{equation}' needs distinct letters for each operand's axes")
    batch = {s[0] for s in letters if s}
    if len(batch) != 1 or any(not s for s in letters):
        raise CnnCostError(f"einsum equation '{equation}' needs every operand and the output to start with the "
                           "batch letter")
    sizes: dict[str, int] = {}  # per letter
    for ops_, shape in zip(operands, shapes):
        if len(ops_) != len(shape) + 1:
            raise CnnCostError(f"einsum operand '{ops_}' has {len(ops_)} axes, its input {len(shape) + 1} "
                               "(batch included)")
        for letter, size in zip(ops_[1:], shape):
            if sizes.setdefault(letter, size) != size:
                raise CnnCostError(f"einsum axis '{letter}' has sizes {sizes[letter]} and {size}")
    if set(right) - set("".join(operands)):
        raise CnnCostError(f"einsum equation '{equation}' gives the output letters no operand has")
    return operands, right, sizes


def _einsum_shape(a, shapes):
    _, right, sizes = _einsum_parts(a["equation"], shapes)
    return tuple(sizes[x] for x in right[1:])


def _einsum_macs(a, ins, out):
    # a product over every letter's range: each output element sums over the contracted letters
    _, _, sizes = _einsum_parts(a["equation"], ins)
    return math.prod(sizes.values())


define(
    "einsum",
    "linear",
    "torch.einsum of two operands, the equation explicit and with the batch letter "
    "('bhqd,bhkd->bhqk').",
    args=(Arg("equation", text, doc="explicit, each operand and the output starting with the batch letter"),),
    shape=_einsum_shape,
    macs=_einsum_macs,
    inputs="many",
    calls=("function",),
    build=lambda t, a, ins, out: t.op("Einsum", lambda m, *xs: t.torch.einsum(m.equation, *xs),
                                      equation=a["equation"]),
    formulas={"output": "the output letters' sizes", "params": "0",
              "macs": "product of every letter's size (batch excluded)", "arguments": "needs `input: [a, b]`"},
    saved=_products_saved, rf="none", latency="matrix", counts="matmul",
)


# --- attention ---


def _attention_shape(a, shapes):
    if len(shapes) != 3:
        raise CnnCostError(f"attention needs three inputs (query, key, value), got {len(shapes)}")
    q, k, v = shapes
    if len(q) < 2 or len(k) != len(q) or len(v) != len(q):
        raise CnnCostError("attention inputs must have the same rank, at least (L, E) per sample: "
                           + ", ".join(format_shape(s) for s in shapes))
    if q[-1] != k[-1] or k[-2] != v[-2] or q[:-2] != k[:-2] or q[:-2] != v[:-2]:
        raise CnnCostError("attention inputs do not fit (query L x E, key S x E, value S x Ev): "
                           + ", ".join(format_shape(s) for s in shapes))
    if bool(a["mask_table"]) != bool(a["mask_shape"]) or a["mask_table"] and (a["causal"] or a["folded"]):
        raise CnnCostError("attention's mask_table and mask_shape go together, without causal or folded")
    if a["mask_shape"] and broadcast_shapes(((*q[:-1], k[-2]), a["mask_shape"]), "attention mask") != (
            *q[:-1], k[-2]):
        raise CnnCostError(f"attention's mask of shape {format_shape(a['mask_shape'])} must broadcast to the "
                           f"weights' {format_shape((*q[:-1], k[-2]))}")
    return (*q[:-1], v[-1])


def _attention_macs(a, ins, out):
    q, k, v = ins
    heads = _numel(q[:-2])
    return heads * q[-2] * k[-2] * (q[-1] + v[-1])  # Q K^T and the weights times V


def fused_attention(node) -> bool:
    """Whether torch runs an attention row as the CPU's fused kernel: on (N, heads, L, E), per sample rank 3; with
    ``folded``, on (N*W, heads, L, E) (window attention), per sample (W, heads, L, E)."""
    return len(node.input_shapes[0]) == (4 if node.args.get("folded") else 3)


def fused_in_training(node) -> bool:
    """As fused_attention, when the mask (a bias table's gather) needs a gradient: torch then runs the math path
    (measured: CoAtNet's attention saves the math path's tensors, and inference runs the fused kernel)."""
    return fused_attention(node) and not node.args.get("mask_table")


def _attention(m, q, k, v):
    from torch.nn.functional import scaled_dot_product_attention

    if m.folded:  # (N, W, heads, L, E) run as torch's window attention runs it, on (N*W, heads, L, E)
        n = q.shape[0]
        out = scaled_dot_product_attention(q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), is_causal=m.causal,
                                           scale=m.scale)
        return out.unflatten(0, (n, -1))
    mask = m.table.reshape(-1)[m.index] if m.table is not None else None
    return scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=m.causal, scale=m.scale)


def _build_attention(t, a, ins, out):
    module = t.op("Attention", _attention, causal=a["causal"], scale=a["scale"], folded=a["folded"])
    module.table = None
    if a["mask_table"]:  # a relative position bias: a table gathered by an integer index, the additive mask
        module.table = t.nn.Parameter(t.torch.zeros(a["mask_table"]))
        module.register_buffer("index", t.torch.arange(_numel(a["mask_shape"])).remainder(
            _numel(a["mask_table"])).reshape(a["mask_shape"]))
    return module


def _attention_saved(node, ctx):
    # measured with saved_tensors_hooks (torch 2.13, CPU): on (N, heads, L, E) whose last axes are dense, its
    # fused kernel keeps q, k, v, the output and a float32 log-sum-exp per query; otherwise the math path keeps
    # q * scale, k
    # transposed, the weights (heads x L x S) and v (a copy where not contiguous), all float32 for half
    # precision on the CPU
    from .saved_rules import OUTPUT, _new

    if not any(ctx.grad_inputs):
        return ()
    q, k, v = node.input_shapes
    if fused_in_training(node) and not {"strided", "transposed"} & set(ctx.layouts):  # each last axis dense
        return (*(operand(node, ctx, i) for i in range(3)), OUTPUT, _new(_numel(q[:-1]) * ctx.batch * 4))
    b = 4 if ctx.element_bytes == 2 and ctx.device == "cpu" else ctx.element_bytes
    n = ctx.batch * b
    value = operand(node, ctx, 2) if b == ctx.element_bytes else _new(_numel(v) * n)
    return (_new(_numel(q) * n), _new(_numel(k) * n), _new(_numel(q[:-1]) * k[-2] * n), value)


def _attention_layout(node, first: str, batch: int) -> str:
    # the CPU's fused kernel writes (N, L, heads, E) and returns it as (N, heads, L, E): x.transpose(1, 2) of its
    # output is contiguous again (timm's attention then reshapes it as a view); the math path's is contiguous
    # folded, (N*W, L, heads, E) returned as (N*W, heads, L, E): per sample the second and third axes swapped
    if not fused_in_training(node) or first in ("strided", "transposed"):
        return "contiguous"
    return "swapped_inner" if node.args.get("folded") else "swapped"


define(
    "attention",
    "other",
    "Scaled dot-product attention, softmax(Q K^T * scale) V, of a query (..., L, E), key (..., S, E) and value "
    "(..., S, Ev), as torch's functional scaled dot-product attention computes it.",
    args=(Arg("causal", boolean, False, "mask each query's later keys"),
          Arg("scale", _optional(number), None, "null: 1/sqrt(E)"),
          Arg("folded", boolean, False, "torch runs it with the batch folded into the first axis, on (N*W, heads, "
              "L, E) (window attention): per sample (W, heads, L, E), the fused kernel's rules"),
          Arg("mask_table", _optional(_shape_arg), None, "the shape of a learnable table gathered by a constant "
              "index into an additive mask (a relative position bias, attn_mask=table[index]); its parameters"),
          Arg("mask_shape", _optional(_shape_arg), None, "that mask's per-sample shape, broadcast to the weights "
              "(heads, L, S)")),
    shape=_attention_shape,
    macs=_attention_macs,
    inputs="many",
    calls=("function",),
    params=lambda a, ins, out: _numel(a["mask_table"]) if a["mask_table"] else 0,
    build=_build_attention,
    # from torch's tensors: FlopCounterMode has no formula for the CPU's fused kernel in eval
    measure={"macs": Measure(lambda s: math.prod(s.input_shapes[0][:-2]) * s.input_shapes[0][-2]
                             * s.input_shapes[1][-2] * (s.input_shapes[0][-1] + s.input_shapes[2][-1]),
                             "N x heads x L x S x (E + Ev), from torch's query, key and value")},
    formulas={"output": "(..., L, Ev)", "params": "0, or the mask table's numel",
              "macs": "heads*L*S*(E + Ev): Q K^T and weights x V",
              "arguments": "needs `input: [query, key, value]`"},
    saved=_attention_saved, rf="attention", latency="matrix", counts="attention", layout=_attention_layout,
)


def _mha_shape(a, shapes):
    if len(shapes) not in (1, 3):
        raise CnnCostError(f"multihead_attention takes one input (self-attention) or three (query, key, value), "
                           f"got {len(shapes)}")
    for s in shapes:
        if len(s) != 2:
            raise CnnCostError(f"multihead_attention expects tokens (L, E), got {format_shape(s)}")
    q = shapes[0]
    e = q[1]
    if e % a["heads"]:
        raise CnnCostError(f"heads={a['heads']} must divide the embedding of {e}")
    if len(shapes) == 3:
        k, v = shapes[1:]
        if k[1] != e or v[1] != e or k[0] != v[0]:
            raise CnnCostError("multihead_attention inputs do not fit: " + ", ".join(format_shape(s) for s in shapes))
    return q


def _mha_params(a, ins, out):
    e = ins[0][1]
    return 4 * e * e + (4 * e if a["bias"] else 0)  # in_proj (3E x E) and out_proj (E x E), their biases


def _mha_macs(a, ins, out):
    (lq, e), s = ins[0], ins[-1][0]
    projections = (lq + 2 * s) * e * e + lq * e * e  # q, k, v in; the output out
    return projections + 2 * lq * s * e  # Q K^T and weights x V over all heads


def _build_mha(t, a, ins, out):
    return t.SelfAttention(ins[0][1], a["heads"], bias=a["bias"], batch_first=True)


def _mha_saved(node, ctx):
    # measured (torch 2.13, CPU, batch_first, need_weights=False): the tokens as (L*N, E) for the input
    # projection (a copy unless N = 1, transposed from batch-first), the q, k, v projection, and the
    # attention's float32 log-sum-exp and output
    from .saved_rules import _input, _new

    if not ctx.trainable and not any(ctx.grad_inputs):
        return ()
    (lq, e), s, n, b = node.input_shapes[0], node.input_shapes[-1][0], ctx.batch, ctx.element_bytes
    tokens = lq * e * n * b
    first = _input() if n == 1 else _new(tokens)
    saved = [first] if len(node.input_shapes) == 1 else [
        _input(0) if n == 1 else _new(tokens), *(_input(i) if n == 1 else _new(s * e * n * b) for i in (1, 2))]
    qkv = (lq + 2 * s) * e * n * b
    return (*saved, _new(qkv), _new(lq * node.args["heads"] * n * 4), _new(tokens))


define(
    "multihead_attention",
    "other",
    "nn.MultiheadAttention(E, heads, batch_first=True) on tokens (L, E), need_weights=False: self-attention "
    "on one input, or query, key and value.",
    args=(Arg("heads", positive_int, doc="attention heads; must divide E"), Arg("bias", boolean, True)),
    shape=_mha_shape,
    params=_mha_params,
    macs=_mha_macs,
    bias_adds=lambda a, ins, out: (ins[0][0] * 2 + 2 * ins[-1][0]) * ins[0][1] if a["bias"] else 0,
    inputs="many",
    calls=("module",),
    build=_build_mha,
    measure={"bias_adds": Measure(
        lambda s: (2 * s.input_shapes[0][1] + 2 * s.input_shapes[-1][1]) * s.module.embed_dim * s.input_shapes[0][0]
        if s.module.in_proj_bias is not None else 0, "N x (2L + 2S) x E when the module has biases"),
        # from the module and the tensors: in eval torch runs a fused kernel that FlopCounterMode cannot see
        "macs": Measure(lambda s: s.input_shapes[0][0] * _mha_macs(
            {}, (tuple(s.input_shapes[0][1:]), tuple(s.input_shapes[-1][1:])), None),
            "N x ((L + 2S) E^2 + L E^2 + 2 L S E), E and the lengths from torch's module and tensors")},
    formulas={"output": "(L, E)", "params": "4E^2 (+ 4E)",
              "macs": "(L + 2S)E^2 + L E^2 (projections) + 2 L S E (attention)"},
    saved=_mha_saved, rf="attention", latency="matrix", counts="multihead_attention",
)


# --- ViT's learnt tokens: the class token and the position embedding ---


def _tokens(shapes, kind: str):
    (shape,) = shapes
    if len(shape) != 2:
        raise CnnCostError(f"{kind} expects tokens (L, C), got {format_shape(shape)}")
    return shape


def _class_token(m, x):
    import torch

    return torch.cat([m.class_token.expand(x.shape[0], -1, -1), x], dim=1)


def _build_class_token(t, a, ins, out):
    module = t.op("ClassToken", _class_token)
    module.class_token = t.nn.Parameter(t.torch.zeros(1, 1, ins[0][1]))  # torchvision's (1, 1, C)
    return module


define(
    "class_token",
    "reshape",
    "A learnt token of C features put before the L tokens (ViT's class token): "
    "torch.cat([class_token.expand(N, -1, -1), x], dim=1).",
    shape=lambda a, ins: (_tokens(ins, "class_token")[0] + 1, ins[0][1]),
    params=lambda a, ins, out: ins[0][1],
    calls=("function",),  # torch.cat of a parameter of the model's own
    build=_build_class_token,
    formulas={"output": "(L + 1, C)", "params": "C", "macs": "0"},
    # cat saves nothing (its backward slices the gradient); the expanded token is a view of the parameter
    saved="nothing", rf="none", latency="copy", counts="reshape",
)


def _position_embedding(m, x):
    return x + m.pos_embedding


def _build_position_embedding(t, a, ins, out):
    module = t.op("PositionEmbedding", _position_embedding)
    module.pos_embedding = t.nn.Parameter(t.torch.empty(1, *ins[0]).normal_(std=0.02))  # torchvision's init
    return module


define(
    "position_embedding",
    "elementwise",
    "A learnt embedding per token position, added to the tokens (ViT's x + pos_embedding, of shape (L, C)).",
    shape=lambda a, ins: _tokens(ins, "position_embedding"),
    params=lambda a, ins, out: _numel(out),
    macs=lambda a, ins, out: _numel(out),
    calls=("operator",),  # x + self.pos_embedding
    build=_build_position_embedding,
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "L*C", "macs": "L*C (one add per element)"},
    # an add keeps nothing for backward: the gradient passes to both operands as it is
    saved="nothing", rf="none", latency="per_element", counts="elementwise", layout="kept",
)


# --- pixel shuffles ---


def _pixel_shuffle_shape(a, shapes):
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"pixel_shuffle expects a CxHxW map, got {format_shape(shape)}")
    c, h, w = shape
    r = a["factor"]
    if c % (r * r):
        raise CnnCostError(f"pixel_shuffle: factor {r}^2 must divide the {c} channels")
    return (c // (r * r), h * r, w * r)


def _pixel_unshuffle_shape(a, shapes):
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"pixel_unshuffle expects a CxHxW map, got {format_shape(shape)}")
    c, h, w = shape
    r = a["factor"]
    if h % r or w % r:
        raise CnnCostError(f"pixel_unshuffle: factor {r} must divide the height {h} and width {w}")
    return (c * r * r, h // r, w // r)


define(
    "pixel_shuffle",
    "reshape",
    "Channels to space (nn.PixelShuffle(r)): C x H x W to C/r^2 x rH x rW.",
    args=(Arg("factor", positive_int, doc="r"),),
    shape=_pixel_shuffle_shape,
    build=lambda t, a, ins, out: t.nn.PixelShuffle(a["factor"]),
    formulas={"output": "C/r^2 x rH x rW", "params": "0", "macs": "0"},
    saved="nothing", rf="pixel_shuffle", latency="copy", counts="reshape",
)

define(
    "pixel_unshuffle",
    "reshape",
    "Space to channels (nn.PixelUnshuffle(r)): C x H x W to r^2 C x H/r x W/r.",
    args=(Arg("factor", positive_int, doc="r"),),
    shape=_pixel_unshuffle_shape,
    build=lambda t, a, ins, out: t.nn.PixelUnshuffle(a["factor"]),
    formulas={"output": "r^2 C x H/r x W/r", "params": "0", "macs": "0"},
    saved="nothing", rf="pixel_unshuffle", latency="copy", counts="reshape",
)


# --- norms ---


def _instancenorm_shape(a, shapes):
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"instancenorm expects a CxHxW map, got {format_shape(shape)}")
    return shape


def _instancenorm_saved(node, ctx):
    # the input, a mean and an inverse std per sample and channel, and (affine) the weight repeated per sample
    from .saved_rules import _input, _new

    if not ctx.trainable and not ctx.grad_inputs[0]:
        return ()
    stats = ctx.batch * node.input_shapes[0][0] * ctx.element_bytes
    return (_input(), _new(stats), _new(stats), *([_new(stats)] if node.params else []))


define(
    "instancenorm",
    "norm",
    "Instance normalisation (nn.InstanceNorm2d): each sample's channels normalised over their positions.",
    args=(Arg("eps", number, 1e-5), Arg("affine", boolean, False, "learn a scale and shift per channel")),
    shape=_instancenorm_shape,
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    macs=lambda a, ins, out: _numel(out),
    calls=("module", "function"),
    build=lambda t, a, ins, out: t.nn.InstanceNorm2d(ins[0][0], eps=a["eps"], affine=a["affine"]),
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "2C if affine", "macs": "C*H*W"},
    saved=_instancenorm_saved, rf="global", latency="norm", counts="norm", rf_stand_in="position_mean",
)


def _grn_shape(a, shapes):
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"grn expects a map, CxHxW (or HxWxC with channels_last), got {format_shape(shape)}")
    return shape


def _grn_channels(a, shape) -> int:
    return shape[-1] if a["channels_last"] else shape[0]


def _grn(m, x):
    spatial, channel = ((1, 2), -1) if m.channels_last else ((2, 3), 1)
    shape = [1] * x.dim()
    shape[channel] = -1
    gx = x.norm(p=2, dim=spatial, keepdim=True)
    nx = gx / (gx.mean(dim=channel, keepdim=True) + m.eps)
    return m.gamma.reshape(shape) * (x * nx) + m.beta.reshape(shape) + x


def _build_grn(t, a, ins, out):
    module = t.op("GlobalResponseNorm", _grn, eps=a["eps"], channels_last=a["channels_last"])
    c = _grn_channels(a, ins[0])
    module.gamma = t.nn.Parameter(t.torch.zeros(c))
    module.beta = t.nn.Parameter(t.torch.zeros(c))
    return module


def _grn_saved(node, ctx):
    # measured (torch 2.13): the norm's input and output, the mean plus eps (the division's divisor) and the
    # quotient nx, x for gamma's gradient and x * nx for gamma's product: x once, x * nx and three per-channel
    # tensors
    from .saved_rules import _input, _new

    if not ctx.trainable and not ctx.grad_inputs[0]:
        return ()
    c = _grn_channels(node.args, node.input_shapes[0])
    per_channel = ctx.batch * c * ctx.element_bytes
    return (_input(), _new(per_channel), _new(ctx.batch * ctx.element_bytes), _new(per_channel),
            _new(_numel(node.output_shape) * ctx.batch * ctx.element_bytes))


define(
    "grn",
    "norm",
    "Global response normalisation (ConvNeXt-V2, timm's GlobalResponseNorm): x + beta + gamma * x * N(x), "
    "N the 2-norm over positions divided by its mean over channels.",
    args=(Arg("eps", number, 1e-6), Arg("channels_last", boolean, False, "the map is H x W x C")),
    shape=_grn_shape,
    params=lambda a, ins, out: 2 * _grn_channels(a, ins[0]),
    macs=lambda a, ins, out: _numel(out),
    calls=("subclass",),
    build=_build_grn,
    measure={"macs": _PER_ELEMENT},
    formulas={"output": "same", "params": "2C", "macs": "C*H*W"},
    saved=_grn_saved, rf="global", latency="norm", counts="norm", rf_stand_in="position_mean",
)
