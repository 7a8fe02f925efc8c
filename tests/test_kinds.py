"""Each layer kind's shape, parameters and MACs against hand arithmetic.

Expected figures are written as the arithmetic that produces them, so a
reader can check each row without running anything.
"""

import re
from pathlib import Path

import pytest

from cnncost.errors import CnnCostError
from cnncost.kinds import KINDS, adaptive_windows
from cnncost.render.kinds import markdown_table
from tests.helpers import one_layer, network

# (layer as YAML, input shape, output shape, params, raw MACs under the lecture convention)
CASES = [
    # conv: H' = floor((H + 2p - d(k-1) - 1)/s) + 1
    ("conv: {out: 64, kernel: 11, stride: 4, padding: 2}", (3, 227, 227), (64, 56, 56),
     64 * 3 * 11 * 11 + 64, 64 * 56 * 56 * 3 * 11 * 11),
    ("conv: {out: 8, kernel: 3, bias: false}", (4, 10, 10), (8, 8, 8), 8 * 4 * 9, 8 * 8 * 8 * 4 * 9),
    # stride 2, even input, no padding: floor((10 - 3)/2) + 1 = 4
    ("conv: {out: 8, kernel: 3, stride: 2}", (4, 10, 10), (8, 4, 4), 8 * 4 * 9 + 8, 8 * 4 * 4 * 4 * 9),
    # groups: each output sees Cin/groups channels
    ("conv: {out: 12, kernel: 3, padding: 1, groups: 3}", (6, 8, 8), (12, 8, 8),
     12 * (6 // 3) * 9 + 12, 12 * 8 * 8 * (6 // 3) * 9),
    # dilation 2: a 3x3 kernel spans 5 pixels, H' = 9 - 5 + 1 = 5
    ("conv: {out: 2, kernel: 3, dilation: 2}", (1, 9, 9), (2, 5, 5), 2 * 1 * 9 + 2, 2 * 5 * 5 * 1 * 9),
    # asymmetric kernel and padding per axis (Inception-v3's 1x7): H' = 17, W' = 17 + 6 - 7 + 1
    ("conv: {out: 4, kernel: [1, 7], padding: [0, 3], bias: false}", (2, 17, 17), (4, 17, 17),
     4 * 2 * 1 * 7, 4 * 17 * 17 * 2 * 7),
    # asymmetric padding top/bottom/left/right: H' = 6 + 0 + 1 - 3 + 1 = 5, W' = 6 + 2 + 0 - 3 + 1 = 6
    ("conv: {out: 1, kernel: 3, padding: [0, 1, 2, 0], bias: false}", (1, 6, 6), (1, 5, 6),
     9, 1 * 5 * 6 * 9),
    # depthwise: groups = channels
    ("dwconv: {kernel: 3, padding: 1, bias: false}", (32, 14, 14), (32, 14, 14), 32 * 9, 32 * 14 * 14 * 9),
    ("dwconv: {kernel: 3, stride: 2, padding: 1, multiplier: 2}", (8, 7, 7), (16, 4, 4),
     16 * 1 * 9 + 16, 16 * 4 * 4 * 1 * 9),
    # linear: in*out (+ out)
    ("linear: {out: 4096}", (9216,), (4096,), 9216 * 4096 + 4096, 9216 * 4096),
    ("linear: {out: 10, bias: false}", (512,), (10,), 512 * 10, 512 * 10),
    # pooling: C*H'*W'*K*K; floor mode (56 - 3)/2 + 1 = 27
    ("maxpool: {kernel: 3, stride: 2}", (64, 56, 56), (64, 27, 27), 0, 64 * 27 * 27 * 9),
    # ceil mode: ceil((112 - 3)/2) + 1 = 56 (floor would give 55)
    ("maxpool: {kernel: 3, stride: 2, ceil_mode: true}", (64, 112, 112), (64, 56, 56), 0, 64 * 56 * 56 * 9),
    # ceil mode whose last window would start in the padding is dropped: (5 + 2 - 2)/2 -> ceil 2.5 -> 3 + 1 = 4,
    # but window 4 starts at 3*2 = 6 >= 5 + 1, so 3
    ("maxpool: {kernel: 2, stride: 2, padding: 1, ceil_mode: true}", (1, 5, 5), (1, 3, 3), 0, 1 * 3 * 3 * 4),
    # ceil mode lets a 3x3 window overhang a 2x2 input: ceil((2 - 3)/2) + 1 = 1 (PyTorch accepts it)
    ("maxpool: {kernel: 3, stride: 2, ceil_mode: true}", (8, 2, 2), (8, 1, 1), 0, 8 * 1 * 1 * 9),
    # default stride is the kernel: 2x2 pooling halves 224
    ("maxpool: {kernel: 2}", (64, 224, 224), (64, 112, 112), 0, 64 * 112 * 112 * 4),
    ("avgpool: {kernel: 3, stride: 1, padding: 1}", (8, 17, 17), (8, 17, 17), 0, 8 * 17 * 17 * 9),
    ("avgpool: {kernel: 5, stride: 3}", (512, 14, 14), (512, 4, 4), 0, 512 * 4 * 4 * 25),
    ("global_avgpool", (2048, 7, 7), (2048, 1, 1), 0, 2048 * 7 * 7),
    # 3-D pooling on C x T x H x W (S3D): each axis as a 2-D pool's, MACs C*T'*H'*W'*kt*kh*kw.
    # S3D's first max pool on its 64 x 8 x 112 x 112 stem: T' = 8, H' = (112 + 2 - 3)//2 + 1 = 56
    ("maxpool3d: {kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1]}", (64, 8, 112, 112), (64, 8, 56, 56),
     0, 64 * 8 * 56 * 56 * 9),
    # 3x3x3 stride 2 pad 1 on 480 x 8 x 28 x 28: (8 + 2 - 3)//2 + 1 = 4, (28 + 2 - 3)//2 + 1 = 14
    ("maxpool3d: {kernel: 3, stride: 2, padding: 1}", (480, 8, 28, 28), (480, 4, 14, 14), 0, 480 * 4 * 14 * 14 * 27),
    # the default stride is the kernel; ceil mode: ceil((5 - 2)/2) + 1 = 3
    ("maxpool3d: {kernel: 2, ceil_mode: true}", (4, 5, 5, 5), (4, 3, 3, 3), 0, 4 * 27 * 8),
    # S3D's head: 2x7x7 stride 1 on 1024 x 2 x 7 x 7
    ("avgpool3d: {kernel: [2, 7, 7], stride: 1}", (1024, 2, 7, 7), (1024, 1, 1, 1), 0, 1024 * 2 * 7 * 7),
    # adaptive 13 -> 6: windows [0,3) [2,5) [4,7) [6,9) [8,11) [10,13): 3 each, 18 per axis
    ("adaptive_avgpool: {output: 6}", (256, 13, 13), (256, 6, 6), 0, 256 * 18 * 18),
    # adaptive 6 -> 6 is the identity: windows of 1
    ("adaptive_avgpool: {output: 6}", (256, 6, 6), (256, 6, 6), 0, 256 * 6 * 6),
    ("batchnorm", (64, 8, 8), (64, 8, 8), 2 * 64, 64 * 8 * 8),
    ("batchnorm: {affine: false}", (64, 8, 8), (64, 8, 8), 0, 64 * 8 * 8),
    # group norm: a scale and shift per channel, one normalisation per element
    ("groupnorm: {groups: 4}", (64, 8, 8), (64, 8, 8), 2 * 64, 64 * 8 * 8),
    ("groupnorm: {groups: 64, affine: false}", (64, 8, 8), (64, 8, 8), 0, 64 * 8 * 8),
    ("lrn: {size: 5}", (96, 55, 55), (96, 55, 55), 0, 96 * 55 * 55 * 5),
    ("relu", (8, 4, 4), (8, 4, 4), 0, 0),
    ("hardswish", (8, 4, 4), (8, 4, 4), 0, 0),
    ("dropout: {p: 0.2}", (100,), (100,), 0, 0),
    ("flatten", (256, 6, 6), (256 * 6 * 6,), 0, 0),
    ("softmax", (1000,), (1000,), 0, 0),
    ("channel_shuffle: {groups: 3}", (240, 28, 28), (240, 28, 28), 0, 0),
    ("channel_split: {parts: 2, index: 1}", (116, 28, 28), (58, 28, 28), 0, 0),
    # option-A shortcut: every 2nd pixel (ceil(32/2) = 16), channels zero-padded 16 -> 32
    ("subsample_pad: {out: 32, stride: 2}", (16, 32, 32), (32, 16, 16), 0, 0),
    ("subsample_pad: {out: 8, stride: 2}", (8, 7, 7), (8, 4, 4), 0, 0),
    # padding "same", TensorFlow's rule: out = ceil(H/s); total = (out-1)*s + k - H, the odd pixel after.
    # 7/2 -> 4, total (4-1)*2 + 4 - 7 = 3: top 1, bottom 2; H' = (7 + 3 - 4)//2 + 1 = 4
    ("conv: {out: 2, kernel: 4, stride: 2, padding: same, bias: false}", (3, 7, 7), (2, 4, 4),
     2 * 3 * 16, 2 * 4 * 4 * 3 * 16),
    # stride 1 keeps the size: total k - 1 = 4, 2 each side
    ("conv: {out: 2, kernel: 5, padding: same}", (3, 9, 9), (2, 9, 9), 2 * 3 * 25 + 2, 2 * 9 * 9 * 3 * 25),
    ("maxpool: {kernel: 3, stride: 2, padding: same}", (4, 8, 8), (4, 4, 4), 0, 4 * 4 * 4 * 9),
    # transposed conv: H' = (H-1)*s - 2p + d(k-1) + output_padding + 1
    # U-Net's 2x2 up-conv: (28-1)*2 + 1 + 1 = 56; params Cin*Cout*k*k + Cout; MACs Cin*H*W*Cout*k*k
    ("conv_transpose: {out: 512, kernel: 2, stride: 2}", (1024, 28, 28), (512, 56, 56),
     1024 * 512 * 4 + 512, 1024 * 28 * 28 * 512 * 4),
    # (7-1)*2 - 2 + 2 + 1 + 1 = 14; groups 2: each input channel feeds 8/2 outputs
    ("conv_transpose: {out: 8, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2, bias: false}",
     (4, 7, 7), (8, 14, 14), 4 * (8 // 2) * 9, 4 * 7 * 7 * (8 // 2) * 9),
    # upsampling: floor(H * scale), or the size; bilinear weighs 4 neighbours per output element
    ("upsample: {scale: 2}", (3, 5, 7), (3, 10, 14), 0, 0),
    ("upsample: {scale: 1.5, mode: bilinear}", (3, 5, 7), (3, 7, 10), 0, 4 * 3 * 7 * 10),
    ("upsample: {size: [520, 520], mode: bilinear}", (21, 65, 65), (21, 520, 520), 0, 4 * 21 * 520 * 520),
    # layer norm over the channels, at each position: a scale and a shift per channel
    ("layernorm", (96, 56, 56), (96, 56, 56), 2 * 96, 96 * 56 * 56),
    ("layernorm: {affine: false}", (768,), (768,), 0, 768),
    # ConvNeXt's pointwise linear: a 1x1 conv's work with a linear's weights
    ("linear: {out: 384, per_position: true}", (96, 56, 56), (384, 56, 56), 96 * 384 + 384, 96 * 384 * 56 * 56),
    ("layer_scale", (96, 56, 56), (96, 56, 56), 96, 96 * 56 * 56),
    ("mish", (8, 4, 4), (8, 4, 4), 0, 0),
    ("pad: {padding: [1, 2, 3, 4], mode: reflect}", (3, 8, 8), (3, 8 + 1 + 2, 8 + 3 + 4), 0, 0),
    ("pad: {padding: 2}", (3, 8, 8), (3, 12, 12), 0, 0),
    # U-Net's first skip: 568 cropped to 392 at offset (568 - 392) // 2 = 88
    ("center_crop: {size: 392}", (64, 568, 568), (64, 392, 392), 0, 0),
    # weight standardisation: a conv's shape and MACs; parameters the weight, the bias and a gain per output channel
    ("std_conv: {out: 16, kernel: 3, padding: 1, gain: true}", (8, 12, 12), (16, 12, 12),
     16 * 8 * 9 + 16 + 16, 16 * 12 * 12 * 8 * 9),
    ("std_conv: {out: 16, kernel: 3, stride: 2, groups: 2, bias: false}", (8, 12, 12), (16, 5, 5),
     16 * (8 // 2) * 9, 16 * 5 * 5 * (8 // 2) * 9),
    # conv1d, L' = floor((L + 2p - d(k-1) - 1)/s) + 1: ECA's conv over 256 channels seen as 1 x 256, k 5, p 2
    ("conv1d: {out: 1, kernel: 5, padding: 2, bias: false}", (1, 256), (1, 256), 1 * 1 * 5, 1 * 256 * 1 * 5),
    # strided, dilated and grouped: span 2*(3-1)+1 = 5, (20 + 2 - 5)//2 + 1 = 9; each output sees 6/3 channels
    ("conv1d: {out: 9, kernel: 3, stride: 2, padding: 1, dilation: 2, groups: 3}", (6, 20), (9, 9),
     9 * (6 // 3) * 3 + 9, 9 * 9 * (6 // 3) * 3),
]


@pytest.mark.parametrize("item, shape_in, shape_out, params, macs", CASES, ids=[c[0] for c in CASES])
def test_kind_against_hand_arithmetic(item, shape_in, shape_out, params, macs):
    row = one_layer(item, shape_in)
    assert row.output_shape == shape_out
    assert row.params == params
    kind = KINDS[row.kind]
    raw = kind.macs(row.args, row.input_shapes, row.output_shape)
    assert raw == macs
    counted = macs if kind.category in ("conv", "linear", "pool") else 0  # the lecture convention's rule
    assert row.macs == counted
    assert row.flops == 2 * counted


@pytest.mark.parametrize("partition", ["window", "grid"])
def test_partition_attention_against_hand_arithmetic(partition):
    # MaxViT-T's first stage: C = 64 on 56 x 56, P = 7, head dim 32 (2 heads), MLP ratio 4. Parameters: two
    # layer norms 2 x 128, to_qkv 64 x 192 + 192, merge 64 x 64 + 64, the bias table 13 x 13 x 2, fc1 64 x 256 +
    # 256, fc2 256 x 64 + 64. MACs: 3136 tokens through the four linear layers, each token's query against its
    # group's 49 keys and the weights times V (2 x 49 x 64 per token)
    row = one_layer(f"partition_attention: {{partition: {partition}}}", (64, 56, 56), convention="torchvision")
    assert row.output_shape == (64, 56, 56)
    assert row.params == 2 * 128 + (64 * 192 + 192) + (64 * 64 + 64) + 13 * 13 * 2 + (64 * 256 + 256) + (256 * 64 + 64)
    assert row.buffers == 0  # the bias index is an int64 buffer, not floating-point state
    tokens = 56 * 56
    assert row.macs == tokens * (64 * 192 + 64 * 64 + 64 * 256 + 256 * 64) + tokens * 2 * 49 * 64


@pytest.mark.parametrize("item, shape_in, message", [
    ("partition_attention: {partition: window}", (64, 56, 50), "does not split into 7x7 partitions"),
    ("partition_attention: {partition: grid, head_dim: 48}", (64, 56, 56), "head_dim 48 must divide the 64"),
    ("partition_attention: {partition: diagonal}", (64, 56, 56), "must be one of window, grid"),
    ("partition_attention: {partition: window}", (49, 64), "expects a CxHxW feature map"),
])
def test_partition_attention_refuses_what_torchvision_cannot_run(item, shape_in, message):
    with pytest.raises(CnnCostError, match=re.escape(message)):
        one_layer(item, shape_in)


def test_batchnorm_buffers_are_running_statistics():
    # running mean + running variance, one each per channel
    assert one_layer("batchnorm", (48, 4, 4)).buffers == 2 * 48


def test_torchvision_convention_drops_pooling_but_keeps_conv_and_linear():
    assert one_layer("maxpool: {kernel: 2}", (4, 8, 8), convention="torchvision").macs == 0
    assert one_layer("conv: {out: 2, kernel: 1}", (3, 4, 4), convention="torchvision").macs == 2 * 4 * 4 * 3
    assert one_layer("linear: {out: 5}", (7,), convention="torchvision").macs == 7 * 5


def test_batch_scales_work_and_memory_but_not_parameters():
    one = one_layer("conv: {out: 64, kernel: 3, padding: 1}", (3, 32, 32))
    many = one_layer("conv: {out: 64, kernel: 3, padding: 1}", (3, 32, 32), batch=8)
    assert many.params == one.params == 64 * 3 * 9 + 64
    assert many.macs == 8 * (64 * 32 * 32 * 3 * 9)
    assert many.memory_bytes == 8 * 64 * 32 * 32 * 4


def test_memory_is_output_elements_times_dtype_bytes():
    text = "input: [3, 8, 8]\nlayers:\n  - conv: {out: 16, kernel: 3, padding: 1}\n  - relu\n"
    for dtype, size in (("float32", 4), ("float16", 2), ("bfloat16", 2), ("float64", 8), ("int8", 1)):
        conv, relu = network(text, dtype=dtype, batch=3).layers
        assert conv.memory_bytes == 16 * 8 * 8 * 3 * size
        assert relu.memory_bytes == 0  # computed in place


def test_concat_add_mul_shapes():
    text = """
input: [8, 10, 10]
layers:
  - conv: {name: a, out: 4, kernel: 1}
  - conv: {name: b, out: 6, kernel: 3, padding: 1, input: input}
  - concat: {name: cat, input: [a, b]}
  - conv: {name: c, out: 10, kernel: 1}
  - add: {name: sum, input: [cat, c]}
  - global_avgpool: {name: squeeze}
  - mul: {name: scale, input: [sum, squeeze]}
"""
    rows = {r.name: r for r in network(text).layers}
    assert rows["cat"].output_shape == (4 + 6, 10, 10)
    assert rows["sum"].output_shape == (10, 10, 10)
    assert rows["scale"].output_shape == (10, 10, 10)  # 10x10x10 by 10x1x1
    assert rows["scale"].input_shapes == ((10, 10, 10), (10, 1, 1))


def test_adaptive_windows_match_pytorch_rule():
    # PyTorch: start = floor(i*in/out), end = ceil((i+1)*in/out)
    # 7 -> 3: [0,3) [2,5) [4,7) = 3+3+3; 5 -> 3: [0,2) [1,4) [3,5) = 2+3+2
    assert adaptive_windows(7, 3) == 9
    assert adaptive_windows(5, 3) == 7
    assert adaptive_windows(10, 1) == 10


def test_the_docs_kinds_table_is_the_registrys():
    reference = (Path(__file__).parent.parent / "docs" / "yaml-reference.md").read_text()
    begin = ("<!-- generated from the registry by 'cnncost kinds --format markdown'; "
             "tests/test_kinds.py keeps it equal -->\n")
    table = reference[reference.index(begin) + len(begin):reference.index("<!-- end of the generated table -->")]
    assert table == markdown_table(), "run 'cnncost kinds --format markdown' and paste it into docs/yaml-reference.md"
    for name, kind in KINDS.items():
        assert kind.doc and {"output", "params", "macs"} <= set(kind.formulas), name


@pytest.mark.parametrize("item, shape_in, message", [
    ("pad: {padding: [8, 0, 0, 0], mode: reflect}", (3, 8, 8), "reflect padding must be smaller than the input"),
    ("pad: {padding: same}", (3, 8, 8), "'same' is for conv and pooling"),
    ("conv_transpose: {out: 4, kernel: 3, stride: 2, output_padding: 2}", (3, 8, 8),
     "output_padding 2 must be smaller than the stride (2) or the dilation (1)"),
    ("conv_transpose: {out: 4, kernel: 3, padding: 3}", (3, 1, 1), "padding 3 leaves no output"),
    ("upsample: {scale: 2, size: 8}", (3, 8, 8), "needs one of a scale, a size, or a second input"),
    ("upsample", (3, 8, 8), "needs one of a scale, a size, or a second input"),
    ("upsample: {size: 8, input: [input, input]}", (3, 8, 8), "needs one of a scale, a size, or a second input"),
    ("upsample: {scale: 2, align_corners: true}", (3, 8, 8), "align_corners goes with mode bilinear only"),
    ("upsample: {scale: 0.01}", (3, 8, 8), "leaves no output"),
    ("upsample: {scale: 1000000}", (3, 8, 8), "exceeds 1048576 positions per side"),
    ("center_crop: {size: 9}", (3, 8, 8), "larger than its input 8x8"),
    ("center_crop", (3, 8, 8), "needs either a size, or a second input"),
    ("linear: {out: 4}", (3, 8, 8), "add a flatten layer, or per_position: true"),
    ("layernorm", (3, 8, 8, 2), "expects CxHxW, tokens (L x C) or a vector"),
    ("conv1d: {out: 4, kernel: 3}", (3, 8, 8), "conv1d expects a C x L sequence"),
    ("conv1d: {out: 4, kernel: 3, groups: 2}", (3, 8), "groups=2 must divide both input channels (3)"),
])
def test_new_kinds_refuse_what_torch_would_refuse_or_misread(item, shape_in, message):
    with pytest.raises(CnnCostError, match=re.escape(message)):
        one_layer(item, shape_in)


def test_upsample_to_a_second_inputs_size():
    # F.interpolate(x, size=image.shape[-2:]): a segmentation head's 65x65 logits back to the 520x520 image
    text = """
input: [3, 520, 520]
layers:
  - conv: {name: logits, out: 21, kernel: 8, stride: 8}
  - upsample: {name: out, input: [logits, input], mode: bilinear, call: function}
"""
    rows = {r.name: r for r in network(text).layers}
    assert rows["out"].input_shapes == ((21, 65, 65), (3, 520, 520))
    assert rows["out"].output_shape == (21, 520, 520)
