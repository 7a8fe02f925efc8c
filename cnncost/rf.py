"""Receptive fields: for every layer, the input pixels one of its units sees, per axis.

Per axis, a layer's field is three integers (Araujo, Norris and Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019): unit i of the layer sees input pixels
[i*stride - padding, i*stride - padding + size - 1]. A window (conv, pooling) of span K = d*(k-1) + 1,
stride s and left padding p maps (size, stride, padding) to (size + (K-1)*stride, stride*s,
padding + p*stride); element-wise layers keep the field. Extended here to:

- dilation (the span above);
- global dependence: a global pool, a flatten, a group norm (whose statistics span every position) give
  every unit the same field, the union over all input positions; such a field has stride 0;
- attention over all tokens (a ViT's): tokens made from a map (its positions flattened) carry that map's
  field unseen (a token's field has no stride along a map axis, so their rows show none); an attention
  whose keys are every token, the class token's included, gives each of its units the whole map's
  field, global (stride 0), as a global pool does; windowed attention (fewer keys) gives none here;
- several paths: a merge (add, concat, mul) sees the union of its inputs' fields. Where the paths'
  strides or centres disagree the layer is marked not aligned (the union of unit 0's fields is given),
  as Araujo et al.'s library reports; a path whose field already covers every other (a squeeze-and-
  excitation gate) makes the merge global;
- adaptive average pooling: exact when the output divides the input; otherwise the windows differ in
  length, and the field of the longest is given, marked not uniform (as is everything after it);
- upsampling (transposed conv with stride > 1, nearest and bilinear resizing): unit o reads input units
  in [a*o + b, a*o + c] for fractions a, b, c, so the field is given as the smallest affine bound on every
  unit's field, with a fractional stride, marked a bound (as is everything after it); exact for a
  stride-1 transposed conv. Padding shifts the field; a centre crop shifts it back.

Plain data; ``cnncost validate --rf`` checks the fields against torch gradients (docs/receptive-field.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import CnnCostError
from .graph import INPUT, Graph, Node
from .kinds import longest_adaptive_window, pool_pads, register_check


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
    bound: bool = False  # not uniform, but the field given contains every unit's own (after upsampling)

    def axes(self):
        return self.h, self.w

    def like(self, h: Axis, w: Axis) -> "Field":
        """A field with new axes and this one's flags: what a layer that maps each unit alike gives."""
        return Field(h, w, self.aligned, self.uniform, self.bound)


def _number(value):
    """An int where the value is whole; a float otherwise (a fractional stride or padding after upsampling)."""
    return int(value) if value == int(value) else float(value)


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
                    "effective_stride": None, "effective_padding": None, "aligned": None, "uniform": None,
                    "bound": None}
        return {"name": self.name, "kind": self.kind, "side": self.side,
                "receptive_field": [_number(f.h.size), _number(f.w.size)],
                "effective_stride": [_number(f.h.stride), _number(f.w.stride)],
                "effective_padding": [_number(f.h.padding), _number(f.w.padding)], "aligned": f.aligned,
                "uniform": f.uniform, "bound": f.bound}


# --- per-kind rules: (node, input fields) -> output field ---


def _window(axis: Axis, kernel: int, stride: int, left: int, dilation: int = 1) -> Axis:
    span = dilation * (kernel - 1) + 1
    return Axis(axis.size + (span - 1) * axis.stride, axis.stride * stride, axis.padding + left * axis.stride)


def _conv(node: Node, fields):
    (field,), a = fields, node.args
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    top, _, left, _ = a["padding"]
    return field.like(_window(field.h, kh, sh, top, dh), _window(field.w, kw, sw, left, dw))


def _pool(node: Node, fields):
    (field,), a = fields, node.args
    (kh, kw), (ph, _, pw, _) = a["kernel"], pool_pads(a)
    sh, sw = a["stride"] or a["kernel"]
    dh, dw = a.get("dilation", (1, 1))
    return field.like(_window(field.h, kh, sh, ph, dh), _window(field.w, kw, sw, pw, dw))


def _global_axis(axis: Axis, units: int) -> Axis:
    first, last = axis.span(units)
    return Axis(last - first + 1, 0, -first)


def _global(node: Node, fields):
    (field,), (_, h, w) = fields, node.input_shapes[0]
    return field.like(_global_axis(field.h, h), _global_axis(field.w, w))


def _vector(node: Node, fields):
    (field,), shape = fields, node.input_shapes[0]
    if len(shape) != 3 or node.args.get("per_position"):
        return field  # already one field for the whole vector
    return _global(node, fields)


def _adaptive(node: Node, fields):
    (field,), (_, h, w) = fields, node.input_shapes[0]
    oh, ow = node.args["output"]
    regular = h % oh == 0 and w % ow == 0

    def axis(a: Axis, size: int, out: int) -> Axis:
        if out == 1:
            return _global_axis(a, size)
        # PyTorch's window i is [floor(i*size/out), ceil((i+1)*size/out)): the longest gives the field
        longest = longest_adaptive_window(size, out)
        return Axis(a.size + (longest - 1) * a.stride, a.stride * -(-size // out), a.padding)

    # irregular windows are neither one size nor bounded by the longest's field at stride ceil(size/out)
    return Field(axis(field.h, h, oh), axis(field.w, w, ow), field.aligned, field.uniform and regular,
                 field.bound and regular)


def _subsample(node: Node, fields):
    (field,), s = fields, node.args["stride"]
    return field.like(_window(field.h, 1, s, 0), _window(field.w, 1, s, 0))


def _resampled(axis: Axis, a, b, c) -> Axis:
    """The field of a layer whose unit o reads input units in [a*o + b, a*o + c] (fractions)."""
    return Axis(axis.size + (c - b) * axis.stride, a * axis.stride, axis.padding - b * axis.stride)


def _upsampling(fields, reads, exact: bool) -> Field:
    """``reads(axis index)`` gives (a, b, c); ``exact``: every unit reads exactly that interval."""
    field = fields[0]
    h, w = (_resampled(axis, *reads(i)) for i, axis in enumerate(field.axes()))
    if exact:
        return field.like(h, w)
    return Field(h, w, field.aligned, False, field.uniform or field.bound)


def _conv_transpose(node: Node, fields):
    # output o = i*stride - padding + t*dilation for input unit i and tap t: i in [(o + p - (k-1)d)/s, (o + p)/s]
    from fractions import Fraction  # here, not at the top: it imports decimal, 3 ms of every command's start

    a = node.args

    def reads(i):
        k, s, p, d = a["kernel"][i], a["stride"][i], a["padding"][i], a["dilation"][i]
        return Fraction(1, s), Fraction(p - (k - 1) * d, s), Fraction(p, s)

    return _upsampling(fields, reads, a["stride"] == (1, 1))  # stride 1: a conv, exact


def _upsample(node: Node, fields):
    from fractions import Fraction  # see _conv_transpose

    a, (_, *sizes), (_, *outs) = node.args, node.input_shapes[0], node.output_shape

    def reads(i):
        size, out = sizes[i], outs[i]
        if a["mode"] == "bilinear" and a["align_corners"]:
            # source position o*(size-1)/(out-1), and the unit after it
            return (Fraction(size - 1, out - 1), -1, 1) if out > 1 else (0, 0, 0)
        # torch's ratio: 1/scale when a scale is given, else size/out (a size, or a reference's)
        r = 1 / Fraction(a["scale"][i]) if a["scale"] is not None else Fraction(size, out)
        if a["mode"] == "nearest":
            return r, -Fraction(r.denominator - 1, r.denominator), 0  # floor(o*r): within (den-1)/den below
        return r, r / 2 - Fraction(3, 2), r / 2 + Fraction(1, 2)  # the two units around (o + 1/2)*r - 1/2

    same_size = node.input_shapes[0][1:] == node.output_shape[1:]
    return _upsampling(fields, reads, a["mode"] == "nearest" and same_size)


def _pad(node: Node, fields):
    if node.args.get("channels_last"):
        return None  # a channels-last map (tokens viewed as H x W x C): no map field is carried there
    (field,), (top, _, left, _) = fields, node.args["padding"]
    return field.like(*(Axis(x.size, x.stride, x.padding + p * x.stride) for x, p in zip(field.axes(), (top, left))))


def _center_crop(node: Node, fields):
    from .kinds import crop_offsets

    field, (_, h, w), (_, th, tw) = fields[0], node.input_shapes[0], node.output_shape
    offsets = (crop_offsets(h, th), crop_offsets(w, tw))
    return field.like(*(Axis(x.size, x.stride, x.padding - o * x.stride) for x, o in zip(field.axes(), offsets)))


def _pointwise(node: Node, fields):
    return fields[0]


def _no_field(node: Node, fields):
    # the layout changes (a reshape to tokens, a matrix product): output positions are no longer map positions
    return None


@dataclass(frozen=True)
class Tokens:
    """Tokens made from a map: the map's field and size, carried (not shown) to the attention over them."""

    field: Field
    units: tuple  # the map's height and width: its positions, each a token

    def whole(self) -> Field:
        """What a unit that reads every token sees: the union of every map position's field."""
        h, w = self.units
        return self.field.like(_global_axis(self.field.h, h), _global_axis(self.field.w, w))


def _attention(node: Node, fields):
    """Attention (multihead_attention, attention) on tokens that already see the whole map: still global."""
    if all(f.h.stride == 0 and f.w.stride == 0 for f in fields):
        return _merge(node, fields)
    return None


# the kinds that lay a map's positions out as tokens, or move tokens' axes, or add a token (the class token) or
# a parameter per token (the position embedding), or act on each token alone (by their rule: pointwise, per
# vector), or merge tokens with tokens: tokens stay tokens of the same map
_TOKEN_LAYOUT = frozenset({"reshape", "flatten", "permute", "transpose", "class_token", "position_embedding"})
ATTENTION_KINDS = frozenset({"multihead_attention", "attention"})


def _keys(node: Node) -> int:
    """How many tokens each query of an attention row reads: the keys' length."""
    keys = node.input_shapes[-1] if node.kind == "multihead_attention" else node.input_shapes[1]
    return keys[-2] if node.kind == "attention" else keys[0]


def _made_tokens(node: Node, fields) -> Tokens | None:
    """A map's positions flattened into tokens (C x HW, or HW x C): the map's field, carried."""
    if node.kind not in ("reshape", "flatten") or len(fields) != 1 or not isinstance(fields[0], Field):
        return None
    shape, out = node.input_shapes[0], node.output_shape
    if len(shape) != 3 or len(out) != 2 or shape[1] * shape[2] not in out or shape[0] not in out:
        return None
    return Tokens(fields[0], (shape[1], shape[2]))


def _on_tokens(node: Node, fields, rule: Callable):
    """A row that reads tokens: tokens again, the whole map's field after attention over all of them, or None."""
    tokens = {f for f in fields if isinstance(f, Tokens)}
    if len(tokens) != 1 or any(f is None for f in fields):
        return None  # tokens of two maps, or of a map and something else
    (source,) = tokens
    if node.kind in ATTENTION_KINDS:
        h, w = source.units
        return source.whole() if _keys(node) >= h * w else None  # windowed attention: not every token
    if rule is _merge:
        wide = [f for f in fields if isinstance(f, Field)]  # a residual add after attention: global and tokens
        if not wide:
            return source
        return _merge(node, wide) if all(f.h.stride == 0 and f.w.stride == 0 for f in wide) else None
    if len(fields) == 1 and (node.kind in _TOKEN_LAYOUT or rule in (_pointwise, _vector)):
        if len(node.output_shape) == 1:
            return source.whole()  # every token into one vector
        return source
    return None


def _pixel_unshuffle(node: Node, fields):
    # output unit i reads input units r*i .. r*i + r - 1: an r-wide window at stride r
    (field,), r = fields, node.args["factor"]
    return field.like(*(Axis(x.size + (r - 1) * x.stride, x.stride * r, x.padding) for x in field.axes()))


def _pixel_shuffle(node: Node, fields):
    # output unit o reads input unit floor(o / r): as nearest upsampling by an integer factor
    from fractions import Fraction  # see _conv_transpose

    r = Fraction(1, node.args["factor"])
    return _upsampling(fields, lambda i: (r, -Fraction(r.denominator - 1, r.denominator), 0), False)


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
    uniform = all(f.uniform for f in fields)
    return Field(h, w, h_aligned and w_aligned and all(f.aligned for f in fields), uniform,
                 not uniform and all(f.uniform or f.bound for f in fields))


# The rules a kind's record names (kinds.py, ``rf``); a record may also give a function of its own.
FIELD_RULES: dict[str, Callable] = {
    "conv": _conv,
    "pool": _pool,
    "adaptive": _adaptive,
    "global": _global,  # statistics over every position of the sample (group norm's mean and variance)
    "vector": _vector,
    "subsample": _subsample,
    "conv_transpose": _conv_transpose,
    "upsample": _upsample,
    "pad": _pad,
    "center_crop": _center_crop,
    "pointwise": _pointwise,  # each output position from its own input position (channels may mix)
    "merge": _merge,  # the union of several inputs' fields (add, mul, concat)
    "none": _no_field,  # not a map any more: no field is given, for this row or after it
    "attention": _attention,  # tokens: the whole map's field after the first attention over all of them
    "pixel_shuffle": _pixel_shuffle,
    "pixel_unshuffle": _pixel_unshuffle,
}
_FIELD: dict[str, Callable] = {}  # by kind, resolved once


def _check(kind) -> None:
    rule = kind.rf
    if not callable(rule):
        if rule not in FIELD_RULES:
            raise ValueError(f"layer kind {kind.name}: rf.py has no receptive-field rule '{rule}' "
                             f"(its rules: {', '.join(FIELD_RULES)})")
        rule = FIELD_RULES[rule]
    _FIELD[kind.name] = rule


register_check("receptive field", _check)


def field_rule(node: Node) -> Callable:
    try:
        return _FIELD[node.kind]
    except KeyError:
        raise CnnCostError(f"no receptive-field rule for layer kind '{node.kind}'") from None


def _merge_local(node: Node, fields):
    """A merge in --local mode: a global input (a squeeze-and-excitation gate) is left out where another
    input is local."""
    local = [f for f in fields if f.h.stride or f.w.stride]
    return _merge(node, local if local else fields)


def _local_rule(rule: Callable, node: Node) -> Callable:
    """rf --local: the conventional field of the conv and pool paths, as papers quote it. Statistics over
    the whole map that keep its size (group norm) act as pointwise; a merge leaves out global inputs; a
    global pool, which makes one unit of the map, still sees the whole input."""
    if rule is _global and node.output_shape[1:] == node.input_shapes[0][1:]:
        return _pointwise
    if rule is _merge:
        return _merge_local
    return rule


LOCAL_NOTE = ("--local: the conventional field of the conv and pool paths, as papers quote it. Global "
              "statistics are left out: group norm's mean and variance, and squeeze-and-excitation gates, "
              "which see the whole input; a global pool still does.")


def receptive_fields(graph: Graph, include_side: bool = True, local: bool = False) -> list[LayerField]:
    """Every layer's field, in execution order (side outputs too, unless asked not to); local: the
    conventional field (_local_rule)."""
    fields: dict[str, Field | Tokens | None] = {}
    if len(graph.input_shape) == 3:
        fields[INPUT] = Field(Axis(1, 1, 0), Axis(1, 1, 0))
    else:
        fields[INPUT] = None
    rows = []
    for node in graph.nodes:
        if node.side and not include_side:
            continue
        inputs = [fields[i] for i in node.inputs]
        rule = field_rule(node)
        if local:
            rule = _local_rule(rule, node)
        state: Field | Tokens | None
        if any(isinstance(f, Tokens) for f in inputs):
            state = _on_tokens(node, inputs, rule)
        else:
            state = None if any(f is None for f in inputs) else rule(node, inputs)
            if state is None:
                state = _made_tokens(node, inputs)
        fields[node.name] = state
        rows.append(LayerField(node.name, node.kind, node.side, state if isinstance(state, Field) else None))
    return rows
