"""What autograd saves for each layer kind: the saved-tensor rules of training memory.

Each kind's record (kinds.py) names its rule from SAVED_RULES here, or gives one of its own; a name this
table lacks is refused when the kind is defined, since ``import cnncost`` imports this module (the rules are
checked at import; memory.py, the analysis over them, is imported when first used).
``cnncost validate --memory`` checks every rule against ``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .errors import CnnCostError
from .graph import Node
from .kinds import register_check, std_conv_weights

INDEX_BYTES = 8  # int64, max pooling's indices
MASK_BYTES = {"cpu": None, "cuda": 1}  # dropout's saved noise: the input's dtype on CPU, a byte mask on CUDA


# --- what a layer saves for backward ---
#
# A rule gets the node, its context (batch, element bytes, device kind, which inputs need a gradient)
# and returns what autograd saves: ("input", k) for input k's storage, ("output",) for its own output,
# or ("new", bytes) for a tensor made and kept only for the backward pass. PyTorch saves an operand only
# when some gradient needs it, so an op on the network input before any parameter saves nothing.


@dataclass(frozen=True)
class Context:
    batch: int
    element_bytes: int
    device: str  # cpu | cuda
    grad_inputs: tuple  # per input: does it need a gradient
    trainable: bool = True  # its parameters need gradients (False: none, or frozen with --freeze)
    layouts: tuple = ()  # per input: contiguous, rows or strided (a matmul saves a copy of one not contiguous)


def _input(k=0):
    return ("input", k)


OUTPUT = ("output",)


def _new(nbytes: int):
    return ("new", nbytes)


def _if_grad(saved: Callable) -> Callable:
    """Saves only when its input needs a gradient (an op with no parameters)."""
    return lambda node, ctx: saved(node, ctx) if ctx.grad_inputs[0] else ()


def _conv(node: Node, ctx: Context):
    if not ctx.trainable and not ctx.grad_inputs[0]:
        return ()  # frozen, on an input that needs no gradient: autograd records nothing
    top, bottom, left, right = node.args["padding"]
    if top == bottom and left == right:
        return (_input(),)  # for the weight's gradient, even on the network input
    # asymmetric padding pads first (torch_backend.PaddedConv2d), so the padded copy is what is saved
    c, h, w = node.input_shapes[0]
    return (_new(ctx.batch * c * (h + top + bottom) * (w + left + right) * ctx.element_bytes),)


def _std_conv(node: Node, ctx: Context):
    """A weight-standardised conv: what the conv saves, its standardised weight (a new tensor, not the parameter),
    and, for the weight's gradient, F.batch_norm's mean and inverse std per output channel and its weight (the gain
    times the scale). Once per call, whatever the batch."""
    conv = _conv(node, ctx)
    if not conv:
        return ()
    weight = _new(std_conv_weights(node.args, node.input_shapes) * ctx.element_bytes)
    if not ctx.trainable:
        return (*conv, weight)
    channel = node.args["out"] * ctx.element_bytes
    return (*conv, weight, _new(channel), _new(channel), *((_new(channel),) if node.args["gain"] else ()))


def _norm_statistics(count: Callable) -> Callable:
    """Batch and group norm in training: the input, and a mean and an inverse std per statistic."""

    def saved(node: Node, ctx: Context):
        if not ctx.trainable and not ctx.grad_inputs[0]:
            return ()
        stats = count(node, ctx) * ctx.element_bytes
        return (_input(), _new(stats), _new(stats))

    return saved


def _groupnorm(node: Node, ctx: Context):
    """As batch norm, but at::group_norm normalises ``input.contiguous()``: an input that is not contiguous (a
    channel slice at batch > 1, FasterNet's and SHViT's split) is saved as that copy, not as its base's storage."""
    saved = _norm_statistics(lambda node, ctx: ctx.batch * node.args["groups"])(node, ctx)
    if saved and ctx.layouts and ctx.layouts[0] != "contiguous":
        return (_new(ctx.batch * math.prod(node.input_shapes[0]) * ctx.element_bytes), *saved[1:])
    return saved


def _pooled(node, ctx):
    """What a pool saves of its input: the input, or (asymmetric "same" padding, padded first) the padded copy."""
    pad = node.args["padding"]
    if len(pad) == 2:
        return _input()
    c, h, w = node.input_shapes[0]
    return _new(ctx.batch * c * (h + pad[0] + pad[1]) * (w + pad[2] + pad[3]) * ctx.element_bytes)


def _max_pool(node, ctx):
    return (_pooled(node, ctx), _new(node.output_elements * ctx.batch * INDEX_BYTES))


def _adaptive_pool(node, ctx):
    # PyTorch computes a 1x1 adaptive average as a mean, whose backward needs only the sizes
    return () if node.output_shape[1:] == (1, 1) else (_input(),)


def _lrn(node, ctx):
    # F.local_response_norm: x*x padded to C + size - 1 channels and average-pooled (the padded square is
    # saved), then the pow's input and output, and x itself. On the CPU, half precision runs in float32
    # (torch_backend.LocalResponseNorm), so all four are float32 copies.
    c, h, w = node.output_shape
    size = node.args["size"]
    half_on_cpu = ctx.device == "cpu" and ctx.element_bytes == 2
    b = 4 if half_on_cpu else ctx.element_bytes
    elements = ctx.batch * c * h * w
    padded = ctx.batch * (c + size - 1) * h * w
    x = _new(elements * b) if half_on_cpu else _input()
    return (x, _new(padded * b), _new(elements * b), _new(elements * b))


def _dropout(node, ctx):
    p = node.args["p"]
    if p == 0:
        return ()  # the identity: F.dropout returns its input
    if p == 1:
        return (_new(ctx.element_bytes),)  # the input times a zero scalar
    if node.args.get("channels"):
        # feature dropout, on every device: the input times noise of shape (N, C, 1, 1) in the input's dtype
        return (_new(node.output_shape[0] * ctx.batch * ctx.element_bytes),)
    mask = MASK_BYTES[ctx.device] or ctx.element_bytes
    return (_new(node.output_elements * ctx.batch * mask),)


def _stochastic_depth(node, ctx):
    if node.args["p"] == 0:
        return ()
    samples = ctx.batch if node.args["mode"] == "row" else 1  # one keep-or-drop per sample, or per batch
    return (_new(samples * ctx.element_bytes),)


def _mul(node, ctx):
    # each operand is saved for the other's gradient
    saved = []
    if ctx.grad_inputs[1]:
        saved.append(_input(0))
    if ctx.grad_inputs[0]:
        saved.append(_input(1))
    return tuple(saved)


NOTHING = lambda node, ctx: ()  # noqa: E731


def _in_place_copy(node, ctx):
    # relu6_, hardsigmoid_, hardswish_, silu_ and mish_ keep a copy of the input they overwrite
    return (_new(math.prod(node.input_shapes[0]) * ctx.batch * ctx.element_bytes),)


# The rules a kind's record names (kinds.py, ``saved``); a record may also give a function of its own.
SAVED_RULES: dict[str, Callable] = {
    "nothing": NOTHING,  # views, merges, copies and resizing, whose backward needs only the sizes
    "conv": _conv,
    "std_conv": _std_conv,
    # the input, for the weight's gradient (linear's addmm, x * gamma), even on the network input; nothing when the
    # weight is frozen (the weight, which the input's gradient needs, is a parameter)
    "input": lambda node, ctx: (_input(),) if ctx.trainable else (),
    # a transposed conv's input: convolution_backward is one formula for both gradients, so saved for either
    "conv input": lambda node, ctx: (_input(),) if ctx.trainable or ctx.grad_inputs[0] else (),
    "max_pool": _if_grad(_max_pool),
    "avg_pool": _if_grad(lambda node, ctx: (_pooled(node, ctx),)),
    "adaptive_pool": _if_grad(_adaptive_pool),
    "lrn": _if_grad(_lrn),
    "batchnorm": _norm_statistics(lambda node, ctx: node.channels),
    "groupnorm": _groupnorm,
    # one mean and inverse std per position (of a map), per token (of tokens) or per sample (of a vector)
    "layernorm": _norm_statistics(lambda node, ctx: ctx.batch * (
        node.output_shape[0] if len(node.output_shape) == 2 else math.prod(node.output_shape[1:]))),
    # reflection and replication keep the input for their backward; a constant pad's backward is a slice
    "pad": _if_grad(lambda node, ctx: () if node.args["mode"] == "constant" else (_input(),)),
    "output": _if_grad(lambda node, ctx: (OUTPUT,)),  # a gradient computed from the output (ReLU, softmax)
    "activation input": _if_grad(lambda node, ctx: (_input(),)),  # from the input (ReLU6, SiLU, GELU)
    "dropout": _if_grad(_dropout),
    "stochastic_depth": _if_grad(_stochastic_depth),
    "mul": _mul,  # each operand, for the other's gradient
}
# What a row running torch's in-place variant saves (kinds.py, ``inplace_saves``)
SAVED_IN_PLACE: dict[str, Callable] = {
    "output": SAVED_RULES["output"],
    "input copy": _if_grad(_in_place_copy),
}


def _resolve(kind) -> Callable:
    rule = kind.saved
    if callable(rule):
        return rule
    if rule not in SAVED_RULES:
        raise ValueError(f"layer kind {kind.name}: saved_rules.py has no saved-tensor rule '{rule}' "
                         f"(its rules: {', '.join(SAVED_RULES)})")
    plain = SAVED_RULES[rule]
    if kind.inplace_saves is None:
        return plain
    in_place = SAVED_IN_PLACE[kind.inplace_saves]
    return lambda node, ctx: (in_place if node.args.get("inplace") else plain)(node, ctx)


_SAVED: dict[str, Callable] = {}  # by kind, resolved once


def _check(kind) -> None:
    _SAVED[kind.name] = _resolve(kind)


register_check("memory", _check)


def saved_rule(kind: str) -> Callable:
    try:
        return _SAVED[kind]
    except KeyError:
        raise CnnCostError(f"no saved-tensor rule for layer kind '{kind}'") from None
