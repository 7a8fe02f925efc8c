"""Stems and side-by-side comparisons (cnncost compare), against hand arithmetic.

The figures are lecture 8, section 8.4.1's comparison of GoogLeNet's stem with
VGG-16's, each layer written out: C x H x W x 4 bytes of output, weights and
biases, and MACs as Cout x H' x W' x Cin x K x K (pools: C x H' x W' x K x K).
"""

import json
import subprocess
import sys

import pytest

import cnncost
from cnncost import compare as cc
from cnncost.errors import CnnCostError

KB = 1024
MB = 1024 * 1024

# GoogLeNet (torchvision's form: conv without bias + batch norm + ReLU), 224 -> 28
GOOGLENET_STEM = {
    "memory_bytes": 4 * (64 * 112 * 112 + 64 * 56 * 56 + 64 * 56 * 56 + 192 * 56 * 56 + 192 * 28 * 28),
    "params": (64 * 3 * 7 * 7 + 2 * 64) + (64 * 64 + 2 * 64) + (192 * 64 * 9 + 2 * 192),
    "macs": 64 * 112 * 112 * 3 * 49 + 64 * 56 * 56 * 9 + 64 * 56 * 56 * 64 + 192 * 56 * 56 * 64 * 9
    + 192 * 28 * 28 * 9,
}

# VGG-16, 224 -> pool3 (its first 28x28 output)
VGG_CONVS = [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56),
             (256, 256, 56)]  # (Cin, Cout, H) of conv1_1 .. conv3_3
VGG_POOLS = [(64, 112), (128, 56), (256, 28)]  # (C, H') of pool1 .. pool3, 2x2 windows
VGG_STEM = {
    "memory_bytes": 4 * (sum(co * h * h for _, co, h in VGG_CONVS) + sum(c * h * h for c, h in VGG_POOLS)),
    "params": sum(co * ci * 9 + co for ci, co, _ in VGG_CONVS),
    "macs": sum(co * h * h * ci * 9 for ci, co, h in VGG_CONVS) + sum(c * h * h * 4 for c, h in VGG_POOLS),
}


@pytest.fixture(scope="module")
def comparison():
    return cc.compare(["vgg16", "googlenet"])


def test_googlenet_stem_is_the_lectures_five_rows(comparison):
    stem = comparison.entries[1].stem
    assert stem.last.name == "maxpool2" and stem.last.output_shape == (192, 28, 28)
    assert GOOGLENET_STEM == {"memory_bytes": 7_827_456, "params": 124_736, "macs": 480_836_608}
    for figure, value in GOOGLENET_STEM.items():
        assert getattr(stem.totals, figure) == value, figure
    # 7,644 KB = 7.46 MB: the lecture's 7.5 MB; 480.8M MACs, not the printed 418M
    assert round(stem.totals.memory_bytes / MB, 1) == 7.5
    assert round(stem.totals.macs / 1e6) == 481


def test_vgg16_stem_runs_to_pool3(comparison):
    stem = comparison.entries[0].stem
    assert stem.last.name == "pool3" and stem.last.output_shape == (256, 28, 28)
    for figure, value in VGG_STEM.items():
        assert getattr(stem.totals, figure) == value, figure
    # the figures: 51.3 MB, 1.74M params, 9.34G MACs
    assert round(stem.totals.memory_bytes / MB, 1) == 51.3
    assert round(stem.totals.params / 1e6, 2) == 1.74
    assert round(stem.totals.macs / 1e9, 2) == 9.34


def test_ratios_over_the_baseline_the_last_model(comparison):
    vgg = comparison.entries[0]
    assert comparison.entries[comparison.baseline].label == "googlenet"
    for figure in ("memory_bytes", "params", "macs"):
        assert comparison.ratio(vgg, "stem", figure) == VGG_STEM[figure] / GOOGLENET_STEM[figure]
    assert round(comparison.ratio(vgg, "stem", "memory_bytes"), 2) == 6.87
    assert round(comparison.ratio(vgg, "stem", "params"), 2) == 13.91
    assert round(comparison.ratio(vgg, "stem", "macs"), 2) == 19.43
    assert comparison.ratio(vgg, "stem", "flops") == comparison.ratio(vgg, "stem", "macs")
    # whole networks: torchvision's num_params 138,357,544 and 6,624,904
    assert comparison.ratio(vgg, "whole", "params") == 138_357_544 / 6_624_904


def test_baseline_can_be_chosen():
    c = cc.compare(["vgg16", "googlenet"], baseline="vgg16", notes=False)
    assert c.ratio(c.entries[1], "stem", "macs") == GOOGLENET_STEM["macs"] / VGG_STEM["macs"]
    with pytest.raises(CnnCostError, match="baseline 'vgg' is not one of the models compared"):
        cc.compare(["vgg16", "googlenet"], baseline="vgg", notes=False)


def test_how_the_lecture_sliced_vgg16():
    # The slide's 42.9 MB, 1.1M, 7,485M: conv1_1 .. conv3_2, the pools left out
    report = cnncost.analyze("vgg16")
    convs = cc.select(report, {"until": "conv3_2", "kinds": ["conv"]})
    six = VGG_CONVS[:6]
    assert [r.name for r in convs.rows] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2"]
    assert convs.totals.memory_bytes == 4 * sum(co * h * h for _, co, h in six) == 43_904 * KB
    assert convs.totals.params == sum(co * ci * 9 + co for ci, co, _ in six) == 1_145_408
    assert convs.totals.macs == sum(co * h * h * ci * 9 for ci, co, h in six) == 7_485_456_384
    assert round(convs.totals.memory_bytes / MB, 1) == 42.9


def test_other_cuts():
    vgg, googlenet = cnncost.analyze("vgg16"), cnncost.analyze("googlenet")
    assert cc.until_resolution(vgg, 56).last.name == "pool2"
    assert cc.until_resolution(googlenet, 56).last.name == "maxpool1"
    assert cc.until_resolution(googlenet, 7).last.name == "maxpool4"
    # a scope ends at its last row: torchvision-named googlenet's conv3 is conv, bn, relu
    assert cc.until_layer(googlenet, "conv3").last.name == "conv3.relu"
    assert cc.until_layer(googlenet, "inception3a").last.name == "inception3a.concat"
    c = cc.compare(["googlenet", "googlenet"], until="maxpool2", notes=False)
    assert c.entries[0].stem.totals.macs == GOOGLENET_STEM["macs"]
    c = cc.compare(["vgg16", "googlenet"], until_resolution=56, notes=False)
    assert [e.stem.last.name for e in c.entries] == ["pool2", "maxpool1"]


def test_side_outputs_stay_out_of_stems():
    # GoogLeNet's aux heads come after 4a; a 14x14 cut ends before them either way
    googlenet = cnncost.analyze("googlenet", include_side=True)
    stem = cc.until_resolution(googlenet, 14)
    assert stem.last.name == "maxpool3" and not any(r.side for r in stem.rows)


ONE_CONV = "input: [3, 32, 32]\nlayers:\n  - conv: {out: 8, kernel: 3, padding: 1}\n"


@pytest.mark.parametrize("call, message", [
    (lambda: cc.compare(["vgg16"]), "two or more models"),
    (lambda: cc.compare(["vgg16", "googlenet"], until="conv3_2"), "googlenet has no layer or scope named 'conv3_2'"),
    (lambda: cc.compare(["vgg16", "googlenet"], until="pool3", until_resolution=28), "not both"),
    (lambda: cc.until_resolution(cnncost.analyze_text(ONE_CONV, name="one_conv"), 28),
     "no layer of one_conv outputs a map of 28x28 or less"),
    (lambda: cc.until_layer(cnncost.analyze("vgg16"), "conv3_4"), "did you mean"),
    (lambda: cc.select(cnncost.analyze("vgg16"), {"layer": "fc6", "until": "fc7"}), "one of layer, layers"),
    (lambda: cc.select(cnncost.analyze("vgg16"), {"kind": ["conv"]}), "unknown slice key 'kind'"),
])
def test_errors_name_the_problem(call, message):
    with pytest.raises(CnnCostError, match=message):
        call()


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True)


def test_cli_prints_the_stem_comparison_and_the_lecture_errata():
    result = run("compare", "vgg16", "googlenet")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pool3" in out and "maxpool2" in out
    assert "51.30" in out and "7.46" in out  # MB
    assert "6.87x" in out and "13.91x" in out and "19.43x" in out
    # the notes: what the lecture printed, what is right, and where the print came from
    assert '"418M"' in out and "481M" in out
    assert '"42.9MB"' in out and "conv1_1 to conv3_2 without the pools" in out
    assert '"17.8x"' in out


def test_cli_formats():
    data = json.loads(run("compare", "vgg16", "googlenet", "--format", "json").stdout)
    assert data["baseline"] == "googlenet"
    vgg = data["models"][0]
    assert vgg["stem"]["last_layer"] == "pool3" and vgg["stem"]["macs"] == VGG_STEM["macs"]
    assert vgg["ratios"]["stem"]["params"] == VGG_STEM["params"] / GOOGLENET_STEM["params"]
    assert any("418M" in n for n in data["notes"])
    csv = run("compare", "vgg16", "googlenet", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("model,part,input,last_layer")
    assert f"googlenet,stem,3x224x224,maxpool2,192x28x28,11,{GOOGLENET_STEM['memory_bytes']}," in csv[2]
    md = run("compare", "vgg16", "googlenet", "--format", "markdown", "--exact").stdout
    assert f"{VGG_STEM['macs']:,}" in md and "| Model |" in md


def test_cli_errors_are_one_line():
    result = run("compare", "vgg16")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "two or more models" in result.stderr
    result = run("compare", "vgg16", "googlenet", "--until", "pool9")
    assert result.returncode == 2 and "no layer or scope named 'pool9'" in result.stderr


def test_notes_only_where_the_figures_were_printed_for_these_settings():
    # the lecture's stem figures are about 224x224 inputs and the model's own parameters
    assert "Erratum" in run_compare("vgg16", "googlenet")
    for extra in (["--input", "3x112x112"], ["--batch", "2"], ["--set", "classes=10"]):
        assert "Erratum" not in run_compare("vgg16", "googlenet", *extra), extra


def run_compare(*args):
    result = run("compare", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_slice_is_parsed_without_a_report_and_applied_to_one():
    from cnncost.slices import apply_slice, parse_slice

    # the mapping alone is checked: no report is needed to refuse it
    for bad, message in [({"layer": "a", "until": "b"}, "not layer and until"), ({"from": "a"}, "'from' needs"),
                         ({"kinds": ["no_such_kind"]}, "unknown layer kind 'no_such_kind'")]:
        with pytest.raises(CnnCostError, match=message):
            parse_slice(bad)
    spec = parse_slice({"from": "conv2_1", "until": "conv3_1", "exclude": ["relu*"]})
    # VGG-16 from conv2_1 to conv3_1: conv2_1 relu2_1 conv2_2 relu2_2 pool2 conv3_1, the ReLUs dropped
    part = apply_slice(cnncost.analyze("vgg16"), spec)
    assert [r.name for r in part.rows] == ["conv2_1", "conv2_2", "pool2", "conv3_1"]
    assert part.totals.params == (128 * 64 * 9 + 128) + (128 * 128 * 9 + 128) + (256 * 128 * 9 + 256)
    assert part.description == "conv2_1 to conv3_1; without relu*"
