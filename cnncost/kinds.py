"""The registry of primitive layer kinds.

Each kind is one small definition: its arguments (checked and normalised),
its output shape, its learnable parameters, its buffers and its MACs.
Shapes are per sample: (C, H, W) for feature maps, (F,) for vectors.
MACs are per sample and raw; the counting convention decides which
categories of work count (see conventions.py).

Adding a kind means adding one ``define(...)`` call here; the YAML parser
finds it through ``KINDS`` and needs no change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import CnnCostError

Shape = tuple
REQUIRED = object()


# --- argument types: each takes the YAML value and returns it normalised, or raises ---


def _type_name(value) -> str:
    return {bool: "a boolean", str: "a string", float: "a float", list: "a list"}.get(
        type(value), type(value).__name__
    )


def _int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CnnCostError(f"{what} must be an integer, got {_type_name(value)} ({value!r})")
    if value < minimum:
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise CnnCostError(f"{what} must be {bound}, got {value}")
    return value


def positive_int(value, what):
    return value if type(value) is int and value >= 1 else _int(value, what, 1)


def nonnegative_int(value, what):
    return value if type(value) is int and value >= 0 else _int(value, what, 0)


def _pair_of(check, minimum):
    def pair(value, what):
        if type(value) is int and value >= minimum:  # the common case, as check would find it
            return (value, value)
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise CnnCostError(f"{what} must be one integer or a pair [h, w], got {len(value)} values")
            return (check(value[0], what), check(value[1], what))
        v = check(value, what)
        return (v, v)

    pair.__name__ = f"pair of {check.__name__}"
    return pair


positive_pair = _pair_of(positive_int, 1)
nonnegative_pair = _pair_of(nonnegative_int, 0)


def padding(value, what):
    """int p, [ph, pw], or asymmetric [top, bottom, left, right]."""
    if isinstance(value, (list, tuple)) and len(value) == 4:
        t, b, l, r = (nonnegative_int(v, what) for v in value)
        return (t, b, l, r)
    if isinstance(value, (list, tuple)) and len(value) not in (2,):
        raise CnnCostError(f"{what} must be p, [ph, pw] or [top, bottom, left, right]")
    ph, pw = nonnegative_pair(value, what)
    return (ph, ph, pw, pw)


def boolean(value, what):
    if not isinstance(value, bool):
        raise CnnCostError(f"{what} must be true or false, got {_type_name(value)} ({value!r})")
    return value


def number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CnnCostError(f"{what} must be a number, got {_type_name(value)} ({value!r})")
    return value


def probability(value, what):
    value = number(value, what)
    if not 0 <= value <= 1:
        raise CnnCostError(f"{what} must be between 0 and 1, got {value}")
    return value


@dataclass(frozen=True)
class Arg:
    name: str
    check: Callable[[Any, str], Any]
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _zero(a, ins, out):
    return 0


@dataclass(frozen=True)
class LayerKind:
    name: str
    category: str  # conv | linear | pool | norm | activation | elementwise | reshape | other
    doc: str
    args: tuple = ()
    shape: Callable = None  # (args, input shapes) -> output shape
    params: Callable = _zero  # learnable parameters
    buffers: Callable = _zero  # non-trainable state (BN running statistics)
    macs: Callable = _zero  # raw multiply-accumulates per sample
    inputs: str = "one"  # "one" or "many"
    inplace: bool = False  # computed in place at inference: allocates no activation memory
    arg_map: dict = field(init=False, repr=False, compare=False)
    defaults: dict = field(init=False, repr=False, compare=False)  # normalised default values
    checks: tuple = field(init=False, repr=False, compare=False)  # what check_args does, worked out once

    def __post_init__(self):
        object.__setattr__(self, "arg_map", {a.name: a for a in self.args})
        object.__setattr__(self, "checks", tuple(
            (a.name, a.check, a.required, f"argument '{a.name}'") for a in self.args))
        object.__setattr__(self, "defaults", {
            a.name: a.check(a.default, a.name) if a.default is not None else None
            for a in self.args if not a.required})

    def check_args(self, raw: dict) -> dict:
        """Validate raw argument values (already evaluated) and fill defaults."""
        out = {}
        for name, check, required, what in self.checks:
            if name in raw:
                out[name] = check(raw[name], what)
            elif required:
                raise CnnCostError(f"{self.name} needs argument '{name}'")
            else:
                out[name] = self.defaults[name]
        return out


KINDS: dict[str, LayerKind] = {}


def define(name, category, doc, *, args=(), **rules) -> LayerKind:
    if name in KINDS:
        raise ValueError(f"layer kind {name} defined twice")
    kind = LayerKind(name, category, doc, tuple(args), **rules)
    KINDS[name] = kind
    return kind


# --- shape helpers ---


def feature_map(shapes, kind: str):
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"{kind} expects a CxHxW feature map, got shape {format_shape(shape)}")
    return shape


def format_shape(shape) -> str:
    return "x".join(str(d) for d in shape)


def conv_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int, what: str) -> int:
    span = dilation * (kernel - 1) + 1
    if size + pad_total < span:
        raise CnnCostError(
            f"{what} window {span} is larger than the padded input {size + pad_total}"
        )
    return (size + pad_total - span) // stride + 1


def pool_size(size, kernel, stride, pad, dilation, ceil_mode, what) -> int:
    """PyTorch's pooling output size, including its ceil-mode rule."""
    if pad * 2 > kernel:
        raise CnnCostError(f"{what} padding {pad} must be at most half the kernel {kernel}")
    span = dilation * (kernel - 1) + 1
    if not ceil_mode:
        if size + 2 * pad < span:
            raise CnnCostError(f"{what} window {span} is larger than the padded input {size + 2 * pad}")
        return (size + 2 * pad - span) // stride + 1
    # ceil mode admits a window that overhangs the input, as long as one output remains
    out = -(-(size + 2 * pad - span) // stride) + 1
    # the last window must start inside the input or its left padding
    if (out - 1) * stride >= size + pad:
        out -= 1
    if out < 1:
        raise CnnCostError(f"{what} window {span} leaves no output from an input of {size}")
    return out


# --- convolution ---

_CONV_COMMON = (
    Arg("stride", positive_pair, 1, "step of the window: s or [sh, sw]"),
    Arg("padding", padding, 0, "zeros added: p, [ph, pw] or [top, bottom, left, right]"),
    Arg("dilation", positive_pair, 1, "spacing of kernel taps"),
    Arg("bias", boolean, True, "add a learnable bias per output channel"),
)


def _conv_shape_for(out_channels: int, a, shapes, kind: str):
    c, h, w = feature_map(shapes, kind)
    (kh, kw), (sh, sw), (dh, dw) = a["kernel"], a["stride"], a["dilation"]
    t, b, l, r = a["padding"]
    return (
        out_channels,
        conv_size(h, kh, sh, t + b, dh, f"{kind} height:"),
        conv_size(w, kw, sw, l + r, dw, f"{kind} width:"),
    )


def _conv_shape(a, shapes):
    c = feature_map(shapes, "conv")[0]
    g = a["groups"]
    if c % g or a["out"] % g:
        raise CnnCostError(
            f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})"
        )
    return _conv_shape_for(a["out"], a, shapes, "conv")


def _conv_params(cin, cout, groups, a):
    kh, kw = a["kernel"]
    return cout * (cin // groups) * kh * kw + (cout if a["bias"] else 0)


def _conv_macs(cin, groups, a, out):
    kh, kw = a["kernel"]
    cout, h, w = out
    return cout * h * w * (cin // groups) * kh * kw


define(
    "conv",
    "conv",
    "2-D convolution (grouped when groups > 1).",
    args=(
        Arg("out", positive_int, doc="output channels"),
        Arg("kernel", positive_pair, doc="kernel size: k or [kh, kw]"),
        *_CONV_COMMON,
        Arg("groups", positive_int, 1, "channel groups; must divide in and out channels"),
    ),
    shape=_conv_shape,
    params=lambda a, ins, out: _conv_params(ins[0][0], a["out"], a["groups"], a),
    macs=lambda a, ins, out: _conv_macs(ins[0][0], a["groups"], a, out),
)


def _dw_shape(a, shapes):
    c = feature_map(shapes, "dwconv")[0]
    return _conv_shape_for(c * a["multiplier"], a, shapes, "dwconv")


define(
    "dwconv",
    "conv",
    "Depthwise convolution: one filter per input channel (groups = input channels).",
    args=(
        Arg("kernel", positive_pair, doc="kernel size: k or [kh, kw]"),
        *_CONV_COMMON,
        Arg("multiplier", positive_int, 1, "output channels per input channel"),
    ),
    shape=_dw_shape,
    params=lambda a, ins, out: _conv_params(ins[0][0], out[0], ins[0][0], a),
    macs=lambda a, ins, out: _conv_macs(ins[0][0], ins[0][0], a, out),
)


# --- linear ---


def _vector(shapes, kind):
    (shape,) = shapes
    if len(shape) != 1:
        raise CnnCostError(f"{kind} expects a flat vector, got shape {format_shape(shape)} (add a flatten layer)")
    return shape[0]


def _linear_shape(a, shapes):
    _vector(shapes, "linear")
    return (a["out"],)


define(
    "linear",
    "linear",
    "Fully connected layer on a flat vector.",
    args=(Arg("out", positive_int, doc="output features"), Arg("bias", boolean, True, "add a learnable bias")),
    shape=_linear_shape,
    params=lambda a, ins, out: ins[0][0] * a["out"] + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: ins[0][0] * a["out"],
)


# --- pooling ---


def _pool_shape(kind):
    def shape(a, shapes):
        c, h, w = feature_map(shapes, kind)
        (kh, kw), (ph, pw), (dh, dw) = a["kernel"], a["padding"], a.get("dilation", (1, 1))
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        return (
            c,
            pool_size(h, kh, stride[0], ph, dh, a["ceil_mode"], f"{kind} height:"),
            pool_size(w, kw, stride[1], pw, dw, a["ceil_mode"], f"{kind} width:"),
        )

    return shape


def choice(value, what, options):
    if value not in options:
        raise CnnCostError(f"{what} must be one of {', '.join(options)}, got {value!r}")
    return value


def _optional(check):
    def optional(value, what):
        return None if value is None else check(value, what)

    return optional


def _window_macs(a, ins, out):
    kh, kw = a["kernel"]
    c, h, w = out
    return c * h * w * kh * kw


_POOL_COMMON = (
    Arg("kernel", positive_pair, doc="window size: k or [kh, kw]"),
    Arg("stride", _optional(positive_pair), None, "step; defaults to the kernel size"),
    Arg("padding", nonnegative_pair, 0, "implicit padding on each side, at most half the kernel"),
    Arg("ceil_mode", boolean, False, "round the output size up (Caffe style)"),
)

define(
    "maxpool",
    "pool",
    "Max pooling over a window.",
    args=(*_POOL_COMMON, Arg("dilation", positive_pair, 1, "spacing of window taps")),
    shape=_pool_shape("maxpool"),
    macs=_window_macs,
)

define(
    "avgpool",
    "pool",
    "Average pooling over a window.",
    args=(
        *_POOL_COMMON,
        Arg("count_include_pad", boolean, True, "divide by the full window, padding included"),
    ),
    shape=_pool_shape("avgpool"),
    macs=_window_macs,
)


def adaptive_windows(size: int, out: int) -> int:
    """Total extent of PyTorch's adaptive pooling windows along one axis."""
    return sum(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def _adaptive_shape(a, shapes):
    c, h, w = feature_map(shapes, "adaptive_avgpool")
    return (c, *a["output"])


define(
    "adaptive_avgpool",
    "pool",
    "Average pooling to a fixed output size, windows chosen as PyTorch does.",
    args=(Arg("output", positive_pair, doc="output size: s or [h, w]"),),
    shape=_adaptive_shape,
    macs=lambda a, ins, out: ins[0][0]
    * adaptive_windows(ins[0][1], out[1])
    * adaptive_windows(ins[0][2], out[2]),
)

define(
    "global_avgpool",
    "pool",
    "Average over all positions: CxHxW to Cx1x1.",
    shape=lambda a, ins: (feature_map(ins, "global_avgpool")[0], 1, 1),
    macs=lambda a, ins, out: math.prod(ins[0]),
)


# --- normalisation ---

define(
    "lrn",
    "norm",
    "Local response normalisation across channels (AlexNet, GoogLeNet).",
    args=(
        Arg("size", positive_int, 5, "channels in the window"),
        Arg("alpha", number, 1e-4),
        Arg("beta", number, 0.75),
        Arg("k", number, 1.0),
    ),
    shape=lambda a, ins: feature_map(ins, "lrn"),
    macs=lambda a, ins, out: math.prod(out) * a["size"],
)


def _bn_channels(shapes):
    (shape,) = shapes
    if len(shape) not in (1, 3):
        raise CnnCostError(f"batchnorm expects CxHxW or a vector, got {format_shape(shape)}")
    return shape[0]


define(
    "batchnorm",
    "norm",
    "Batch normalisation; at inference it folds into the preceding layer.",
    args=(
        Arg("eps", number, 1e-5),
        Arg("momentum", _optional(number), 0.1),
        Arg("affine", boolean, True, "learn a scale and shift per channel"),
    ),
    shape=lambda a, ins: (_bn_channels(ins), *ins[0][1:]),
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    buffers=lambda a, ins, out: 2 * ins[0][0],  # running mean and variance
    macs=lambda a, ins, out: math.prod(out),
    inplace=True,
)


# --- element-wise activations and regularisers: same shape, no parameters ---


def _same_shape(a, shapes):
    return shapes[0]


for _name, _doc, _args in (
    ("relu", "max(x, 0).", ()),
    ("relu6", "min(max(x, 0), 6) (MobileNet).", ()),
    ("leaky_relu", "x if x > 0 else slope * x.", (Arg("slope", number, 0.01),)),
    ("elu", "Exponential linear unit.", (Arg("alpha", number, 1.0),)),
    ("sigmoid", "1 / (1 + exp(-x)).", ()),
    ("tanh", "Hyperbolic tangent.", ()),
    ("hardsigmoid", "Piecewise-linear sigmoid (MobileNetV3).", ()),
    ("hardswish", "x * hardsigmoid(x) (MobileNetV3).", ()),
    ("silu", "x * sigmoid(x), also called swish (EfficientNet).", ()),
    ("gelu", "Gaussian error linear unit.", ()),
):
    define(_name, "activation", _doc, args=_args, shape=_same_shape, inplace=True)

define(
    "dropout",
    "other",
    "Dropout; the identity at inference.",
    args=(Arg("p", probability, 0.5, "probability of zeroing an element in training"),),
    shape=_same_shape,
    inplace=True,
)

define(
    "stochastic_depth",
    "other",
    "Randomly drops a residual branch in training (EfficientNet); the identity at inference.",
    args=(Arg("p", probability, 0.2), Arg("mode", lambda v, w: choice(v, w, ("row", "batch")), "row")),
    shape=_same_shape,
    inplace=True,
)


define(
    "softmax",
    "other",
    "Softmax over the channels (or features).",
    shape=_same_shape,
)


# --- reshaping and merging ---

define(
    "flatten",
    "reshape",
    "CxHxW to a flat vector of C*H*W features.",
    shape=lambda a, ins: (math.prod(ins[0]),),
)


def _concat_shape(a, shapes):
    if len(shapes) < 2:
        raise CnnCostError("concat needs at least two inputs")
    rest = shapes[0][1:]
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or s[1:] != rest:
            raise CnnCostError(
                "concat inputs differ beyond the channel axis: "
                + ", ".join(format_shape(x) for x in shapes)
            )
    return (sum(s[0] for s in shapes), *rest)


define(
    "concat",
    "reshape",
    "Join inputs along the channel axis (Inception, DenseNet).",
    shape=_concat_shape,
    inputs="many",
)


def _add_shape(a, shapes):
    if len(shapes) < 2:
        raise CnnCostError("add needs at least two inputs")
    if any(s != shapes[0] for s in shapes):
        raise CnnCostError("add inputs differ in shape: " + ", ".join(format_shape(s) for s in shapes))
    return shapes[0]


define(
    "add",
    "elementwise",
    "Element-wise sum of equal shapes (residual connections).",
    shape=_add_shape,
    macs=lambda a, ins, out: math.prod(out) * (len(ins) - 1),
    inputs="many",
)


def broadcast(shapes):
    if len(shapes) != 2:
        raise CnnCostError("mul needs exactly two inputs")
    a, b = shapes
    if len(a) != len(b):
        raise CnnCostError(f"mul inputs cannot broadcast: {format_shape(a)} and {format_shape(b)}")
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise CnnCostError(f"mul inputs cannot broadcast: {format_shape(a)} and {format_shape(b)}")
        out.append(max(x, y))
    return tuple(out)


define(
    "mul",
    "elementwise",
    "Element-wise product with broadcasting, e.g. CxHxW by Cx1x1 (squeeze-and-excitation).",
    shape=lambda a, ins: broadcast(ins),
    macs=lambda a, ins, out: math.prod(out),
    inputs="many",
)


def _shuffle_shape(a, shapes):
    c = feature_map(shapes, "channel_shuffle")[0]
    if c % a["groups"]:
        raise CnnCostError(f"groups={a['groups']} must divide the {c} input channels")
    return shapes[0]


define(
    "channel_shuffle",
    "reshape",
    "Interleave channels across groups (ShuffleNet).",
    args=(Arg("groups", positive_int, doc="number of channel groups"),),
    shape=_shuffle_shape,
)


def _split_shape(a, shapes):
    c = feature_map(shapes, "channel_split")[0]
    parts, index = a["parts"], a["index"]
    if c % parts:
        raise CnnCostError(f"parts={parts} must divide the {c} input channels")
    if index >= parts:
        raise CnnCostError(f"index={index} must be below parts={parts}")
    return (c // parts, *shapes[0][1:])


define(
    "channel_split",
    "reshape",
    "Take one of `parts` equal slices of the channels (ShuffleNetV2's split).",
    args=(
        Arg("parts", positive_int, 2, "number of equal slices"),
        Arg("index", nonnegative_int, 0, "which slice, from 0"),
    ),
    shape=_split_shape,
)


def _subsample_pad_shape(a, shapes):
    c, h, w = feature_map(shapes, "subsample_pad")
    if a["out"] < c:
        raise CnnCostError(f"out={a['out']} must be at least the {c} input channels")
    s = a["stride"]
    return (a["out"], -(-h // s), -(-w // s))


define(
    "subsample_pad",
    "reshape",
    "Parameter-free shortcut: take every stride-th position, pad channels with zeros "
    "(option A of He et al. 2015 for CIFAR).",
    args=(
        Arg("out", positive_int, doc="output channels (extra ones are zero)"),
        Arg("stride", positive_int, 1, "spatial subsampling step"),
    ),
    shape=_subsample_pad_shape,
)

define(
    "identity",
    "other",
    "Passes its input through unchanged.",
    shape=_same_shape,
    inplace=True,
)
