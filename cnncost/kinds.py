"""The registry of primitive layer kinds: each kind is one record, here and nowhere else.

A record (one ``define(...)`` call) says everything cnncost knows about a kind:
- its arguments, checked and normalised;
- its output shape;
- its convention-free quantities: learnable parameters, buffers, MACs without
  bias, bias adds and pooling window (conventions.py counts with these);
- how the reference implementation may run it (``calls``: as a module, a
  function, or ``Tensor.mean``), which some peer tools count differently;
- each analysis's rule, by name from that analysis's table or as a function
  of its own: ``saved`` (memory.py: what autograd saves, and ``inplace_saves``
  for torch's in-place variant), ``rf`` (rf.py: the receptive field),
  ``latency`` (latency.py: FLOPs and bytes; ``fusable``), ``counts`` (the
  family whose rule every convention states, "not counted" included, or a
  rule a convention gives under the kind's own name), ``view`` (its output
  is its input's storage);
- how to build it in torch, how validation measures its quantities there
  (``measure``), and its linear stand-in for the receptive-field check.

define() refuses a record without a rule, and each analysis, when imported
(``import cnncost`` imports them all), refuses a rule name it does not have:
either way the message names the kind and the rule. So adding a kind means
writing its record, and adding it to the test network that runs every kind
(tests/test_validate.py). Shapes are per sample: (C, H, W) for feature maps,
(F,) for vectors, and so are the quantities. Nothing here imports torch:
builders receive the torch backend module.
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


# No size, count or stride of a real network comes near this; beyond it, figures could outgrow a float
# (10**400 channels) and the renderers' arithmetic with them.
MAX_INT_ARGUMENT = 10**9


def _int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CnnCostError(f"{what} must be an integer, got {_type_name(value)} ({_short(value)})")
    if value < minimum:
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise CnnCostError(f"{what} must be {bound}, got {_short(value)}")
    if value > MAX_INT_ARGUMENT:
        raise CnnCostError(f"{what} must be at most {MAX_INT_ARGUMENT:,}, got {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def positive_int(value, what):
    return value if type(value) is int and 1 <= value <= MAX_INT_ARGUMENT else _int(value, what, 1)


def nonnegative_int(value, what):
    return value if type(value) is int and 0 <= value <= MAX_INT_ARGUMENT else _int(value, what, 0)


def _pair_of(check, minimum):
    def pair(value, what):
        if type(value) is int and minimum <= value <= MAX_INT_ARGUMENT:  # the common case, as check would find it
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


SAME = "same"


def padding(value, what):
    """int p, [ph, pw], asymmetric [top, bottom, left, right], or "same" (worked out from the input)."""
    if value == SAME:
        return SAME
    if isinstance(value, (list, tuple)) and len(value) == 4:
        t, b, l, r = (nonnegative_int(v, what) for v in value)
        return (t, b, l, r)
    if isinstance(value, (list, tuple)) and len(value) not in (2,):
        raise CnnCostError(f"{what} must be p, [ph, pw] or [top, bottom, left, right]")
    ph, pw = nonnegative_pair(value, what)
    return (ph, ph, pw, pw)


def pool_padding(value, what):
    """p or [ph, pw] (implicit padding on both sides), or "same" (worked out from the input)."""
    return SAME if value == SAME else nonnegative_pair(value, what)


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's and PyTorch's "same": the output has ceil(size / stride) positions; an odd total puts the
    extra pixel after (bottom, right)."""
    span = dilation * (kernel - 1) + 1
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _resolve_same(a: dict, shapes) -> dict:
    """A kind's ``resolve``: padding "same" as [top, bottom, left, right] for this input."""
    if a.get("padding") != SAME:
        return a
    _, h, w = feature_map(shapes, "padding 'same'")
    (kh, kw), (dh, dw) = a["kernel"], a.get("dilation", (1, 1))
    sh, sw = a["stride"] or a["kernel"]
    return {**a, "padding": same_padding(h, kh, sh, dh) + same_padding(w, kw, sw, dw)}


def integer(value, what):
    """Any integer within the bounds, negative too (a torch dim counts from the end)."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INT_ARGUMENT:
        _int(value, what, -MAX_INT_ARGUMENT)
    return value


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


def _no_window(a, ins, out):
    return ()


def _required(*_):
    """The default of a rule that define() requires (RULES): a defined kind never has it."""
    raise AssertionError("a kind without this rule is refused by define()")


class Measure:
    """How validation reads one quantity off torch: ``read(seen)`` for the whole batch, and what that is.

    ``seen`` (validate.Seen) holds the module, its input and output shapes with
    the batch, FlopCounterMode's count for the call, and helpers that need torch.
    A plain class, not a dataclass: every command imports the kinds.
    """

    __slots__ = ("read", "basis")

    def __init__(self, read: Callable[[Any], Any], basis: str):
        self.read, self.basis = read, basis


# every way a reference implementation may run a row; "subclass" is a subclass of a torch.nn layer with no child
# modules (torchvision's LayerNorm2d, timm's Linear), which tools that look modules up by exact type do not recognise
CALLS = ("module", "subclass", "function", "operator", "mean")
# a layer module (conv, linear, norm, pool): an nn.Module, a subclass of it with no child modules (timm's Linear,
# Conv2dSame, MaxPool2dSame), or a function
LAYER_MODULE_CALLS = ("module", "subclass", "function")


@dataclass(frozen=True)
class LayerKind:
    name: str
    category: str  # conv | linear | pool | norm | activation | elementwise | reshape | other
    doc: str
    args: tuple = ()
    shape: Callable = _required  # (args, input shapes) -> output shape
    params: Callable = _zero  # learnable parameters
    buffers: Callable = _zero  # non-trainable floating-point state (BN running statistics)
    macs: Callable = _zero  # multiply-accumulates per sample, bias excluded
    bias_adds: Callable = _zero  # additions of a bias per sample (one per output element of a biased layer)
    window: Callable = _no_window  # the pooling window (kh, kw); () where there is none
    inputs: str = "one"  # "one" or "many"
    inplace: bool = False  # computed in place at inference: allocates no activation memory
    calls: tuple = ("module", "function")  # how a reference implementation may run it; the first is the default
    resolve: Callable | None = None  # (args, input shapes) -> args: what depends on the input (padding "same")
    build: Callable = _required  # (torch_backend, args, input shapes, output shape) -> torch.nn.Module
    measure: dict = field(default_factory=dict)  # quantity -> Measure; validate/figures.py has the defaults
    formulas: dict = field(default_factory=dict)  # output, params, macs: for the docs' table
    # The analyses' rules, each the name of an entry in that analysis's table or a function of the kind's own.
    # define() refuses a kind without one, and each analysis, when imported, refuses a name it does not have.
    saved: Any = None  # saved_rules.py SAVED_RULES, or (node, context) -> what autograd saves for backward
    rf: Any = None  # rf.py FIELD_RULES, or (node, input fields) -> the receptive field
    latency: Any = None  # latency_rules.py LATENCY_RULES: its FLOPs, whether it moves data, which peak
    counts: Any = None  # conventions.py: the family whose rule each convention states (conv, activation, ...)
    view: Any = False  # its output is its first input's storage: True, (node, mode) -> bool, or "if contiguous"
    # the output's layout: "fresh" (contiguous), "kept" (an element-wise op keeps its input's strides), or
    # (node, input layout, batch) -> layout (a permute, a slice); memory.py tracks it for reshapes and products
    layout: Any = "fresh"
    fusable: bool = False  # --fuse folds it into the conv or linear before it
    inplace_saves: str | None = None  # torch has an in-place variant, which saves "output" or an "input copy"
    rf_stand_in: str | None = None  # validate/rf.py STAND_INS: a linear stand-in for the receptive field check
    arg_map: dict = field(init=False, repr=False, compare=False)
    defaults: dict = field(init=False, repr=False, compare=False)  # normalised default values
    checks: tuple = field(init=False, repr=False, compare=False)  # what check_args does, worked out once
    # (args, input shapes, output shape) -> params, buffers, macs, bias_adds and window, in graph.Node's order
    quantities: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "arg_map", {a.name: a for a in self.args})
        object.__setattr__(self, "checks", tuple(
            (a.name, a.check, a.required, f"argument '{a.name}'") for a in self.args))
        object.__setattr__(self, "defaults", {
            a.name: a.check(a.default, a.name) if a.default is not None else None
            for a in self.args if not a.required})
        object.__setattr__(self, "quantities", _quantities_of(self))

    def check_args(self, raw: dict) -> dict:
        """Validate raw argument values (already evaluated) and fill defaults."""
        out = {}
        for name, check, required, what in self.checks:
            if name in raw:
                try:
                    out[name] = check(raw[name], what)
                except CnnCostError as exc:
                    exc.argument = name
                    raise
            elif required:
                raise CnnCostError(f"{self.name} needs argument '{name}'", argument=name)
            else:
                out[name] = self.defaults[name]
        return out

    def check_call(self, value) -> str:
        if value not in self.calls:
            raise CnnCostError(f"{self.name} can run as {' or '.join(self.calls)}, not {value!r}")
        return value


def _quantities_of(kind: LayerKind) -> Callable:
    """LayerKind.quantities: the kind's five rules, skipping those that are always zero.

    Expansion calls this once per layer; most kinds have three or four rules that are always
    0 or (), and calling them all took a tenth of an expansion. tests/test_speedups.py checks
    that it gives what the five rules give.
    """
    rules = (kind.params, kind.buffers, kind.macs, kind.bias_adds)
    used = tuple(i for i, rule in enumerate(rules) if rule is not _zero)
    window = kind.window if kind.window is not _no_window else None

    def quantities(a, ins, out):
        values = [0, 0, 0, 0, ()]
        for i in used:
            values[i] = rules[i](a, ins, out)
        if window is not None:
            values[4] = window(a, ins, out)
        return values

    return quantities


KINDS: dict[str, LayerKind] = {}
CATEGORIES = ("conv", "linear", "pool", "norm", "activation", "elementwise", "reshape", "other")


# The rules every record must give, and what each is for (define()'s message names the missing one).
RULES = {
    "shape": "its output shape",
    "build": "a torch builder",
    "saved": "what autograd saves (saved_rules.py SAVED_RULES)",
    "rf": "its receptive-field rule (rf.py FIELD_RULES)",
    "latency": "its FLOPs and bytes at inference (latency_rules.py LATENCY_RULES)",
    "counts": "how each convention counts it (a family of conventions.py, or a rule under its own name)",
}
INPLACE_SAVES = (None, "output", "input copy")

# (analysis, check(kind)): each analysis module registers one when imported; define() runs them all on a new
# kind, so a kind missing a rule, or naming one an analysis does not have, is refused naming kind and rule
_CHECKS: list = []


def register_check(analysis: str, check: Callable) -> None:
    """An analysis's completeness check: ``check(kind)`` raises ValueError naming the kind and the rule.

    It runs now on every kind defined so far, and on each kind defined later.
    """
    for kind in KINDS.values():
        check(kind)
    _CHECKS.append((analysis, check))


def define(name, category, doc, *, args=(), **record) -> LayerKind:
    if name in KINDS:
        raise ValueError(f"layer kind {name} defined twice")
    if category not in CATEGORIES:
        raise ValueError(f"layer kind {name}: unknown category {category}")
    for rule, what in RULES.items():
        if record.get(rule) is None:
            raise ValueError(f"layer kind {name} has no '{rule}' rule: it needs {what}")
    if record.get("inplace_saves") not in INPLACE_SAVES:
        raise ValueError(f"layer kind {name}: inplace_saves must be one of {INPLACE_SAVES}")
    kind = LayerKind(name, category, doc, tuple(args), **record)
    for _, check in _CHECKS:
        check(kind)
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


def _same_shape(a, shapes):
    return shapes[0]


def _no_args(class_name):
    """A builder for a torch.nn module that takes no arguments."""
    return lambda t, a, ins, out: getattr(t.nn, class_name)()


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# How validation reads a biased layer's bias adds: one add per output element when torch's module has a bias.
_TORCH_BIAS_ADDS = Measure(lambda s: s.output_numel if s.module.bias is not None else 0,
                           "output numel when the module has a bias")


# --- convolution ---

_CONV_COMMON = (
    Arg("stride", positive_pair, 1, "step of the window: s or [sh, sw]"),
    Arg("padding", padding, 0, "zeros added: p, [ph, pw], [top, bottom, left, right], or same"),
    Arg("dilation", positive_pair, 1, "spacing of kernel taps"),
    Arg("bias", boolean, True, "add a learnable bias per output channel"),
    Arg("fixed", boolean, False, "the weight is a fixed buffer, not a parameter (a blur filter): it counts as a "
        "buffer and gets no gradient"),
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


def _conv_weights(cin, cout, groups, a):
    kh, kw = a["kernel"]
    return cout * (cin // groups) * kh * kw


def _conv_params(cin, cout, groups, a):
    return (0 if a["fixed"] else _conv_weights(cin, cout, groups, a)) + (cout if a["bias"] else 0)


def _conv_buffers(cin, cout, groups, a):
    return _conv_weights(cin, cout, groups, a) if a["fixed"] else 0


def _conv_macs(cin, groups, a, out):
    kh, kw = a["kernel"]
    cout, h, w = out
    return cout * h * w * (cin // groups) * kh * kw


def _conv_bias_adds(a, ins, out):
    return math.prod(out) if a["bias"] else 0


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
    resolve=_resolve_same,
    params=lambda a, ins, out: _conv_params(ins[0][0], a["out"], a["groups"], a),
    buffers=lambda a, ins, out: _conv_buffers(ins[0][0], a["out"], a["groups"], a),
    macs=lambda a, ins, out: _conv_macs(ins[0][0], a["groups"], a, out),
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.conv2d(ins[0][0], out[0], a, a["groups"]),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "out x H' x W', H' = floor((H + pads - dilation*(k-1) - 1)/stride) + 1",
              "params": "out*(Cin/groups)*kh*kw (+ out); with fixed, the weights are buffers",
              "macs": "out*H'*W'*(Cin/groups)*kh*kw"},
    calls=LAYER_MODULE_CALLS, saved="conv", rf="conv", latency="matrix", counts="conv",
)


def _std_conv_shape(a, shapes):
    c = feature_map(shapes, "std_conv")[0]
    g = a["groups"]
    if c % g or a["out"] % g:
        raise CnnCostError(f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})")
    return _conv_shape_for(a["out"], a, shapes, "std_conv")


def std_conv_weights(a, ins) -> int:
    """The weight's elements: what the standardisation normalises at every call."""
    kh, kw = a["kernel"]
    return a["out"] * (ins[0][0] // a["groups"]) * kh * kw


define(
    "std_conv",
    "conv",
    "2-D convolution with weight standardisation (timm's StdConv2d and ScaledStdConv2d, NF-nets, BiT): each "
    "output channel's weights normalised to zero mean and unit variance at every call (F.batch_norm over the "
    "weight), times a learnt gain per output channel with gain: true.",
    args=(
        Arg("out", positive_int, doc="output channels"),
        Arg("kernel", positive_pair, doc="kernel size: k or [kh, kw]"),
        *_CONV_COMMON[:4],
        Arg("groups", positive_int, 1, "channel groups; must divide in and out channels"),
        Arg("gain", boolean, False, "a learnt gain per output channel on the standardised weight (ScaledStdConv2d)"),
        Arg("eps", number, 1e-6, "added to the weight's variance"),
    ),
    shape=_std_conv_shape,
    resolve=_resolve_same,
    params=lambda a, ins, out: std_conv_weights(a, ins) + (a["out"] if a["bias"] else 0)
    + (a["out"] if a["gain"] else 0),
    macs=lambda a, ins, out: _conv_macs(ins[0][0], a["groups"], a, out),
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.std_conv2d(ins[0][0], out[0], a),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "as conv", "params": "out*(Cin/groups)*kh*kw (+ out bias) (+ out gain)",
              "macs": "as conv (the standardisation, about 4 per weight element per call, is not a MAC)"},
    calls=("subclass", "function"), saved="std_conv", rf="conv", latency="matrix", counts="conv",
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
    resolve=_resolve_same,
    params=lambda a, ins, out: _conv_params(ins[0][0], out[0], ins[0][0], a),
    buffers=lambda a, ins, out: _conv_buffers(ins[0][0], out[0], ins[0][0], a),
    macs=lambda a, ins, out: _conv_macs(ins[0][0], ins[0][0], a, out),
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.conv2d(ins[0][0], out[0], a, ins[0][0]),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "Cin*multiplier x H' x W'", "params": "as conv with groups = Cin",
              "macs": "as conv with groups = Cin"},
    calls=LAYER_MODULE_CALLS, saved="conv", rf="conv", latency="matrix", counts="conv",
)


def _conv_transpose_shape(a, shapes):
    c, h, w = feature_map(shapes, "conv_transpose")
    g = a["groups"]
    if c % g or a["out"] % g:
        raise CnnCostError(
            f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})")
    sizes = []
    for axis, size, k, s, p, d, op in zip(("height", "width"), (h, w), a["kernel"], a["stride"], a["padding"],
                                           a["dilation"], a["output_padding"]):
        if op >= max(s, d):
            raise CnnCostError(f"output_padding {op} must be smaller than the stride ({s}) or the dilation ({d})")
        out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if out < 1:
            raise CnnCostError(f"conv_transpose {axis}: padding {p} leaves no output from an input of {size}")
        sizes.append(out)
    return (a["out"], *sizes)


def _conv_transpose_macs(a, ins, out):
    # every input element meets every tap of its group's filters: Cin * H * W * (Cout/groups) * kh * kw
    (c, h, w), (kh, kw) = ins[0], a["kernel"]
    return c * h * w * (a["out"] // a["groups"]) * kh * kw


define(
    "conv_transpose",
    "conv",
    "Transposed 2-D convolution (ConvTranspose2d): learnable upsampling, as in U-Net's up-convolutions.",
    args=(
        Arg("out", positive_int, doc="output channels"),
        Arg("kernel", positive_pair, doc="kernel size: k or [kh, kw]"),
        Arg("stride", positive_pair, 1, "upsampling step: s or [sh, sw]"),
        Arg("padding", nonnegative_pair, 0, "rows and columns taken off each side of the full output"),
        Arg("output_padding", nonnegative_pair, 0, "rows and columns added at the bottom and right; below the "
            "stride or the dilation"),
        Arg("dilation", positive_pair, 1, "spacing of kernel taps"),
        Arg("groups", positive_int, 1, "channel groups; must divide in and out channels"),
        Arg("bias", boolean, True, "add a learnable bias per output channel"),
    ),
    shape=_conv_transpose_shape,
    params=lambda a, ins, out: ins[0][0] * (a["out"] // a["groups"]) * math.prod(a["kernel"])
    + (a["out"] if a["bias"] else 0),
    macs=_conv_transpose_macs,
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.nn.ConvTranspose2d(
        ins[0][0], a["out"], a["kernel"], a["stride"], a["padding"], a["output_padding"], a["groups"], a["bias"],
        a["dilation"]),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "out x H' x W', H' = (H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1",
              "params": "Cin*(out/groups)*kh*kw (+ out)", "macs": "Cin*H*W*(out/groups)*kh*kw (per input position)"},
    calls=LAYER_MODULE_CALLS, saved="conv input", rf="conv_transpose", latency="matrix", counts="conv",
)


# --- linear ---


def channel_axis(shape) -> int:
    """Where the features are: the last axis of tokens (L, C), as torch's Linear and LayerNorm take them; the
    first of a vector or a CxHxW map."""
    return 1 if len(shape) == 2 else 0


def _linear_shape(a, shapes):
    (shape,) = shapes
    if len(shape) == 2:
        return (shape[0], a["out"])  # tokens: on each token's features
    if a["per_position"]:
        feature_map(shapes, "linear with per_position")
    elif len(shape) != 1:
        raise CnnCostError(f"linear expects a flat vector or tokens (L x C), got shape {format_shape(shape)}",
                           hint="add a flatten layer, or per_position: true to apply it to each position's channels")
    return (a["out"], *shape[1:])


def _features(shape) -> int:
    return shape[channel_axis(shape)]


def _build_linear(t, a, ins, out):
    cls = t.nn.Linear if len(ins[0]) in (1, 2) else t.ChannelsLinear
    return cls(_features(ins[0]), a["out"], bias=a["bias"])


define(
    "linear",
    "linear",
    "Fully connected layer on a flat vector, or on each token of tokens (L x C); with per_position, on each "
    "position's channels of a map (ConvNeXt's nn.Linear on a channels-last map).",
    args=(Arg("out", positive_int, doc="output features"), Arg("bias", boolean, True, "add a learnable bias"),
          Arg("per_position", boolean, False, "on a CxHxW map: apply to each position's channels (a 1x1 conv "
              "with a linear layer's weights)")),
    shape=_linear_shape,
    params=lambda a, ins, out: _features(ins[0]) * a["out"] + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: math.prod(ins[0]) * a["out"],
    bias_adds=lambda a, ins, out: math.prod(out) if a["bias"] else 0,
    build=_build_linear,
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "(out,); tokens: L x out; per_position: out x H x W", "params": "in*out (+ out)",
              "macs": "in*out (*H*W on a map, *L on tokens)"},
    calls=LAYER_MODULE_CALLS, saved="input", rf="vector", latency="matrix", counts="linear",
)


# --- pooling ---


def pool_pads(a) -> tuple[int, int, int, int]:
    """A pool's padding as top, bottom, left, right: symmetric, or asymmetric from "same"."""
    pad = a["padding"]
    return pad if len(pad) == 4 else (pad[0], pad[0], pad[1], pad[1])


def _pool_shape(kind):
    def shape(a, shapes):
        c, h, w = feature_map(shapes, kind)
        (kh, kw), (dh, dw) = a["kernel"], a.get("dilation", (1, 1))
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        if len(a["padding"]) == 4:  # "same", possibly asymmetric: padded explicitly, then pooled without
            if a["ceil_mode"]:
                raise CnnCostError(f"{kind}: padding 'same' cannot go with ceil_mode")
            t, b, l, r = a["padding"]
            return (c, conv_size(h, kh, stride[0], t + b, dh, f"{kind} height:"),
                    conv_size(w, kw, stride[1], l + r, dw, f"{kind} width:"))
        (ph, pw) = a["padding"]
        return (
            c,
            pool_size(h, kh, stride[0], ph, dh, a["ceil_mode"], f"{kind} height:"),
            pool_size(w, kw, stride[1], pw, dw, a["ceil_mode"], f"{kind} width:"),
        )

    return shape


def _resolve_pool_same(a: dict, shapes) -> dict:
    a = _resolve_same(a, shapes)
    pad = a["padding"]
    if len(pad) == 4 and pad[0] == pad[1] and pad[2] == pad[3]:
        a = {**a, "padding": (pad[0], pad[2])}  # symmetric after all: the pool pads it itself
    return a


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


def _kernel(a, ins, out):
    return a["kernel"]


# Pooling's work and window as torch runs it: the module's own kernel_size.
_TORCH_WINDOW = Measure(lambda s: _pair(s.module.kernel_size), "the module's kernel_size")
_TORCH_WINDOW_MACS = Measure(lambda s: s.output_numel * math.prod(_pair(s.module.kernel_size)),
                             "output numel x the module's kernel area")

_POOL_COMMON = (
    Arg("kernel", positive_pair, doc="window size: k or [kh, kw]"),
    Arg("stride", _optional(positive_pair), None, "step; defaults to the kernel size"),
    Arg("padding", pool_padding, 0, "implicit padding on each side, at most half the kernel; or same"),
    Arg("ceil_mode", boolean, False, "round the output size up (Caffe style)"),
)

define(
    "maxpool",
    "pool",
    "Max pooling over a window.",
    args=(*_POOL_COMMON, Arg("dilation", positive_pair, 1, "spacing of window taps")),
    shape=_pool_shape("maxpool"),
    resolve=_resolve_pool_same,
    macs=_window_macs,
    window=_kernel,
    build=lambda t, a, ins, out: t.pool2d("max", a),
    measure={"macs": _TORCH_WINDOW_MACS, "window": _TORCH_WINDOW},
    formulas={"output": "C x H' x W', PyTorch's rounding", "params": "0", "macs": "C*H'*W'*kh*kw"},
    calls=LAYER_MODULE_CALLS, saved="max_pool", rf="pool", latency="macs", counts="pool",
    rf_stand_in="ones_window",
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
    resolve=_resolve_pool_same,
    macs=_window_macs,
    window=_kernel,
    build=lambda t, a, ins, out: t.pool2d("avg", a),
    measure={"macs": _TORCH_WINDOW_MACS, "window": _TORCH_WINDOW},
    formulas={"output": "as maxpool", "params": "0", "macs": "C*H'*W'*kh*kw"},
    calls=LAYER_MODULE_CALLS, saved="avg_pool", rf="pool", latency="macs", counts="pool",
    rf_stand_in="ones_window",
)


def adaptive_windows(size: int, out: int) -> int:
    """Total extent of PyTorch's adaptive pooling windows along one axis: window i is
    [floor(i*size/out), ceil((i+1)*size/out)), and the sum of those extents is size + out - gcd(size, out).

    Closed form, so that no output size, however large, costs a loop (tests/test_speedups.py checks it
    against the sum over the windows).
    """
    return size + out - math.gcd(size, out)


def longest_adaptive_window(size: int, out: int) -> int:
    """The longest of those windows: size // out, plus 1 or 2 where they do not tile evenly (the remainder
    is a multiple of g = gcd(size, out); the windows start at every multiple of g, so a remainder of g adds
    one position and a larger one two). Checked against the windows in tests/test_speedups.py."""
    q, r = divmod(size, out)
    return q if r == 0 else q + 1 if r == math.gcd(size, out) else q + 2


def _adaptive_shape(a, shapes):
    c, h, w = feature_map(shapes, "adaptive_avgpool")
    return (c, *a["output"])


def _torch_adaptive_work(s) -> int:
    n, c, h, w = s.input_shapes[0]
    _, _, oh, ow = s.output_shape
    return n * c * s.adaptive_extent(h, oh) * s.adaptive_extent(w, ow)


# The extents are measured from torch itself (validate.Seen.adaptive_extent).
_TORCH_ADAPTIVE_MACS = Measure(_torch_adaptive_work, "N x C x torch's window extents along H and W (measured)")

define(
    "adaptive_avgpool",
    "pool",
    "Average pooling to a fixed output size, windows chosen as PyTorch does.",
    args=(Arg("output", positive_pair, doc="output size: s or [h, w]"),),
    shape=_adaptive_shape,
    macs=lambda a, ins, out: ins[0][0]
    * adaptive_windows(ins[0][1], out[1])
    * adaptive_windows(ins[0][2], out[2]),
    build=lambda t, a, ins, out: t.nn.AdaptiveAvgPool2d(a["output"]),
    measure={"macs": _TORCH_ADAPTIVE_MACS},
    formulas={"output": "C x oh x ow", "params": "0",
              "macs": "C * (sum of window heights) * (sum of window widths), windows as PyTorch picks them"},
    saved="adaptive_pool", rf="adaptive", latency="macs", counts="pool",
)

define(
    "global_avgpool",
    "pool",
    "Average over all positions: CxHxW to Cx1x1.",
    shape=lambda a, ins: (feature_map(ins, "global_avgpool")[0], 1, 1),
    macs=lambda a, ins, out: math.prod(ins[0]),
    calls=("module", "function", "mean"),
    build=lambda t, a, ins, out: t.nn.AdaptiveAvgPool2d(1),
    measure={"macs": _TORCH_ADAPTIVE_MACS},
    formulas={"output": "C x 1 x 1", "params": "0", "macs": "C*H*W"},
    saved="nothing", rf="global", latency="macs", counts="pool",
)


# --- video: maps of C x T x H x W (torchvision.models.video) ---


def _triple(value, what):
    """k or [kt, kh, kw] for a 3-D window: time, height, width."""
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise CnnCostError(f"{what} must be one integer or a triple [t, h, w], got {len(value)} values")
        return tuple(positive_int(v, what) for v in value)
    v = positive_int(value, what)
    return (v, v, v)


def _nonnegative_triple(value, what):
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise CnnCostError(f"{what} must be one integer or a triple [t, h, w], got {len(value)} values")
        return tuple(nonnegative_int(v, what) for v in value)
    v = nonnegative_int(value, what)
    return (v, v, v)


def video_map(shapes, kind: str):
    (shape,) = shapes
    if len(shape) != 4:
        raise CnnCostError(f"{kind} expects a CxTxHxW video map, got shape {format_shape(shape)}")
    return shape


def _conv3d_shape(a, shapes):
    c, *sizes = video_map(shapes, "conv3d")
    g = a["groups"]
    if c % g or a["out"] % g:
        raise CnnCostError(f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})")
    return (a["out"], *(conv_size(size, k, s, 2 * p, d, f"conv3d {axis}:") for axis, size, k, s, p, d in zip(
        ("time", "height", "width"), sizes, a["kernel"], a["stride"], a["padding"], a["dilation"])))


def _conv3d_params(a, ins, out):
    return a["out"] * (ins[0][0] // a["groups"]) * math.prod(a["kernel"]) + (a["out"] if a["bias"] else 0)


define(
    "conv3d",
    "conv",
    "3-D convolution over time, height and width of a CxTxHxW video map (nn.Conv3d; R3D, MC3, R(2+1)D).",
    args=(
        Arg("out", positive_int, doc="output channels"),
        Arg("kernel", _triple, doc="kernel size: k or [kt, kh, kw]"),
        Arg("stride", _triple, 1, "step of the window: s or [st, sh, sw]"),
        Arg("padding", _nonnegative_triple, 0, "zeros added on both sides: p or [pt, ph, pw]"),
        Arg("dilation", _triple, 1, "spacing of kernel taps"),
        Arg("groups", positive_int, 1, "channel groups; must divide in and out channels"),
        Arg("bias", boolean, True, "add a learnable bias per output channel"),
    ),
    shape=_conv3d_shape,
    params=_conv3d_params,
    macs=lambda a, ins, out: math.prod(out) * (ins[0][0] // a["groups"]) * math.prod(a["kernel"]),
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.nn.Conv3d(ins[0][0], a["out"], a["kernel"], a["stride"], a["padding"],
                                             a["dilation"], a["groups"], a["bias"]),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "out x T' x H' x W', each as a conv's: floor((T + 2p - dilation*(k-1) - 1)/stride) + 1",
              "params": "out*(Cin/groups)*kt*kh*kw (+ out)", "macs": "out*T'*H'*W'*(Cin/groups)*kt*kh*kw"},
    # rf "none": the receptive-field analysis follows 2-D maps only; a video map gives no field, said as such
    calls=LAYER_MODULE_CALLS, saved="conv input", rf="none", latency="matrix", counts="conv",
)

define(
    "global_avgpool3d",
    "pool",
    "Average over all times and positions: CxTxHxW to Cx1x1x1 (nn.AdaptiveAvgPool3d(1), torchvision's video "
    "ResNets).",
    shape=lambda a, ins: (video_map(ins, "global_avgpool3d")[0], 1, 1, 1),
    macs=lambda a, ins, out: math.prod(ins[0]),
    build=lambda t, a, ins, out: t.nn.AdaptiveAvgPool3d(1),
    measure={"macs": Measure(lambda s: math.prod(s.input_shapes[0]), "input numel (every element summed once)")},
    formulas={"output": "C x 1 x 1 x 1", "params": "0", "macs": "C*T*H*W"},
    calls=("module",), saved="nothing", rf="none", latency="macs", counts="pool",
)


# --- 1-D: a C x L sequence (timm's ECA: a conv over the channel vector of a squeeze) ---


def _conv1d_shape(a, shapes):
    (shape,) = shapes
    if len(shape) != 2:
        raise CnnCostError(f"conv1d expects a C x L sequence, got shape {format_shape(shape)}")
    c, length = shape
    g = a["groups"]
    if c % g or a["out"] % g:
        raise CnnCostError(f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})")
    return (a["out"], conv_size(length, a["kernel"], a["stride"], 2 * a["padding"], a["dilation"], "conv1d:"))


define(
    "conv1d",
    "conv",
    "1-D convolution along the last axis of a C x L sequence (nn.Conv1d; ECA's conv across the channels of a "
    "squeezed map, viewed 1 x C).",
    args=(
        Arg("out", positive_int, doc="output channels"),
        Arg("kernel", positive_int, doc="kernel size"),
        Arg("stride", positive_int, 1, "step of the window"),
        Arg("padding", nonnegative_int, 0, "zeros added on both ends"),
        Arg("dilation", positive_int, 1, "spacing of kernel taps"),
        Arg("groups", positive_int, 1, "channel groups; must divide in and out channels"),
        Arg("bias", boolean, True, "add a learnable bias per output channel"),
    ),
    shape=_conv1d_shape,
    params=lambda a, ins, out: a["out"] * (ins[0][0] // a["groups"]) * a["kernel"] + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: math.prod(out) * (ins[0][0] // a["groups"]) * a["kernel"],
    bias_adds=_conv_bias_adds,
    build=lambda t, a, ins, out: t.nn.Conv1d(ins[0][0], a["out"], a["kernel"], a["stride"], a["padding"],
                                             a["dilation"], a["groups"], a["bias"]),
    measure={"bias_adds": _TORCH_BIAS_ADDS},
    formulas={"output": "out x L', L' = floor((L + 2p - dilation*(k-1) - 1)/stride) + 1",
              "params": "out*(Cin/groups)*k (+ out)", "macs": "out*L'*(Cin/groups)*k"},
    # rf "none": the receptive-field analysis follows 2-D maps only; a sequence gives no field, said as such
    calls=LAYER_MODULE_CALLS, saved="conv input", rf="none", latency="matrix", counts="conv",
)


def _pool3d_shape(kind):
    def shape(a, shapes):
        c, *sizes = video_map(shapes, kind)
        stride = a["stride"] or a["kernel"]
        return (c, *(pool_size(size, k, s, p, d, a["ceil_mode"], f"{kind} {axis}:") for axis, size, k, s, p, d in zip(
            ("time", "height", "width"), sizes, a["kernel"], stride, a["padding"], a.get("dilation", (1, 1, 1)))))

    return shape


def _pool3d_saved(with_indices: bool):
    # max_pool3d_with_indices saves its input and the int64 indices of each maximum; avg_pool3d its input
    def saved(node, ctx):
        from .saved_rules import INDEX_BYTES, _input, _new

        if not ctx.grad_inputs[0]:
            return ()
        return (_input(), _new(node.output_elements * ctx.batch * INDEX_BYTES)) if with_indices else (_input(),)

    return saved


def _triple_of(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value, value)


# torch's 3-D pooling as it ran: the module's kernel_size, an int or a triple
_TORCH_WINDOW_3D = Measure(lambda s: _triple_of(s.module.kernel_size), "the module's kernel_size")
_TORCH_WINDOW_MACS_3D = Measure(lambda s: s.output_numel * math.prod(_triple_of(s.module.kernel_size)),
                                "output numel x the module's kernel volume")
_POOL3D_COMMON = (
    Arg("kernel", _triple, doc="window size: k or [kt, kh, kw]"),
    Arg("stride", _optional(_triple), None, "step: s or [st, sh, sw]; defaults to the kernel size"),
    Arg("padding", _nonnegative_triple, 0, "implicit padding on each side, at most half the kernel: p or [pt, ph, pw]"),
    Arg("ceil_mode", boolean, False, "round the output size up"),
)

define(
    "maxpool3d",
    "pool",
    "Max pooling over a window of time, height and width of a CxTxHxW video map (nn.MaxPool3d; S3D).",
    args=(*_POOL3D_COMMON, Arg("dilation", _triple, 1, "spacing of window taps")),
    shape=_pool3d_shape("maxpool3d"),
    macs=lambda a, ins, out: math.prod(out) * math.prod(a["kernel"]),
    window=_kernel,
    build=lambda t, a, ins, out: t.nn.MaxPool3d(a["kernel"], a["stride"] or a["kernel"], a["padding"], a["dilation"],
                                                ceil_mode=a["ceil_mode"]),
    measure={"macs": _TORCH_WINDOW_MACS_3D, "window": _TORCH_WINDOW_3D},
    formulas={"output": "C x T' x H' x W', each axis as maxpool's (PyTorch's rounding)", "params": "0",
              "macs": "C*T'*H'*W'*kt*kh*kw"},
    # rf "none": the receptive-field analysis follows 2-D maps only (as conv3d)
    calls=("module",), saved=_pool3d_saved(True), rf="none", latency="macs", counts="pool",
)

define(
    "avgpool3d",
    "pool",
    "Average pooling over a window of time, height and width of a CxTxHxW video map (nn.AvgPool3d; S3D's "
    "2x7x7 head).",
    args=(*_POOL3D_COMMON,
          Arg("count_include_pad", boolean, True, "divide by the full window, padding included")),
    shape=_pool3d_shape("avgpool3d"),
    macs=lambda a, ins, out: math.prod(out) * math.prod(a["kernel"]),
    window=_kernel,
    build=lambda t, a, ins, out: t.nn.AvgPool3d(a["kernel"], a["stride"] or a["kernel"], a["padding"],
                                                ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"]),
    measure={"macs": _TORCH_WINDOW_MACS_3D, "window": _TORCH_WINDOW_3D},
    formulas={"output": "as maxpool3d", "params": "0", "macs": "C*T'*H'*W'*kt*kh*kw"},
    calls=("module",), saved=_pool3d_saved(False), rf="none", latency="macs", counts="pool",
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
    build=lambda t, a, ins, out: t.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
    measure={"macs": Measure(lambda s: s.output_numel * s.module.size, "output numel x the module's size")},
    formulas={"output": "same", "params": "0", "macs": "C*H*W*size"},
    saved="lrn", rf="pointwise", latency="lrn", counts="norm", rf_stand_in="identity",
)


def _bn_channels(shapes, dims=(1, 3)):
    (shape,) = shapes
    if len(shape) not in dims:
        raise CnnCostError(f"batchnorm expects CxHxW, a CxTxHxW video map or a vector, got {format_shape(shape)}")
    return shape[0]


def _build_batchnorm(t, a, ins, out):
    cls = {1: t.nn.BatchNorm1d, 3: t.nn.BatchNorm2d, 4: t.nn.BatchNorm3d}[len(ins[0])]
    return cls(ins[0][0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


define(
    "batchnorm",
    "norm",
    "Batch normalisation (BatchNorm1d, 2d, or 3d on a CxTxHxW video map); at inference it folds into the "
    "preceding layer.",
    args=(
        Arg("eps", number, 1e-5),
        Arg("momentum", _optional(number), 0.1),
        Arg("affine", boolean, True, "learn a scale and shift per channel"),
    ),
    shape=lambda a, ins: (_bn_channels(ins, (1, 3, 4)), *ins[0][1:]),
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    buffers=lambda a, ins, out: 2 * ins[0][0],  # running mean and variance
    macs=lambda a, ins, out: math.prod(out),
    inplace=True,
    build=_build_batchnorm,
    measure={"macs": Measure(lambda s: s.output_numel, "output numel")},
    formulas={"output": "same", "params": "2C if affine", "macs": "C*H*W (buffers: 2C running statistics)"},
    calls=LAYER_MODULE_CALLS, saved="batchnorm", rf="pointwise", latency="batchnorm", counts="norm", fusable=True,
)


def _groupnorm_shape(a, shapes):
    c = _bn_channels(shapes)
    if c % a["groups"]:
        raise CnnCostError(f"groups={a['groups']} must divide the {c} channels")
    return shapes[0]


define(
    "groupnorm",
    "norm",
    "Group normalisation: each sample's channels in groups, normalised over each group and all positions.",
    args=(
        Arg("groups", positive_int, doc="channel groups; must divide the channels"),
        Arg("eps", number, 1e-5),
        Arg("affine", boolean, True, "learn a scale and shift per channel"),
    ),
    shape=_groupnorm_shape,
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    macs=lambda a, ins, out: math.prod(out),
    build=lambda t, a, ins, out: t.nn.GroupNorm(a["groups"], ins[0][0], eps=a["eps"], affine=a["affine"]),
    measure={"macs": Measure(lambda s: s.output_numel, "output numel")},
    formulas={"output": "same", "params": "2C if affine", "macs": "C*H*W"},
    calls=LAYER_MODULE_CALLS, saved="groupnorm", rf="global", latency="norm", counts="norm",
    rf_stand_in="position_mean",
)


def _layernorm_shape(a, shapes):
    (shape,) = shapes
    if len(shape) not in (1, 2, 3):
        raise CnnCostError(f"layernorm expects CxHxW, tokens (L x C) or a vector, got {format_shape(shape)}")
    return shape


def _build_layernorm(t, a, ins, out):
    cls = t.nn.LayerNorm if len(ins[0]) in (1, 2) else t.LayerNorm2d
    return cls(_features(ins[0]), eps=a["eps"], elementwise_affine=a["affine"], bias=a["bias"])


define(
    "layernorm",
    "norm",
    "Layer normalisation over the channels: of each position of a CxHxW map (ConvNeXt's LayerNorm2d), of each "
    "token of tokens (L x C), or of a vector.",
    args=(
        Arg("eps", number, 1e-5),
        Arg("affine", boolean, True, "learn a scale and shift per channel"),
        Arg("bias", boolean, True, "with affine, the shift too (false: nn.LayerNorm(C, bias=False), timm's "
            "LayerNormNoBias)"),
    ),
    shape=_layernorm_shape,
    params=lambda a, ins, out: (1 + a["bias"]) * _features(ins[0]) if a["affine"] else 0,
    macs=lambda a, ins, out: math.prod(out),
    # nn.LayerNorm on a channels-last tensor (ConvNeXt's blocks), a subclass that permutes inside (its
    # LayerNorm2d), or F.layer_norm
    calls=("module", "subclass", "function"),
    build=_build_layernorm,
    measure={"macs": Measure(lambda s: s.output_numel, "output numel")},
    formulas={"output": "same", "params": "2C if affine (C without its bias)",
              "macs": "C*H*W (statistics over C at each position)"},
    saved="layernorm", rf="pointwise", latency="norm", counts="norm", rf_stand_in="identity",
)


# --- element-wise activations and regularisers: same shape, no parameters ---


def _in_place(node, mode) -> bool:
    """A row that runs torch's in-place variant: its output is its input's storage."""
    return bool(node.args.get("inplace"))


def _dropped_nothing(node, mode) -> bool:
    """Dropout and stochastic depth return their input itself in eval, and at p = 0 in training."""
    return mode == "infer" or node.args["p"] == 0

_INPLACE = Arg("inplace", boolean, False, "torch's in-place variant (inplace=True): overwrites its input, and "
               "saves for backward what that variant saves")


def _activation(module: str, **options):
    """A builder: torch.nn's module, in place when the row says so."""

    def build(t, a, ins, out):
        values = {key: a[arg] for key, arg in options.items()}
        if a.get("inplace"):
            values["inplace"] = True
        return getattr(t.nn, module)(**values)

    return build


# What torch's in-place variants save, measured with saved_tensors_hooks (torch 2.13): relu_, leaky_relu_ and
# elu_ compute their gradient from the output, which overwrote the input; the others keep a copy of the input.
for _name, _doc, _args, _build, _saved, _inplace_saves in (
    ("relu", "max(x, 0).", (_INPLACE,), _activation("ReLU"), "output", "output"),
    ("relu6", "min(max(x, 0), 6) (MobileNet).", (_INPLACE,), _activation("ReLU6"), "activation input",
     "input copy"),
    ("leaky_relu", "x if x > 0 else slope * x.", (Arg("slope", number, 0.01), _INPLACE),
     _activation("LeakyReLU", negative_slope="slope"), "activation input", "output"),
    ("elu", "Exponential linear unit.", (Arg("alpha", number, 1.0), _INPLACE), _activation("ELU", alpha="alpha"),
     "activation input", "output"),
    ("sigmoid", "1 / (1 + exp(-x)).", (), _activation("Sigmoid"), "output", None),
    ("tanh", "Hyperbolic tangent.", (), _activation("Tanh"), "output", None),
    ("hardsigmoid", "Piecewise-linear sigmoid (MobileNetV3).", (_INPLACE,), _activation("Hardsigmoid"),
     "activation input", "input copy"),
    ("hardswish", "x * hardsigmoid(x) (MobileNetV3).", (_INPLACE,), _activation("Hardswish"), "activation input",
     "input copy"),
    ("silu", "x * sigmoid(x), also called swish (EfficientNet).", (_INPLACE,), _activation("SiLU"),
     "activation input", "input copy"),
    ("gelu", "Gaussian error linear unit.", (), _activation("GELU"), "activation input", None),
    ("mish", "x * tanh(softplus(x)).", (_INPLACE,), _activation("Mish"), "activation input", "input copy"),
):
    # built out of place unless the row says inplace, so that validation's hooks see each row's own output
    define(_name, "activation", _doc, args=_args, shape=_same_shape, inplace=True, build=_build,
           formulas={"output": "same", "params": "0", "macs": "0"}, saved=_saved, inplace_saves=_inplace_saves,
           view=_in_place, rf="pointwise", latency="per_element", counts="activation", fusable=True,
           layout="kept",
           rf_stand_in="identity")

define(
    "dropout",
    "other",
    "Dropout; the identity at inference.",
    args=(Arg("p", probability, 0.5, "probability of zeroing an element in training"),
          Arg("channels", boolean, False, "zero whole channels, as nn.Dropout2d (one draw per sample and channel)")),
    shape=_same_shape,
    inplace=True,
    build=lambda t, a, ins, out: (t.nn.Dropout2d if a["channels"] else t.nn.Dropout)(a["p"]),
    formulas={"output": "same", "params": "0", "macs": "0"},
    saved="dropout", rf="pointwise", latency="free", counts="other", view=_dropped_nothing, layout="kept",
    rf_stand_in="identity",
)


def _stochastic_depth(m, x):
    if not m.training or m.p == 0:
        return x
    keep = 1.0 - m.p
    size = [x.shape[0]] + [1] * (x.dim() - 1) if m.mode == "row" else [1] * x.dim()
    mask = x.new_empty(size).bernoulli_(keep)
    return x * mask / keep if keep > 0 else x * mask


define(
    "stochastic_depth",
    "other",
    "Randomly drops a residual branch in training (EfficientNet); the identity at inference.",
    args=(Arg("p", probability, 0.2), Arg("mode", lambda v, w: choice(v, w, ("row", "batch")), "row")),
    shape=_same_shape,
    inplace=True,
    # drops whole samples ("row") or the whole batch ("batch"), rescaling what it keeps
    build=lambda t, a, ins, out: t.op("StochasticDepth", _stochastic_depth, p=a["p"], mode=a["mode"]),
    formulas={"output": "same (the identity at inference)", "params": "0", "macs": "0"},
    saved="stochastic_depth", rf="pointwise", latency="free", counts="other", view=_dropped_nothing,
    layout="kept",
    rf_stand_in="identity",
)


def _softmax_shape(a, shapes):
    from .kinds_tensor import axis

    axis(a["dim"], shapes[0])
    return shapes[0]


def _softmax_field(node, fields):
    from .kinds_tensor import axis
    from .rf import FIELD_RULES

    shape = node.input_shapes[0]
    if len(shape) == 3 and axis(node.args["dim"], shape) != 0:
        return FIELD_RULES["global"](node, fields)  # over positions: each unit sees its whole row or column
    return fields[0]


define(
    "softmax",
    "other",
    "Softmax along one axis: the channels (or features) by default, any axis with dim (x.softmax(dim=-1)).",
    args=(Arg("dim", integer, 1, "a torch dim (the batch is 0): 1 the channels, -1 the last"),),
    shape=_softmax_shape,
    # method: x.softmax(dim) or torch.softmax, which ptflops does not patch (F.softmax, which nn.Softmax calls, it
    # does)
    calls=("module", "function", "method"),
    build=lambda t, a, ins, out: t.nn.Softmax(dim=a["dim"]),
    formulas={"output": "same", "params": "0", "macs": "0"},
    saved="output", rf=_softmax_field, latency="softmax", counts="other", rf_stand_in="identity", layout="kept",
)


# --- reshaping and merging ---

def _flatten_shape(a, shapes):
    from .kinds_tensor import axis

    (shape,) = shapes
    start, end = axis(a["start_dim"], shape, "start_dim"), axis(a["end_dim"], shape, "end_dim")
    if start > end:
        raise CnnCostError(f"flatten: start_dim {a['start_dim']} comes after end_dim {a['end_dim']}")
    return (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:])


def _flatten_field(node, fields):
    from .rf import FIELD_RULES

    if len(node.output_shape) == 1:
        return FIELD_RULES["vector"](node, fields)  # everything into one vector
    return None  # positions folded into an axis: no map any more


define(
    "flatten",
    "reshape",
    "Axes start_dim to end_dim joined into one: by default CxHxW to a flat vector of C*H*W features; "
    "flatten(2) makes a C x HW sequence. A view of a contiguous tensor.",
    args=(Arg("start_dim", integer, 1, "a torch dim (the batch is 0)"),
          Arg("end_dim", integer, -1, "a torch dim")),
    shape=_flatten_shape,
    build=lambda t, a, ins, out: t.nn.Flatten(a["start_dim"], a["end_dim"]),
    formulas={"output": "(C*H*W,); the given axes joined", "params": "0", "macs": "0"},
    saved="nothing", rf=_flatten_field, latency="free", counts="reshape", view="if contiguous",
    layout=lambda node, first, batch: "sample" if first == "sample" else "contiguous",  # a view, or a copy
)


def _concat_shape(a, shapes):
    from .kinds_tensor import axis

    if len(shapes) < 2:
        raise CnnCostError("concat needs at least two inputs")
    at = axis(a["dim"], shapes[0])
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or s[:at] != first[:at] or s[at + 1:] != first[at + 1:]:
            where = "beyond the channel axis" if at == 0 else f"beyond axis {a['dim']}"
            raise CnnCostError(f"concat inputs differ {where}: " + ", ".join(format_shape(x) for x in shapes))
    return (*first[:at], sum(s[at] for s in shapes), *first[at + 1:])


def _concat_field(node, fields):
    from .kinds_tensor import axis
    from .rf import FIELD_RULES

    if len(node.output_shape) == 3 and axis(node.args["dim"], node.output_shape) != 0:
        return None  # maps side by side: positions of the output are no longer one map's
    return FIELD_RULES["merge"](node, fields)


define(
    "concat",
    "reshape",
    "Join inputs along the channel axis (Inception, DenseNet), or along any axis with dim.",
    args=(Arg("dim", integer, 1, "a torch dim (the batch is 0)"),),
    shape=_concat_shape,
    inputs="many",
    calls=("function",),  # torch.cat
    build=lambda t, a, ins, out: t.op("Concat", lambda m, *xs: t.torch.cat(xs, dim=m.dim), dim=a["dim"]),
    formulas={"output": "channels summed; other dimensions must agree", "params": "0", "macs": "0",
              "arguments": "needs `input: [a, b, ...]` (a `parallel` does this)"},
    saved="nothing", rf=_concat_field, latency="copy", counts="reshape",
)


def _add_shape(a, shapes):
    if len(shapes) < 2:
        raise CnnCostError("add needs at least two inputs")
    if any(s != shapes[0] for s in shapes):
        raise CnnCostError("add inputs differ in shape: " + ", ".join(format_shape(s) for s in shapes))
    return shapes[0]


def _sum(m, first, *rest):
    for x in rest:
        first = first + x
    return first


define(
    "add",
    "elementwise",
    "Element-wise sum of equal shapes (residual connections).",
    shape=_add_shape,
    macs=lambda a, ins, out: math.prod(out) * (len(ins) - 1),
    inputs="many",
    calls=("operator", "function"),  # x + y, or torch.add
    build=lambda t, a, ins, out: t.op("Add", _sum),
    measure={"macs": Measure(lambda s: s.output_numel * (len(s.input_shapes) - 1), "output numel x (inputs - 1)")},
    formulas={"output": "same; shapes must agree", "params": "0", "macs": "numel*(inputs-1)",
              "arguments": "needs `input: [a, b, ...]`"},
    saved="nothing", rf="merge", latency="macs", counts="elementwise",
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
    calls=("operator", "function"),  # x * y, or torch.mul
    build=lambda t, a, ins, out: t.op("Mul", lambda m, x, y: x * y),
    measure={"macs": Measure(lambda s: s.output_numel, "output numel")},
    formulas={"output": "broadcast of both (C x H x W by C x 1 x 1)", "params": "0", "macs": "numel",
              "arguments": "needs `input: [a, b]`"},
    saved="mul", rf="merge", latency="macs", counts="elementwise",
)


def _layer_scale(m, x):
    return x * m.layer_scale


def _build_layer_scale(t, a, ins, out):
    module = t.op("LayerScale", _layer_scale)
    shape = (ins[0][0], *([1] * (len(ins[0]) - 1)))  # C x 1 x 1 on a map, as torchvision's CNBlock
    module.layer_scale = t.nn.Parameter(t.torch.full(shape, float(a["init"])))
    return module


define(
    "layer_scale",
    "elementwise",
    "A learnable scale per channel (ConvNeXt's layer scale, gamma): x * gamma.",
    args=(Arg("init", number, 1e-6, "the scale's initial value"),),
    shape=lambda a, ins: ins[0],
    params=lambda a, ins, out: ins[0][0],
    macs=lambda a, ins, out: math.prod(out),
    calls=("operator", "function"),  # x * self.layer_scale, or x.mul(gamma) / torch.mul (timm's blocks)
    build=_build_layer_scale,
    measure={"macs": Measure(lambda s: s.output_numel, "output numel")},
    formulas={"output": "same", "params": "C", "macs": "numel"},
    saved="input", rf="pointwise", latency="macs", counts="elementwise",
)


def _shuffle_shape(a, shapes):
    c = feature_map(shapes, "channel_shuffle")[0]
    if c % a["groups"]:
        raise CnnCostError(f"groups={a['groups']} must divide the {c} input channels")
    return shapes[0]


def _shuffle_is_identity(node, mode) -> bool:
    # groups 1 or = channels: the transposed view moves a dimension of size 1, so it is contiguous already and
    # torch's .contiguous() returns the input's own storage
    return node.args["groups"] in (1, node.output_shape[0])


def _shuffle(m, x):
    # channels viewed as groups x per-group, then transposed
    n, c, h, w = x.shape
    return x.view(n, m.groups, c // m.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


define(
    "channel_shuffle",
    "reshape",
    "Interleave channels across groups (ShuffleNet).",
    args=(Arg("groups", positive_int, doc="number of channel groups"),),
    shape=_shuffle_shape,
    calls=("function",),
    build=lambda t, a, ins, out: t.op("ChannelShuffle", _shuffle, groups=a["groups"]),
    formulas={"output": "same", "params": "0", "macs": "0"},
    saved="nothing", rf="pointwise", latency="copy", counts="reshape", view=_shuffle_is_identity,
)


def _split_shape(a, shapes):
    c = feature_map(shapes, "channel_split")[0]
    parts, index = a["parts"], a["index"]
    if c % parts:
        raise CnnCostError(f"parts={parts} must divide the {c} input channels")
    if index >= parts:
        raise CnnCostError(f"index={index} must be below parts={parts}")
    return (c // parts, *shapes[0][1:])


def _split(m, x):
    size = x.shape[1] // m.parts
    return x[:, m.index * size:(m.index + 1) * size]


define(
    "channel_split",
    "reshape",
    "Take one of `parts` equal slices of the channels (ShuffleNetV2's split).",
    args=(
        Arg("parts", positive_int, 2, "number of equal slices"),
        Arg("index", nonnegative_int, 0, "which slice, from 0"),
    ),
    shape=_split_shape,
    calls=("function",),  # Tensor.chunk
    build=lambda t, a, ins, out: t.op("ChannelSplit", _split, parts=a["parts"], index=a["index"]),
    formulas={"output": "C/parts x H x W: slice `index`", "params": "0", "macs": "0"},
    saved="nothing", rf="pointwise", latency="free", counts="reshape", view=True,
)


def _subsample_pad_shape(a, shapes):
    c, h, w = feature_map(shapes, "subsample_pad")
    if a["out"] < c:
        raise CnnCostError(f"out={a['out']} must be at least the {c} input channels")
    s = a["stride"]
    return (a["out"], -(-h // s), -(-w // s))


def _subsample_pad(m, x):
    from torch.nn.functional import pad  # runs only in torch, where torch is installed

    x = x[:, :, ::m.stride, ::m.stride]
    return pad(x, (0, 0, 0, 0, 0, m.out - x.shape[1]))


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
    calls=("function",),
    build=lambda t, a, ins, out: t.op("SubsamplePad", _subsample_pad, out=a["out"], stride=a["stride"]),
    formulas={"output": "out x ceil(H/stride) x ceil(W/stride)", "params": "0", "macs": "0"},
    saved="nothing", rf="subsample", latency="copy", counts="reshape",
)


def _pad_sides(value, what):
    """p, [ph, pw] or [top, bottom, left, right]: non-negative."""
    return padding(value, what) if value != SAME else _bad_same(what)


def _bad_same(what):
    raise CnnCostError(f"{what} must be p, [ph, pw] or [top, bottom, left, right]; 'same' is for conv and pooling")


def _pad_shape(a, shapes):
    c, h, w = feature_map(shapes, "pad")
    top, bottom, left, right = a["padding"]
    if a["channels_last"]:  # (H, W, C): the first two axes padded
        if a["mode"] != "constant":
            raise CnnCostError("pad: channels_last pads with a constant only")
        return (c + top + bottom, h + left + right, w)
    if a["mode"] == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise CnnCostError(f"reflect padding must be smaller than the input ({h}x{w}), got {list(a['padding'])}")
    return (c, h + top + bottom, w + left + right)


def _build_pad(t, a, ins, out):
    top, bottom, left, right = a["padding"]
    if a["channels_last"]:  # torch orders the last axis (C, not padded) first
        return t.op("Pad", lambda m, x: t.F.pad(x, m.sides, value=m.value), sides=(0, 0, left, right, top, bottom),
                    value=a["value"])
    sides = (left, right, top, bottom)  # torch orders the last axis first
    if a["mode"] == "constant":
        return t.nn.ConstantPad2d(sides, a["value"])
    return (t.nn.ReflectionPad2d if a["mode"] == "reflect" else t.nn.ReplicationPad2d)(sides)


define(
    "pad",
    "reshape",
    "Pads the borders of a map: with a constant, by reflection, or by repeating the edge; sides may differ.",
    args=(
        Arg("padding", _pad_sides, doc="p, [ph, pw] or [top, bottom, left, right]"),
        Arg("mode", lambda v, w: choice(v, w, ("constant", "reflect", "replicate")), "constant"),
        Arg("value", number, 0, "the constant, for mode constant"),
        Arg("channels_last", boolean, False, "the input is H x W x C (a channels-last map, as Swin and DaViT pad "
            "theirs before a window partition): H and W padded, with a constant"),
    ),
    shape=_pad_shape,
    build=_build_pad,
    formulas={"output": "C x (H + top + bottom) x (W + left + right); channels_last: (H + top + bottom) x "
              "(W + left + right) x C", "params": "0", "macs": "0"},
    saved="pad", rf="pad", latency="copy", counts="reshape", rf_stand_in="zero_pad",
)


def crop_offsets(size: int, target: int) -> int:
    """Where a centre crop of ``target`` starts in ``size``: torchvision's and U-Net's rounding down."""
    return (size - target) // 2


def _center_crop_shape(a, shapes):
    c, h, w = feature_map(shapes[:1], "center_crop")
    if len(shapes) > 2:
        raise CnnCostError(f"center_crop takes one input, or two (crop the first to the second's size), "
                           f"got {len(shapes)}")
    if (a["size"] is None) == (len(shapes) == 1):
        raise CnnCostError("center_crop needs either a size, or a second input whose height and width to take")
    th, tw = a["size"] if a["size"] is not None else feature_map(shapes[1:], "center_crop's second input")[1:]
    if th > h or tw > w:
        raise CnnCostError(f"center_crop to {th}x{tw} is larger than its input {h}x{w}")
    return (c, th, tw)


def _center_crop(m, x, *reference):
    h, w = x.shape[2:]
    th, tw = reference[0].shape[2:] if reference else m.size
    top, left = crop_offsets(h, th), crop_offsets(w, tw)
    return x[:, :, top:top + th, left:left + tw]


define(
    "center_crop",
    "reshape",
    "The centre of a map: to a size, or to a second input's height and width (U-Net's cropped skip "
    "connections); an odd margin leaves the extra row and column at the bottom and right.",
    args=(Arg("size", _optional(positive_pair), None, "[h, w]; leave out to take the second input's"),),
    shape=_center_crop_shape,
    inputs="many",
    calls=("operator",),  # slicing, x[:, :, top:top + h, left:left + w]
    build=lambda t, a, ins, out: t.op("CenterCrop", _center_crop, size=a["size"]),
    formulas={"output": "C x h x w", "params": "0", "macs": "0",
              "arguments": "`size: [h, w]`, or `input: [x, reference]` to take the reference's H x W"},
    saved="nothing", rf="center_crop", latency="free", counts="reshape", view=True,
)


def _scale(value, what):
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise CnnCostError(f"{what} must be one number or a pair [h, w], got {len(value)} values")
        pair = tuple(number(v, what) for v in value)
    else:
        pair = (number(value, what),) * 2
    if any(v <= 0 for v in pair):
        raise CnnCostError(f"{what} must be positive, got {value}")
    return pair


def _upsample_shape(a, shapes):
    c, h, w = feature_map(shapes[:1], "upsample")
    if len(shapes) > 2:
        raise CnnCostError(f"upsample takes one input, or two (resize the first to the second's size), "
                           f"got {len(shapes)}")
    given = (a["scale"] is not None) + (a["size"] is not None) + (len(shapes) == 2)
    if given != 1:
        raise CnnCostError("upsample needs one of a scale, a size, or a second input whose size to take")
    if a["align_corners"] and a["mode"] != "bilinear":
        raise CnnCostError("align_corners goes with mode bilinear only")
    if a["size"] is not None:
        return (c, *a["size"])
    if len(shapes) == 2:
        return (c, *feature_map(shapes[1:], "upsample's second input")[1:])
    oh, ow = (math.floor(n * s) for n, s in zip((h, w), a["scale"]))  # torch's floor(input * scale)
    if oh < 1 or ow < 1:
        raise CnnCostError(f"scale {list(a['scale'])} leaves no output from an input of {h}x{w}")
    if oh > MAX_UPSAMPLED or ow > MAX_UPSAMPLED:
        raise CnnCostError(f"upsampling to {oh}x{ow} exceeds {MAX_UPSAMPLED} positions per side")
    return (c, oh, ow)


MAX_UPSAMPLED = 1 << 20  # per side: a bound on what a scale can ask for


def _resize_to(m, x, reference):
    from torch.nn.functional import interpolate  # runs only in torch

    return interpolate(x, size=reference.shape[2:], mode=m.mode, align_corners=m.align_corners)


def _build_upsample(t, a, ins, out):
    corners = a["align_corners"] if a["mode"] == "bilinear" else None
    if len(ins) == 2:  # F.interpolate(x, size=reference.shape[-2:]), as segmentation heads resize to the image
        return t.op("ResizeTo", _resize_to, mode=a["mode"], align_corners=corners)
    scale = None if a["scale"] is None else tuple(float(s) for s in a["scale"])
    return t.nn.Upsample(size=a["size"], scale_factor=scale, mode=a["mode"], align_corners=corners)


define(
    "upsample",
    "other",
    "Resizes a map by interpolation, nearest or bilinear: by a scale, to a size, or to a second input's size "
    "(nn.Upsample, F.interpolate).",
    args=(
        Arg("scale", _optional(_scale), None, "factor: s or [sh, sw]; the output is floor(H * s)"),
        Arg("size", _optional(positive_pair), None, "output size: s or [h, w]; or neither, and a second input"),
        Arg("mode", lambda v, w: choice(v, w, ("nearest", "bilinear")), "nearest"),
        Arg("align_corners", boolean, False, "bilinear: align the corner pixels of input and output"),
    ),
    shape=_upsample_shape,
    inputs="many",
    # bilinear weighs four neighbours per output element; nearest copies one
    macs=lambda a, ins, out: 4 * math.prod(out) if a["mode"] == "bilinear" else 0,
    build=_build_upsample,
    measure={"macs": Measure(lambda s: 4 * s.output_numel if s.module.mode == "bilinear" else 0,
                             "4 x output numel for the module's bilinear mode, else 0")},
    formulas={"output": "C x size, or C x floor(H*scale) x floor(W*scale)", "params": "0",
              "macs": "bilinear: 4*C*H'*W' (four weighted neighbours); nearest: 0",
              "arguments": "`scale`, `size`, or `input: [x, reference]` to take the reference's H x W"},
    saved="nothing", rf="upsample", latency="macs", counts="other",
)

define(
    "identity",
    "other",
    "Passes its input through unchanged.",
    shape=_same_shape,
    inplace=True,
    build=_no_args("Identity"),
    formulas={"output": "same", "params": "0", "macs": "0"},
    saved="nothing", rf="pointwise", latency="free", counts="other", view=True, rf_stand_in="identity",
    layout="kept",
)


# --- what an import could not map ---


def _dims(value, what):
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 8:
        raise CnnCostError(f"{what} must be a list of 1 to 8 positive integers (the output per sample)")
    return tuple(positive_int(v, what) for v in value)


def _op_name(value, what):
    if not isinstance(value, str) or not value or len(value) > 200 or not value.isprintable():
        raise CnnCostError(f"{what} must be the source's operator name, 1 to 200 printable characters")
    return value


def _build_opaque(t, a, ins, out):
    # cnncost does not know the operator: the stand-in gives its output shape and holds its parameter count
    held = t.nn.Parameter(t.torch.zeros(a["params"])) if a["params"] else None
    return t.op("Opaque", lambda m, x, *rest: x.new_zeros((x.shape[0], *m.shape)), shape=tuple(out), held=held)


define(
    "opaque",
    "other",
    "An operator an import could not map (--partial): its output shape and parameters as the source gives them, "
    "its work unknown and counted as 0, so totals are lower bounds.",
    args=(
        Arg("shape", _dims, REQUIRED, "the output per sample, as the source gives it"),
        Arg("op", _op_name, REQUIRED, "the source's operator (Tensor.unfold, torch.stack, Einsum, ...)"),
        Arg("params", nonnegative_int, 0, "the parameters the operator holds (a module's own)"),
    ),
    shape=lambda a, ins: tuple(a["shape"]),
    params=lambda a, ins, out: a["params"],
    inputs="many",
    calls=("function", "module"),
    build=_build_opaque,
    formulas={"output": "as given", "params": "as given", "macs": "unknown: counted 0 (a lower bound)",
              "arguments": "`shape`, `op`, `params`; written by `cnncost import --partial`"},
    # what it saves, its field and its work are unknown: nothing, none and a copy's, so figures are lower bounds;
    # each convention counts it 0 by name (conventions.py)
    saved="nothing", rf="none", latency="copy", counts="other",
)


from . import kinds_tensor  # noqa: E402,F401  the tensor-op kinds: one registry, two files
from . import kinds_swin  # noqa: E402,F401  Swin's kinds (shifted-window attention, patch merging)
