"""AlexNet against lecture 8, section 8.2 (../shared/lecture8.txt) and its table (Figure 8.1).

Every expected figure is the lecture's arithmetic, written out.
"""

import json
import subprocess
import sys

import pytest

import cnncost


@pytest.fixture(scope="module")
def rows():
    return {r.name: r for r in cnncost.analyze("alexnet").layers}


def test_lecture_layer_names_in_order():
    names = [r.name for r in cnncost.analyze("alexnet").layers]
    lecture = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "flatten",
               "fc6", "fc7", "fc8"]
    assert [n for n in names if n in lecture] == lecture


def test_conv1(rows):
    conv1 = rows["conv1"]
    # W' = (227 - 11 + 2*2)/4 + 1 = 56
    assert conv1.output_shape == (64, 56, 56)
    # (64*56*56)*4/1024 = 784 KB
    assert conv1.memory_bytes == 64 * 56 * 56 * 4 and conv1.memory_bytes / 1024 == 784
    # 64*3*11*11 + 64 = 23,296
    assert conv1.params == 23_296
    # (64*56*56)*(3*11*11) = 72,855,552: about 73M, not the 78M the text rounds it to
    assert conv1.macs == 72_855_552
    assert round(conv1.macs / 1e6) == 73


def test_pool1(rows):
    pool1 = rows["pool1"]
    # floor((56 - 3)/2 + 1) = 27
    assert pool1.output_shape == (64, 27, 27)
    assert pool1.memory_bytes / 1024 == 182.25
    assert pool1.params == 0
    # (64*27*27)*(3*3) = 419,904, "0.4M MACs"
    assert pool1.macs == 64 * 27 * 27 * 3 * 3
    assert round(pool1.macs / 1e6, 1) == 0.4


def test_flatten_and_fc6(rows):
    assert rows["pool5"].output_shape == (256, 6, 6)
    assert rows["flatten"].output_shape == (9216,)
    fc6 = rows["fc6"]
    # 9216*4096 + 4096 = 37,752,832 (the text prints 37,725,832)
    assert fc6.params == 37_752_832
    assert fc6.params != 37_725_832
    assert fc6.macs == 37_748_736
    assert rows["fc7"].params == 4096 * 4096 + 4096
    assert rows["fc8"].output_shape == (1000,)
    assert rows["fc8"].params == 4096 * 1000 + 1000


def test_whole_table_against_figure_8_1(rows):
    # Figure 8.1's table (memory KB, params k, MACs M), each computed by the lecture's rules.
    table = {
        "conv2": (192 * 27 * 27 * 4 / 1024, 192 * 64 * 25 + 192, 192 * 27 * 27 * 64 * 25),
        "pool2": (192 * 13 * 13 * 4 / 1024, 0, 192 * 13 * 13 * 9),
        "conv3": (384 * 13 * 13 * 4 / 1024, 384 * 192 * 9 + 384, 384 * 13 * 13 * 192 * 9),
        "conv4": (256 * 13 * 13 * 4 / 1024, 256 * 384 * 9 + 256, 256 * 13 * 13 * 384 * 9),
        "conv5": (256 * 13 * 13 * 4 / 1024, 256 * 256 * 9 + 256, 256 * 13 * 13 * 256 * 9),
        "pool5": (256 * 6 * 6 * 4 / 1024, 0, 256 * 6 * 6 * 9),
        "flatten": (9216 * 4 / 1024, 0, 0),
        "fc7": (4096 * 4 / 1024, 4096 * 4096 + 4096, 4096 * 4096),
        "fc8": (1000 * 4 / 1024, 4096 * 1000 + 1000, 4096 * 1000),
    }
    for name, (kb, params, macs) in table.items():
        row = rows[name]
        assert (row.memory_bytes / 1024, row.params, row.macs) == (kb, params, macs), name
    # The rounded figures printed in the lecture's table
    assert [round(rows[n].params / 1000) for n in ("conv2", "conv3", "conv4", "conv5")] == [307, 664, 885, 590]
    assert [round(rows[n].macs / 1e6) for n in ("conv2", "conv3", "conv4", "conv5")] == [224, 112, 150, 100]


def test_total_parameters_match_torchvision():
    # torchvision's AlexNet_Weights.IMAGENET1K_V1 metadata: num_params 61,100,840
    assert cnncost.analyze("alexnet").totals.params == 61_100_840


def test_224_input_matches_torchvision_counts():
    # With 224x224, conv1 gives floor((224 + 4 - 11)/4) + 1 = 55 and pool1 27, as in torchvision.
    # Its published "GFLOPS" 0.71 (conv and linear MACs, bias excluded) and peers' exact 714,188,480
    # (FlopCounterMode, halved; ../shared/reference/peer-counts.tsv).
    report = cnncost.analyze("alexnet", input=(3, 224, 224), convention="torchvision")
    assert report.layers[0].output_shape == (64, 55, 55)
    assert report.totals.macs == 714_188_480
    assert report.totals.params == 61_100_840


def test_table_shows_the_errata_under_the_lecture_table():
    out = subprocess.run([sys.executable, "-m", "cnncost", "table", "alexnet"], capture_output=True, text=True,
                         check=True).stdout
    assert "78M" in out and "37,725,832" in out  # says what the lecture printed ...
    assert "72,855,552" in out and "37,752,832" in out  # ... and what is right


def test_json_conv1_contract():
    out = subprocess.run([sys.executable, "-m", "cnncost", "table", "alexnet", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    conv1 = json.loads(out)["layers"][0]
    assert conv1["name"] == "conv1"
    assert conv1["output_shape"] == [64, 56, 56]
    assert (conv1["params"], conv1["macs"], conv1["memory_bytes"]) == (23_296, 72_855_552, 802_816)
