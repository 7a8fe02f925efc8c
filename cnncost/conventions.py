"""Named counting conventions: each a table of counting rules over the graph's quantities.

A rule turns one row's convention-free quantities (graph.Quantities: MACs
without bias, bias adds, input and output elements, parameters, window,
and how the reference implementation runs the row) into the MACs that a
convention counts for the whole batch. A convention's table is keyed by
layer kind, or by the counting family a kind's record names (kinds.py,
``counts``: conv, linear, pool, norm, activation, elementwise, reshape,
other). Every convention states a rule for every family, "not counted by
this tool" included (``not_counted``), and a kind that neither table nor
family covers is refused when it is defined. The model is fvcore's
dictionary of op handles.

``lecture`` and ``torchvision`` are cnncost's own. The others reproduce what a
peer tool prints for torchvision's models, bugs and all; docs/conventions.md
states each rule with its source, and tests/test_conventions.py proves every
one against the tools' measured totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import CnnCostError, did_you_mean
from .kinds import KINDS, register_check
from .kinds_tensor import fused_attention


class Rule:
    """How one convention counts one kind: ``rule(q, batch)`` is the whole batch's MACs.

    A plain class, not a dataclass: there are dozens, and every command imports them.
    """

    __slots__ = ("count", "text")

    def __init__(self, count: Callable | None, text: str):
        self.count = count  # None: the convention counts nothing for this kind
        self.text = text  # the rule in words, for 'cnncost explain' and the docs

    def __call__(self, q, batch: int) -> int:
        return 0 if self.count is None else self.count(q, batch)

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"


ZERO = Rule(None, "0")


def _macs(q, n):
    return q.macs * n


def _macs_and_bias(q, n):
    return (q.macs + q.bias_adds) * n


def _per_input(factor: int):
    return lambda q, n: factor * q.input_elements * n


def _by_call(text: str, **counts: Callable) -> Rule:
    """A rule that depends on how the reference implementation runs the row; unlisted ways count 0."""

    def count(q, n):
        rule = counts.get(q.call)
        return rule(q, n) if rule is not None else 0

    return Rule(count, text)


def _square_or_area(window) -> int:
    # torchscan reads an int kernel_size as k itself and a tuple as its product; torchvision writes
    # every square pooling kernel as an int, so MaxPool2d(3) is k = 3 there, not 9
    kh, kw = window
    return kh if kh == kw else kh * kw


def _torchscan_adaptive(q, n) -> int:
    # torchscan approximates each axis's window as i // o when o divides i, else i % o + 1
    (_, h, w), (_, oh, ow) = q.input_shapes[0], q.output_shape
    kh, kw = (i // o if i % o == 0 else i % o + 1 for i, o in ((h, oh), (w, ow)))
    return q.output_elements * n * (kh * kw + 1)


def _thop_adaptive(q, n) -> int:
    # thop: int((H/H' * W/W' + 1) * output numel), in float64, over the whole batch
    (_, h, w), (_, oh, ow) = q.input_shapes[0], q.output_shape
    return int(((h / oh) * (w / ow) + 1) * (q.output_elements * n))


def _thop_global_3d(q, n) -> int:
    # thop's count_adap_avgpool on C x T x H x W to C x 1 x 1 x 1: int((T*H*W + 1) * output numel)
    (_, t, h, w) = q.input_shapes[0]
    return int((t * h * w + 1) * (q.output_elements * n))


def _torchscan_global_3d(q, n) -> int:
    # torchscan's macs_adaptive_avgpool: output numel x (prod(kernel) - 1 + len(kernel)), the kernel (T, H, W)
    (_, t, h, w) = q.input_shapes[0]
    return q.output_elements * n * (t * h * w + 2)


def _softmax_features(q) -> int:
    """F: the size of the softmax's axis (its ``dim``, the channels by default)."""
    from .kinds_tensor import axis

    return q.output_shape[axis(q.args.get("dim", 1), q.output_shape)]


def _thop_softmax(q, n) -> int:
    # thop: per softmax row of F features (x.size()[m.dim]), F exps, F - 1 adds and F divisions
    features = _softmax_features(q)
    rows = q.output_elements * n // features
    return rows * (3 * features - 1)


def _ptflops_mha(q, n) -> int:
    # ptflops' multihead_attention_counter_hook: the query scaling L*E, the projections (L + 2S)*E^2 and their
    # biases (L + 2S)*E, per head L*S*(2*E/heads + 1) (Q K^T, softmax, weights x V), and the output projection
    # L*E*(E + 1) ("bias is always enabled")
    (lq, e), s, heads = q.input_shapes[0], q.input_shapes[-1][0], q.args["heads"]
    biased = q.params > 4 * e * e
    flops = lq * e + (lq + 2 * s) * e * e + ((lq + 2 * s) * e if biased else 0)
    flops += heads * (lq * s * (2 * (e // heads)) + lq * s) + lq * e * (e + 1)
    return flops * n


def _mha_projections(q, n) -> int:
    # the four projections: q, k, v in ((L + 2S) E^2) and out (L E^2); the attention itself is a fused kernel
    (lq, e), s = q.input_shapes[0], q.input_shapes[-1][0]
    return ((lq + 2 * s) * e * e + lq * e * e) * n


def _mha_unfused(count):
    # self-attention (one input) runs torch's fused _native_multi_head_attention in eval: no op these tools see;
    # with a separate key and value it runs as linear ops and the CPU's fused attention; so it does without the
    # projections' biases (torch's fast path needs them: measured, tests/test_conventions.py)
    return lambda q, n: count(q, n) if len(q.input_shapes) == 3 or not q.bias_adds else 0


def _mha_projection_bias(q, n) -> int:
    (lq, e), s = q.input_shapes[0], q.input_shapes[-1][0]
    return ((lq + 2 * s) * e + lq * e) * n if q.bias_adds else 0


def _math_path(q, n) -> int:
    # F.scaled_dot_product_attention on (N, heads, L, E) is the CPU's fused kernel, which no tool sees; on other
    # ranks torch's math path runs two batched products, counted as MACs
    return 0 if fused_attention(q) else q.macs * n


def _fvcore_einsum(q, n) -> int:
    # fvcore's einsum handle: two equations it knows exactly, else numpy's einsum_path "Optimized FLOP count"
    # (2 per multiply-add with a summed letter, printed as %.3e, so rounded to 4 digits) halved and floored
    operands, right = q.args["equation"].replace(" ", "").split("->")
    letters = dict.fromkeys(c for c in operands + right if c.isalpha())
    normal = q.args["equation"].replace(" ", "").translate({ord(c): 97 + i for i, c in enumerate(letters)})
    macs = q.macs * n
    if normal in ("abc,abd->acd", "abc,adc->adb"):
        return macs
    summed = bool(set(operands.replace(",", "")) - set(right))
    flops = macs * (2 if summed else 1) * max(1, len(operands.split(",")) - 1)
    return int(float(f"{flops:.3e}") / 2)


def _ptflops_lrn(q, n) -> int:
    # F.local_response_norm squares the input (Tensor.mul: I), average-pools the square padded to
    # C + size - 1 channels (avg_pool3d: (C + size - 1)*H*W), then scales and shifts it (mul, add: 2I);
    # ptflops patches all of these. The window size is the kind's MACs per element.
    c, h, w = q.output_shape
    size = q.macs // q.output_elements
    return ((c + size - 1) * h * w + 3 * q.output_elements) * n


def _bias_params(q) -> int:
    return q.output_shape[0] if q.bias_adds else 0


def _per_output_element(q, n) -> int:
    # thop and torchscan: output elements x the weight's numel per output channel, (Cin/groups)*kh*kw: the MACs
    # of a conv, but Cin*kh*kw/groups per *output* element of a transposed conv, whose work is per input
    return q.output_elements * n * ((q.params - _bias_params(q)) // q.output_shape[0])


def _std_conv_weights(q) -> int:
    # a weight-standardised conv's weight elements: its parameters less the bias and the gain (one per output each)
    return q.params - _bias_params(q) - (q.output_shape[0] if q.args["gain"] else 0)


def _fvcore_std_conv(q, n) -> int:
    # the conv's MACs (aten::_convolution), and aten::batch_norm in training mode over the weight: 5 per weight
    # element with a weight argument (the gain), 4 without; once per call, the weight being the same for the batch
    return q.macs * n + (5 if q.args["gain"] else 4) * _std_conv_weights(q)


def _params_per_position(q, n) -> int:
    # torchinfo: the module's parameters (weight and bias) times the output positions
    positions = q.output_elements // q.output_shape[0]
    return q.params * positions * n


def _interpolated(q, n) -> int:
    # ptflops' F.interpolate patch: the output numel when given a size, the input numel x the scales' product
    # otherwise; cnncost's rows keep the size, so both come out as the output numel for whole scales
    return q.output_elements * n


def _affine_factor(q) -> int:
    return 2 if q.params else 1  # batch norm's params are its affine scale and shift


@dataclass(frozen=True)
class Convention:
    name: str
    reproduces: str  # the tool and version, or the source of the rule
    figure: str  # which figure of the tool's output it reproduces
    summary: str  # one line, printed under every table
    rules: dict[str, Rule]  # by kind name, or by the counting family a kind's record names
    unrun_params: bool = False  # totals count the parameters of side outputs that do not run (aux heads)
    # kinds ("groupnorm"), or kinds run one way ("layernorm:subclass"), whose modules the tool has no rule
    # for: their parameters count 0
    unregistered: frozenset = frozenset()
    # where not empty, only rows run one of these ways count their parameters: thop counts those of the modules
    # whose exact type it has a rule for, so never a function's weights (they belong to a module of the model's own)
    # nor a subclass's
    param_calls: frozenset = frozenset()
    # kind -> (args, input shapes) -> the parameters of its row that the tool leaves out (thop: MaxViT's relative
    # position bias table, a parameter of a module it has no rule for, while it counts that module's children)
    left_out_params: dict = field(default_factory=dict)
    sources: tuple = ()
    _by_kind: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def is_unregistered(self, kind: str, call: str) -> bool:
        """Whether the tool has no rule for this kind run this way, and so leaves its parameters out."""
        if self.param_calls and call not in self.param_calls:
            return True
        return bool(self.unregistered) and (kind in self.unregistered or f"{kind}:{call}" in self.unregistered)

    def left_out(self, kind: str, args: dict, input_shapes) -> int:
        """The parameters of a counted row that the tool still leaves out (left_out_params); 0 for most."""
        rule = self.left_out_params.get(kind)
        return 0 if rule is None else rule(args, input_shapes)

    def counts_params(self, kind: str, call: str, side: bool, include_side: bool) -> bool:
        """Whether the totals count a row's parameters."""
        return not self.is_unregistered(kind, call) and (include_side or self.unrun_params or not side)

    def rule(self, kind: str) -> Rule:
        """The rule for a layer kind: its own entry, or its family's."""
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = _rule_for(self, KINDS[kind])
        return found


MACS = Rule(_macs, "MACs, bias excluded")
MACS_AND_BIAS = Rule(_macs_and_bias, "MACs + one add per output element for the bias")
ONLY_MODULES = "; 0 as a function"


FAMILIES = ("conv", "linear", "pool", "norm", "activation", "elementwise", "reshape", "other", "matmul")


def not_counted(tool: str, *families: str) -> dict:
    """The families a tool counts nothing for, said so: 'cnncost explain' and the docs show the text."""
    return {family: Rule(None, f"0: not counted by {tool}") for family in families}


def _table(tool: str, uncounted: tuple, **rules) -> dict:
    """A convention's rules: those given, and the families the tool does not count; every family is stated."""
    table = {**not_counted(tool, *uncounted), **rules}
    missing = [f for f in FAMILIES if f not in table]
    if missing:
        raise ValueError(f"the {tool} convention states no rule for the families {', '.join(missing)}")
    return table


_LECTURE = Convention(
    "lecture", "lecture 8 (CNN architectures), section 8.2", "MACs",
    "MACs: conv Cout*H'*W'*(Cin/groups)*Kh*Kw, linear in*out, pooling C*H'*W'*Kh*Kw; "
    "bias, norms, activations and element-wise ops count 0. FLOPs = 2*MACs. "
    "Memory: each layer's output, except in-place ones (activations, dropout, batch norm). KiB = 1024 bytes.",
    _table("the lecture", ("norm", "activation", "elementwise", "reshape", "other"),
           conv=MACS, linear=MACS, pool=Rule(_macs, "C*H'*W'*Kh*Kw: one per window element"),
           matmul=Rule(_macs, "MACs: a matrix product is a linear layer's work"), attention=MACS,
           multihead_attention=Rule(_macs, "MACs of its four projections and of Q K^T and weights x V")),
    sources=("lecture 8, section 8.2 and its AlexNet table",),
)

_TORCHVISION = Convention(
    "torchvision", "torchvision's weight metadata (_ops, printed as GFLOPS)", "GMACs",
    "MACs: conv and linear only, bias excluded, and attention's Q K^T and weights x V (torchvision's published "
    "GFLOPS are these MACs). FLOPs = 2*MACs. Memory as in the lecture convention.",
    _table("torchvision", ("pool", "norm", "activation", "elementwise", "reshape", "other"),
           conv=MACS, linear=MACS, matmul=MACS, attention=MACS, multihead_attention=MACS),
    sources=("torchvision/models/*.py, each weights' meta['_ops']",),
)

_PTFLOPS_POOL = _by_call("2 per input element as a module (its hook, and the patched F.*pool2d it calls); "
                         "1 as a subclass (no hook for its exact type; the patched function its forward calls) or "
                         "a function; 0 as Tensor.mean",
                         module=_per_input(2), subclass=_per_input(1), function=_per_input(1))
_PTFLOPS = Convention(
    "ptflops", "ptflops 0.7.5 get_model_complexity_info, backend='pytorch'", "MACs",
    "MACs as ptflops 0.7.5 (pytorch backend) counts them: conv and linear with bias adds, batch norm and "
    "pooling per element, ReLU/GELU/ELU modules twice (module hook and patched function). Per image in "
    "ptflops; here for the whole batch.",
    _table("ptflops", ("norm", "activation", "elementwise", "reshape", "other"),
        conv=_by_call("MACs + bias adds as a module; 0 as a subclass (looked up by exact type) or a function "
                      "(F.conv2d is not patched)",
                      module=_macs_and_bias),
        linear=_by_call("MACs + bias adds as a module; 0 as a subclass (looked up by exact type) or a function "
                        "(its F.linear patch is disabled)",
                        module=_macs_and_bias),
        pool=_PTFLOPS_POOL,
        batchnorm=_by_call("2 per element (1 without affine) as a module; 0 as a subclass (looked up by exact "
                           "type) or a function", module=lambda q, n: _affine_factor(q) * q.input_elements * n),
        groupnorm=_by_call("2 per element (1 without affine) as a module (the batch norm hook)" + ONLY_MODULES,
                           module=lambda q, n: _affine_factor(q) * q.input_elements * n),
        lrn=Rule(_ptflops_lrn, "(C + size - 1)*H*W + 3*C*H*W: the patched avg_pool3d, mul and add inside "
                 "F.local_response_norm"),
        relu=_by_call("2 per element as a module (the module hook, and the patched F.relu it calls); "
                      "1 as a function", module=_per_input(2), function=_per_input(1)),
        elu=_by_call("2 per element as a module (hook and patched F.elu); 1 as a function",
                     module=_per_input(2), function=_per_input(1)),
        gelu=_by_call("2 per element as a module (hook and patched F.gelu); 1 as a function",
                      module=_per_input(2), function=_per_input(1)),
        layernorm=_by_call("1 per element as nn.LayerNorm (the batch norm hook, which looks for 'affine', not "
                           "'elementwise_affine'); 0 as a subclass (looked up by exact type) or F.layer_norm",
                           module=_per_input(1)),
        upsample=_by_call("output elements twice as nn.Upsample (its hook, and the patched F.interpolate it "
                          "calls); once as F.interpolate",
                          module=lambda q, n: q.output_elements * n + _interpolated(q, n),
                          function=_interpolated),
        relu6=Rule(_per_input(1), "1 per element (the module hook; nn.ReLU6 calls the unpatched F.hardtanh)"),
        leaky_relu=_by_call("1 per element as a module (its hook)" + ONLY_MODULES, module=_per_input(1)),
        silu=Rule(_per_input(1), "1 per element (the patched F.silu; nn.SiLU has no hook)"),
        softmax=_by_call("1 per element as nn.Softmax or F.softmax (the patched F.softmax); 0 as x.softmax or "
                         "torch.softmax, which it does not patch", module=_per_input(1), function=_per_input(1)),
        add=_by_call("0 as the + operator; (inputs - 1) per output element as torch.add",
                     function=lambda q, n: q.macs * n),
        mul=_by_call("0 as the * operator; 1 per output element as torch.mul", function=_macs),
        scalar=_by_call("1 per element as torch.add or torch.mul (or their Tensor methods); 0 as an operator or "
                        "any other function", function=lambda q, n: q.macs * n if q.args["op"] in ("add", "mul")
                        else 0),
        binary=_by_call("1 per output element as torch.add or torch.mul (or their Tensor methods); 0 as an "
                        "operator or any other function", function=lambda q, n: q.macs * n
                        if q.args["op"] in ("add", "mul") else 0),
        layer_scale=_by_call("0 as the * operator (torchvision's CNBlock); 1 per element as Tensor.mul or "
                             "torch.mul (timm's x.mul(gamma.reshape(1, -1, 1, 1)))", function=_macs),
        param=_by_call("1 per element as Tensor.mul / Tensor.add (x.mul(gamma)); 0 as an operator or any other "
                       "function", function=lambda q, n: q.macs * n if q.args["op"] in ("add", "mul") else 0),
        matmul=_by_call("MACs as torch.matmul, mm, bmm (or their Tensor methods); 0 as the @ operator",
                        function=_macs),
        einsum=Rule(None, "0: torch.einsum is not patched"),
        attention=Rule(None, "0: F.scaled_dot_product_attention is not patched"),
        multihead_attention=Rule(_ptflops_mha, "its nn.MultiheadAttention hook: L*E + (L+2S)*E^2 (+ (L+2S)*E "
                                 "bias) + heads*L*S*(2E/heads + 1) + L*E*(E+1)"),
        instancenorm=_by_call("1 per element, 2 with affine, as nn.InstanceNorm2d (the batch norm hook)"
                              + ONLY_MODULES, module=lambda q, n: _affine_factor(q) * q.input_elements * n),
    ),
    unrun_params=True,
    sources=("ptflops 0.7.5: pytorch_ops.py (MODULES_MAPPING, FUNCTIONAL_MAPPING, TENSOR_OPS_MAPPING), "
             "pytorch_engine.py (patch_functional)",),
)

_PTFLOPS_ATEN = Convention(
    "ptflops-aten", "ptflops 0.7.5 get_model_complexity_info, backend='aten'", "MACs",
    "MACs as ptflops 0.7.5 (aten backend) counts them: aten.convolution and aten.addmm/mm only, with bias "
    "adds. Per image in ptflops; here for the whole batch.",
    _table("ptflops (aten)", ("pool", "norm", "activation", "elementwise", "reshape", "other"),
        conv=MACS_AND_BIAS,
        matmul=Rule(_macs, "MACs (aten.mm, aten.bmm)"),
        attention=Rule(_math_path, "0 on (N, heads, L, E), the CPU's fused kernel (not in its table); MACs on "
                       "other ranks (torch's math path: aten.bmm)"),
        multihead_attention=Rule(_mha_unfused(lambda q, n: _mha_projections(q, n) + _mha_projection_bias(q, n)),
                                 "0 as self-attention (in eval torch's fused _native_multi_head_attention); with a "
                                 "separate key and value, its projections' MACs and bias adds (aten.addmm)"),
        linear=Rule(_macs_and_bias, "MACs + one add per output element for the bias (aten.addmm; per position "
                    "of a map, where the map is contiguous channels-last, as in ConvNeXt)"),
    ),
    unrun_params=True,
    sources=("ptflops 0.7.5: aten_ops.py (ATEN_OPS_MAPPING)",),
)

_FVCORE = Convention(
    "fvcore", "fvcore 0.1.5 FlopCountAnalysis(...).total()", "its 'flops' (one per MAC)",
    "MACs as fvcore 0.1.5 counts them (its 'flops' are MACs): conv and linear without bias, batch norm "
    "2 per element, adaptive average pooling 1 per input element; everything else unsupported (0).",
    _table("fvcore", ("pool", "norm", "activation", "elementwise", "reshape", "other"),
        conv=MACS, linear=MACS,
        batchnorm=Rule(lambda q, n: _affine_factor(q) * q.input_elements * n,
                       "2 per element (1 without affine): aten::batch_norm in eval"),
        groupnorm=Rule(lambda q, n: (4 + (q.params > 0)) * q.input_elements * n,
                       "5 per element (4 without affine): aten::group_norm, module or function"),
        layernorm=Rule(lambda q, n: (4 + (q.params > 0)) * q.input_elements * n,
                       "5 per element (4 without affine): aten::layer_norm, module or function"),
        upsample=Rule(lambda q, n: (q.macs or q.output_elements) * n,
                      "1 per output element nearest, 4 bilinear (aten::upsample_nearest2d, upsample_bilinear2d)"),
        adaptive_avgpool=_by_call("1 per input element (aten::adaptive_avg_pool2d)",
                                  module=_per_input(1), function=_per_input(1)),
        matmul=Rule(_macs, "MACs (aten::matmul, bmm)"),
        einsum=Rule(_fvcore_einsum, "aten::einsum: MACs for 'abc,abd->acd' and 'abc,adc->adb'; otherwise numpy's "
                    "einsum_path FLOP count (printed to 4 digits) halved"),
        attention=Rule(None, "0: not counted by fvcore (aten::scaled_dot_product_attention is unsupported)"),
        multihead_attention=Rule(_mha_unfused(_mha_projections), "0 as self-attention (in eval torch's fused "
                                 "_native_multi_head_attention, unsupported); with a separate key and value, its "
                                 "projections' MACs (aten::linear), the attention unsupported"),
        instancenorm=Rule(lambda q, n: (4 + (q.params > 0)) * q.input_elements * n,
                          "5 per element (4 without affine): aten::instance_norm, module or function"),
        global_avgpool=_by_call("1 per input element (aten::adaptive_avg_pool2d); 0 as Tensor.mean",
                                module=_per_input(1), function=_per_input(1)),
        global_avgpool3d=Rule(None, "0: not counted by fvcore (no handle for aten::adaptive_avg_pool3d)"),
        std_conv=Rule(_fvcore_std_conv, "MACs, and the weight's batch norm in training mode once per call: 5 per "
                      "weight element with a gain, 4 without (aten::batch_norm); the gain's scaling unsupported"),
    ),
    unrun_params=True,
    sources=("fvcore 0.1.5.post20221221: nn/flop_count.py (_DEFAULT_SUPPORTED_OPS), nn/jit_handles.py",),
)

_THOP = Convention(
    "thop", "thop 0.1.1 profile", "MACs",
    "MACs as thop 0.1.1 counts modules that run: conv and linear without bias, batch norm 4 per element, "
    "average pooling per output, adaptive pooling by its size ratio, softmax; functions count 0. "
    "Params only of modules that run (no auxiliary heads).",
    _table("thop", ("pool", "norm", "activation", "elementwise", "reshape", "other"),
        conv=_by_call("output elements x (Cin/groups)*kh*kw as a module (the MACs of a conv; Cin/groups*kh*kw "
                      "per output element of a transposed conv too); 0 as a subclass (Conv2dSame: no rule for its "
                      "exact type, its parameters left out too) or a function", module=_per_output_element),
        linear=_by_call("MACs as a module; 0 as a subclass (timm's Linear: no rule for its exact type, its "
                        "parameters left out too) or a function", module=_macs),
        batchnorm=_by_call("4 per element (2 without affine) as a module; 0 as a subclass or a function (timm's "
                           "BatchNormAct2d: its parameters left out too)",
                           module=lambda q, n: 2 * _affine_factor(q) * q.input_elements * n),
        layernorm=_by_call("4 per element (2 without affine) as nn.LayerNorm; a subclass is not recognised "
                           "(0, and its parameters left out); 0 as a function",
                           module=lambda q, n: 2 * _affine_factor(q) * q.input_elements * n),
        upsample=_by_call("1 per output element nearest, 11 bilinear, as nn.Upsample" + ONLY_MODULES,
                          module=lambda q, n: (11 if q.macs else 1) * q.output_elements * n),
        avgpool=_by_call("1 per output element as a module" + ONLY_MODULES,
                         module=lambda q, n: q.output_elements * n),
        avgpool3d=Rule(lambda q, n: q.output_elements * n, "1 per output element as nn.AvgPool3d (its "
                       "count_avgpool); nn.MaxPool3d is zero_ops"),
        adaptive_avgpool=_by_call("int((H/H' * W/W' + 1) * output elements) as a module" + ONLY_MODULES,
                                  module=_thop_adaptive),
        global_avgpool=_by_call("int((H * W + 1) * output elements) as a module; 0 as a function or mean",
                                module=_thop_adaptive),
        global_avgpool3d=_by_call("int((T * H * W + 1) * output elements) as nn.AdaptiveAvgPool3d (its "
                                  "count_adap_avgpool)", module=_thop_global_3d),
        softmax=_by_call("3F - 1 per row of F features as a module" + ONLY_MODULES, module=_thop_softmax),
        groupnorm=Rule(None, "0: no rule for nn.GroupNorm, whose parameters it leaves out too"),
        layer_scale=Rule(None, "0: a parameter of the block itself, which has no rule, so left out too"),
        matmul=Rule(None, "0: not counted by thop (functions count 0)"),
        attention=Rule(None, "0: not counted by thop (functions count 0)"),
        multihead_attention=Rule(None, "0: no rule for nn.MultiheadAttention, whose parameters it leaves out too"),
        instancenorm=_by_call("2 per element (4 with affine) as nn.InstanceNorm2d (its normalisation hook)"
                              + ONLY_MODULES, module=lambda q, n: 2 * _affine_factor(q) * q.input_elements * n),
        grn=Rule(None, "0: a module of the model's own, which has no rule, so its parameters are left out too"),
        param=Rule(None, "0: a tensor of the block itself, which has no rule, so a parameter is left out too"),
        class_token=Rule(None, "0: a parameter of the model itself, which has no rule, so left out too"),
        position_embedding=Rule(None, "0: a parameter of the encoder, which has no rule, so left out too"),
    ),
    unregistered=frozenset({"groupnorm", "layer_scale", "multihead_attention", "grn", "param"}),
    param_calls=frozenset({"module"}),
    sources=("thop 0.1.1.post2209072238: profile.py (register_hooks, dfs_count), vision/basic_hooks.py, "
             "vision/calc_func.py",),
)

_TORCHINFO = Convention(
    "torchinfo", "torchinfo 1.8 summary(...).total_mult_adds", "mult-adds",
    "Mult-adds as torchinfo 1.8 counts leaf modules: conv and linear with bias adds, and batch norm "
    "2C per sample (its parameters, with no spatial factor); everything else 0.",
    _table("torchinfo", ("pool", "activation", "elementwise", "reshape", "other"),
        matmul=Rule(None, "0: not counted by torchinfo (functions count 0)"),
        attention=Rule(None, "0: not counted by torchinfo (functions count 0)"),
        multihead_attention=Rule(None, "0: not counted by torchinfo (nn.MultiheadAttention has no 'weight')"),
        conv=_by_call("(weight + bias numel) x output positions, as a module or a leaf subclass whose class name "
                      "has 'Conv' (= MACs + bias adds for a conv)" + ONLY_MODULES, module=_params_per_position,
                      subclass=_params_per_position),
        linear=_by_call("(weight + bias numel) per sample, no spatial factor, as a module or a leaf subclass "
                        "(= MACs + bias adds on a vector)" + ONLY_MODULES, module=lambda q, n: q.params * n,
                        subclass=lambda q, n: q.params * n),
        std_conv=_by_call("(weight + bias numel) x output positions as a leaf subclass whose class name has "
                          "'Conv' (timm's StdConv2d, ScaledStdConv2d); the gain, a parameter of another name, "
                          "adds nothing" + ONLY_MODULES,
                          subclass=lambda q, n: (q.params - (q.output_shape[0] if q.args["gain"] else 0))
                          * (q.output_elements // q.output_shape[0]) * n),
        norm=_by_call("its parameters' numel per sample (2C for batch norm), no spatial factor, "
                      "as a module or subclass" + ONLY_MODULES, module=lambda q, n: q.params * n,
                      subclass=lambda q, n: q.params * n),
    ),
    unrun_params=True,
    sources=("torchinfo 1.8.0: layer_info.py (LayerInfo.calculate_macs)",),
)

_TORCHSCAN = Convention(
    "torchscan", "torchscan 0.2 crawl_module", "MACs",
    "MACs as torchscan 0.2 counts modules: conv and linear without bias, batch norm 2 per element, "
    "max pool (k-1) and average pool (k+1) per output, adaptive pools by an approximate kernel; "
    "functions count 0.",
    _table("torchscan", ("pool", "norm", "activation", "elementwise", "reshape", "other", "matmul"),
        attention=Rule(None, "0: not counted by torchscan (functions count 0)"),
        multihead_attention=Rule(None, "0: not counted by torchscan (no rule for nn.MultiheadAttention)"),
        conv=_by_call("output elements x (Cin/groups)*kh*kw as a module or a leaf subclass (isinstance: "
                      "Conv2dSame; the MACs of a conv)" + ONLY_MODULES, module=_per_output_element,
                      subclass=_per_output_element),
        std_conv=_by_call("MACs as a leaf subclass (isinstance: timm's StdConv2d, ScaledStdConv2d); the "
                          "standardisation adds nothing" + ONLY_MODULES, subclass=_macs),
        conv_transpose=_by_call("output elements x Cin*kh*kw/groups, + 8 for its padding (2 axes x 4), as a "
                                "module or a leaf subclass" + ONLY_MODULES,
                                module=lambda q, n: _per_output_element(q, n) + 8 * n,
                                subclass=lambda q, n: _per_output_element(q, n) + 8 * n),
        linear=_by_call("MACs as a module or a leaf subclass (isinstance: timm's Linear)" + ONLY_MODULES,
                        module=_macs, subclass=_macs),
        batchnorm=_by_call("2 per element (1 without affine) in eval, as a module or a leaf subclass"
                           + ONLY_MODULES, module=lambda q, n: _affine_factor(q) * q.input_elements * n,
                           subclass=lambda q, n: _affine_factor(q) * q.input_elements * n),
        maxpool=_by_call("k - 1 per output element as a module, k the kernel as written (MaxPool2d(3): k = 3); "
                         "kh*kw - 1 as a leaf subclass (timm's MaxPool2dSame stores a tuple)" + ONLY_MODULES,
                         module=lambda q, n: q.output_elements * n * (_square_or_area(q.window) - 1),
                         subclass=lambda q, n: q.output_elements * n * (q.window[0] * q.window[1] - 1)),
        avgpool=_by_call("k + 1 per output element as a module, k the kernel as written; kh*kw + 1 as a leaf "
                         "subclass (timm's AvgPool2dSame stores a tuple)" + ONLY_MODULES,
                         module=lambda q, n: q.output_elements * n * (_square_or_area(q.window) + 1),
                         subclass=lambda q, n: q.output_elements * n * (q.window[0] * q.window[1] + 1)),
        adaptive_avgpool=_by_call("kh*kw + 1 per output element as a module, each k = i//o when o divides i, "
                                  "else i%o + 1" + ONLY_MODULES, module=_torchscan_adaptive),
        global_avgpool=_by_call("H*W + 1 per output element as a module; 0 as a function or mean",
                                module=_torchscan_adaptive),
        global_avgpool3d=_by_call("T*H*W + 2 per output element as nn.AdaptiveAvgPool3d (the kernel's product "
                                  "- 1 + its 3 axes)", module=_torchscan_global_3d),
        # torchvision writes every 3-D kernel as a triple, whose product torchscan takes (an int k would be k)
        maxpool3d=Rule(lambda q, n: q.output_elements * n * (q.window[0] * q.window[1] * q.window[2] - 1),
                       "kt*kh*kw - 1 per output element as nn.MaxPool3d (macs_maxpool; the kernel a triple)"),
        avgpool3d=Rule(lambda q, n: q.output_elements * n * (q.window[0] * q.window[1] * q.window[2] + 2),
                       "kt*kh*kw + 2 per output element as nn.AvgPool3d (macs_avgpool: the kernel's product - 1 "
                       "+ its 3 axes; the kernel a triple)"),
    ),
    unrun_params=True,
    sources=("torchscan 0.2.0: modules/macs.py (module_macs), modules/_pooling.py (adaptive_kernel_size)",),
)

_FLOPCOUNTER = Convention(
    "flopcounter", "torch.utils.flop_counter.FlopCounterMode (FLOPs / 2)", "FLOPs / 2",
    "MACs as torch's FlopCounterMode counts them, halved: conv and matrix products only, bias excluded. "
    "Equal to the torchvision convention on every kind cnncost has.",
    _table("FlopCounterMode", ("pool", "norm", "activation", "elementwise", "reshape", "other"),
           conv=MACS, linear=MACS, matmul=Rule(_macs, "MACs (aten.mm, bmm; einsum runs as bmm)"),
           attention=Rule(_math_path, "0 on (N, heads, L, E), the CPU's fused kernel (no formula); MACs on "
                          "other ranks (torch's math path: bmm)"),
           multihead_attention=Rule(_mha_unfused(_mha_projections), "0 as self-attention (in eval torch's fused "
                                    "_native_multi_head_attention has no formula); with a separate key and value, "
                                    "its projections' MACs (the fused attention has none)")),
    unrun_params=True,
    sources=("torch 2.13: torch/utils/flop_counter.py (the registered aten ops)",),
)

CONVENTIONS = {c.name: c for c in (_LECTURE, _TORCHVISION, _PTFLOPS, _PTFLOPS_ATEN, _FVCORE, _THOP, _TORCHINFO,
                                    _TORCHSCAN, _FLOPCOUNTER)}
def _swin_parts(q, n, *parts) -> int:
    from .kinds_swin import _swa_parts

    found = _swa_parts(q.args, q.input_shapes[0])
    return sum(found.get(p, 0) for p in parts) * n


def _swin_macs(q, n) -> int:
    # the per-sample MACs, and V2's CPB MLP once per forward
    from .kinds_swin import cpb_macs

    return q.macs * n + cpb_macs(q.args)


def _swin_softmax(q, n) -> int:
    from .kinds_swin import window_geometry

    _, _, _, ph, pw, _, _, _, _, _, tokens = window_geometry(q.args, q.input_shapes[0])
    return ph * pw * q.args["heads"] * tokens * n


def _swin_cpb(q) -> tuple:
    """V2's CPB MLP, once per forward: (MACs, its first linear's bias adds, its hidden elements, its parameters);
    zeros for V1."""
    from .kinds_swin import CPB_HIDDEN, _bias_table, cpb_bias_adds, cpb_macs

    if q.args["version"] != 2:
        return 0, 0, 0, 0
    return (cpb_macs(q.args), cpb_bias_adds(q.args), _bias_table(q.args) * CPB_HIDDEN,
            3 * CPB_HIDDEN + CPB_HIDDEN * q.args["heads"])


def _swin_ptflops(q, n) -> int:
    # V1's Q K^T and A V are Tensor.matmul (patched); V2's Q K^T is the @ operator (not patched), A V is matmul
    macs, bias, hidden, _ = _swin_cpb(q)
    products = _swin_parts(q, n, "products") // (2 if q.args["version"] == 2 else 1)
    return products + _swin_softmax(q, n) + macs + bias + 2 * hidden


def _swin_thop_left_out(args, input_shapes) -> int:
    # thop counts the parameters of the modules it has a rule for that run: V2's cpb_mlp linears, not qkv and proj
    # (run through F.linear), nor the bias table or logit scale (parameters of the attention module itself)
    from .kinds_swin import CPB_HIDDEN, _swa_params

    params = _swa_params(args, input_shapes, input_shapes[0])
    return params - (3 * CPB_HIDDEN + CPB_HIDDEN * args["heads"] if args["version"] == 2 else 0)


# Swin's shifted-window attention (kinds_swin.py): torchvision's ShiftedWindowAttention calls F.linear with its qkv
# and proj weights (not the modules), Tensor.matmul for Q K^T and A V (V2: @ for Q K^T), F.softmax, and (V2) its
# cpb_mlp modules, once per forward
_SWIN_ATTENTION = {
    "lecture": Rule(_swin_macs, "MACs of qkv, proj, Q K^T and weights x V (V2: and its CPB MLP, once per batch)"),
    "torchvision": Rule(_swin_macs, "MACs of qkv, proj, Q K^T and weights x V, and V2's CPB MLP (its _ops count it: "
                        "without it swin_v2_t would print 5.921, not 5.94)"),
    "flopcounter": Rule(_swin_macs, "MACs of qkv and proj (aten.addmm), Q K^T and A V (aten.bmm) and V2's CPB MLP"),
    "ptflops": Rule(_swin_ptflops, "Q K^T and A V (the patched Tensor.matmul; V2: A V only, its Q K^T is the @ "
                    "operator) and one per attention weight (the patched F.softmax); F.linear is not patched. V2: "
                    "its CPB MLP once (the nn.Linear hooks, MACs and bias adds; nn.ReLU twice per element)"),
    "ptflops-aten": Rule(lambda q, n: (q.macs + q.bias_adds) * n + sum(_swin_cpb(q)[:2]),
                         "MACs + the bias adds of qkv and proj (aten.addmm) and Q K^T and A V (aten.bmm); V2: its "
                         "CPB MLP's MACs and bias adds once"),
    "fvcore": Rule(lambda q, n: q.macs * n + _swin_cpb(q)[0], "MACs: qkv and proj (aten::linear), Q K^T and A V "
                   "(aten::matmul); V2: its CPB MLP once"),
    "thop": Rule(lambda q, n: _swin_cpb(q)[0], "0 (qkv and proj never run as modules; no rule for the attention "
                 "module, whose parameters it leaves out); V2: its CPB MLP's linears once, and their parameters"),
    "torchinfo": Rule(lambda q, n: _swin_cpb(q)[3], "0 (qkv and proj never run as modules); V2: the CPB MLP's "
                      "linears, their parameters' numel once (params all counted)"),
    "torchscan": Rule(lambda q, n: _swin_cpb(q)[0], "0 (no rule for the module; qkv and proj never run); V2: its CPB "
                      "MLP's linears' MACs once"),
}
for _name, _rule in _SWIN_ATTENTION.items():
    CONVENTIONS[_name].rules["shifted_window_attention"] = _rule
CONVENTIONS["thop"].left_out_params["shifted_window_attention"] = _swin_thop_left_out

# an import's --partial row (kinds.py opaque): no convention knows its work, and the totals say they are lower bounds
UNKNOWN_WORK = Rule(None, "not counted: an operator the import could not map (--partial); totals are lower bounds")
for _convention in CONVENTIONS.values():
    _convention.rules["opaque"] = UNKNOWN_WORK
DEFAULT = "lecture"


def _check(kind) -> None:
    for convention in CONVENTIONS.values():
        _rule_for(convention, kind)
        convention._by_kind.pop(kind.name, None)  # a kind defined again (a test's throwaway) is looked up anew


def _rule_for(convention: Convention, kind) -> Rule:
    found = convention.rules.get(kind.name) or convention.rules.get(kind.counts)
    if found is None:
        raise ValueError(f"layer kind {kind.name}: convention '{convention.name}' has no rule for it, nor for "
                         f"its family '{kind.counts}' ({', '.join(FAMILIES)})")
    return found


from . import conventions_maxvit  # noqa: E402  MaxViT's partition attention (its own file): each convention's rule

for _name, (_count, _text) in conventions_maxvit.RULES.items():
    CONVENTIONS[_name].rules["partition_attention"] = Rule(_count, _text)
for _name, _left_out in conventions_maxvit.LEFT_OUT_PARAMS.items():
    CONVENTIONS[_name].left_out_params["partition_attention"] = _left_out

register_check("conventions", _check)
BASELINE = "torchvision"  # what 'cnncost explain' measures the others against


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise CnnCostError(
            f"unknown convention '{name}'",
            hint=did_you_mean(name, CONVENTIONS) or "choose from " + ", ".join(CONVENTIONS),
        ) from None
