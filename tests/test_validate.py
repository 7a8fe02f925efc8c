"""The validation backend: cnncost's figures against PyTorch running the same network."""

import dataclasses
import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

import cnncost  # noqa: E402
from cnncost import conventions, kinds, torch_backend, validate as checker, zoo  # noqa: E402
from cnncost.report import Settings  # noqa: E402
from cnncost.cli import main  # noqa: E402
from cnncost.errors import CnnCostError  # noqa: E402
from cnncost.expand import load_graph  # noqa: E402
from cnncost.graph import Node  # noqa: E402
from cnncost.kinds import KINDS  # noqa: E402
from tests.strategies import networks  # noqa: E402

CUDA = torch.cuda.is_available()


def graph_of(text, **options):
    return load_graph("<test>", text=text, **options)


def check_of(result, layer, figure):
    (row,) = [l for l in result.layers if l.name == layer]
    (check,) = [c for c in row.checks if c.figure == figure]
    return check


def failed(result):
    return sorted({(layer, check.figure) for layer, check in result.mismatches})


# One network that uses every layer kind, with the awkward cases: asymmetric
# padding, dilation, groups, ceil-mode pooling, overlapping adaptive windows,
# batch norm on a vector, a side output, odd "same" padding, a transposed conv
# with output padding and groups, a fractional bilinear scale, a crop to another
# layer's size, torch's in-place activations (leaky_relu_ and elu_ save their output, silu_ a copy).
EVERY_KIND = """
input: [8, 15, 15]
layers:
  # MaxViT's block attention (3 x 3 windows of 5 x 5) and grid attention (25 groups: a 3 x 3 grid 5 apart)
  - partition_attention: {name: block_attention, partition: window, size: 5, head_dim: 4, mlp_ratio: 2}
  - partition_attention: {name: grid_attention, partition: grid, size: 3, head_dim: 2, mlp_ratio: 2,
                          stochastic_depth: 0.2}
  - conv: {name: asym, out: 12, kernel: 3, stride: 2, padding: [0, 1, 0, 1]}
  - batchnorm: {name: bn}
  - relu
  - dwconv: {name: dw, kernel: 3, padding: 2, dilation: 2, multiplier: 2}
  - dwconv: {name: blur, kernel: 3, padding: 1, bias: false, fixed: true}
  - relu6
  - conv: {name: grouped, out: 16, kernel: [1, 3], padding: [0, 1], groups: 4, bias: false}
  - leaky_relu: {slope: 0.2, inplace: true}
  - lrn: {size: 3}
  - channel_shuffle: {groups: 4}
  - conv: {name: same, out: 16, kernel: 4, stride: 2, padding: same}
  - std_conv: {name: ws_gain, out: 16, kernel: 3, padding: 1, gain: true}
  - std_conv: {name: ws, out: 16, kernel: 3, padding: [1, 0, 1, 2], groups: 2, bias: false, call: function}
  - maxpool: {name: same_pool, kernel: 2, stride: 1, padding: same}
  - pad: {name: reflect, padding: [1, 0, 2, 1], mode: reflect}
  - conv_transpose: {name: up, out: 16, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}
  - upsample: {name: resize, scale: 1.5, mode: bilinear}
  - upsample: {name: nearest, size: [9, 11]}
  - upsample: {name: back, input: [nearest, resize], mode: bilinear, align_corners: true, call: function}
  - center_crop: {name: crop, input: [back, nearest]}
  - layernorm: {name: ln}
  - linear: {name: pointwise, out: 16, per_position: true}
  # Swin's kinds (kinds_swin.py): shifted windows on a map padded to whole windows, and V2's cosine attention
  - shifted_window_attention: {name: swa, heads: 2, window: [4, 3], shift: [2, 1]}
  - shifted_window_attention: {name: swa2, heads: 4, window: 4, shift: 2, version: 2, proj_bias: false}
  - mish
  - layer_scale: {name: gamma}
  - parallel:
      name: mix
      merge: concat
      branches:
        a: {maxpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}}
        b: [{avgpool: {kernel: 2, stride: 2, ceil_mode: true, count_include_pad: false}}, {elu: {inplace: true}},
            {conv: {out: 16, kernel: 1}}]
  - residual:
      name: res
      body: [{conv: {out: 32, kernel: 3, padding: 1}}, batchnorm, tanh]
      shortcut: identity
  - residual:
      name: down
      body: [{conv: {out: 48, kernel: 3, stride: 2, padding: 1}}, hardswish]
      shortcut: zero_pad
  - residual: {name: proj, body: [{conv: {out: 64, kernel: 1}}], shortcut: projection}
  - sequence:
      name: se
      layers:
        - global_avgpool
        - conv: {out: 16, kernel: 1}
        - silu: {inplace: true}
        - conv: {out: 64, kernel: 1}
        - groupnorm: {groups: 8}
        - hardsigmoid: {name: gate}
        - mul: {input: [proj, gate]}
  - channel_split: {parts: 2, index: 1}
  - adaptive_avgpool: {output: 3}
  - stochastic_depth: {p: 0.3}
  - gelu
  - sigmoid
  - dropout: {p: 0.1}
  - dropout: {p: 0.2, channels: true}
  - identity: {name: map}
  # the tensor ops (kinds_tensor.py) on the 32x3x3 map: a hard sigmoid written as arithmetic, a parameter and a
  # buffer, reductions, stack, unequal slices, pixel shuffles, instance norm and GRN
  - scalar: {name: hs_add, op: add, value: 3}
  - relu6
  - scalar: {name: hs_div, op: div, value: 6, call: operator}
  - binary: {name: gated, op: mul, input: [map, hs_div]}
  - param: {name: gamma_scale, op: mul, shape: [32, 1, 1], init: 0.5}
  - param: {name: mean_sub, op: sub, shape: [32, 1, 1], learnable: false, init: 0.1}
  - unary: {name: absolute, op: abs}
  - scalar: {name: plus_one, op: add, value: 1}
  - unary: {name: root, op: rsqrt}
  - unary: {name: erf, op: erf}
  - binary: {name: ratio, op: div, input: [gated, plus_one]}
  - binary: {name: diff, op: sub, input: [ratio, erf]}
  - scalar: {name: squared, op: pow, value: 2, input: diff}
  - reduce: {name: chan_max, op: amax, dims: [1], keepdim: true, input: diff}
  - binary: {name: centred, op: sub, input: [diff, chan_max]}
  - reduce: {name: l2, op: norm, dims: [2, 3], keepdim: true}
  - reduce: {name: chan_mean, op: mean, dims: [-3], keepdim: true}
  - binary: {name: normed, op: div, input: [squared, chan_mean]}
  - stack: {name: both, dim: 1, input: [normed, centred]}
  - reduce: {name: merged, op: sum, dims: [1]}
  - slice: {name: head, dim: 1, end: 12}
  - slice: {name: tail, dim: 1, start: 12, input: merged}
  - slice: {name: cols, dim: -1, start: 1, step: 2, input: merged}
  - concat: {name: rejoined, input: [tail, head]}
  - binary: {name: broadcast, op: add, input: [rejoined, cols]}
  - pixel_shuffle: {factor: 2}
  - instancenorm: {affine: true}
  - pixel_unshuffle: {factor: 2}
  - grn
  # a token pipeline: the map as 9 tokens of 32 features, attention written out and as torch's ops
  - flatten: {name: patches, start_dim: 2}
  - side: {name: seq, layers: [{conv1d: {out: 8, kernel: 3, stride: 2, padding: 2, dilation: 2, groups: 4}},
                               {conv1d: {out: 4, kernel: 1, bias: false}}]}
  - transpose: {name: tokens, dim0: 1, dim1: 2, input: patches}
  - layernorm: {name: ln_tokens, bias: false}
  - linear: {name: qkv, out: 96}
  - reshape: {name: heads, shape: [9, 3, 4, 8]}
  - permute: {name: split_heads, dims: [0, 2, 3, 1, 4]}
  - slice: {name: q, dim: 1, end: 1}
  - slice: {name: k, dim: 1, start: 1, end: 2, input: split_heads}
  - slice: {name: v, dim: 1, start: 2, input: split_heads}
  - transpose: {name: k_t, dim0: -2, dim1: -1, input: k}
  - matmul: {name: scores, input: [q, k_t]}
  - einsum: {name: scores2, equation: "bshqd,bshkd->bshqk", input: [q, k]}
  - binary: {name: scores_sum, op: add, input: [scores, scores2]}
  - scalar: {name: scaled, op: mul, value: 0.2}
  - table_bias: {name: rel_bias, table: [4, 17], shape: [4, 9, 9]}
  - softmax: {name: weights, dim: -1}
  - matmul: {name: attended, input: [weights, v], call: function}
  - attention: {name: sdpa, input: [q, k, v]}
  - attention: {name: sdpa_biased, mask_table: [2, 20], mask_shape: [1, 4, 9, 9], input: [q, k, v]}
  - binary: {name: both_sdpa, op: add, input: [sdpa, sdpa_biased]}
  - binary: {name: both_heads, op: add, input: [attended, both_sdpa]}
  - permute: {name: merge_heads, dims: [0, 3, 1, 2, 4]}
  - reshape: {name: tokens_out, shape: [9, 32]}
  - linear: {name: out_proj, out: 32}
  - add: {name: residual, input: [tokens, out_proj]}
  - class_token: {name: cls}
  - position_embedding: {name: pos}
  - slice: {name: patch_tokens, dim: 1, start: 1}
  - multihead_attention: {name: mha, heads: 4}
  - multihead_attention: {name: cross, heads: 2, bias: false, input: [mha, tokens, residual]}
  - softmax: {name: token_softmax, dim: 1}
  - transpose: {name: channels_first, dim0: 1, dim1: 2}
  - unflatten: {name: back_to_map, dim: 2, sizes: [3, -1]}
  - binary: {name: with_map, op: add, input: [back_to_map, map]}
  - identity
  - side: {name: aux, layers: [flatten, {linear: {out: 5}}]}
  - side: {name: patch_merging, layers: [patch_merge]}
  - side: {name: unmapped, layers: [{opaque: {shape: [2, 5], op: Tensor.unfold, params: 6}}]}
  - flatten
  - batchnorm: {name: bn_vec}
  - layernorm: {name: ln_vec}
  - linear: {out: 10, bias: false}
  - softmax
"""

# The kinds of a C x T x H x W video map (torchvision's video ResNets), which EVERY_KIND's 2-D map cannot take:
# a strided, padded, grouped and a dilated conv3d, batch norm and relu on the map, a max pool (ceil mode), a residual
# whose projection shortcut is a 1x1x1 conv3d, an average pool (padded, without the padding in its count), the
# global pool, and S3D's head: a 1x1x1 conv3d to the classes and a mean over T, H, W.
EVERY_VIDEO_KIND = """
input: [3, 4, 10, 10]
layers:
  - conv3d: {name: stem, out: 8, kernel: [3, 5, 5], stride: [1, 2, 2], padding: [1, 2, 2], bias: false}
  - batchnorm: {name: bn3d}
  - relu
  - maxpool3d: {name: maxpool, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - conv3d: {name: temporal, out: 8, kernel: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0], groups: 2}
  - residual:
      name: block
      body:
        - conv3d: {name: dilated, out: 12, kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 2, 2], dilation: 2}
        - batchnorm
      shortcut: projection
  - relu
  - avgpool3d: {name: avgpool, kernel: [1, 2, 2], stride: 1, padding: [0, 1, 1], count_include_pad: false}
  - global_avgpool3d: {name: pool}
  - flatten
  - linear: {name: fc, out: 5}
  - avgpool3d: {name: head_pool, kernel: [2, 3, 3], stride: 1, input: avgpool}
  - conv3d: {name: head, out: 5, kernel: 1}
  - reduce: {name: mean, op: mean, dims: [2, 3, 4]}
  - add: {input: [fc, mean]}
"""
VIDEO_KINDS = {"conv3d", "global_avgpool3d", "maxpool3d", "avgpool3d"}  # the kinds only EVERY_VIDEO_KIND runs


# --- the backend builds every kind ---


def test_a_kind_cannot_be_defined_without_a_torch_builder():
    with pytest.raises(ValueError, match="needs a torch builder"):
        kinds.define("no_builder_kind", "other", "a kind without a builder", shape=lambda a, ins: ins[0])
    assert "no_builder_kind" not in KINDS


def test_the_every_kind_network_uses_every_registered_kind():
    # a new kind must be added to EVERY_KIND too, so that it is run, not only built
    used = {n.kind for n in graph_of(EVERY_KIND).nodes}
    assert used == set(KINDS) - VIDEO_KINDS, f"not exercised: {sorted(set(KINDS) - VIDEO_KINDS - used)}"
    assert VIDEO_KINDS <= {n.kind for n in graph_of(EVERY_VIDEO_KIND).nodes}


def test_an_unknown_kind_fails_loudly():
    node = Node("x.y", "no_such_kind", {}, ("input",), ((3, 8, 8),), (3, 8, 8))
    with pytest.raises(CnnCostError, match="cannot build unknown layer kind 'no_such_kind'"):
        torch_backend.build_layer(node)


@pytest.mark.parametrize("batch", [1, 3])
def test_every_kind_agrees_with_torch(batch):
    result = checker.validate_graph(graph_of(EVERY_KIND), Settings(batch=batch))
    assert result.error is None
    assert failed(result) == []
    assert {l.kind for l in result.layers} == set(KINDS) - VIDEO_KINDS


@pytest.mark.parametrize("batch", [1, 3])
def test_every_video_kind_agrees_with_torch(batch):
    result = checker.validate_graph(graph_of(EVERY_VIDEO_KIND), Settings(batch=batch))
    assert result.error is None and failed(result) == []
    assert {"conv3d", "global_avgpool3d", "batchnorm"} <= {l.kind for l in result.layers}


def test_conv3d_figures_from_torch_match_hand_arithmetic():
    text = "input: [3, 4, 8, 8]\nlayers:\n  - conv3d: {name: c, out: 8, kernel: [3, 3, 3], padding: 1}\n"
    result = checker.validate_graph(graph_of(text), Settings(batch=2))
    macs = 2 * 8 * 4 * 8 * 8 * 3 * 3 * 3 * 3  # batch * Cout*T'*H'*W' * Cin*kt*kh*kw
    assert check_of(result, "c", "raw macs").torch == macs  # FlopCounterMode's own count, halved
    assert check_of(result, "c", "params").torch == 8 * 3 * 3 * 3 * 3 + 8
    assert check_of(result, "c", "shape").torch == (2, 8, 4, 8, 8)
    assert not result.mismatches


# torch 2.13's CPU avg_pool3d has no bfloat16 kernel ("avg_pool3d_out_frame" not implemented for 'BFloat16'), so
# in bfloat16 the average pools become max pools of the same windows
EVERY_VIDEO_KIND_BF16 = EVERY_VIDEO_KIND.replace(", count_include_pad: false", "").replace("- avgpool3d:",
                                                                                           "- maxpool3d:")


# matmul with an operand broadcast over the other's axes (LambdaNet's q @ lam.unsqueeze(1)): torch expands it and
# bmm saves the expanded copy (2 x 4 x 8 per sample here, not the 1 x 4 x 8 it was)
BROADCAST_MATMUL = """
input: [8, 6, 6]
layers:
  - conv: {name: pre, out: 8, kernel: 1}
  - reshape: {name: heads, shape: [2, 36, 4]}
  - reshape: {name: matrix, shape: [36, 8], input: pre}
  - slice: {name: rows, dim: 1, end: 4}
  - reshape: {name: one_head, shape: [1, 4, 8]}
  - matmul: {name: one_of_two, input: [heads, one_head]}
"""


@pytest.mark.parametrize("dtype, batch", [("float32", 2), ("bfloat16", 3)])
def test_a_broadcast_matmul_saves_what_torch_saves(dtype, batch):
    result = checker.validate_memory_graph(graph_of(BROADCAST_MATMUL), Settings(batch=batch, dtype=dtype))
    assert result.error is None and failed(result) == []


@pytest.mark.parametrize("dtype, batch", [("float32", 2), ("bfloat16", 3)])
def test_every_video_kinds_memory_agrees_with_torch(dtype, batch):
    text = EVERY_VIDEO_KIND if dtype == "float32" else EVERY_VIDEO_KIND_BF16
    result = checker.validate_memory_graph(graph_of(text), Settings(batch=batch, dtype=dtype))
    assert result.error is None and failed(result) == []


def test_avgpool3d_in_bfloat16_is_refused_by_torch_on_the_cpu():
    # when torch gains the kernel this fails, and the bfloat16 run above can take the average pools back
    result = checker.validate_memory_graph(graph_of(EVERY_VIDEO_KIND), Settings(batch=1, dtype="bfloat16"))
    assert "avg_pool3d_out_frame" in result.error and "BFloat16" in result.error


# --- the torch figures themselves, by hand ---


def test_conv_figures_from_torch_match_hand_arithmetic():
    text = "input: [3, 8, 8]\nlayers:\n  - conv: {name: c, out: 8, kernel: 3, padding: 1}\n"
    result = checker.validate_graph(graph_of(text), Settings(batch=2))
    macs = 2 * 8 * 8 * 8 * 3 * 3 * 3  # batch * Cout*H'*W' * Cin*k*k
    assert check_of(result, "c", "raw macs").torch == macs  # FlopCounterMode's own count, halved
    assert check_of(result, "c", "flops (lecture)").torch == 2 * macs
    assert check_of(result, "c", "macs (lecture)").torch == macs
    assert check_of(result, "c", "bias adds").torch == 2 * 8 * 8 * 8  # one per output element
    assert check_of(result, "c", "macs (ptflops)").torch == macs + 2 * 8 * 8 * 8
    assert check_of(result, "c", "params").torch == 8 * 3 * 3 * 3 + 8
    assert check_of(result, "c", "memory_bytes").torch == 2 * 8 * 8 * 8 * 4
    assert check_of(result, "c", "shape").torch == (2, 8, 8, 8)


def test_pool_work_comes_from_the_tensors_and_counts_only_under_the_lecture_convention():
    text = "input: [4, 9, 9]\nlayers:\n  - maxpool: {name: p, kernel: 3, stride: 2, ceil_mode: true}\n"
    result = checker.validate_graph(graph_of(text))
    # ceil((9-3)/2)+1 = 4 per side: 4*4*4 outputs, 9 taps each
    assert check_of(result, "p", "macs (lecture)").torch == 4 * 4 * 4 * 9
    assert check_of(result, "p", "macs (torchvision)").torch == 0
    assert check_of(result, "p", "window").torch == (3, 3)  # the module's kernel_size
    # torchscan: k - 1 comparisons per output, with k = 3 for a square kernel written as an int
    assert check_of(result, "p", "macs (torchscan)").torch == 4 * 4 * 4 * (3 - 1)
    assert not result.mismatches


def test_batchnorm_buffers_leave_out_the_batch_counter():
    text = "input: [6, 4, 4]\nlayers:\n  - batchnorm: {name: bn}\n"
    result = checker.validate_graph(graph_of(text))
    assert check_of(result, "bn", "buffers").torch == 2 * 6  # running mean + var, not num_batches_tracked
    assert check_of(result, "bn", "params").torch == 2 * 6


@pytest.mark.parametrize("size, out, extent", [
    (7, 3, 3 + 3 + 3),  # windows [0,3) [2,5) [4,7)
    (2, 3, 1 + 2 + 1),  # windows [0,1) [0,2) [1,2): more outputs than inputs
    (5, 2, 3 + 3),      # windows [0,3) [2,5)
    (6, 1, 6),          # global
])
def test_adaptive_window_extents_measured_from_torch(size, out, extent):
    assert checker.adaptive_extent(size, out) == extent


# --- validation catches wrong rules ---


def _patched(monkeypatch, kind, **rules):
    monkeypatch.setitem(KINDS, kind, dataclasses.replace(KINDS[kind], **rules))


def test_conv_macs_off_by_one_kernel_element_is_caught(monkeypatch):
    def wrong(a, ins, out):
        kh, kw = a["kernel"]
        return out[0] * out[1] * out[2] * (ins[0][0] // a["groups"]) * (kh * kw - 1)

    _patched(monkeypatch, "conv", macs=wrong)
    result = checker.validate("alexnet")
    convs = {f"conv{i}" for i in range(1, 6)}
    assert {layer for layer, _ in result.mismatches} == convs | {"total"}
    # every convention that counts conv MACs catches it, and the totals; thop, torchinfo and torchscan
    # count a conv from its weight's size and its output, which the wrong rule leaves right
    from_macs = set(conventions.CONVENTIONS) - {"thop", "torchinfo", "torchscan"}
    assert {figure for layer, figure in failed(result) if layer != "total"} == {
        "raw macs", "flops (lecture)", *(f"macs ({c})" for c in from_macs)}
    assert {figure for layer, figure in failed(result) if layer == "total"} == {f"macs ({c})" for c in from_macs}
    conv1 = check_of(result, "conv1", "raw macs")
    assert conv1.torch == 64 * 56 * 56 * 3 * 11 * 11 and conv1.cnncost < conv1.torch


def test_batchnorm_params_once_instead_of_twice_is_caught(monkeypatch):
    _patched(monkeypatch, "batchnorm", params=lambda a, ins, out: ins[0][0])
    result = checker.validate("resnet18")
    bn_rows = [l.name for l in result.layers if l.kind == "batchnorm"]
    # torchinfo counts a norm's parameters as its mult-adds, so its MACs move with them
    expected = {(name, figure) for name in bn_rows for figure in ("params", "macs (torchinfo)")}
    expected |= {("total", f"params ({c})") for c in conventions.CONVENTIONS} | {("total", "macs (torchinfo)")}
    assert bn_rows and failed(result) == sorted(expected)


def test_batchnorm_buffers_wrong_is_caught(monkeypatch):
    _patched(monkeypatch, "batchnorm", buffers=lambda a, ins, out: 3 * ins[0][0])
    result = checker.validate_graph(graph_of(EVERY_KIND))
    assert {f for _, f in failed(result)} == {"buffers"}


def test_pool_macs_wrong_is_caught_only_where_pooling_counts(monkeypatch):
    _patched(monkeypatch, "maxpool", macs=lambda a, ins, out: out[0] * out[1] * out[2])  # kernel area forgotten
    result = checker.validate("alexnet")
    # only the lecture convention counts a max pool's window MACs; the peers count pools by other quantities
    assert failed(result) == sorted([(p, f) for p in ("pool1", "pool2", "pool5")
                                     for f in ("raw macs", "macs (lecture)", "flops (lecture)")]
                                    + [("total", "macs (lecture)")])


def test_a_layer_wrongly_marked_in_place_is_caught(monkeypatch):
    _patched(monkeypatch, "conv", inplace=True)  # would report 0 bytes for a conv's new output
    result = checker.validate("alexnet")
    assert {f for _, f in failed(result)} == {"memory_bytes"}


def test_a_wrong_shape_rule_is_caught(monkeypatch):
    def floor_always(a, shapes):  # ignores ceil_mode
        c, h, w = shapes[0]
        k, s = a["kernel"][0], (a["stride"] or a["kernel"])[0]
        return (c, (h - k) // s + 1, (w - k) // s + 1)

    _patched(monkeypatch, "maxpool", shape=floor_always)
    text = "input: [2, 8, 8]\nlayers:\n  - maxpool: {name: p, kernel: 3, stride: 2, ceil_mode: true}\n  - relu\n"
    result = checker.validate_graph(graph_of(text))
    assert ("p", "shape") in failed(result)


def test_a_shape_rule_that_breaks_the_torch_network_is_a_failure(monkeypatch):
    _patched(monkeypatch, "flatten", shape=lambda a, ins: (ins[0][0],))  # forgets H and W
    result = checker.validate("alexnet")
    assert not result.ok
    assert result.error.startswith("layer 'fc6': torch failed:")
    out = CliRunner().invoke(main, ["validate", "alexnet"])
    assert out.exit_code == 1 and "torch failed" in out.stdout


def test_the_cli_exits_1_and_names_the_difference(monkeypatch):
    _patched(monkeypatch, "batchnorm", params=lambda a, ins, out: ins[0][0])
    out = CliRunner().invoke(main, ["validate", "resnet18", "--format", "json"])
    assert out.exit_code == 1
    data = json.loads(out.stdout)
    bns = 1 + 2 * (2 + 2 + 2 + 2) + 3  # the stem's, two per basic block, three downsample projections
    rows = [l for l in data["models"][0]["layers"] if l["name"] != "total"]
    wrong = [c for l in rows for c in l["checks"] if not c["ok"]]
    assert not data["ok"] and {c["figure"] for c in wrong} == {"params", "macs (torchinfo)"}
    assert sum(c["figure"] == "params" for c in wrong) == bns
    params = next(c for c in wrong if c["figure"] == "params")
    assert params["cnncost"] * 2 == params["torch"]
    assert data["summary"]["mismatches"] == sum(not c["ok"] for l in data["models"][0]["layers"] for c in l["checks"])


# --- the whole zoo, and random networks ---


def test_the_whole_zoo_agrees_with_torch_under_every_convention():
    # the literal command CI relies on, run once here (.ci/run does not run it again)
    out = subprocess.run([sys.executable, "-m", "cnncost", "validate", "--all", "--device", "cpu", "--format", "json"],
                         capture_output=True, text=True)
    data = json.loads(out.stdout)
    assert [m["model"] for m in data["models"]] == zoo.names()
    for m in data["models"]:
        assert m["error"] is None, (m["model"], m["error"])
        assert m["conventions"] == list(conventions.CONVENTIONS), m["model"]
        wrong = [(l["name"], c["figure"]) for l in m["layers"] for c in l["checks"] if not c["ok"]]
        assert not wrong, (m["model"], wrong[:5])
        assert m["layers"][-1]["name"] == "total" and len(m["layers"]) > 1
    assert out.returncode == 0 and data["ok"] and data["summary"]["mismatches"] == 0


# --- memory: what autograd saves, and live activations (validate --memory) ---


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("batch", [2, 3])  # its batch norm on a vector cannot train on one sample
@pytest.mark.parametrize("side", [False, True])
def test_every_kinds_memory_agrees_with_torch(dtype, batch, side):
    result = checker.validate_memory_graph(graph_of(EVERY_KIND), Settings(batch=batch, dtype=dtype,
                                                                           include_side=side))
    assert result.error is None and failed(result) == []
    assert {l.name for l in result.layers} == {n.name for n in graph_of(EVERY_KIND).nodes if side or not n.side}


# Attention's saved tensors depend on the path torch's CPU takes: the fused kernel on (N, heads, L, E) whose last
# axes are dense, the math path otherwise; and timm's q, k, v are slices of one permuted projection.
ATTENTION_NETWORKS = {
    "fused": "  - conv: {name: pre, out: 8, kernel: 1}\n  - attention: {input: [pre, pre, pre]}\n"
             "  - conv: {out: 4, kernel: 1}\n",
    "math": "  - conv: {name: pre, out: 8, kernel: 1}\n  - transpose: {name: t, dim0: 2, dim1: 3}\n"
            "  - attention: {input: [t, pre, pre]}\n  - conv: {out: 4, kernel: 1}\n",
    "timm": "  - conv: {out: 32, kernel: 1}\n  - flatten: {start_dim: 2}\n  - transpose: {dim0: 1, dim1: 2}\n"
            "  - linear: {out: 96}\n  - reshape: {shape: [36, 3, 4, 8]}\n"
            "  - permute: {name: split, dims: [0, 2, 3, 1, 4]}\n"
            + "".join(f"  - slice: {{dim: 1, start: {i}, end: {i + 1}, input: split}}\n"
                      f"  - reshape: {{name: {x}, shape: [4, 36, 8]}}\n" for i, x in enumerate("qkv"))
            + "  - attention: {input: [q, k, v]}\n  - transpose: {dim0: 1, dim1: 2}\n"
              "  - reshape: {shape: [36, 32]}\n  - linear: {out: 32}\n",
}


@pytest.mark.parametrize("network", list(ATTENTION_NETWORKS))
def test_attentions_memory_agrees_with_torch_on_each_path(network):
    graph = graph_of("input: [8, 6, 6]\nlayers:\n" + ATTENTION_NETWORKS[network])
    for batch, dtype in ((1, "float32"), (3, "bfloat16")):
        result = checker.validate_memory_graph(graph, Settings(batch=batch, dtype=dtype))
        assert result.error is None and failed(result) == [], (batch, dtype)


@pytest.mark.parametrize("example", ["vit_block", "tiny_vit"])
def test_the_docs_tensor_examples_agree_with_torch(example):
    from tests.test_tensor_ops import _doc_example

    graph = graph_of(_doc_example(example))
    result = checker.validate_graph(graph, Settings(batch=2))
    assert result.error is None and failed(result) == []
    result = checker.validate_memory_graph(graph, Settings(batch=2))
    assert result.error is None and failed(result) == []


def test_a_batch_norm_that_cannot_train_is_refused():
    with pytest.raises(CnnCostError, match="batch norm 'bn_vec' sees one value per channel at batch 1"):
        checker.validate_memory_graph(graph_of(EVERY_KIND), Settings(batch=1))


def test_a_forgotten_saved_tensor_is_caught(monkeypatch):
    from cnncost import memory

    monkeypatch.setitem(memory._SAVED, "maxpool", lambda node, ctx: (("input", 0),))  # no indices
    result = checker.validate("alexnet", Settings(batch=2), memory=True)
    assert failed(result) == sorted([(p, "saved_bytes") for p in ("pool1", "pool2", "pool5")]
                                    + [("total", "saved_activation_bytes")])
    pool1 = check_of(result, "pool1", "saved_bytes")
    assert pool1.torch - pool1.cnncost == 2 * 64 * 27 * 27 * 8  # int64 indices, one per output


# torchvision's ASPP pools to 1x1 and then batch-normalises: one value per channel at batch 1, which
# torch's BatchNorm refuses in training ("Expected more than 1 value per channel when training").
CANNOT_TRAIN_ONE_SAMPLE = {"deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101"}
# torch 2.13's CPU avg_pool3d has no bfloat16 kernel, and S3D's head is an nn.AvgPool3d
CANNOT_TRAIN_IN_BFLOAT16 = {"s3d"}


@pytest.mark.parametrize("dtype, batch", [("float32", 1), ("bfloat16", 3)])
def test_the_whole_zoos_memory_agrees_with_torch(dtype, batch):
    # each model at its smallest input with the same layers: the rules are per layer, the work is not. In bfloat16
    # the models torch cannot train in it are left out: S3D would run its whole forward to fail at its head (its
    # every kind's bfloat16 refusal is test_avgpool3d_in_bfloat16_is_refused_by_torch_on_the_cpu)
    models = ["--all"] if dtype == "float32" else [n for n in zoo.names() if n not in CANNOT_TRAIN_IN_BFLOAT16]
    out = subprocess.run([sys.executable, "-m", "cnncost", "validate", *models, "--memory", "--smallest-input",
                          "--device", "cpu", "--dtype", dtype, "--batch", str(batch), "--format", "json"],
                         capture_output=True, text=True)
    data = json.loads(out.stdout)
    assert [m["model"] for m in data["models"]] == (zoo.names() if dtype == "float32" else models)
    refused = {m["model"] for m in data["models"] if m["error"]}
    assert refused == (CANNOT_TRAIN_ONE_SAMPLE if batch == 1 else set()), [m["error"] for m in data["models"]
                                                                           if m["error"]]
    for m in data["models"]:
        if m["model"] in refused:
            assert "aspp.pooling.bn' sees one value per channel at batch 1" in m["error"]
            continue
        wrong = [(l["name"], c["figure"], c["cnncost"], c["torch"]) for l in m["layers"] for c in l["checks"]
                 if not c["ok"]]
        assert not wrong, (m["model"], wrong[:5])
        figures = {c["figure"] for l in m["layers"] for c in l["checks"]}
        assert figures == {"saved_bytes", "live_bytes", "saved_activation_bytes", "peak_activation_bytes"}
    assert out.returncode == (1 if refused else 0) and data["summary"]["mismatches"] == 0


def test_the_smallest_input_with_the_same_layers():
    # unpadded U-Net: each 3x3 conv takes 2 off, each pool halves (an even size), each up-conv doubles, and
    # the last decoder conv needs 3 or more. 188 -> 184 -> 92 -> 88 -> 44 -> 40 -> 20 -> 16 -> 8 -> 4 at the
    # bottom, then 8 -> 4 back up to an output of 188 - 184 = 4. The candidates below it that are a multiple
    # of 4 from 64 fail: 140, for one, pools 10 to 5, and 5 -> 3 -> 1 doubles to 2, too small for a 3x3.
    assert checker.smallest_input("unet") == (1, 188, 188)
    assert checker.smallest_input("resnet18") == (3, 64, 64)  # the first candidate: 2x2 at layer4
    result = CliRunner().invoke(main, ["validate", "resnet18", "--smallest-input", "--input", "3x96x96"])
    assert result.exit_code == 2 and "--smallest-input chooses the input" in result.output


def test_a_video_models_smallest_clip_has_the_fewest_frames_that_keep_its_layers():
    assert checker.smallest_input("r3d_18") == (3, 4, 32, 32)  # 4 frames, as few as SMALLEST_FRAMES keeps
    # S3D's time: the 7/2 stem (pad 3), the 3x3x3/2 pool (pad 1) and the 2x2x2/2 one must leave 2 frames for its
    # 2x7x7 head: 13 -> 7 -> 4 -> 2, but 12 -> 6 -> 3 -> 1. Its height and width, from 32 in steps of 4, must
    # leave 7 after five halvings (the last unpadded): 212 -> 106 -> 53 -> 27 -> 14 -> 7, 208 -> ... -> 13 -> 6
    assert checker.smallest_input("s3d") == (3, 13, 212, 212)


# --- receptive fields: input gradients in a linearised network (validate --rf) ---


def test_every_kinds_fields_agree_with_torch_gradients():
    result = checker.validate_rf_graph(graph_of(EVERY_KIND))
    assert result.error is None and failed(result) == [] and result.figures >= 4


def test_a_wrong_field_rule_is_caught(monkeypatch):
    from cnncost import rf

    # forgetting dilation: a 3x3 at dilation 2 taken for a plain 3x3
    monkeypatch.setitem(rf._FIELD, "conv", lambda node, fields: rf._conv(
        node.__class__(**{**node.__dict__, "args": {**node.args, "dilation": (1, 1)}}), fields))
    text = "input: [1, 15, 15]\nlayers:\n  - conv: {name: c, out: 2, kernel: 3, padding: 2, dilation: 2}\n"
    check = check_of(checker.validate_rf_graph(graph_of(text)), "c", "rf at 7,7")
    # unit 7 starts at 7 - 2 (the padding); a plain 3x3 would end at 7 - 2 + 2, the dilated one ends at 7 - 2 + 4
    assert check.cnncost == ((5, 7), (5, 7)) and check.torch == ((5, 9), (5, 9))


# rf.py follows 2-D maps: the video models' clips (C x T x H x W) give no field, which validate --rf says
VIDEO_MODELS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")


# maxvit_t's fields are global from its first block's squeeze-excitation on, and its smallest input is 224 (13 s
# of CPU here): its partition attention's fields are checked on a small network below instead
COVERED_SMALLER = ("maxvit_t",)


def test_the_whole_zoos_fields_agree_with_torch_gradients():
    mapped = [name for name in zoo.names() if name not in VIDEO_MODELS + COVERED_SMALLER]
    out = subprocess.run([sys.executable, "-m", "cnncost", "validate", *mapped, "--rf", "--smallest-input",
                          "--device", "cpu", "--format", "json"], capture_output=True, text=True)
    data = json.loads(out.stdout)
    assert [m["model"] for m in data["models"]] == mapped
    for m in data["models"]:
        assert m["error"] is None and m["layers"], (m["model"], m["error"])
        wrong = [(l["name"], c["figure"], c["cnncost"], c["torch"]) for l in m["layers"] for c in l["checks"]
                 if not c["ok"]]
        assert not wrong, (m["model"], wrong[:3])
    assert out.returncode == 0 and data["summary"]["mismatches"] == 0


@pytest.mark.parametrize("partition, unit, support", [
    # unit (7, 7) is in the second 7 x 7 window (rows and columns 7-13), widened by the stem's 3 x 3 to 6-13
    ("window", "rf at 7,7", ((6, 13), (6, 13))),
    # unit (0, 0) reads the grid rows and columns 0, 2, ..., 12 (spaced 14 / 7 = 2), widened to 0-13: all of it
    ("grid", "rf at 0,0", ((0, 13), (0, 13))),
])
def test_partition_attention_fields_agree_with_torch_gradients(partition, unit, support):
    text = ("input: [4, 14, 14]\nlayers:\n  - conv: {name: stem, out: 4, kernel: 3, padding: 1}\n"
            f"  - partition_attention: {{name: x, partition: {partition}, size: 7, head_dim: 2, mlp_ratio: 1}}\n")
    result = checker.validate_rf_graph(graph_of(text))
    assert result.error is None and failed(result) == []
    assert check_of(result, "x", unit).torch == support


def test_a_video_model_has_no_field_to_validate_and_says_why():
    result = checker.validate_rf_graph(cnncost.load("r3d_18", input=(3, 4, 32, 32)))
    assert result.layers == () and "a CxTxHxW video clip gives no field" in result.error


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_networks_agree_with_torch(net):
    text, _ = net
    result = checker.validate_graph(graph_of(text), Settings(batch=2))
    assert result.error is None, result.error
    assert failed(result) == []


AWKWARD = [
    ("conv: {name: x, out: 4, kernel: 3, padding: [1, 0, 2, 1]}", (5, 9, 7)),
    ("conv: {name: x, out: 6, kernel: [3, 5], stride: [2, 1], padding: [0, 2], dilation: [2, 1], groups: 3}",
     (3, 11, 8)),
    ("dwconv: {name: x, kernel: 5, stride: 2, padding: [2, 2, 1, 3], multiplier: 3}", (4, 10, 10)),
    ("maxpool: {name: x, kernel: 3, stride: 2, padding: 1, dilation: 2, ceil_mode: true}", (2, 10, 11)),
    ("avgpool: {name: x, kernel: [2, 3], stride: [2, 3], padding: [1, 1], ceil_mode: true}", (2, 7, 8)),
    ("adaptive_avgpool: {name: x, output: [3, 5]}", (2, 7, 4)),
    ("lrn: {name: x, size: 4, alpha: 0.001, beta: 0.5, k: 2}", (7, 3, 3)),
]


def _single(item, shape) -> str:
    return f"input: [{', '.join(map(str, shape))}]\nlayers:\n  - {item}\n"


@pytest.mark.parametrize("item, shape", AWKWARD)
def test_awkward_single_layers_agree_with_torch(item, shape):
    result = checker.validate_graph(graph_of(_single(item, shape)), Settings(batch=2))
    assert failed(result) == []


# the adaptive pool's windows differ in size here (7 -> 3 and 4 -> 5), so its field is not uniform and has no
# single window to compare; the rest are checked unit by unit
@pytest.mark.parametrize("item, shape", [case for case in AWKWARD if not case[0].startswith("adaptive")])
def test_awkward_single_layers_fields_agree_with_torch_gradients(item, shape):
    # dilated, ceil-mode and asymmetric windows run the receptive-field check too, not only the figures
    result = checker.validate_rf_graph(graph_of(_single(item, shape)))
    assert result.error is None and failed(result) == [] and result.figures >= 1


def test_a_pooling_rule_that_forgets_dilation_is_caught(monkeypatch):
    from cnncost import rf

    monkeypatch.setitem(rf._FIELD, "maxpool", lambda node, fields: rf._pool(
        node.__class__(**{**node.__dict__, "args": {**node.args, "dilation": (1, 1)}}), fields))
    result = checker.validate_rf_graph(graph_of(_single(*AWKWARD[3])))
    assert AWKWARD[3][0].startswith("maxpool") and failed(result) != []


# --- dtypes and devices ---


@pytest.mark.parametrize("dtype, size", [("float16", 2), ("bfloat16", 2), ("float64", 8)])
def test_other_dtypes_on_cpu(dtype, size):
    result = checker.validate_graph(graph_of(EVERY_KIND), Settings(dtype=dtype, batch=2))
    assert failed(result) == []
    assert check_of(result, "asym", "memory_bytes").torch == 2 * 12 * 7 * 7 * size


def test_integer_dtypes_cannot_be_validated():
    with pytest.raises(CnnCostError, match="floating-point"):
        checker.validate_graph(graph_of(EVERY_KIND), Settings(dtype="int8"))


def test_cuda_without_a_gpu_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = CliRunner().invoke(main, ["validate", "alexnet", "--device", "cuda"])
    assert out.exit_code == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "sees no CUDA GPU" in lines[0] and "--device cpu" in lines[0]
    assert checker.resolve_device("auto") == "cpu"
    out = CliRunner().invoke(main, ["validate", "resnet20_cifar", "--device", "auto", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["device"] == "cpu"


@pytest.mark.skipif(not CUDA, reason="no CUDA GPU")
def test_on_the_gpu():
    assert checker.resolve_device("auto") == "cuda"
    for dtype in ("float32", "float16"):
        result = checker.validate_graph(graph_of(EVERY_KIND), Settings(dtype=dtype, batch=2), device="cuda")
        assert result.device == "cuda" and failed(result) == []
    result = checker.validate("resnet50", Settings(batch=2), device="cuda")
    assert result.mismatches == []
    out = CliRunner().invoke(main, ["validate", "googlenet", "--device", "cuda", "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["device"] == "cuda"


# --- the command line ---


def test_validate_one_model_prints_every_row_and_a_summary():
    out = CliRunner().invoke(main, ["validate", "alexnet"])
    assert out.exit_code == 0, out.output
    assert "conv1" in out.stdout and "72,855,552" in out.stdout  # the lecture's conv1 MACs (errata: 73M)
    layers = 5 + 7 + 3 + 1 + 2 + 3  # alexnet: convs, ReLUs, pools, flatten, dropouts, linears
    data = json.loads(CliRunner().invoke(main, ["validate", "alexnet", "--format", "json"]).stdout)
    figures = sum(len(l["checks"]) for l in data["models"][0]["layers"])
    assert out.stdout.strip().splitlines()[-1].startswith(f"Validated 1 model, {layers} layers, {figures:,} figures")
    assert out.stdout.strip().endswith("0 mismatches.")


def test_validate_all_iterates_the_zoo_with_progress(monkeypatch):
    monkeypatch.setattr(zoo, "names", lambda: ["alexnet", "resnet20_cifar"])
    out = CliRunner().invoke(main, ["validate", "--all", "--format", "markdown"])
    assert out.exit_code == 0, out.output
    assert "| alexnet |" in out.stdout and "| resnet20_cifar |" in out.stdout
    assert "Validated 2 models" in out.stdout
    assert "validate: alexnet: ok" in out.stderr  # the progress line when stderr is not a terminal


def test_validate_all_records_a_broken_model_and_goes_on(monkeypatch, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n")
    out = CliRunner().invoke(main, ["validate", str(bad), "alexnet", "--format", "json"])
    assert out.exit_code == 1
    data = json.loads(out.stdout)
    assert [m["ok"] for m in data["models"]] == [False, True]
    assert "kernal" in data["models"][0]["error"]


def test_explicit_convention_checks_only_that_one():
    out = CliRunner().invoke(main, ["validate", "alexnet", "--convention", "torchvision", "--format", "csv"])
    assert out.exit_code == 0
    figures = {line.split(",")[3] for line in out.stdout.splitlines()[1:]}
    assert figures == {"shape", "memory_bytes", "params", "buffers", "raw macs", "bias adds", "window",
                       "macs (torchvision)", "flops (torchvision)", "params (torchvision)"}


def test_side_decides_what_the_checked_totals_hold():
    graph = cnncost.load("googlenet")
    main_params = sum(n.params for n in graph.nodes if not n.side)
    all_params = sum(n.params for n in graph.nodes)
    for args, lecture_params in (([], main_params), (["--side"], all_params)):
        out = CliRunner().invoke(main, ["validate", "googlenet", "--convention", "lecture", "--format", "json", *args])
        assert out.exit_code == 0, out.output
        (total,) = [l for l in json.loads(out.stdout)["models"][0]["layers"] if l["name"] == "total"]
        checks = {c["figure"]: c for c in total["checks"]}
        assert checks["params (lecture)"]["torch"] == lecture_params
    # torchvision's two InceptionAux heads, on 512 and 528 channels: a 1x1 conv to 128 without bias, its
    # batch norm, fc1 2048 -> 1024 and fc2 1024 -> 1000
    assert all_params - main_params == (512 + 528) * 128 + 2 * (2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000)


def test_usage_errors_exit_2():
    runner = CliRunner()
    assert runner.invoke(main, ["validate"]).exit_code == 2
    assert runner.invoke(main, ["validate", "alexnet", "--all"]).exit_code == 2
    assert runner.invoke(main, ["validate", "no_such_net"]).exit_code == 2
    assert runner.invoke(main, ["validate", "alexnet", "--dtype", "int8"]).exit_code == 2


def _without_torch(*args):
    code = ("import sys; sys.modules['torch'] = None\n"  # makes 'import torch' fail
            "from cnncost.cli import main\n"
            f"main({list(args)!r})\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_without_torch_validate_says_how_to_install_it():
    out = _without_torch("validate", "alexnet")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "cnncost: error: validation needs PyTorch, which is not installed (pip install 'cnncost[torch]')"]


def test_without_torch_the_rest_of_cnncost_works():
    out = _without_torch("table", "alexnet", "--format", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["model"] == "alexnet"


# --- to_torch: a module users can train ---


def test_to_torch_mirrors_the_graph_names():
    graph = cnncost.load("resnet18")
    net = cnncost.to_torch("resnet18")
    for node in graph.nodes:
        assert net.get_submodule(graph.torch_path(node.name)) is net.layer(node.name)
    # torch_names puts the shortcut where torchvision has it, so its state dict loads as it is
    assert graph.torch_path("layer2.0.shortcut.conv") == "layer2.0.downsample.0"
    keys = net.state_dict().keys()
    assert "layer1.0.conv1.weight" in keys and "fc.weight" in keys and "bn1.running_mean" in keys
    assert "layer2.0.downsample.1.running_var" in keys
    assert sum(p.numel() for p in net.parameters()) == 11_689_512  # torchvision's resnet18 num_params


def test_to_torch_trains():
    net = cnncost.to_torch(graph_of(EVERY_KIND)).train()
    x, target = torch.randn(4, 8, 15, 15), torch.tensor([1, 2, 3, 4])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.functional.nll_loss(torch.log(net(x)), target)
    loss.backward()
    optimizer.step()
    for name, p in net.named_parameters():
        # forward runs the main chain only, so the side branches (seq, aux, unmapped) get no gradient
        assert (p.grad is None) == name.startswith(("seq.", "aux.", "unmapped.")), name
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_forward_leaves_side_outputs_out_and_run_all_keeps_them():
    net = cnncost.to_torch("googlenet").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert net(x).shape == (1, 1000)
        outputs = net.run_all(x)
    side = [n for n in cnncost.load("googlenet").nodes if n.side]
    assert side and all(n.name in outputs for n in side)


def test_stochastic_depth_drops_whole_samples_in_training():
    text = "input: [2, 3, 3]\nlayers:\n  - stochastic_depth: {name: sd, p: 0.5, mode: row}\n"
    module = cnncost.to_torch(graph_of(text)).layer("sd").train()
    y = module(torch.ones(256, 2, 3, 3))
    per_sample = {float(v) for v in y.flatten(1).unique(dim=0).flatten()}
    assert per_sample <= {0.0, 2.0} and len(per_sample) == 2  # dropped, or kept and scaled by 1/(1-p)
    assert torch.equal(module.eval()(torch.ones(2, 3)), torch.ones(2, 3))


def test_a_name_that_is_both_a_layer_and_a_group_is_refused():
    # the expander refuses it before a module tree is ever built
    text = ("input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 1}\n"
            "  - sequence: {name: a, layers: [relu]}\n")
    with pytest.raises(CnnCostError, match="cannot also name a group"):
        cnncost.to_torch(graph_of(text))


def test_fields_after_a_pad_layer_are_probed_inside_the_image():
    # found by tools/fuzz.py (F3): unit 0 after a pad layer lies in its constant border, which reads no pixel
    text = ("input: [1, 30, 30]\nlayers:\n  - conv: {out: 1, kernel: 3, padding: 1}\n  - pad: {padding: 1}\n"
            "  - dropout\n")
    result = checker.validate_rf_graph(graph_of(text))
    # the conv (30x30, before the pad) at its corner and centre; after the pad (32x32) the centre only
    assert failed(result) == [] and [(l.name, [c.figure for c in l.checks]) for l in result.layers] == [
        ("conv", ["rf at 0,0", "rf at 15,15"]), ("dropout", ["rf at 16,16"])]
