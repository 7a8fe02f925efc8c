"""Each convention's rule for MaxViT's partition_attention (kinds_maxvit.py): conventions.py adds them to its
tables (this module imports nothing of it, so the two stay apart) before it checks that every kind has a rule.
Importing this module defines the kind (kinds_maxvit), so every ``import cnncost`` has it.

The row is torchvision's PartitionAttentionLayer, so each tool counts what it counts of the modules and calls
inside it: two nn.LayerNorm, four nn.Linear (to_qkv, merge, the MLP's two), nn.GELU, nn.Dropout(0) twice,
torchvision's StochasticDepth, and in RelativePositionalMultiHeadAttention.forward two torch.einsum, the
key scaling and the bias add as operators, and F.softmax. Read from each tool's source (the sources of
conventions.py) and checked against their totals on torchvision's maxvit_t (tests/test_conventions.py).
"""

from __future__ import annotations

from .kinds_maxvit import table_params


def _sizes(q):
    (c, h, w), a = q.input_shapes[0], q.args
    return h * w, c, c // a["head_dim"], a["size"] ** 2, a["mlp_ratio"]


def _linear_macs(q) -> int:
    tokens, c, _, _, r = _sizes(q)
    return tokens * (4 + 2 * r) * c * c


def _products(q) -> int:
    """Q K^T and the weights times V: each T x P^2 x C."""
    tokens, c, _, pp, _ = _sizes(q)
    return 2 * tokens * pp * c


def _ptflops(q, n) -> int:
    # the four nn.Linear hooks (MACs and bias), the two nn.LayerNorm hooks (1 per element: its batch norm
    # hook), the nn.GELU hook and the patched F.gelu it calls (2 per element), the patched F.softmax (1 per
    # score); torch.einsum and the operators are not patched, nn.Dropout has no hook
    tokens, c, heads, pp, r = _sizes(q)
    return (_linear_macs(q) + q.bias_adds + 2 * tokens * c + 2 * tokens * r * c + tokens * heads * pp) * n


def _fvcore(q, n) -> int:
    # aten::linear (MACs), aten::layer_norm (5 per element with affine) twice, and each aten::einsum by its
    # handle: the 5-letter equations are none it knows, so numpy's einsum_path "Optimized FLOP count", 2 per
    # multiply-add with a summed letter, printed as %.3e (4 digits), halved and floored (conventions.py's einsum)
    tokens, c, _, _, _ = _sizes(q)
    einsum = int(float(f"{_products(q) // 2 * n * 2:.3e}") / 2)
    return _linear_macs(q) * n + 2 * 5 * tokens * c * n + 2 * einsum


def _thop(q, n) -> int:
    # nn.Linear: MACs; nn.LayerNorm: 4 per element (with affine) twice; nn.GELU and the functions have no rule
    tokens, c, _, _, _ = _sizes(q)
    return (_linear_macs(q) + 2 * 4 * tokens * c) * n


def _torchinfo(q, n) -> int:
    # each leaf module with a weight or bias: its parameters per sample, no token factor (the layer norms and
    # linear layers); the bias table is no 'weight' of a leaf
    return (q.params - table_params(q.args, q.input_shapes)) * n


def _macs(q, n) -> int:
    return q.macs * n


# convention -> (its count, the rule in words); conventions.py makes each a Rule under the kind's name
RULES = {
    "lecture": (_macs, "MACs of its four linear layers and of Q K^T and weights x V"),
    "torchvision": (_macs, "MACs of its four linear layers and of Q K^T and weights x V"),
    "flopcounter": (_macs, "MACs: its linear layers (aten.addmm) and both einsums (bmm)"),
    "ptflops-aten": (lambda q, n: (q.macs + q.bias_adds) * n,
                     "MACs + bias adds: the linear layers (aten.addmm) and both einsums (aten.bmm)"),
    "ptflops": (_ptflops, "linear layers' MACs + bias adds, 1 per element for each nn.LayerNorm, 2 per element "
                "for nn.GELU, 1 per score for F.softmax; einsum 0 (not patched)"),
    "fvcore": (_fvcore, "linear layers' MACs, 5 per element for each layer norm, each einsum by numpy's einsum_path "
               "count; GELU and softmax unsupported"),
    "thop": (_thop, "linear layers' MACs and 4 per element for each nn.LayerNorm; GELU, einsum and softmax 0; the "
             "bias table left out of its parameters"),
    "torchinfo": (_torchinfo, "the parameters of its layer norms and linear layers per sample"),
    "torchscan": (lambda q, n: _linear_macs(q) * n, "its linear layers' MACs; layer norm, GELU and functions 0"),
}
# convention -> (args, input shapes) -> the row's parameters its tool leaves out: thop counts the parameters of
# the modules it has a rule for, the layer norms and linear layers inside, not the bias table, a parameter of
# RelativePositionalMultiHeadAttention itself
LEFT_OUT_PARAMS = {"thop": table_params}
