"""MaxViT's multi-axis attention (Tu et al. 2022, "MaxViT: Multi-Axis Vision Transformer", arXiv:2204.01697):
the block ("window") and grid partition attention layer, one record as kinds.py's.

One row is what torchvision's PartitionAttentionLayer runs on a C x H x W map: split the map into groups of
P x P tokens (block: each P x P window; grid: a P x P grid spread over the whole map, stride H/P and W/P),
then on the tokens a pre-norm attention with a learnt relative position bias and a pre-norm MLP, each on a
residual with stochastic depth, and the tokens back into the map. MBConv and its squeeze-excitation are
written with the ordinary kinds (conv, batchnorm, gelu, global_avgpool, silu, sigmoid, mul).

Quantities per sample, with T = H*W tokens, C channels, h = C / head_dim heads and r the MLP ratio:
params 2C + (3C^2 + 3C) + (C^2 + C) + (2P - 1)^2 h + 2C + (rC^2 + rC) + (rC^2 + C): two layer norms, the
q, k, v projection (to_qkv), the output projection (merge), the bias table, the MLP; MACs T (4 + 2r) C^2
(the four linear layers) + 2 T P^2 C (Q K^T and the weights times V); bias adds T (5 + r) C. The bias table's
index is an int64 buffer of P^4 entries: not floating-point state, so not in ``buffers`` (as batch norm's
num_batches_tracked is not).
"""

from __future__ import annotations



from .errors import CnnCostError
from .kinds import Arg, Measure, choice, define, format_shape, positive_int, probability

PARTITIONS = ("window", "grid")


def _sizes(a, shapes):
    """(C, H, W), heads, P: the map checked against the partition."""
    (shape,) = shapes
    if len(shape) != 3:
        raise CnnCostError(f"partition_attention expects a CxHxW feature map, got shape {format_shape(shape)}")
    c, h, w = shape
    p = a["size"]
    if h % p or w % p:
        raise CnnCostError(f"partition_attention: the {h}x{w} map does not split into {p}x{p} partitions "
                           "(H and W must be multiples of the size)")
    if c % a["head_dim"]:
        raise CnnCostError(f"partition_attention: head_dim {a['head_dim']} must divide the {c} channels")
    return shape, c // a["head_dim"], p


def _shape(a, shapes):
    return _sizes(a, shapes)[0]


def _table_params(a, ins) -> int:
    _, heads, p = _sizes(a, ins)
    return (2 * p - 1) ** 2 * heads


def _params(a, ins, out):
    c, r = ins[0][0], a["mlp_ratio"]
    return 4 * c + 4 * c * c + 4 * c + 2 * r * c * c + r * c + c + _table_params(a, ins)


def _linear_macs(a, ins) -> int:
    c, h, w = ins[0]
    return h * w * (4 + 2 * a["mlp_ratio"]) * c * c


def _attention_macs(a, ins) -> int:
    (c, h, w), _, p = _sizes(a, ins)
    return 2 * h * w * p * p * c  # each token's query against its group's P^2 keys, and the weights times V


def _macs(a, ins, out):
    return _linear_macs(a, ins) + _attention_macs(a, ins)


def _bias_adds(a, ins, out):
    c, h, w = ins[0]
    return h * w * (5 + a["mlp_ratio"]) * c  # to_qkv 3C, merge C, the MLP's rC and C


# --- torch ---


def _build(t, a, ins, out):
    from .torch_maxvit import PartitionAttention  # torch is imported there, when a network is built

    return PartitionAttention(ins[0][0], a)


def _measured_bias_adds(s) -> int:
    n, _, h, w = s.input_shapes[0]
    attention, mlp = s.module.attn_layer[1], s.module.mlp_layer
    biased = (attention.to_qkv, attention.merge, mlp[1], mlp[3])
    return n * h * w * sum(m.out_features for m in biased if m.bias is not None)


# --- what autograd saves (measured on torchvision's PartitionAttentionLayer with saved_tensors_hooks, torch
# 2.13 CPU, float32 and bfloat16, window and grid; tests/test_memory.py) ---


def _partition_is_a_view(h: int, w: int, p: int) -> bool:
    """Whether the partition's reshape can view the map instead of copying it: window, the (H/P, W/P) and (P, P)
    axes must each merge; grid, the (P, P) and (H/P, W/P) axes. Both hold exactly when the map is one P x P
    partition, H = W = P (MaxViT's last stage at 224); otherwise both copy."""
    return h == p and w == p


def _saved(node, ctx):
    from .saved_rules import _input, _new

    if not ctx.trainable and not any(ctx.grad_inputs):
        return ()
    (c, h, w), heads, p = _sizes(node.args, node.input_shapes)
    n, b, r = ctx.batch, ctx.element_bytes, node.args["mlp_ratio"]
    groups = (h // p) * (w // p)
    tokens = n * h * w * c * b  # one (N, T, C) tensor
    stats = n * h * w * b  # a mean or an inverse std per token
    # the first norm's input: the partitioned tokens, a copy of the map unless the reshape is a view of it
    saved = [_input() if _partition_is_a_view(h, w, p) else _new(tokens), _new(stats), _new(stats)]
    # einsum runs bmm on (N G heads, P^2, d): q and v are views of to_qkv's output where N, G and heads fold
    # into one axis without a copy (one of N G and heads is 1), and then to_qkv's whole (N, T, 3C) output is
    # what is kept; otherwise each is copied. The scaled k is a new tensor either way.
    if n * groups == 1 or heads == 1:
        saved += [_new(3 * tokens), _new(tokens)]
    else:
        saved += [_new(tokens), _new(tokens), _new(tokens)]
    saved += [
        _new(n * h * w * heads * p * p * b),  # softmax's output (which the second bmm reads as it is)
        _new(tokens), _new(stats), _new(stats),  # the second norm: the attention residual's sum, mean, rstd
        _new(r * tokens),  # GELU's input (fc1's output)
    ]
    if ctx.trainable:  # each linear layer's input, for its weight's gradient
        saved += [_new(tokens), _new(tokens), _new(tokens), _new(r * tokens)]  # to_qkv, merge, fc1, fc2 (GELU out)
    if node.args["stochastic_depth"] > 0:
        saved += [_new(n * b), _new(n * b)]  # the two branches' (N, 1, 1, 1) noise
    return tuple(saved)


# --- receptive field ---


def _field(node, fields):
    """Block: a unit sees its own P x P window, aligned to the map, so its field depends on where it sits in
    the window: the field given is the bound that holds every unit's (P - 1 units either side), marked a
    bound. Grid: a unit sees the P x P units spaced H/P and W/P apart over the whole map: the union over the
    map is given, also marked a bound."""
    from .rf import Axis, Field, _global_axis

    (field,), (_, h, w) = fields, node.input_shapes[0]
    if field is None:
        return None
    p = node.args["size"]
    if node.args["partition"] == "window":
        axes = [Axis(x.size + 2 * (p - 1) * x.stride, x.stride, x.padding + (p - 1) * x.stride)
                for x in field.axes()]
    else:
        axes = [_global_axis(field.h, h), _global_axis(field.w, w)]
    return Field(axes[0], axes[1], field.aligned, False, True)


define(
    "partition_attention",
    "other",
    "MaxViT's block or grid attention (torchvision's PartitionAttentionLayer) on a CxHxW map: P x P token "
    "groups, pre-norm relative-position multi-head attention and MLP, each on a residual with stochastic "
    "depth, back to the map.",
    args=(Arg("partition", lambda v, w: choice(v, w, PARTITIONS), doc="window: P x P blocks; grid: a P x P "
              "grid spread over the map"),
          Arg("size", positive_int, 7, "P: the partition's side; H and W must be multiples of it"),
          Arg("head_dim", positive_int, 32, "channels per head; heads = C / head_dim"),
          Arg("mlp_ratio", positive_int, 4, "the MLP's hidden width over C"),
          Arg("stochastic_depth", probability, 0.0, "drop probability of each residual branch in training")),
    shape=_shape,
    params=_params,
    macs=_macs,
    bias_adds=_bias_adds,
    calls=("module",),
    build=_build,
    measure={"bias_adds": Measure(_measured_bias_adds, "N x H x W x the four linear layers' out_features")},
    formulas={"output": "same", "params": "(4 + 2r)C^2 + (9 + r)C + (2P-1)^2 C/head_dim",
              "macs": "HW (4 + 2r) C^2 (linear layers) + 2 HW P^2 C (Q K^T, weights x V)"},
    saved=_saved, rf=_field, latency="matrix", counts="partition_attention", rf_stand_in="partition_sum",
)


def table_params(args: dict, input_shapes) -> int:
    """The relative position bias table's entries: the one parameter of torchvision's attention module that is
    not a child's (thop leaves it out)."""
    return _table_params(args, input_shapes)



