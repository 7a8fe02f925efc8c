"""The YAML language's constructs, with expected figures worked out by hand."""

import re
from pathlib import Path

import pytest

import cnncost
from cnncost import CnnCostError
from tests.helpers import network

BASIC_BLOCK = """
input: [16, 32, 32]
params: {shortcut: auto, out: 32, stride: 2}
layers:
  - residual:
      name: block
      shortcut: $shortcut
      body:
        - conv: {name: conv1, out: $out, kernel: 3, stride: $stride, padding: 1, bias: false}
        - batchnorm: {name: bn1}
        - relu
        - conv: {name: conv2, out: $out, kernel: 3, padding: 1, bias: false}
        - batchnorm: {name: bn2}
  - relu
"""


def rows_of(report):
    return {r.name: r for r in report.layers}


def test_residual_projection_shortcut():
    rows = rows_of(network(BASIC_BLOCK))
    sc = rows["block.shortcut.conv"]
    # 1x1 conv 16 -> 32 with stride 2 (32 -> 16), no bias because BN follows
    assert sc.output_shape == (32, 16, 16)
    assert sc.params == 32 * 16
    assert sc.args["stride"] == (2, 2)
    assert rows["block.shortcut.bn"].params == 2 * 32
    assert rows["block.add"].inputs == ("block.bn2", "block.shortcut.bn")


def test_residual_zero_pad_shortcut_has_no_parameters():
    report = network(BASIC_BLOCK, set={"shortcut": "zero_pad"})
    rows = rows_of(report)
    assert rows["block.shortcut"].kind == "subsample_pad"
    assert rows["block.shortcut"].output_shape == (32, 16, 16)
    # body only: two 3x3 convs and two BNs
    assert report.totals.params == (32 * 16 * 9) + (32 * 32 * 9) + 2 * (2 * 32)


def test_residual_auto_is_identity_when_shapes_match():
    rows = rows_of(network(BASIC_BLOCK, set={"out": 16, "stride": 1}))
    assert not any(n.startswith("block.shortcut") for n in rows)
    assert rows["block.add"].inputs == ("block.bn2", "input")


def test_residual_identity_with_mismatched_shapes_is_an_error():
    with pytest.raises(CnnCostError, match="differ in shape"):
        network(BASIC_BLOCK, set={"shortcut": "identity"})


def test_residual_none_is_a_plain_block():
    rows = rows_of(network(BASIC_BLOCK, set={"shortcut": "none"}))
    assert "block.add" not in rows


def test_repeat_names_iterations_and_first_overrides():
    text = """
input: [8, 16, 16]
blocks:
  unit:
    args: {out: null, stride: 1}
    layers:
      - conv: {name: conv, out: $out, kernel: 3, stride: $stride, padding: 1}
layers:
  - repeat: {name: stage, count: 3, layers: {unit: {out: 8}}, first: {stride: 2}}
"""
    layers = network(text).layers
    assert [l.name for l in layers] == ["stage.0.conv", "stage.1.conv", "stage.2.conv"]
    assert [l.output_shape for l in layers] == [(8, 8, 8)] * 3  # only the first halves 16 -> 8


def test_repeat_variable_and_templated_names():
    text = """
input: [3, 32, 32]
layers:
  - repeat:
      count: 3
      layers:
        - conv: {name: "conv${i + 1}", out: "${8 * 2 ** i}", kernel: 3, padding: 1}
"""
    layers = network(text).layers
    assert [(l.name, l.output_shape[0]) for l in layers] == [("conv1", 8), ("conv2", 16), ("conv3", 32)]


def test_parallel_concat_names_branches():
    text = """
input: [192, 28, 28]
layers:
  - parallel:
      name: mixed
      branches:
        branch1: {conv: {out: 64, kernel: 1}}
        branch2: [{conv: {out: 96, kernel: 1}}, {conv: {name: conv3, out: 128, kernel: 3, padding: 1}}]
        branch3: {maxpool: {kernel: 3, stride: 1, padding: 1}}
"""
    rows = rows_of(network(text))
    assert rows["mixed.concat"].output_shape == (64 + 128 + 192, 28, 28)
    assert rows["mixed.concat"].inputs == ("mixed.branch1.conv", "mixed.branch2.conv3", "mixed.branch3.maxpool")


def test_side_outputs_are_reported_but_excluded_from_totals_by_default():
    text = """
input: [4, 8, 8]
layers:
  - conv: {name: trunk, out: 4, kernel: 1, bias: false}
  - side:
      name: aux
      layers:
        - flatten
        - linear: {name: fc, out: 10, bias: false}
  - conv: {name: head, out: 2, kernel: 1, bias: false}
"""
    report = network(text)
    rows = rows_of(report)
    assert rows["aux.fc"].side and not rows["head"].side
    assert rows["head"].inputs == ("trunk",)  # the chain continues from before the side output
    trunk, head, aux = 4 * 4, 2 * 4, 256 * 10
    assert report.totals.params == trunk + head
    assert network(text, include_side=True).totals.params == trunk + head + aux


def test_blocks_take_named_arguments_and_see_their_input_shape():
    text = """
input: [64, 8, 8]
blocks:
  transition:
    args: {compression: 0.5}
    layers:
      - conv: {name: conv, out: "${int(in_channels * compression)}", kernel: 1, bias: false}
layers:
  - transition: {name: t1}
  - transition: {name: t2, compression: 0.25}
"""
    rows = rows_of(network(text))
    assert rows["t1.conv"].output_shape[0] == 32
    assert rows["t2.conv"].output_shape[0] == 8


def test_when_leaves_items_out_and_set_overrides_parameters():
    text = """
input: [3, 8, 8]
params: {batch_norm: false, width: 16}
layers:
  - conv: {out: $width, kernel: 3}
  - batchnorm: {when: $batch_norm}
"""
    assert [l.kind for l in network(text).layers] == ["conv"]
    report = network(text, set={"batch_norm": True, "width": 8})
    assert [l.kind for l in report.layers] == ["conv", "batchnorm"]
    assert report.layers[0].output_shape == (8, 6, 6)


def test_references_by_name_and_scope_output():
    text = """
input: [3, 8, 8]
layers:
  - sequence:
      name: stem
      layers:
        - conv: {out: 4, kernel: 1}
        - relu
  - conv: {name: other, out: 5, kernel: 1, input: input}
  - concat: {name: joined, input: [stem, other]}
"""
    rows = rows_of(network(text))
    assert rows["joined"].inputs == ("stem.relu", "other")
    assert rows["joined"].output_shape == (9, 8, 8)


def test_input_override_and_parameterised_input():
    text = """
params: {resolution: 64}
input: [3, $resolution, $resolution]
layers:
  - conv: {out: 8, kernel: 3, stride: 2, padding: 1}
"""
    assert network(text).layers[0].output_shape == (8, 32, 32)
    assert network(text, set={"resolution": 32}).layers[0].output_shape == (8, 16, 16)
    assert network(text, input=(3, 10, 10)).layers[0].output_shape == (8, 5, 5)


def test_make_divisible_in_expressions():
    # MobileNetV2's rule: 32 * 0.35 = 11.2 -> nearest multiple of 8 is 8, and 8 >= 0.9 * 11.2 fails -> 16
    text = "input: [3, 8, 8]\nlayers:\n  - conv: {out: '${make_divisible(32 * 0.35, 8)}', kernel: 1}\n"
    assert network(text).layers[0].output_shape[0] == 16


def test_yaml_file_outside_the_zoo(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("input: [1, 28, 28]\nlayers:\n  - conv: {out: 6, kernel: 5}\n  - flatten\n"
                    "  - linear: {out: 10}\n")
    report = cnncost.analyze(path)
    assert report.model == "tiny"
    # LeNet-like: 6*1*25 + 6 and (6*24*24)*10 + 10
    assert report.totals.params == (6 * 25 + 6) + (6 * 24 * 24 * 10 + 10)


def test_extends_merges_params_and_blocks_and_keeps_base_layers(tmp_path):
    (tmp_path / "base.yaml").write_text("""
input: [3, 16, 16]
params: {width: 8, depth: 2}
blocks:
  unit:
    layers:
      - conv: {name: conv, out: $width, kernel: 3, padding: 1}
layers:
  - repeat: {name: stage, count: $depth, layers: unit}
""")
    (tmp_path / "wide.yaml").write_text("extends: base.yaml\nparams: {width: 16}\n")
    report = cnncost.analyze(tmp_path / "wide.yaml")
    assert report.model == "wide"
    assert [l.name for l in report.layers] == ["stage.0.conv", "stage.1.conv"]
    # 16*3*9 + 16, then 16*16*9 + 16
    assert report.totals.params == (16 * 3 * 9 + 16) + (16 * 16 * 9 + 16)


def test_errors_in_an_extended_base_name_the_base_file(tmp_path):
    (tmp_path / "base.yaml").write_text("input: [3, 8, 8]\nparams: {k: 3}\nlayers:\n  - conv: {out: 4, kernel: $k}\n")
    (tmp_path / "big.yaml").write_text("extends: base.yaml\nparams: {k: 20}\n")
    with pytest.raises(CnnCostError) as err:
        cnncost.analyze(tmp_path / "big.yaml")
    assert str(tmp_path / "base.yaml") + ":4" in str(err.value)


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(CnnCostError, match="circle"):
        cnncost.analyze(tmp_path / "a.yaml")


def test_parameter_choices():
    text = """
input: [3, 8, 8]
params:
  mode: {default: fast, choices: [fast, slow], doc: which path}
layers:
  - conv: {out: "${4 if mode == 'fast' else 8}", kernel: 1}
"""
    assert network(text).layers[0].output_shape[0] == 4
    assert network(text, set={"mode": "slow"}).layers[0].output_shape[0] == 8
    with pytest.raises(CnnCostError, match="must be one of fast, slow"):
        network(text, set={"mode": "slwo"})


def test_list_parameters_and_indexing():
    text = """
input: [3, 8, 8]
params: {depths: [1, 2]}
layers:
  - repeat: {count: "${depths[0]}", layers: {conv: {name: "a${i}", out: 4, kernel: 1}}}
  - repeat: {count: "${depths[1]}", layers: {conv: {name: "b${i}", out: 4, kernel: 1}}}
"""
    assert [l.name for l in network(text).layers] == ["a0", "b0", "b1"]
    assert len(network(text, set={"depths": [2, 3]}).layers) == 5
    with pytest.raises(CnnCostError, match="outside the list"):
        network("input: [3, 8, 8]\nparams: {d: [1]}\nlayers:\n  - conv: {out: '${d[3]}', kernel: 1}\n")


def test_a_bad_set_of_an_inherited_parameter_names_the_base_file(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "input: [3, 8, 8]\nparams:\n  mode: {default: a, choices: [a, b]}\n  width: 4\n"
        "layers:\n  - conv: {out: $width, kernel: 1}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nparams: {width: 8}\n")
    with pytest.raises(CnnCostError) as err:
        cnncost.analyze(tmp_path / "child.yaml", set={"mode": "c"})
    assert f"{tmp_path / 'base.yaml'}:3" in str(err.value)


def test_dotted_references_reach_a_branch_an_iteration_and_a_custom_shortcut():
    text = """
input: [3, 8, 8]
layers:
  - parallel:
      name: mix
      branches:
        branch1: {conv: {out: 4, kernel: 1}}
        branch2: [{conv: {out: 4, kernel: 1}}, {conv: {name: last, out: 6, kernel: 1}}]
  - conv: {name: from_branch, out: 2, kernel: 1, input: mix.branch2}
  - repeat: {name: stage, count: 2, layers: [{conv: {out: 5, kernel: 1}}, relu]}
  - conv: {name: from_iteration, out: 2, kernel: 1, input: stage.0}
  - residual: {name: res, body: [{conv: {out: 7, kernel: 1}}], shortcut: [{conv: {name: proj, out: 7, kernel: 1}}]}
  - conv: {name: from_shortcut, out: 2, kernel: 1, input: res.shortcut}
"""
    rows = {r.name: r for r in cnncost.analyze_text(text).layers}
    assert rows["from_branch"].inputs == ("mix.branch2.last",) and rows["from_branch"].input_shape == (6, 8, 8)
    assert rows["from_iteration"].inputs == ("stage.0.relu",) and rows["from_iteration"].input_shape == (5, 8, 8)
    assert rows["from_shortcut"].inputs == ("res.shortcut.proj",)


def test_call_records_how_the_reference_runs_a_row_and_is_checked():
    text = "input: [3, 8, 8]\nlayers:\n  - relu: {call: function}\n  - global_avgpool: {call: mean}\n  - relu\n"
    assert [r.call for r in cnncost.analyze_text(text).layers] == ["function", "mean", "module"]
    with pytest.raises(CnnCostError, match="relu can run as module or function, not 'mean'"):
        cnncost.analyze_text("input: [3, 8, 8]\nlayers:\n  - relu: {call: mean}\n")


def test_a_block_takes_named_inputs():
    # a U-Net decoder block: handed the upsampled map and the encoder's skip connection
    text = """
input: [3, 16, 16]
blocks:
  up:
    inputs: [x, skip]
    args: {out: null}
    layers:
      - conv: {name: reduce, out: "${skip_channels}", kernel: 1}
      - concat: {input: [reduce, skip]}
      - conv: {name: conv, out: $out, kernel: 3, padding: 1}
layers:
  - conv: {name: e1, out: 8, kernel: 3, padding: 1}
  - conv: {name: e2, out: 16, kernel: 3, padding: 1}
  - up: {name: u1, input: [e2, e1], out: 4}
"""
    rows = {r.name: r for r in cnncost.analyze_text(text).layers}
    assert rows["u1.reduce"].inputs == ("e2",) and rows["u1.reduce"].output_shape == (8, 16, 16)  # skip_channels = 8
    assert rows["u1.concat"].inputs == ("u1.reduce", "e1") and rows["u1.concat"].output_shape == (16, 16, 16)
    assert rows["u1.conv"].params == 4 * 16 * 9 + 4


@pytest.mark.parametrize("call, message", [
    ("  - one: {input: [a, a]}\n", "block 'one' takes one input, and this call hands it 2"),
    ("  - two: {input: [a]}\n", "block 'two' takes 2 inputs (x, y), and this call hands it 1"),
])
def test_the_number_of_inputs_must_match(call, message):
    text = ("input: [3, 8, 8]\nblocks:\n  one: {layers: [relu]}\n"
            "  two: {inputs: [x, y], layers: [{add: {input: [x, y]}}]}\n"
            "layers:\n  - conv: {name: a, out: 4, kernel: 1}\n" + call)
    with pytest.raises(CnnCostError, match=re.escape(message)):
        cnncost.analyze_text(text)


def test_a_block_cannot_reach_outside_and_says_why():
    text = ("input: [3, 8, 8]\nblocks:\n  b: {layers: [{conv: {out: 4, kernel: 1, input: first}}]}\n"
            "layers:\n  - conv: {name: first, out: 4, kernel: 1}\n  - b\n  - b: {name: named}\n")
    with pytest.raises(CnnCostError, match="'first' is outside the block: a block sees only its own layers and the "
                                           "inputs its call hands it"):
        cnncost.analyze_text(text)


def test_constructs_take_a_list_input_and_start_at_its_first():
    text = ("input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 1}\n"
            "  - conv: {name: b, out: 6, kernel: 1}\n"
            "  - sequence: {name: s, input: [b, a], layers: [relu, {concat: {input: [relu, a]}}]}\n")
    rows = {r.name: r for r in cnncost.analyze_text(text).layers}
    assert rows["s.relu"].inputs == ("b",) and rows["s.concat"].output_shape == (6 + 4, 8, 8)


def test_torch_names_map_layers_to_a_reference_implementations_module_paths():
    pytest.importorskip("torch")  # to_torch below
    text = """
input: [3, 8, 8]
torch_names:
  'conv(\\d)': 'features.\\1'
  'head': 'classifier.1'
  'block\\.scale': 'block'
layers:
  - conv: {name: conv0, out: 4, kernel: 3, padding: 1}
  - sequence: {name: block, layers: [{conv: {name: inner, out: 4, kernel: 1}}, {layer_scale: {name: scale}}]}
  - global_avgpool
  - flatten
  - linear: {name: head, out: 2}
"""
    graph = cnncost.load_text(text)
    assert [graph.torch_path(n) for n in ("conv0", "head", "block.inner", "block.scale")] == [
        "features.0", "classifier.1", "block.inner", "block"]
    keys = {k: tuple(v.shape) for k, v in cnncost.to_torch(graph).state_dict().items()}
    # a layer and, below it, another layer share a path, as ConvNeXt's blocks hold their layer scale
    assert keys == {"features.0.weight": (4, 3, 3, 3), "features.0.bias": (4,), "block.inner.weight": (4, 4, 1, 1),
                    "block.inner.bias": (4,), "block.layer_scale": (4, 1, 1), "classifier.1.weight": (2, 4),
                    "classifier.1.bias": (2,)}
    with pytest.raises(CnnCostError, match="torch_names: '\\(': "):
        cnncost.load_text("input: [3, 8, 8]\ntorch_names: {'(': x}\nlayers: [relu]\n")


def _worked_example(name):
    text = (Path(__file__).parent.parent / "docs" / "yaml-reference.md").read_text()
    marker = f"<!-- worked example: {name} -->\n```yaml\n"
    start = text.index(marker) + len(marker)
    return text[start:text.index("```\n", start)]


def test_the_worked_unet_gives_the_papers_shape_and_the_hand_count():
    report = cnncost.analyze_text(_worked_example("unet"))
    rows = {r.name: r for r in report.layers}
    assert rows["head"].output_shape == (2, 388, 388)  # Ronneberger et al. 2015, Fig. 1
    assert rows["dec4.crop"].input_shapes == ((512, 64, 64), (512, 56, 56))  # 64 cropped to 56 at offset 4
    encoder = [9 * (1 * 64 + 64 * 64) + 2 * 64] + [9 * (c // 2 * c + c * c) + 2 * c for c in (128, 256, 512, 1024)]
    decoder = [4 * 2 * c * c + c + 9 * (2 * c * c + c * c) + 2 * c for c in (512, 256, 128, 64)]
    assert encoder == [37_568, 221_440, 885_248, 3_539_968, 14_157_824]
    assert decoder == [9_176_576, 2_294_528, 573_824, 143_552]
    assert report.totals.params == sum(encoder) + sum(decoder) + 64 * 2 + 2 == 31_030_658


def test_the_worked_convnext_block_gives_the_hand_count():
    report = cnncost.analyze_text(_worked_example("convnext_block"), convention="torchvision")
    assert report.totals.params == (96 * 49 + 96) + 2 * 96 + (96 * 384 + 384) + (384 * 96 + 96) + 96 == 79_296
    assert report.totals.macs == 96 * 56 * 56 * 49 + 2 * 96 * 384 * 56 * 56 == 245_962_752


def test_the_worked_video_block_gives_the_hand_count():
    report = cnncost.analyze_text(_worked_example("r3d_block"), convention="torchvision")
    rows = {r.name: r for r in report.layers}
    assert rows["block.add"].output_shape == (128, 8, 28, 28)
    assert rows["block.shortcut.conv"].args["stride"] == (2, 2, 2)
    assert report.totals.params == 128 * 64 * 27 + 128 * 128 * 27 + 64 * 128 + 3 * 2 * 128 == 672_512
    positions = 128 * 8 * 28 * 28  # output channels x T' x H' x W'
    # equal to FlopCounterMode on torchvision's r3d_18().layer2[0] at 3x16x112x112 (measured: 4,213,178,368)
    assert report.totals.macs == positions * (64 * 27 + 128 * 27 + 64) == 4_213_178_368


def test_a_projection_shortcut_reads_its_stride_off_an_axis_longer_than_1():
    # found by tools/fuzz.py (F4): 4x1x4 -> 8x1x2 was refused, the stride read off the height alone (1 -> 1)
    text = ("input: [4, 1, 4]\nlayers:\n  - residual: {body: [{conv: {out: 8, kernel: 3, stride: 2, padding: 1}}], "
            "shortcut: projection}\n")
    shortcut = {l.name: l for l in cnncost.analyze_text(text).layers}["shortcut.conv"]
    # a 1x1 conv at stride 2: width (4 - 1) // 2 + 1 = 2, height (1 - 1) // 2 + 1 = 1; 8 x 4 weights, no bias
    # (the batch norm after it has one)
    assert shortcut.output_shape == (8, 1, 2) and shortcut.params == 8 * 4


def test_the_worked_maxvit_block_gives_the_hand_count():
    report = cnncost.analyze_text(_worked_example("maxvit_block"), convention="torchvision")
    attention = 2 * 128 + (64 * 192 + 192) + (64 * 64 + 64) + 13 * 13 * 2 + (64 * 256 + 256) + (256 * 64 + 64)
    mbconv = 2 * 64 + 64 * 256 + 2 * 256 + 256 * 9 + 2 * 256 + (256 * 16 + 16) + (16 * 256 + 256) + (256 * 64 + 64)
    assert (attention, mbconv) == (50_322, 44_752)
    assert report.totals.params == mbconv + 2 * attention
    tokens = 56 * 56
    per_attention = tokens * 12 * 64 * 64 + 2 * tokens * 49 * 64  # linear layers; Q K^T and A V
    assert report.totals.macs == 2 * tokens * 64 * 256 + tokens * 256 * 9 + 2 * 256 * 16 + 2 * per_attention \
        == 457_613_312
