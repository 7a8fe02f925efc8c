"""The tensor-op kinds (cnncost/kinds_tensor.py): shapes and MACs by hand, bad arguments refused in one line,
and each peer convention against what the tools printed for the same op (tests/data/peer_ops.tsv, written by
tools/measure_peers.py --only ops)."""

from pathlib import Path

import pytest

import cnncost
from cnncost.errors import CnnCostError

DATA = Path(__file__).parent / "data"


def read_tsv(name):
    lines = [l for l in (DATA / name).read_text().splitlines() if l and not l.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


PEER_OPS = read_tsv("peer_ops.tsv")
MAP, TOKENS = "[8, 12, 12]", "[16, 32]"

# case of peer_ops.tsv -> (the input, the layers that say what its forward does)
OP_CASES = {
    "scalar_add_operator": (MAP, ["scalar: {op: add, value: 3}"]),
    "scalar_add_function": (MAP, ["scalar: {op: add, value: 3, call: function}"]),
    "scalar_mul_operator": (MAP, ["scalar: {op: mul, value: 0.5}"]),
    "scalar_mul_function": (MAP, ["scalar: {op: mul, value: 0.5, call: function}"]),
    "scalar_div_operator": (MAP, ["scalar: {op: div, value: 6}"]),
    "scalar_rsub_operator": (MAP, ["scalar: {op: rsub, value: 3}"]),
    "scalar_pow_operator": (MAP, ["scalar: {op: pow, value: 2}"]),
    "scalar_clamp_min": (MAP, ["scalar: {op: maximum, value: 0, call: function}"]),
    "unary_exp": (MAP, ["unary: {op: exp}"]),
    "unary_rsqrt": (MAP, ["unary: {op: rsqrt, call: operator}"]),
    "unary_erf": (MAP, ["unary: {op: erf}"]),
    "binary_sub_operator": (MAP, ["binary: {op: sub, input: [input, input]}"]),
    "binary_div_operator": (MAP, ["binary: {op: div, input: [input, input]}"]),
    "binary_mul_broadcast": (MAP, ["slice: {name: a, dim: 2, end: 1}", "slice: {name: b, dim: 3, end: 1}",
                                   "binary: {op: mul, input: [input, b]}"]),
    "param_mul_reshape": (MAP, ["param: {op: mul, shape: [8, 1, 1], call: function}"]),
    "param_add_operator": (MAP, ["param: {op: add, shape: [8, 1, 1]}"]),
    "buffer_sub_div": (MAP, ["param: {op: sub, shape: [8, 1, 1], learnable: false}",
                             "param: {op: div, shape: [8, 1, 1], learnable: false}"]),
    "reduce_sum_dim1": (MAP, ["reduce: {op: sum, dims: [1]}"]),
    "reduce_mean_hw_keepdim": (MAP, ["reduce: {op: mean, dims: [2, 3], keepdim: true}"]),
    "reduce_amax_dim1": (MAP, ["reduce: {op: amax, dims: [1]}"]),
    "reduce_norm_hw": (MAP, ["reduce: {op: norm, dims: [2, 3], keepdim: true}"]),
    "stack_function": (MAP, ["stack: {input: [input, input]}"]),
    # torch.stack(xs) puts the new axis before the batch; cnncost's figures are per sample, so the same sum is
    # written with the new axis after it
    "stack_sum0": (MAP, ["stack: {input: [input, input]}", "reduce: {op: sum, dims: [1]}"]),
    "slice_channels": (MAP, ["slice: {dim: 1, end: 3}"]),
    "split_channels": (MAP, ["slice: {dim: 1, start: 3}"]),
    "reshape_tokens": (MAP, ["reshape: {shape: [8, 144]}"]),
    "flatten_transpose": (MAP, ["flatten: {start_dim: 2}", "transpose: {dim0: 1, dim1: 2}"]),
    "permute_nhwc": (MAP, ["permute: {dims: [0, 2, 3, 1]}"]),
    "unflatten_heads": (MAP, ["unflatten: {dim: 1, sizes: [2, 4]}"]),
    "matmul_operator": (MAP, ["transpose: {name: t, dim0: -2, dim1: -1}", "matmul: {input: [input, t]}"]),
    "matmul_function": (MAP, ["transpose: {name: t, dim0: -2, dim1: -1}",
                              "matmul: {input: [input, t], call: function}"]),
    "einsum_qk": (MAP, ["einsum: {equation: 'bhqd,bhkd->bhqk', input: [input, input]}"]),
    "softmax_last_module": (MAP, ["softmax: {dim: -1}"]),
    # x.softmax(-1), the Tensor method, which ptflops does not patch (it patches F.softmax, which nn.Softmax calls)
    "softmax_last_function": (MAP, ["softmax: {dim: -1, call: method}"]),
    "sdpa_function": (MAP, ["attention: {input: [input, input, input]}"]),
    "mha_self": (TOKENS, ["multihead_attention: {heads: 4}"]),
    # the key and value are the query reversed along an axis, which every tool counts 0 (flip_only)
    "mha_cross": (TOKENS, ["multihead_attention: {heads: 4, input: [input, input, input]}"]),
    "sdpa_rank5": (MAP, ["unflatten: {name: q, dim: 1, sizes: [2, 4]}", "attention: {input: [q, q, q]}"]),
    "linear_tokens": (TOKENS, ["linear: {out: 64}"]),
    "layernorm_tokens": (TOKENS, ["layernorm"]),
    "pixel_shuffle": (MAP, ["pixel_shuffle: {factor: 2}"]),
    "pixel_unshuffle": (MAP, ["pixel_unshuffle: {factor: 2}"]),
    "instancenorm_module": (MAP, ["instancenorm"]),
    "instancenorm_affine": (MAP, ["instancenorm: {affine: true}"]),
    "instancenorm_function": (MAP, ["instancenorm: {call: function}"]),
    "grn_channels_first": (MAP, ["grn"]),
}
NOT_EXPRESSIBLE: set = set()


def network(case):
    shape, items = OP_CASES[case]
    return f"input: {shape}\nlayers:\n" + "".join(f"  - {item}\n" for item in items)


def test_every_measured_op_case_is_mapped_or_said_why_not():
    assert {r["case"] for r in PEER_OPS} == set(OP_CASES) | NOT_EXPRESSIBLE


@pytest.mark.parametrize("row", [r for r in PEER_OPS if r["case"] in OP_CASES],
                         ids=[f"{r['case']}-{r['convention']}" for r in PEER_OPS if r["case"] in OP_CASES])
def test_peer_convention_reproduces_the_tool_on_one_op(row):
    totals = cnncost.analyze_text(network(row["case"]), convention=row["convention"]).totals
    assert (totals.params, totals.macs) == (int(row["params"]), int(row["macs"]))


def test_what_the_tools_count_by_hand():
    rows = {(r["case"], r["convention"]): int(r["macs"]) for r in PEER_OPS}
    # 8 heads of 12x12 by 12x12: 8 * 12 * 12 * 12 multiply-adds
    assert rows["matmul_function", "ptflops"] == rows["matmul_operator", "fvcore"] == 8 * 12 * 12 * 12
    assert rows["matmul_operator", "ptflops"] == 0  # the @ operator is not patched
    # fvcore's einsum: numpy's 2 * 13,824 = 27,648 printed as 2.765e+04, halved
    assert rows["einsum_qk", "fvcore"] == 27650 // 2
    # ptflops' nn.MultiheadAttention(32, 4) on 16 tokens: L*E + 3*L*E^2 + 3*L*E (biases)
    # + 4 heads * (L*L*8 + L*L + L*L*8) + L*E*(E + 1)
    assert rows["mha_self", "ptflops"] == 16 * 32 + 3 * 16 * 32 * 32 + 3 * 16 * 32 + 4 * (
        16 * 16 * 8 * 2 + 16 * 16) + 16 * 32 * 33
    # thop's softmax over the last axis of 12: 96 rows of 12 exps, 11 adds and 12 divisions
    assert rows["softmax_last_module", "thop"] == 8 * 12 * (3 * 12 - 1)
    # instance norm: fvcore 4 per element (5 with affine), ptflops and thop as their batch-norm hooks
    assert rows["instancenorm_module", "fvcore"] == 4 * 1152 and rows["instancenorm_affine", "fvcore"] == 5 * 1152
    assert rows["instancenorm_affine", "ptflops"] == 2 * 1152 and rows["instancenorm_affine", "thop"] == 4 * 1152


def one(text):
    return cnncost.analyze_text(text).layers[-1]


@pytest.mark.parametrize("item, shape, macs", [
    ("scalar: {op: add, value: 3}", (8, 12, 12), 0),  # the lecture counts no element-wise op
    ("reduce: {op: sum, dims: [1]}", (12, 12), 0),
    ("reduce: {op: mean, dims: [-2, -1], keepdim: true}", (8, 1, 1), 0),
    ("stack: {input: [input, input], dim: -1}", (8, 12, 12, 2), 0),
    ("slice: {dim: 1, start: 3, end: -1}", (4, 12, 12), 0),  # channels 3..6 of 8
    ("slice: {dim: 3, step: 5}", (8, 12, 3), 0),  # columns 0, 5, 10
    ("reshape: {shape: [-1, 144]}", (8, 144), 0),
    ("permute: {dims: [0, 2, 3, 1]}", (12, 12, 8), 0),
    ("transpose: {dim0: 1, dim1: -1}", (12, 12, 8), 0),
    ("flatten: {start_dim: 2}", (8, 144), 0),
    ("unflatten: {dim: 1, sizes: [2, -1]}", (2, 4, 12, 12), 0),
    ("pixel_shuffle: {factor: 2}", (2, 24, 24), 0),
    ("pixel_unshuffle: {factor: 3}", (72, 4, 4), 0),
    ("softmax: {dim: -1}", (8, 12, 12), 0),
    ("concat: {input: [input, input], dim: 2}", (8, 24, 12), 0),
    # 8 blocks of (12 x 12) @ (12 x 12): 8 * 12 * 12 output elements, 12 multiply-adds each
    ("matmul: {input: [input, input]}", (8, 12, 12), 8 * 12 * 12 * 12),
    ("einsum: {equation: 'bcij,bcjk->bcik', input: [input, input]}", (8, 12, 12), 8 * 12 * 12 * 12),
    # 8 heads, L = S = 12, E = Ev = 12: Q K^T and weights x V
    ("attention: {input: [input, input, input]}", (8, 12, 12), 8 * 12 * 12 * (12 + 12)),
])
def test_shapes_and_lecture_macs_by_hand(item, shape, macs):
    layer = one(f"input: [8, 12, 12]\nlayers:\n  - {item}\n")
    assert (tuple(layer.output_shape), layer.macs) == (shape, macs)


def test_tokens_are_first_class():
    # 16 tokens of 32: linear 32 -> 64 on each token, layer norm on each token's 32, attention over the 16
    text = ("input: [16, 32]\nlayers:\n  - layernorm: {name: ln}\n  - linear: {name: fc, out: 64}\n"
            "  - multihead_attention: {name: mha, heads: 4}\n")
    layers = {l.name: l for l in cnncost.analyze_text(text).layers}
    assert layers["ln"].params == 2 * 32
    assert (layers["fc"].output_shape, layers["fc"].params, layers["fc"].macs) == ((16, 64), 32 * 64 + 64,
                                                                                   16 * 32 * 64)
    # in_proj 3E x E + 3E, out_proj E x E + E; MACs: q, k, v and out projections, Q K^T and weights x V
    e, l = 64, 16
    assert layers["mha"].params == 4 * e * e + 4 * e
    assert layers["mha"].macs == 4 * l * e * e + 2 * l * l * e


@pytest.mark.parametrize("item, message", [
    ("reduce: {op: sum, dims: [0]}", "dims 0 is the batch axis"),
    ("reduce: {op: sum, dims: [4]}", "dims 4 is out of range for a 4-dimensional tensor"),
    ("reduce: {op: sum, dims: [1, -3]}", "names an axis twice"),
    ("reshape: {shape: [5, -1]}", "do not divide by 5"),
    ("reshape: {shape: [-1, -1]}", "at most one -1"),
    ("permute: {dims: [1, 0, 2, 3]}", "must keep the batch axis (0) first"),
    ("permute: {dims: [0, 1, 1, 2]}", "not a permutation"),
    ("slice: {dim: 1, start: 8}", "is empty"),
    ("matmul: {input: [input, a]}", "matmul needs the first input's columns (12) to be the second's rows (7)"),
    ("einsum: {equation: 'ij,jk->ik', input: [input, input]}", "to start with the batch letter"),
    ("einsum: {equation: 'bij,bjk->bik', input: [input, input]}", "operand 'bij' has 3 axes, its input 4"),
    ("einsum: {equation: '...ij,...jk', input: [input, input]}", "must be explicit"),
    ("pixel_shuffle: {factor: 3}", "factor 3^2 must divide the 8 channels"),
    ("param: {op: mul, shape: [2, 8, 7, 12]}", "would change the input's shape"),
    ("binary: {op: add, input: [input, a]}", "cannot broadcast"),
    ("multihead_attention: {heads: 3}", "expects tokens (L, E)"),
    ("scalar: {op: modulo, value: 2}", "must be one of add, sub"),
    ("unary: {op: exp, value: 2}", "unary has no argument 'value'"),
])
def test_bad_arguments_are_one_line_errors(item, message):
    text = f"input: [8, 12, 12]\nlayers:\n  - slice: {{name: a, dim: 2, end: 7}}\n  - {item}\n"
    with pytest.raises(CnnCostError) as error:
        cnncost.analyze_text(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def _doc_example(name):
    text = (Path(__file__).parent.parent / "docs" / "yaml-reference.md").read_text()
    start = text.index(f"<!-- tensor example: {name} -->")
    block = text[text.index("```yaml\n", start) + 8:]
    return block[:block.index("```")]


def test_the_vit_block_of_the_docs_has_the_figures_written_there():
    report = cnncost.analyze_text(_doc_example("vit_block"))
    assert report.totals.params == 2 * 384 + 111_168 + 37_056 + 148_224 + 147_648 == 444_864
    assert report.totals.macs == 21_786_624 + 14_902_656 + 7_262_208 + 2 * 29_048_832 == 102_049_152
    flopcounter = cnncost.analyze_text(_doc_example("vit_block"), convention="flopcounter").totals.macs
    assert flopcounter == 102_049_152 - 14_902_656


def test_the_token_pipeline_of_the_docs_has_the_figures_written_there():
    report = cnncost.analyze_text(_doc_example("tiny_vit"))
    assert report.totals.params == 3_136 + 4_096 + 128 + 16_640 + 650 == 24_650
    assert report.totals.macs == 196_608 + 1_048_576 + 524_288 + 640 == 1_770_112
    assert {l.name: tuple(l.output_shape) for l in report.layers}["tokens"] == (64, 64)


BACKWARD_NETWORK = """input: [8, 6, 6]
layers:
  - conv: {name: pre, out: 8, kernel: 1}
  - transpose: {name: t, dim0: -2, dim1: -1}
  - matmul: {name: mm, input: [pre, t]}
  - einsum: {name: es, equation: 'bcij,bcjk->bcik', input: [mm, pre]}
  - attention: {name: fused, input: [es, pre, pre]}
  - unflatten: {name: five, dim: 1, sizes: [2, 4]}
  - attention: {name: math, input: [five, five, five]}
  - reshape: {shape: [8, 36]}
  - transpose: {name: tokens, dim0: 1, dim1: 2}
  - multihead_attention: {name: self_attn, heads: 2}
  - multihead_attention: {name: cross, heads: 2, input: [self_attn, tokens, tokens]}
"""


@pytest.mark.parametrize("batch", [1, 3])
def test_the_products_backward_equals_flopcounter_over_a_real_backward_on_the_cpu(batch):
    # FlopCounterMode around out.sum().backward() on the CPU (where the fused attention kernels run, unlike on
    # the meta device): the matmul, einsum and math-path attention count twice their forward, the fused kernel
    # nothing, MultiheadAttention its projections' input and weight gradients
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from cnncost.torch_backend import build_module

    graph = cnncost.load_text(BACKWARD_NETWORK)
    net = build_module(graph).train()
    out = net(torch.randn(batch, 8, 6, 6))
    with FlopCounterMode(display=False) as counter:
        out.sum().backward()
    report = cnncost.analyze(graph, convention="flopcounter", batch=batch, pass_="train")
    assert report.totals.backward_macs == counter.get_total_flops() // 2
