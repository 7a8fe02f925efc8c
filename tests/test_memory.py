"""Training and inference memory (cnncost memory): each rule against hand arithmetic, the CLI, bad input.

What autograd really saves is checked against torch in tests/test_validate.py (validate --memory).
"""

import json
from pathlib import Path
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cnncost
from cnncost import memory
from cnncost.cli import main
from cnncost.devices import Device
from cnncost.errors import CnnCostError
from cnncost.kinds import KINDS
from tests.helpers import saved_bytes

N, B = 2, 4  # batch, float32 bytes
C, H, W = 8, 6, 6
X = N * C * H * W * B  # one 8x6x6 feature map of the batch, in bytes


def saved_by(item, *, device="cpu", dtype="float32", batch=N, before=("conv: {name: pre, out: 8, kernel: 1}",)):
    """Bytes the layer named 'x' is the first to save, after a 1x1 conv (so that it needs a gradient)."""
    text = "input: [8, 6, 6]\nlayers:\n" + "".join(f"  - {i}\n" for i in (*before, item))
    graph = cnncost.load_text(text)
    first, _ = memory.saved_storages(graph, cnncost.Settings(batch=batch, dtype=dtype), device)
    return sum(first["x"].values())


# (layer, bytes it saves): the first layer to save a storage owns it; the 1x1 conv before saves the input
CASES = [
    ("conv: {name: x, out: 4, kernel: 3}", X),  # its input, for the weight's gradient
    # weight standardisation, once per call: the input, the standardised 4x8x3x3 weight (a new tensor), F.batch_norm's
    # mean and inverse std per output channel, and its weight (the gain times the scale)
    ("std_conv: {name: x, out: 4, kernel: 3, gain: true}", X + 4 * 8 * 9 * B + 2 * 4 * B + 4 * B),
    ("std_conv: {name: x, out: 4, kernel: 3, bias: false}", X + 4 * 8 * 9 * B + 2 * 4 * B),
    # asymmetric padding: the padded copy, 8 x (6+0+1) x (6+2+1)
    ("conv: {name: x, out: 4, kernel: 3, padding: [0, 1, 2, 1]}", N * C * 7 * 9 * B),
    ("dwconv: {name: x, kernel: 3, padding: 1}", X),
    # a fixed filter (a buffer): the weight needs no gradient, but the input's gradient still saves the input
    ("dwconv: {name: x, kernel: 3, padding: 1, bias: false, fixed: true}", X),
    ("maxpool: {name: x, kernel: 2}", X + N * C * 3 * 3 * 8),  # the input, and int64 indices per output
    ("avgpool: {name: x, kernel: 2}", X),
    ("adaptive_avgpool: {name: x, output: 3}", X),
    ("adaptive_avgpool: {name: x, output: 1}", 0),  # a mean: its backward needs only sizes
    ("global_avgpool: {name: x}", 0),
    # x, the square padded to C + size - 1 channels, and the pow's input and output
    ("lrn: {name: x, size: 3}", X + N * (C + 3 - 1) * H * W * B + 2 * X),
    ("batchnorm: {name: x}", X + 2 * C * B),  # the input, a mean and an inverse std per channel
    ("batchnorm: {name: x, affine: false}", X + 2 * C * B),
    ("groupnorm: {name: x, groups: 4}", X + 2 * N * 4 * B),  # statistics per sample and group
    ("relu: {name: x}", X),  # its output
    ("sigmoid: {name: x}", X),
    ("tanh: {name: x}", X),
    ("relu6: {name: x}", X),  # its input
    ("leaky_relu: {name: x}", X),
    ("elu: {name: x}", X),
    ("hardsigmoid: {name: x}", X),
    ("hardswish: {name: x}", X),
    ("silu: {name: x}", X),
    ("gelu: {name: x}", X),
    ("dropout: {name: x, p: 0.5}", X),  # on the CPU the noise has the input's dtype
    ("dropout: {name: x, p: 0}", 0),  # the identity
    ("dropout: {name: x, p: 0.5, channels: true}", N * C * B),  # nn.Dropout2d: noise of N x C x 1 x 1
    ("stochastic_depth: {name: x, p: 0.2}", N * B),  # one keep-or-drop per sample
    ("stochastic_depth: {name: x, p: 0.2, mode: batch}", B),  # one for the batch
    ("identity: {name: x}", 0),
    ("channel_shuffle: {name: x, groups: 2}", 0),
    ("channel_split: {name: x}", 0),
    ("subsample_pad: {name: x, out: 8, stride: 2}", 0),
    ("add: {name: x, input: [pre, pre]}", 0),
    ("concat: {name: x, input: [pre, pre]}", 0),
    ("mul: {name: x, input: [pre, pre]}", X),  # each operand for the other's gradient: one storage here
    ("flatten: {name: x}", 0),
    ("conv_transpose: {name: x, out: 4, kernel: 2, stride: 2}", X),  # its input, for the weight's gradient
    ("layernorm: {name: x}", X + 2 * N * H * W * B),  # the input, a mean and an inverse std per position
    ("layer_scale: {name: x}", X),  # x, for the scale's gradient
    ("mish: {name: x}", X),  # its input
    ("pad: {name: x, padding: 1}", 0),  # a constant pad's backward is a slice
    ("pad: {name: x, padding: [1, 0, 2, 1], mode: reflect}", X),  # reflection keeps its input
    ("pad: {name: x, padding: 1, mode: replicate}", X),
    ("center_crop: {name: x, size: [4, 4]}", 0),  # a view
    ("upsample: {name: x, scale: 2, mode: bilinear}", 0),  # its backward needs only the sizes
    ("upsample: {name: x, size: 9}", 0),
    # the tensor ops, as measured with saved_tensors_hooks (torch 2.13, CPU)
    ("scalar: {name: x, op: add, value: 3}", 0),  # + - * / by a constant keep nothing
    ("scalar: {name: x, op: pow, value: 2}", X),  # its input
    ("scalar: {name: x, op: rdiv, value: 1}", X),  # 1 / x: the reciprocal it multiplies, a new map
    ("unary: {name: x, op: exp}", X),  # its output
    ("unary: {name: x, op: neg}", 0),
    ("binary: {name: x, op: sub, input: [pre, pre]}", 0),
    ("binary: {name: x, op: div, input: [pre, pre]}", X),  # both operands, one storage here
    ("param: {name: x, op: mul, shape: [8, 1, 1]}", X),  # x, for gamma's gradient
    ("param: {name: x, op: sub, shape: [8, 1, 1], learnable: false}", 0),
    ("table_bias: {name: x, table: [8, 5], shape: [8, 6, 6]}", 0),  # the add saves nothing, the gather its index
    ("reduce: {name: x, op: sum, dims: [1]}", 0),
    ("reduce: {name: x, op: amax, dims: [2, 3], keepdim: true}", X + N * C * B),  # input, and the 8x1x1 output
    ("stack: {name: x, input: [pre, pre]}", 0),
    ("slice: {name: x, dim: 1, end: 3}", 0),
    ("reshape: {name: x, shape: [8, 36]}", 0),
    ("unflatten: {name: x, dim: 1, sizes: [2, 4]}", 0),
    ("permute: {name: x, dims: [0, 2, 3, 1]}", 0),
    ("transpose: {name: x, dim0: 2, dim1: 3}", 0),
    ("matmul: {name: x, input: [pre, pre]}", X),  # both operands, contiguous: pre's own storage
    ("einsum: {name: x, equation: 'bcij,bcjk->bcik', input: [pre, pre]}", X),
    # (N, heads, L, E) runs the fused kernel: q, k, v (one storage), the output, a float32 log-sum-exp per query
    ("attention: {name: x, input: [pre, pre, pre]}", 2 * X + N * C * H * 4),
    ("pixel_shuffle: {name: x, factor: 2}", 0),
    ("pixel_unshuffle: {name: x, factor: 2}", 0),
    ("instancenorm: {name: x}", X + 2 * N * C * B),  # the input, a mean and an inverse std per sample and channel
    ("instancenorm: {name: x, affine: true}", X + 3 * N * C * B),  # and the weight, repeated per sample
    # x, the 2-norm per channel, the mean plus eps per sample, the quotient per channel, and x * N(x)
    ("grn: {name: x}", 2 * X + 2 * N * C * B + N * B),
    # Swin (kinds_swin.py), as measured with saved_tensors_hooks on torchvision's ShiftedWindowAttention(V2). Windows
    # of 3 x 3 on the 6 x 6 map: T = 2 x 36 tokens, 9 per window. V1 keeps the windows (qkv's input), copies of
    # q * scale and of k^T, softmax's 2 x 9 x 9 weights per window (72 x 18 per batch), a copy of v, proj's input
    ("shifted_window_attention: {name: x, heads: 2, window: 3, shift: 1}", 5 * X + 72 * 2 * 9 * B),
    # V2, windows of 4 x 4 on the map padded to 8 x 8 (T = 2 x 64 = 128 tokens of 8 channels): V1's five copies,
    # the whole qkv output (3 T C), q's and k's norms and clamped norms (4 T heads), the products before the logit
    # scale (T heads 16); per forward, the CPB MLP's hidden 7 x 7 x 512, the bias after the sigmoid (2 x 16 x 16)
    # and exp(logit_scale) (2)
    ("shifted_window_attention: {name: x, heads: 2, window: 4, shift: 2, version: 2}",
     (8 * 128 * 8 + 4 * 128 * 2 + 2 * 128 * 2 * 16 + 49 * 512 + 2 * 16 * 16 + 2) * B),
    ("patch_merge: {name: x}", 0),  # strided slices, a cat and a constant pad keep nothing
    # an import's unmapped operator: what it saves is unknown, and counted 0 (its stand-in, zeros, saves nothing)
    ("opaque: {name: x, shape: [8, 3, 3], op: Tensor.unfold}", 0),
]


@pytest.mark.parametrize("item, expected", CASES, ids=[c[0] for c in CASES])
def test_saved_tensors_by_hand(item, expected):
    assert saved_by(item) == expected


def test_every_kind_has_a_saved_tensor_case_here():
    assert {c[0].split(":")[0] for c in CASES} | {"linear", "softmax", *TOKEN_CASES, *VIDEO_CASES,
                                                  "partition_attention"} == set(KINDS)


# What torchvision's own PartitionAttentionLayer(64, head_dim 32, partition 7, grid_size (28, 28), mlp_ratio 4,
# nn.GELU, nn.LayerNorm, dropout 0, 0, stochastic depth p) saves in one training forward of a 64 x 28 x 28 map,
# measured with saved_tensors_hooks (torch 2.13 CPU, torchvision 0.28, parameters and buffers left out; window and
# grid saved the same). By hand, with T = 784 tokens, C = 64, N the batch, b bytes per element:
# 8 (N, T, C) tensors (the first norm's input, the inputs of to_qkv, merge and fc1, the second norm's input, q, k
# and v copied for bmm), 4 x N T (the two norms' mean and rstd), softmax's N x T x 2 heads x 49, 2 x N T 4C (GELU's
# input and output), and with p > 0 each branch's (N, 1, 1, 1) noise: 7,062,272 = 8 x 401,408 + 4 x 6,272 +
# 614,656 + 2 x 1,605,632 in float32 at batch 2.
PARTITION_ATTENTION_SAVED = [
    ("window", "float32", 2, 0.0, 7_062_272), ("window", "float32", 2, 0.1, 7_062_288),
    ("window", "bfloat16", 3, 0.0, 5_296_704), ("window", "bfloat16", 3, 0.1, 5_296_716),
    ("grid", "float32", 2, 0.0, 7_062_272), ("grid", "float32", 2, 0.1, 7_062_288),
    ("grid", "bfloat16", 3, 0.0, 5_296_704), ("grid", "bfloat16", 3, 0.1, 5_296_716),
]


@pytest.mark.parametrize("partition, dtype, batch, p, measured", PARTITION_ATTENTION_SAVED)
def test_partition_attention_saves_what_torchvisions_layer_saves(partition, dtype, batch, p, measured):
    text = ("input: [64, 28, 28]\nlayers:\n  - conv: {name: pre, out: 64, kernel: 1}\n"
            f"  - partition_attention: {{name: x, partition: {partition}, stochastic_depth: {p}}}\n")
    first, _ = memory.saved_storages(cnncost.load_text(text), cnncost.Settings(batch=batch, dtype=dtype), "cpu")
    assert sum(first["x"].values()) == measured


TOKENS = ("conv: {name: pre, out: 8, kernel: 1}", "flatten: {start_dim: 2}", "transpose: {dim0: 1, dim1: 2}")
TOKEN_CASES = {  # kinds that take tokens (L, C): 36 tokens of 8 features of pre's map
    # torch.cat's backward slices the gradient, and the expanded class token is a view of the parameter
    "class_token": ("class_token: {name: x}", 0),
    # x + pos_embedding: an add's backward passes the gradient on as it is
    "position_embedding": ("position_embedding: {name: x}", 0),
    # the tokens copied to (L*N, E) for the input projection, the q, k, v projection (3 maps), a float32
    # log-sum-exp per head and query, and the attention's output
    "multihead_attention": ("multihead_attention: {name: x, heads: 2}", X + 3 * X + N * 2 * 36 * 4 + X),
    # a conv1d over the 36 x 8 tokens read as 36 channels of length 8: its input (the transposed view of pre's
    # map), for the weight's gradient
    "conv1d": ("conv1d: {name: x, out: 4, kernel: 3, padding: 1}", X),
}


@pytest.mark.parametrize("kind", TOKEN_CASES)
def test_token_kinds_save_what_torch_saves(kind):
    item, expected = TOKEN_CASES[kind]
    assert saved_by(item, before=TOKENS) == expected


T = 2  # frames of a video map: 8 x 2 x 6 x 6 after a 1x1x1 conv3d
X3 = N * C * T * H * W * B
VIDEO_CASES = {
    "conv3d": [("conv3d: {name: x, out: 4, kernel: 3, padding: 1}", X3),  # its input, for the weight's gradient
               ("conv3d: {name: x, out: 4, kernel: [1, 3, 3], stride: [1, 2, 2]}", X3)],
    "global_avgpool3d": [("global_avgpool3d: {name: x}", 0)],  # a mean: its backward needs only sizes
    # max_pool3d_with_indices: its input, and an int64 index per output (8 x 2 x 3 x 3)
    "maxpool3d": [("maxpool3d: {name: x, kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}",
                   X3 + N * C * T * 3 * 3 * 8)],
    "avgpool3d": [("avgpool3d: {name: x, kernel: [2, 3, 3], stride: 1}", X3)],  # avg_pool3d: its input
}
VIDEO_BEFORE = ("conv3d: {name: pre, out: 8, kernel: 1}",)


@pytest.mark.parametrize("item, expected", [c for cases in VIDEO_CASES.values() for c in cases] + [
    ("batchnorm: {name: x}", X3 + 2 * C * B),  # BatchNorm3d: the input, a mean and an inverse std per channel
    ("relu: {name: x}", X3),  # relu and add take a video map as they take any shape
])
def test_video_kinds_save_what_torch_saves(item, expected):
    text = "input: [8, 2, 6, 6]\nlayers:\n" + "".join(f"  - {i}\n" for i in (*VIDEO_BEFORE, item))
    first, _ = memory.saved_storages(cnncost.load_text(text), cnncost.Settings(batch=N), "cpu")
    assert sum(first["x"].values()) == expected


@pytest.mark.parametrize("activation, by_it, by_next", [
    ("leaky_relu", X, X), ("leaky_relu: {inplace: true}", X, 0),  # leaky_relu_ saves its output: pre's storage
    ("elu", X, X), ("elu: {inplace: true}", X, 0),
    ("relu", X, 0), ("relu: {inplace: true}", X, 0),  # relu saves its output either way
    ("silu", X, X), ("silu: {inplace: true}", X, X),  # silu_ keeps a copy of the input it overwrites
    ("relu6: {inplace: true}", X, X), ("hardswish: {inplace: true}", X, X), ("mish: {inplace: true}", X, X),
])
def test_in_place_activations_save_what_torch_saves(activation, by_it, by_next):
    # pre (1x1 conv) -> the activation -> x (1x1 conv, which saves its input): what each is first to save
    text = ("input: [8, 6, 6]\nlayers:\n  - conv: {name: pre, out: 8, kernel: 1}\n"
            f"  - {activation}\n  - conv: {{name: x, out: 8, kernel: 1}}\n")
    graph = cnncost.load_text(text)
    first, _ = memory.saved_storages(graph, cnncost.Settings(batch=N), "cpu")
    assert sum(first[graph.nodes[1].name].values()) == by_it
    assert sum(first["x"].values()) == by_next


def test_mul_saves_each_operand_that_the_other_needs():
    two = ("conv: {name: pre, out: 8, kernel: 1}", "conv: {name: pre2, out: 8, kernel: 1, input: input}")
    assert saved_by("mul: {name: x, input: [pre, pre2]}", before=two) == 2 * X
    # times the network input, which needs no gradient: only the network input is needed, and pre saved it
    assert saved_by("mul: {name: x, input: [pre, input]}") == 0


def test_layernorm_on_a_vector_keeps_one_mean_and_inverse_std_per_sample():
    text = ("input: [8, 6, 6]\nlayers:\n  - conv: {name: pre, out: 8, kernel: 1}\n  - flatten\n"
            "  - layernorm: {name: x}\n")
    first, _ = memory.saved_storages(cnncost.load_text(text), cnncost.Settings(batch=N))
    # the flattened conv output is the conv's, already saved by nobody (the conv saved the network input)
    assert sum(first["x"].values()) == X + 2 * N * B


def test_linear_and_softmax_on_vectors():
    text = ("input: [8, 6, 6]\nlayers:\n  - flatten\n  - linear: {name: fc, out: 10}\n  - softmax: {name: sm}\n")
    first, _ = memory.saved_storages(cnncost.load_text(text), cnncost.Settings(batch=N))
    assert sum(first["fc"].values()) == N * 8 * 6 * 6 * B  # the flattened input: a view of the network input
    assert sum(first["sm"].values()) == N * 10 * B  # its output


def test_cuda_saves_a_byte_mask_for_dropout_and_half_precision_lrn_stays_half():
    assert saved_by("dropout: {name: x, p: 0.5}", device="cuda") == N * C * H * W * 1
    # feature dropout has no fused kernel: its noise keeps the input's dtype on CUDA too (aten's _dropout_impl)
    assert saved_by("dropout: {name: x, p: 0.5, channels: true}", device="cuda") == N * C * B
    # on the CPU, half-precision LRN runs in float32 (torch_backend.LocalResponseNorm): four float32 copies
    half = N * C * H * W
    padded = N * (C + 3 - 1) * H * W
    assert saved_by("lrn: {name: x, size: 3}", dtype="bfloat16") == (half + padded + 2 * half) * 4
    assert saved_by("lrn: {name: x, size: 3}", dtype="bfloat16", device="cuda") == (half + padded + 2 * half) * 2


def test_nothing_is_saved_before_the_first_parameter():
    # a max pool on the network input needs no gradient; the conv after it saves the pooled map
    text = "input: [8, 6, 6]\nlayers:\n  - maxpool: {name: p, kernel: 2}\n  - conv: {name: c, out: 4, kernel: 1}\n"
    first, _ = memory.saved_storages(cnncost.load_text(text), cnncost.Settings(batch=N))
    assert first["p"] == {} and sum(first["c"].values()) == N * C * 3 * 3 * B


def test_a_storage_saved_twice_counts_once_for_the_first_saver():
    # the ReLU saves its output; the conv after it saves the same tensor as its input
    text = ("input: [8, 6, 6]\nlayers:\n  - conv: {name: a, out: 8, kernel: 1}\n  - relu: {name: r}\n"
            "  - conv: {name: b, out: 4, kernel: 1}\n")
    m = memory.analyze_memory(cnncost.load_text(text), cnncost.Settings(batch=N))
    rows = {r.name: r.saved_bytes for r in m.layers}
    assert rows == {"a": X, "r": X, "b": 0}
    assert m.saved_activation_bytes == 2 * X


NET = ("input: [8, 6, 6]\nlayers:\n  - conv: {name: a, out: 8, kernel: 3, padding: 1}\n  - relu: {name: r}\n"
       "  - flatten\n  - linear: {name: fc, out: 10}\n")
PARAMS = (8 * 8 * 9 + 8) + (288 * 10 + 10)


@pytest.mark.parametrize("optimizer, states", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
def test_weights_gradients_and_optimizer_state(optimizer, states):
    m = memory.analyze_memory(cnncost.load_text(NET), cnncost.Settings(batch=N), optimizer=optimizer)
    assert (m.weights_bytes, m.gradient_bytes, m.optimizer_bytes) == (PARAMS * 4, PARAMS * 4, states * PARAMS * 4)
    saved = X + X + N * 288 * 4  # the input (for a), a's output (the ReLU's), the flattened ReLU output is
    saved -= N * 288 * 4  # ... the same storage, so fc adds nothing
    assert m.saved_activation_bytes == saved
    # the largest backward working set: fc's, the gradient of its output and of its input, or a's
    assert m.transient_bytes == max(N * (10 + 288) * 4, N * (8 * 36) * 4, N * (8 * 36 + 8 * 36) * 4)
    assert m.peak_bytes == PARAMS * 4 * (2 + states) + saved + m.transient_bytes


def test_mixed_precision_keeps_fp32_masters_and_state():
    m = memory.analyze_memory(cnncost.load_text(NET), cnncost.Settings(batch=N, dtype="bfloat16"),
                              optimizer="adam", amp=True)
    assert m.weights_bytes == PARAMS * (4 + 2)  # fp32 master weights and bf16 working copies
    assert (m.gradient_bytes, m.optimizer_bytes) == (PARAMS * 4, 2 * PARAMS * 4)
    assert m.saved_activation_bytes == (X + X) // 2  # activations in bf16


def test_inference_peak_by_hand():
    # input 2x8x6x6 (X bytes) -> conv a (new, X) -> ReLU in place on a -> flatten (view) -> fc (new, 2x10)
    m = memory.analyze_memory(cnncost.load_text(NET), cnncost.Settings(batch=N), mode="infer")
    live = {r.name: r.live_bytes for r in m.layers}
    assert live["a"] == X + X  # the input is read by a alone, so it dies after a, not during
    assert live["r"] == X  # in place over a's output
    assert live["fc"] == X + N * 10 * 4
    assert m.peak_activation_bytes == 2 * X and m.peak_bytes == PARAMS * 4 + 2 * X
    assert memory.inplace_nodes(cnncost.load_text(NET), False) == {"r"}


@pytest.mark.parametrize("groups, new_bytes", [(1, 0), (4, 0), (2, 4 * 8 * 8 * 4)])
def test_a_channel_shuffle_that_is_the_identity_makes_no_new_tensor(groups, new_bytes):
    # found by tools/fuzz.py (F7): with groups 1 or = channels, view(1, g, C/g, H, W).transpose(1, 2) only moves
    # a dimension of size 1, so .contiguous() returns the input's own storage; at 2 groups it copies 4x8x8 floats
    text = ("input: [4, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 1}\n"
            f"  - channel_shuffle: {{name: s, groups: {groups}}}\n  - conv: {{name: b, out: 4, kernel: 1}}\n")
    live = {r.name: r.live_bytes for r in memory.analyze_memory(cnncost.load_text(text), mode="infer").layers}
    # a's output (4x8x8 floats) is live during s: s's own output adds new_bytes
    assert live["s"] == 4 * 8 * 8 * 4 + new_bytes


def test_an_activation_runs_in_place_only_as_the_last_reader_of_its_input():
    text = ("input: [8, 6, 6]\nlayers:\n  - conv: {name: a, out: 8, kernel: 1}\n  - relu: {name: r}\n"
            "  - add: {name: s, input: [a, r]}\n  - relu: {name: r2}\n")
    assert memory.inplace_nodes(cnncost.load_text(text), False) == {"r2"}  # r's input is still read by s


def device(memory_bytes, kind="cuda"):
    return Device("test-gpu", "a test GPU", kind, memory_bytes)


def test_largest_batch_and_the_layer_split():
    graph = cnncost.load_text(NET)
    per_sample = memory.analyze_memory(graph, cnncost.Settings(batch=2)).peak_bytes \
        - memory.analyze_memory(graph, cnncost.Settings(batch=1)).peak_bytes
    fixed = memory.analyze_memory(graph, cnncost.Settings(batch=1)).peak_bytes - per_sample
    assert fixed == PARAMS * 4 * 2  # weights and gradients: sgd keeps no state
    capacity = fixed + 100 * per_sample + per_sample // 2
    (fit,) = memory.analyze_memory(graph, cnncost.Settings(batch=128), devices=(device(capacity),)).devices
    assert (fit.fits, fit.max_batch) == (False, 100)
    (fit,) = memory.analyze_memory(graph, cnncost.Settings(batch=1), devices=(device(fixed),)).devices
    assert fit.max_batch is None and not fit.fits


def test_devices_needed_for_a_split_into_consecutive_layers():
    # three identical 1x1 convs on 8 channels: 72 params each, saving their 8x6x6 input (X bytes)
    text = "input: [8, 6, 6]\nlayers:\n" + "".join(f"  - conv: {{name: c{i}, out: 8, kernel: 1}}\n" for i in range(3))
    graph = cnncost.load_text(text)
    layer = 72 * 4 * 2 + X  # weights and gradients, and what it saves
    working_set = 2 * X  # the gradients of its output and of its input
    m = memory.analyze_memory(graph, cnncost.Settings(batch=N), devices=(device(2 * layer + working_set),))
    assert m.devices[0].devices_needed == 2  # two layers on the first device, one on the second
    assert memory.analyze_memory(graph, cnncost.Settings(batch=N),
                                 devices=(device(layer + working_set - 1),)).devices[0].devices_needed is None


# --- the command line ---


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True)


def test_memory_json_contract():
    out = run("memory", "resnet18", "--batch", "4", "--optimizer", "adam", "--device", "t4", "--device", "a100-80gb",
              "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    totals = data["totals"]
    for key in ("weights_bytes", "gradient_bytes", "optimizer_bytes", "saved_activation_bytes", "peak_bytes"):
        assert isinstance(totals[key], int), key
    assert totals["weights_bytes"] == 11_689_512 * 4  # torchvision's resnet18 num_params, float32
    assert totals["optimizer_bytes"] == 2 * totals["weights_bytes"]
    assert all("saved_bytes" in row for row in data["layers"])
    assert sum(row["saved_bytes"] for row in data["layers"]) == totals["saved_activation_bytes"]
    assert set(data["fits"]) == set(data["max_batch"]) == {"t4", "a100-80gb"}
    assert data["max_batch"]["a100-80gb"] > data["max_batch"]["t4"] > 4


@pytest.mark.parametrize("fmt, marker", [("table", "Saved for backward"), ("csv", "name,type,weights_bytes"),
                                         ("markdown", "| Layer | Type |"), ("json", '"peak_bytes"')])
def test_memory_in_every_format(fmt, marker):
    out = run("memory", "alexnet", "--format", fmt)
    assert out.returncode == 0 and marker in out.stdout, out.stderr


def test_inference_mode_and_devices_listing():
    out = run("memory", "mobilenet_v2", "--mode", "infer", "--device", "jetson-orin-nano-8gb", "--format", "json")
    data = json.loads(out.stdout)
    assert data["mode"] == "infer" and data["totals"]["gradient_bytes"] == 0 and data["fits"]["jetson-orin-nano-8gb"]
    listing = json.loads(run("devices", "--format", "json").stdout)
    assert {"gtx580-3gb", "k80", "v100-16gb", "a100-80gb", "h200-141gb", "rtx4090"} <= {d["device"] for d in listing}
    assert not {d["device"] for d in listing if d["kind"] == "cpu"}  # this machine is 'local', from calibrate
    assert all(d["source"] for d in listing)


@pytest.mark.parametrize("args, message", [
    (["--device", "a100-80"], "unknown device 'a100-80' (did you mean 'a100-80gb'?)"),
    (["--optimizer", "adma"], "unknown optimizer 'adma' (did you mean 'adam'?)"),
    (["--batch", "0"], "--batch"),
    (["--batch", "-3"], "--batch"),
    (["--mode", "training"], "--mode"),
])
def test_bad_memory_options_are_one_line(args, message):
    out = run("memory", "alexnet", *args)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


@pytest.mark.parametrize("body, where, message", [
    ("  mine:\n    name: mine\n    kind: cuda\n", 3, "device 'mine' has no 'memory_bytes'"),  # its name's line
    ("  mine:\n    name: mine\n    kind: cuda\n    memory_bytes: -5\n", 6, "'memory_bytes' must be positive"),
    ("  mine:\n    name: mine\n    kind: gpu\n    memory_bytes: 5\n", 5, "kind must be one of cuda, jetson, cpu"),
    ("  mine:\n    name: mine\n    kind: cuda\n    memory_bytes: 5\n    memroy: 3\n", 7, "unknown field 'memroy'"),
])
def test_a_bad_device_file_names_file_line_and_field(tmp_path, body, where, message):
    path = tmp_path / "mine.yaml"
    path.write_text("# my devices\ndevices:\n" + body)
    out = run("memory", "alexnet", "--device-file", str(path), "--device", "mine")
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert f"{path}:{where}:" in line and message in line, line


def test_a_device_file_adds_a_device(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("devices:\n  tiny:\n    name: a tiny board\n    kind: jetson\n    memory_bytes: 1000000\n")
    data = json.loads(run("memory", "alexnet", "--device-file", str(path), "--device", "tiny",
                          "--format", "json").stdout)
    # alexnet's 61,100,840 float32 weights alone are 244 MB: nothing fits in 1 MB
    assert data["devices"][0]["name"] == "a tiny board" and data["max_batch"] == {"tiny": None}
    assert "tiny" in run("devices", "--device-file", str(path)).stdout
    assert CliRunner().invoke(main, ["memory", "alexnet", "--device-file", str(tmp_path / "none.yaml")]).exit_code == 2


def test_the_api_refuses_unknown_settings():
    with pytest.raises(CnnCostError, match="unknown optimizer"):
        memory.analyze_memory(cnncost.load("alexnet"), optimizer="rmsprop")
    with pytest.raises(CnnCostError, match="unknown mode"):
        memory.analyze_memory(cnncost.load("alexnet"), mode="eval")


def _torchvision_rows():
    lines = [l for l in (Path(__file__).parent / "data" / "torchvision_saved_bytes.tsv").read_text().splitlines()
             if l and not l.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, l.split("\t"))) for l in lines[1:]]


@pytest.mark.parametrize("row", _torchvision_rows(), ids=lambda r: f"{r['model']}-{r['dtype']}-{r['batch']}")
def test_saved_activations_equal_what_torchvisions_own_models_save(row):
    # measured on torchvision's modules themselves (in-place ReLUs, functional calls, its own stochastic
    # depth and SE blocks) by tools/measure_torchvision_memory.py, not on cnncost's torch backend
    options = row["cnncost"].split()
    overrides = dict(o.split("=") for o in options[1::2]) if "--set" in options else {}
    overrides = {k: {"true": True, "false": False}.get(v, v) for k, v in overrides.items()}
    size = tuple(int(d) for d in row["size"].split("x"))  # S, or T x H x W for a video clip
    settings = cnncost.Settings(batch=int(row["batch"]), dtype=row["dtype"], include_side="--side" in options,
                                set=overrides, input=(3, *size) if len(size) == 3 else (3, *size, *size))
    m = memory.analyze_memory(cnncost.load(row["model"], settings), settings, device_kind="cpu")
    assert m.saved_activation_bytes == int(row["saved_bytes"])


def test_channel_dropout_imported_from_torch_saves_what_torch_saves():
    # smp's PSPNet ends its decoder with nn.Dropout2d: feature dropout saves noise of N x C x 1 x 1, not a mask
    # the size of the map (which made PSPNet's saved activations 5% high)
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout2d(0.2), nn.Conv2d(8, 4, 1)).train()
    measured = saved_bytes(model, torch.randn(N, 3, 10, 10))
    # by hand: the input (conv 1), the ReLU's output (8x8x8), the noise (8 per sample), the dropout's output (conv 2)
    assert measured == N * (3 * 10 * 10 + 8 * 8 * 8 + 8 + 8 * 8 * 8) * B
    graph = cnncost.from_torch(model.eval(), input=(N, 3, 10, 10))
    assert [n.args.get("channels") for n in graph.nodes if n.kind == "dropout"] == [True]
    ours = memory.analyze_memory(graph, cnncost.Settings(batch=N), device_kind="cpu")
    assert ours.saved_activation_bytes == measured


def test_a_fixed_filter_imported_from_torch_is_a_buffer():
    # timm's BlurPool2d: F.conv2d with a registered buffer as the weight (anti-aliased downsampling)
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Blur(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(3, c, 1)
            self.register_buffer("filt", torch.full((c, 1, 3, 3), 1 / 9))

        def forward(self, x):
            x = self.conv(x)
            return F.conv2d(x, self.filt, stride=2, padding=1, groups=x.shape[1])

    model = Blur(8).eval()
    graph = cnncost.from_torch(model, input=(2, 3, 8, 8))
    report = cnncost.analyze(graph, convention="flopcounter")
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 3 * 8 + 8
    assert report.totals.buffers == model.filt.numel() == 72
    # per sample, by hand: the 1x1 conv (8 x 8 x 8 x 3) and the blur (8 x 4 x 4 x 9), as FlopCounterMode counts
    assert report.totals.macs == 8 * 8 * 8 * 3 + 8 * 4 * 4 * 9
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 8, 8))
    assert counter.get_total_flops() == 2 * report.totals.macs
