"""Receptive fields against hand arithmetic (the recurrences of Araujo, Norris and Sim, Distill 2019).

That the fields are what torch's gradients show is checked in tests/test_validate.py (validate --rf).
"""

import json
import subprocess
import sys

import pytest

import cnncost
from cnncost.rf import receptive_fields


def fields(layers, shape=(3, 32, 32)):
    text = f"input: [{', '.join(map(str, shape))}]\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)
    return {r.name: r.field for r in receptive_fields(cnncost.load_text(text))}


def hw(field):
    """(size, stride, padding) along H, after checking W is the same."""
    assert (field.h.size, field.h.stride, field.h.padding) == (field.w.size, field.w.stride, field.w.padding)
    return field.h.size, field.h.stride, field.h.padding


def test_two_stacked_3x3_see_what_one_5x5_sees():
    # the lecture's argument for VGG: 3 + (3 - 1) = 5, at 2 * 9C^2 = 18C^2 weights instead of 25C^2
    two = fields(["conv: {name: a, out: 8, kernel: 3, padding: 1}", "conv: {name: b, out: 8, kernel: 3, padding: 1}"])
    one = fields(["conv: {name: c, out: 8, kernel: 5, padding: 2}"])
    assert hw(two["b"]) == hw(one["c"]) == (5, 1, 2)
    three = fields([f"conv: {{name: c{i}, out: 8, kernel: 3, padding: 1}}" for i in range(3)])
    assert hw(three["c2"]) == (3 + 2 + 2, 1, 3)  # three 3x3 see 7x7


def test_dilation_spans_its_gaps():
    # a 3x3 kernel at dilation d spans 2d + 1 pixels: 1, 2, 4 give 3 + 4 + 8 = 15 (the context module of
    # Yu and Koltun 2016, whose fields grow exponentially)
    f = fields([f"conv: {{name: d{d}, out: 8, kernel: 3, padding: {d}, dilation: {d}}}" for d in (1, 2, 4)])
    assert [hw(f[f"d{d}"]) for d in (1, 2, 4)] == [(3, 1, 1), (3 + 4, 1, 1 + 2), (3 + 4 + 8, 1, 1 + 2 + 4)]


def test_where_the_stride_sits_changes_the_field():
    # stride first: the second conv's taps are 2 pixels apart, 3 + (3 - 1) * 2 = 7
    first = fields(["conv: {name: a, out: 8, kernel: 3, stride: 2, padding: 1}",
                    "conv: {name: b, out: 8, kernel: 3, padding: 1}"])
    # stride last: 3 + (3 - 1) * 1 = 5
    last = fields(["conv: {name: a, out: 8, kernel: 3, padding: 1}",
                   "conv: {name: b, out: 8, kernel: 3, stride: 2, padding: 1}"])
    assert hw(first["b"]) == (7, 2, 1 + 1 * 2)  # padding: 1, then 1 more tap of stride 2
    assert hw(last["b"]) == (5, 2, 1 + 1 * 1)


def test_vgg16_pool5_sees_212_pixels():
    # per stage, each 3x3 conv adds 2 * the stride so far, each 2x2/2 pool 1 * it:
    # 1 + 2*2*1 + 1 + 2*2*2 + 2 + 3*2*4 + 4 + 3*2*8 + 8 + 3*2*16 + 16 = 212 (Araujo et al. list vgg_16 at 212);
    # each conv's padding of 1 adds 1 * the stride so far to the effective padding, the pools none
    r = {row.name: row.field for row in receptive_fields(cnncost.load("vgg16"))}
    assert hw(r["pool5"]) == (1 + 4 + 1 + 8 + 2 + 24 + 4 + 48 + 8 + 96 + 16, 2 ** 5,
                              2 * 1 + 2 * 2 + 3 * 4 + 3 * 8 + 3 * 16)


def test_a_two_path_block_takes_the_union_and_says_when_the_paths_disagree():
    # inception-style: a 1x1 and a 3x3 branch, both centred: the concat sees the 3x3's field
    block = ["parallel: {name: p, branches: {a: {conv: {out: 4, kernel: 1}}, b: {conv: {out: 4, kernel: 3, "
             "padding: 1}}}}"]
    f = fields(block)
    assert hw(f["p.concat"]) == (3, 1, 1) and f["p.concat"].aligned
    # a 3x3/2 padded branch ([-1, 1] for unit 0) and a 2x2/2 branch ([0, 1]): same stride, different centres
    skew = ["parallel: {name: p, branches: {a: {maxpool: {kernel: 3, stride: 2, padding: 1}}, "
            "b: {avgpool: {kernel: 2, stride: 2}}}}"]
    f = fields(skew)
    assert hw(f["p.concat"]) == (3, 2, 1) and not f["p.concat"].aligned


def test_a_squeeze_and_excitation_gate_makes_every_unit_see_everything():
    layers = ["conv: {name: c, out: 8, kernel: 3, padding: 1}",
              "sequence: {name: se, layers: [global_avgpool, {conv: {out: 8, kernel: 1}}, sigmoid]}",
              "mul: {name: gated, input: [c, se]}"]
    f = fields(layers, shape=(3, 16, 16))
    # the gate averages all 16 units of c, whose fields [-1 + i, 1 + i] span [-1, 16]: 18 pixels
    assert (f["se.global_avgpool"].h.size, f["se.global_avgpool"].h.stride) == (18, 0)
    assert hw(f["gated"]) == (18, 0, 1)


def test_a_vector_input_has_no_field():
    assert fields(["linear: {name: fc, out: 4}"], shape=(16,)) == {"fc": None}


def test_adaptive_pooling_exact_when_it_divides_and_marked_when_it_does_not():
    f = fields(["adaptive_avgpool: {name: even, output: 4}"], shape=(3, 16, 16))
    assert hw(f["even"]) == (4, 4, 0) and f["even"].uniform  # 16 -> 4: windows of 4
    f = fields(["adaptive_avgpool: {name: odd, output: 3}"], shape=(3, 16, 16))
    # 16 -> 3: windows [0, 6), [5, 11), [10, 16): the longest is 6
    assert f["odd"].h.size == 6 and not f["odd"].uniform


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True)


def test_rf_json_rows_carry_the_issues_fields():
    data = json.loads(run("rf", "resnet18", "--format", "json").stdout)
    conv1 = data["layers"][0]
    assert (conv1["name"], conv1["receptive_field"], conv1["effective_stride"], conv1["effective_padding"]) == \
        ("conv1", [7, 7], [2, 2], [3, 3])
    maxpool = next(l for l in data["layers"] if l["name"] == "maxpool")
    assert maxpool["receptive_field"] == [7 + 2 * 2, 7 + 2 * 2] and maxpool["effective_stride"] == [4, 4]


@pytest.mark.parametrize("fmt, marker", [("table", "Receptive field"), ("csv", "rf_h,rf_w"),
                                         ("markdown", "| Layer | Type | Receptive field"),
                                         ("json", '"effective_stride"')])
def test_rf_in_every_format(fmt, marker):
    out = run("rf", "alexnet", "--format", fmt)
    assert out.returncode == 0 and marker in out.stdout, out.stderr


def test_table_rf_adds_the_columns():
    out = run("table", "vgg16", "--rf", "--format", "csv").stdout.splitlines()
    assert out[0].endswith("rf_h,rf_w,rf_stride_h,rf_stride_w")
    assert out[1].startswith("conv1_1,") and out[1].endswith(",3,3,1,1")


# --- padding, cropping and upsampling ---


def test_padding_moves_the_field_and_a_centre_crop_moves_it_back():
    # pad 2 on top and 1 on the left: unit 0 sits 2 rows and 1 column further into the padding
    f = fields(["conv: {name: c, out: 8, kernel: 3, padding: 1}",
                "pad: {name: p, padding: [2, 0, 1, 0]}",
                "center_crop: {name: crop, size: [30, 30]}"])  # 34x33 to 30x30: offsets (34-30)//2 = 2, (33-30)//2 = 1
    p, crop = f["p"], f["crop"]
    assert (p.h.size, p.h.stride, p.h.padding, p.w.padding) == (3, 1, 1 + 2, 1 + 1)
    assert (crop.h.padding, crop.w.padding) == (1, 1) and crop.uniform and not crop.bound


def test_a_stride_1_transposed_conv_is_a_conv_and_exact():
    # output o = i - p + t: unit o reads units o + p - (k-1) .. o + p, a window of k at padding k-1-p
    f = fields(["conv_transpose: {name: t, out: 8, kernel: 3, padding: 0}"])
    assert hw(f["t"]) == (3, 1, 2) and f["t"].uniform and not f["t"].bound


def test_a_2x2_stride_2_up_convolution_halves_the_stride_and_gives_a_bound():
    # U-Net's up-conv after a 3x3 conv (field 3, stride 1): output o reads input unit o // 2, which the bound
    # [o/2 - 1/2, o/2] holds; so size 3 + (1/2)*1, stride 1/2, padding 1 + (1/2)*1
    from fractions import Fraction

    f = fields(["conv: {name: c, out: 8, kernel: 3, padding: 1}",
                "conv_transpose: {name: up, out: 4, kernel: 2, stride: 2}"])
    up = f["up"]
    assert hw(up) == (Fraction(7, 2), Fraction(1, 2), Fraction(3, 2)) and up.bound and not up.uniform
    # unit 3 reads unit 1 of c, which sees pixels 0..2; the bound is [3/2 - 3/2, 3/2 - 3/2 + 5/2] = [0, 5/2]
    first = 3 * up.h.stride - up.h.padding
    assert (first, first + up.h.size - 1) == (0, Fraction(5, 2))


def test_nearest_upsampling_by_2_bounds_each_unit_by_its_source():
    # output o copies input o // 2, within [o/2 - 1/2, o/2]: size 1 + 1/2, stride 1/2, padding 1/2
    from fractions import Fraction

    f = fields(["upsample: {name: u, scale: 2}"])
    assert hw(f["u"]) == (Fraction(3, 2), Fraction(1, 2), Fraction(1, 2)) and f["u"].bound


def test_a_bound_stays_a_bound_after_a_conv():
    # a 3x3 conv over the bound's units: size 3/2 + 2 * 1/2, stride 1/2, padding 1/2 + 1 * 1/2
    from fractions import Fraction

    f = fields(["upsample: {name: u, scale: 2}", "conv: {name: c, out: 4, kernel: 3, padding: 1}"])
    assert hw(f["c"]) == (Fraction(5, 2), Fraction(1, 2), Fraction(1)) and f["c"].bound


def test_local_fields_leave_out_global_statistics():
    """rf --local: the conventional conv/pool field, as papers quote it (issue 25)."""
    layers = ["conv: {name: c, out: 8, kernel: 3, padding: 1}",
              "groupnorm: {name: gn, groups: 2}",
              "sequence: {name: se, layers: [global_avgpool, {conv: {out: 8, kernel: 1}}, sigmoid]}",
              "mul: {name: gated, input: [gn, se]}",
              "conv: {name: after, out: 8, kernel: 3, padding: 1}",
              "global_avgpool: {name: gap}"]
    text = "input: [3, 16, 16]\nlayers:\n" + "".join(f"  - {line}\n" for line in layers)
    every = {r.name: r.field for r in cnncost.receptive_fields(cnncost.load_text(text))}
    local = {r.name: r.field for r in cnncost.receptive_fields(cnncost.load_text(text), local=True)}
    assert every["gn"].h.stride == 0 and every["after"].h.stride == 0  # global from the group norm on
    # by hand: two 3x3 stride-1 convs: 3 + 2 = 5, stride 1, padding 1 + 1 = 2
    assert hw(local["c"]) == (3, 1, 1) and hw(local["gn"]) == (3, 1, 1) and hw(local["gated"]) == (3, 1, 1)
    assert hw(local["after"]) == (5, 1, 2)
    # a global pool still sees the whole input: the 16 units' fields [-2 + i, 2 + i] span [-2, 17]: 20 pixels
    assert (local["gap"].h.size, local["gap"].h.stride) == (20, 0)
    out = subprocess.run([sys.executable, "-m", "cnncost", "rf", "-", "--local"], input=text, capture_output=True,
                         text=True)
    assert out.returncode == 0 and "--local: the conventional field" in out.stdout


def test_rf_shows_only_options_that_change_it():
    out = run("rf", "--help").stdout
    assert "--local" in out and "--input" in out
    for unused in ("--batch", "--dtype", "--convention", "--side"):
        assert unused not in out


def test_a_video_clip_gives_no_field_and_the_table_says_why():
    rows = receptive_fields(cnncost.load("r3d_18", input=(3, 4, 32, 32)))
    assert rows and all(r.field is None for r in rows)
    out = subprocess.run([sys.executable, "-m", "cnncost", "rf", "r3d_18", "--format", "markdown"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "a CxTxHxW video clip, and the receptive-field analysis follows 2-D" in out.stdout
    plain = subprocess.run([sys.executable, "-m", "cnncost", "rf", "resnet18", "--format", "markdown"],
                           capture_output=True, text=True)
    assert "video clip" not in plain.stdout


# A ViT in small: 4x4 patches of a 16x16 image as 16 tokens, the class token, the position embedding, one encoder
# block (pre-norm attention over all 17 tokens, an MLP), the class token out: as torchvision's vision_transformer.py
# (and the zoo's vit_*.yaml) lays a ViT out
TINY_VIT = """input: [3, 16, 16]
layers:
  - conv: {name: patches, out: 8, kernel: 4, stride: 4}
  - reshape: {name: flatten, shape: [8, 16]}
  - permute: {name: tokens, dims: [0, 2, 1]}
  - class_token: {name: cls}
  - position_embedding: {name: pos}
  - layernorm: {name: ln_1}
  - multihead_attention: {name: attention, heads: 2}
  - add: {name: add, input: [attention, pos]}
  - layernorm: {name: ln_2}
  - linear: {name: fc1, out: 16}
  - gelu: {name: gelu}
  - linear: {name: fc2, out: 8}
  - add: {name: add_2, input: [fc2, add]}
  - slice: {name: class_output, dim: 1, start: 0, end: 1}
  - flatten: {name: features}
  - linear: {name: head, out: 4}
"""


def _support_of_token(torch, output, x, token):
    """Rows and columns of the image where the gradient of one token (all its features) is not zero (of their
    squares: a layer norm's features sum to a constant, whose gradient is zero)."""
    grad, = torch.autograd.grad(output[0, token].pow(2).sum(), x, retain_graph=True)
    mass = grad.abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(mass.sum(dim=1)).flatten(), torch.nonzero(mass.sum(dim=0)).flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def test_attention_over_every_token_sees_the_whole_image_as_torchs_gradient_shows():
    torch = pytest.importorskip("torch")
    graph = cnncost.load_text(TINY_VIT)
    rows = {r.name: r.field for r in receptive_fields(graph)}
    assert hw(rows["patches"]) == (4, 4, 0)
    # tokens carry the patches' fields unseen; from the attention on, every unit sees all 16x16 pixels
    assert all(rows[n] is None for n in ("flatten", "tokens", "cls", "pos", "ln_1"))
    for name in ("attention", "add", "ln_2", "fc1", "gelu", "fc2", "add_2", "class_output", "features", "head"):
        assert hw(rows[name]) == (16, 0, 0), name
    # torch: random weights (not linearised: attention's softmax weights are positive, so no path cancels)
    torch.manual_seed(0)
    net = cnncost.to_torch(graph).eval()
    x = torch.randn(1, 3, 16, 16, requires_grad=True)
    outputs = net.run_all(x)
    # before attention, patch token 6 (row 1, column 1 of the 4x4 patches; token 0 is the class token) sees its
    # own patch, pixels 4..7 on each axis; the class token sees no pixel (its gradient is zero)
    assert _support_of_token(torch, outputs["ln_1"], x, 6) == ((4, 7), (4, 7))
    assert not torch.autograd.grad(outputs["ln_1"][0, 0].pow(2).sum(), x, retain_graph=True)[0].any()
    # after it, every token, the class token too, sees every pixel: the field 16, stride 0
    for token in (0, 6, 16):
        assert _support_of_token(torch, outputs["attention"], x, token) == ((0, 15), (0, 15))
    grad, = torch.autograd.grad(outputs["head"][0].pow(2).sum(), x)
    assert grad.abs().sum(dim=(0, 1)).bool().all()


def test_a_vit_of_the_zoo_is_global_from_its_first_attention():
    rows = receptive_fields(cnncost.load("vit_b_16"))
    first = next(i for i, r in enumerate(rows) if r.kind == "multihead_attention")
    assert all(r.field is None for r in rows[1:first])  # the tokens, the class token, the position embedding
    # 14 patches of 16 pixels: the whole 224x224 image, stride 0, from the first attention to the head
    assert all(hw(r.field) == (224, 0, 0) for r in rows[first:])
    out = run("rf", "vit_b_16", "--format", "markdown").stdout
    assert "global from the first such attention on" in out
    assert "global from the first such attention on" not in run("rf", "resnet18", "--format", "markdown").stdout


# 4x4 patches of a 16x16 image as 16 tokens of 8 features (as TINY_VIT), for attention written as a function
PATCH_TOKENS = ["conv: {name: patches, out: 8, kernel: 4, stride: 4}",
                "reshape: {name: flat, shape: [8, 16]}",
                "permute: {name: tokens, dims: [0, 2, 1]}"]


def test_attention_sees_the_whole_image_only_when_its_keys_are_every_token():
    # keys = all 16 tokens (exactly h*w, no class token): every unit reads every patch, so it sees all 16x16
    # pixels, the same for every unit: size 16, stride 0, padding 0
    every = fields(PATCH_TOKENS + ["attention: {name: att, input: [tokens, tokens, tokens]}"], (3, 16, 16))
    assert hw(every["att"]) == (16, 0, 0)
    # 4 windows of 4 tokens each (a reshape keeps them tokens): each query reads 4 keys, not every patch, and no
    # map field is given
    window = fields(PATCH_TOKENS + ["reshape: {name: windows, shape: [4, 4, 8]}",
                                    "attention: {name: att, input: [windows, windows, windows]}"], (3, 16, 16))
    assert window["att"] is None
    # split into 2 heads (timm's layout, heads x tokens x features): the keys' length is still 16 tokens
    heads = fields(PATCH_TOKENS + ["reshape: {name: split, shape: [16, 2, 4]}",
                                   "permute: {name: by_head, dims: [0, 2, 1, 3]}",
                                   "attention: {name: att, input: [by_head, by_head, by_head]}"], (3, 16, 16))
    assert hw(heads["att"]) == (16, 0, 0)


def test_local_merge_of_global_inputs_only_keeps_them_and_a_half_global_input_counts_as_local():
    text = ("input: [3, 16, 16]\nlayers:\n"
            "  - global_avgpool: {name: g1, input: input}\n"
            "  - global_avgpool: {name: g2, input: input}\n"
            "  - add: {name: both, input: [g1, g2]}\n"
            "  - adaptive_avgpool: {name: rows, output: [1, 4], input: input}\n"
            "  - mul: {name: gated, input: [rows, g1]}\n")
    local = {r.name: r.field for r in cnncost.receptive_fields(cnncost.load_text(text), local=True)}
    # two global pools: nothing local to keep, so both are: every unit sees all 16x16 pixels
    assert hw(local["both"]) == (16, 0, 0)
    # an adaptive pool to 1 x 4 of 16 x 16: one row of all 16 pixels (global along H: size 16, stride 0), and 4
    # windows of 16/4 = 4 columns along W (size 4, stride 4); it is local along W, so --local keeps it alone
    gated = local["gated"]
    assert (gated.h.size, gated.h.stride, gated.h.padding) == (16, 0, 0)
    assert (gated.w.size, gated.w.stride, gated.w.padding) == (4, 4, 0)


def test_subsampling_padding_and_cropping_after_a_stride_2_conv():
    # conv 3x3, stride 2, padding 1 on 16x16: (size 3, stride 2, padding 1); 8x8 out
    f = fields(["conv: {name: c, out: 4, kernel: 3, stride: 2, padding: 1}",
                "subsample_pad: {name: sub, out: 8, stride: 2}",  # keeps every 2nd unit: stride 2 * 2, same field
                "pad: {name: pad, padding: 2, input: c}",  # 2 units of 2 pixels each: padding 1 + 2 * 2 = 5
                "center_crop: {name: crop, size: [8, 8]}"], (3, 16, 16))  # 12 -> 8 drops 2 units: back to 5 - 4
    assert hw(f["c"]) == (3, 2, 1)
    assert hw(f["sub"]) == (3, 4, 1)
    assert hw(f["pad"]) == (3, 2, 5)
    assert hw(f["crop"]) == (3, 2, 1)
    # a channels-last pad pads a map laid out H x W x C: not the C x H x W map the fields follow
    assert fields(["pad: {name: p, padding: 1, channels_last: true}"])["p"] is None


def test_adaptive_pooling_per_axis_after_a_stride_2_conv():
    # conv 2x2 stride 2 on 8x8: (2, 2, 0), 4x4 out
    conv = "conv: {name: c, out: 4, kernel: 2, stride: 2}"
    f = fields([conv, "adaptive_avgpool: {name: a, output: [2, 2]}"], (3, 8, 8))
    # 4 units -> 2: windows of 2 units at stride 2 units: size 2 + (2 - 1) * 2 = 4, stride 2 * 2 = 4, exact
    assert hw(f["a"]) == (4, 4, 0) and f["a"].uniform is True and f["a"].aligned is True and f["a"].bound is False
    g = fields([conv, "adaptive_avgpool: {name: a, output: [1, 3]}"], (3, 8, 8))["a"]
    # H: one output over all 4 units: pixels 0..7, the same for the one unit: (8, 0, 0)
    assert (g.h.size, g.h.stride, g.h.padding) == (8, 0, 0)
    # W: 4 units -> 3, windows [0, 2), [1, 3), [2, 4) (floor(i*4/3) to ceil((i+1)*4/3)): the longest is 2 units,
    # size 2 + 1 * 2 = 4; given at stride ceil(4/3) = 2 units = 4 pixels; the windows overlap: not uniform
    assert (g.w.size, g.w.stride, g.w.padding) == (4, 4, 0)
    assert g.uniform is False and g.bound is False and g.aligned is True


def test_bilinear_fields_by_hand_from_torchs_source_positions():
    """Bilinear output unit o reads the two input units around its source position; the field is the smallest
    bound a*o + [b, c] on them, so size 1 + (c - b), stride a, padding -b (torch's upsample_bilinear2d)."""
    from fractions import Fraction as F

    # align_corners=False, scale 2: source (o + 1/2)/2 - 1/2 = o/2 - 1/4; it reads floor and floor + 1, within
    # [o/2 - 5/4, o/2 + 3/4]: size 1 + 2 = 3, stride 1/2, padding 5/4
    f = fields(["upsample: {name: u, scale: 2, mode: bilinear}"], (3, 8, 8))
    assert hw(f["u"]) == (3, F(1, 2), F(5, 4)) and f["u"].bound
    # a scale that does not give a whole size: 7 * 1.5 = 10.5 -> 10 units, and torch's ratio is 1/scale = 2/3
    # (not 7/10): source (o + 1/2)*2/3 - 1/2 = 2o/3 - 1/6, read within [2o/3 - 7/6, 2o/3 + 5/6]
    f = fields(["upsample: {name: u, scale: 1.5, mode: bilinear}"], (3, 7, 7))
    assert hw(f["u"]) == (3, F(2, 3), F(7, 6))
    # align_corners=True, 4 -> 7: source o * 3/6 = o/2, within [o/2 - 1, o/2 + 1]: size 3, stride 1/2, padding 1
    f = fields(["upsample: {name: u, size: [7, 7], mode: bilinear, align_corners: true}"], (3, 4, 4))
    assert hw(f["u"]) == (3, F(1, 2), 1)
    # align_corners=True to one unit: torch reads source 0 alone: size 1, stride 0, padding 0
    f = fields(["upsample: {name: u, size: [1, 1], mode: bilinear, align_corners: true}"], (3, 4, 4))
    assert hw(f["u"]) == (1, 0, 0)


def test_nearest_resizing_to_the_same_size_is_exact():
    # nearest, 8 -> 8: unit o reads unit o: the identity, an exact field (not a bound)
    f = fields(["upsample: {name: u, size: [8, 8]}"], (3, 8, 8))
    assert hw(f["u"]) == (1, 1, 0) and not f["u"].bound and f["u"].uniform
    # bilinear 8 -> 8 (align_corners=False): source o, but torch's interpolation weights are 1 and 0 only at
    # whole positions; the rule gives the bound [o - 1, o + 1] (size 3), not marked exact
    g = fields(["upsample: {name: u, size: [8, 8], mode: bilinear}"], (3, 8, 8))
    assert g["u"].bound and not g["u"].uniform


def test_paths_whose_strides_disagree_give_unit_0s_union_at_the_larger_stride():
    # 16x16, padding 1 on both paths. A: 4x4 stride 2 -> 8x8, unit 0 sees pixels -1..2 (stride 2).
    # B: 11x11 stride 1 -> 8x8, unit 0 sees -1..9 (stride 1). The union of unit 0's: -1..9, 11 pixels, given at
    # the larger stride 2, padding 1, and marked not aligned
    f = fields(["conv: {name: a, out: 4, kernel: 4, stride: 2, padding: 1, input: input}",
                "conv: {name: b, out: 4, kernel: 11, padding: 1, input: input}",
                "add: {name: both, input: [a, b]}"], (3, 16, 16))
    assert hw(f["a"]) == (4, 2, 1) and hw(f["b"]) == (11, 1, 1)
    assert hw(f["both"]) == (11, 2, 1) and f["both"].aligned is False


def test_side_outputs_are_left_out_only_when_asked():
    graph = cnncost.load("googlenet")
    side = [n.name for n in graph.nodes if n.side]
    assert side  # its two auxiliary classifiers
    assert [r.name for r in receptive_fields(graph, include_side=False)] == [n.name for n in graph.nodes
                                                                            if not n.side]
    every = receptive_fields(graph)
    assert [r.name for r in every] == [n.name for n in graph.nodes] and {r.name for r in every if r.side} == set(side)


def test_upsampling_after_a_stride_2_conv_scales_by_the_incoming_stride():
    from fractions import Fraction as F

    # conv 2x2 stride 2: (2, 2, 0). Nearest x2: output o reads unit floor(o/2), within [o/2 - 1/2, o/2] units;
    # in pixels: size 2 + (1/2)*2 = 3, stride (1/2)*2 = 1, padding 0 + (1/2)*2 = 1 (unit o sees o-1..o+1)
    f = fields(["conv: {name: c, out: 4, kernel: 2, stride: 2}", "upsample: {name: u, scale: 2}"], (3, 8, 8))
    assert hw(f["u"]) == (3, 1, 1) and f["u"].bound is True and f["u"].uniform is False and f["u"].aligned is True
    # a DCGAN-style transposed conv, kernel 4, stride 2, padding 1: output o = 2i - 1 + t, so it reads input units
    # i in [(o + 1 - 3)/2, (o + 1)/2] = o/2 + [-1, 1/2]: size 1 + 3/2 = 5/2, stride 1/2, padding 1
    t = fields(["conv_transpose: {name: t, out: 4, kernel: 4, stride: 2, padding: 1}"], (3, 8, 8))
    assert hw(t["t"]) == (F(5, 2), F(1, 2), 1)
