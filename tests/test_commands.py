"""Commands as a user of a Unix CLI meets them: -o FILE's format, stdin for every command that takes a model,
CSV totals, versioned JSON, compare without a stem, info and budget.

Every expected figure is worked out by hand below, or quoted from its publication.
"""

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner

from cnncost.budget import parse_bytes, parse_count
from cnncost.cli import main

# A network small enough to cost by hand (input 3x32x32, lecture convention, float32):
#   conv1  3->8, 3x3, pad 1: params 8*3*3*3 + 8 = 224; MACs 8*32*32*(3*3*3) = 221,184; output 8*32*32*4 = 32,768 B
#   relu   in place: 0 B
#   global_avgpool: MACs (the lecture counts pooling windows) 8*1*1*(32*32) = 8,192; output 8*4 = 32 B
#   flatten: output 8*4 = 32 B
#   fc     8->10: params 8*10 + 10 = 90; MACs 80; output 10*4 = 40 B
# Totals: params 314, MACs 229,456, FLOPs 458,912, memory 32,872 B.
TINY = """\
name: tiny
description: A tiny test network
input: [3, 32, 32]
layers:
  - conv: {name: conv1, out: 8, kernel: 3, padding: 1}
  - relu
  - global_avgpool
  - flatten
  - linear: {name: fc, out: 10}
"""
TINY_PARAMS, TINY_MACS, TINY_MEMORY = 314, 229_456, 32_872

# No feature map of this one is ever at or below 28x28: conv1 keeps 32x32, then it is flattened.
#   params 224 + (8*32*32)*10 + 10 = 82,154
NO_STEM = """\
name: no_stem
input: [3, 32, 32]
layers:
  - conv: {name: conv1, out: 8, kernel: 3, padding: 1}
  - flatten
  - linear: {name: fc, out: 10}
"""


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def last_csv_row(text):
    return list(csv.reader(io.StringIO(text)))[-1]


# ---------------------------------------------------------------- -o FILE names the format


@pytest.mark.parametrize("name, starts", [
    ("out.csv", "name,type,input_shape"),
    ("OUT.CSV", "name,type,input_shape"),
    ("out.json", "{"),
    ("out.md", "| Layer |"),
    ("out.markdown", "| Layer |"),
])
def test_output_file_extension_names_the_format(tmp_path, name, starts):
    result = invoke("table", "-", "-o", tmp_path / name, input=TINY)
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text().startswith(starts)


@pytest.mark.parametrize("name", ["out.txt", "out", "out.tsv"])
def test_other_extensions_get_the_text_table(tmp_path, name):
    assert invoke("table", "-", "-o", tmp_path / name, input=TINY).exit_code == 0
    text = (tmp_path / name).read_text()
    assert "conv1" in text and not text.startswith(("{", "name,", "|"))
    assert "\x1b[" not in text  # a file gets no colour


def test_explicit_format_wins_over_the_extension(tmp_path):
    assert invoke("table", "-", "-o", tmp_path / "out.csv", "--format", "json", input=TINY).exit_code == 0
    assert json.loads((tmp_path / "out.csv").read_text())["totals"]["params"] == TINY_PARAMS


def test_extension_inference_is_shared_by_every_command_with_output_options(tmp_path):
    assert invoke("memory", "-", "-o", tmp_path / "m.json", input=TINY).exit_code == 0
    # the weights of 314 float32 parameters: 314 * 4 bytes
    assert json.loads((tmp_path / "m.json").read_text())["totals"]["weights_bytes"] == 314 * 4
    assert invoke("list", "-o", tmp_path / "zoo.csv").exit_code == 0
    assert (tmp_path / "zoo.csv").read_text().splitlines()[0].count(",") >= 2


# ---------------------------------------------------------------- stdin (-) for every command that takes a model


def test_table_reads_stdin():
    data = json.loads(invoke("table", "-", "--format", "json", input=TINY).stdout)
    assert data["totals"]["params"] == TINY_PARAMS and data["totals"]["macs"] == TINY_MACS


def test_explain_reads_stdin():
    data = json.loads(invoke("explain", "-", "--format", "json", input=TINY).stdout)
    assert data["model"] == "tiny"
    lecture = next(c for c in data["conventions"] if c["convention"] == "lecture")
    assert lecture["params"] == TINY_PARAMS and lecture["macs"] == TINY_MACS


def test_memory_reads_stdin():
    data = json.loads(invoke("memory", "-", "--format", "json", input=TINY).stdout)
    rows = {r["name"]: r for r in data["layers"]}
    assert rows["conv1"]["weights_bytes"] == 224 * 4 and rows["fc"]["weights_bytes"] == 90 * 4


def test_rf_reads_stdin():
    data = json.loads(invoke("rf", "-", "--format", "json", input=TINY).stdout)
    conv1 = next(r for r in data["layers"] if r["name"] == "conv1")
    assert conv1["receptive_field"] == [3, 3] and conv1["effective_stride"] == [1, 1]


def test_latency_reads_stdin():
    data = json.loads(invoke("latency", "-", "--device", "a100-80gb", "--format", "json", input=TINY).stdout)
    assert data["model"] == "tiny" and [r["name"] for r in data["layers"]][0] == "conv1"


def test_sweep_reads_stdin():
    data = json.loads(invoke("sweep", "-", "--batch", "1,2", "--format", "json", input=TINY).stdout)
    assert [p["macs"] for p in data["points"]] == [TINY_MACS, 2 * TINY_MACS]


def test_compare_reads_stdin():
    data = json.loads(invoke("compare", "-", "resnet20_cifar", "--format", "json", input=TINY).stdout)
    assert data["models"][0]["model"] == "tiny" and data["models"][0]["whole"]["params"] == TINY_PARAMS


def test_compare_baseline_may_be_stdin():
    data = json.loads(invoke("compare", "resnet20_cifar", "-", "--baseline", "-", "--format", "json",
                             input=TINY).stdout)
    assert data["baseline"] == "tiny" and data["models"][1]["ratios"]["whole"]["params"] == 1.0


def test_compare_with_stdin_twice_is_one_error():
    result = invoke("compare", "-", "-", input=TINY)
    assert result.exit_code == 2 and result.stdout == ""
    assert "stdin" in result.stderr and len(result.stderr.splitlines()) == 1


def test_info_reads_stdin():
    data = json.loads(invoke("info", "-", "--format", "json", input=TINY).stdout)
    assert data["model"] == "tiny" and data["description"] == "A tiny test network"
    assert data["totals"]["params"] == TINY_PARAMS and data["input"] == [3, 32, 32]


def test_budget_reads_stdin():
    result = invoke("budget", "-", "--max-params", TINY_PARAMS, input=TINY)
    assert result.exit_code == 0 and "within budget" in result.stdout


def test_plot_reads_stdin(tmp_path):
    pytest.importorskip("matplotlib")
    result = invoke("plot", "-", "-o", tmp_path / "tiny.png", input=TINY)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validate_reads_stdin():
    pytest.importorskip("torch")
    result = invoke("validate", "-", "--format", "json", input=TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True


def test_validate_reads_stdin_only_as_its_one_model():
    pytest.importorskip("torch")
    result = invoke("validate", "-", "alexnet", input=TINY)
    assert result.exit_code == 2 and "stdin" in result.stderr


# ---------------------------------------------------------------- CSV totals, versioned JSON


def test_table_csv_ends_with_the_totals_row():
    row = last_csv_row(invoke("table", "-", "--format", "csv", input=TINY).stdout)
    assert row[:2] == ["total", "total"]
    assert [int(v) for v in row[4:9]] == [TINY_PARAMS, 0, TINY_MACS, 2 * TINY_MACS, TINY_MEMORY]


def test_totals_row_leaves_out_side_outputs_as_the_totals_do():
    text = TINY + "  - side:\n      name: aux\n      input: conv1\n      layers:\n        - flatten\n" \
                  "        - linear: {out: 2}\n"
    row = last_csv_row(invoke("table", "-", "--format", "csv", input=text).stdout)
    assert int(row[4]) == TINY_PARAMS  # the side head's 8*32*32*2 + 2 parameters are not counted
    row = last_csv_row(invoke("table", "-", "--format", "csv", "--side", input=text).stdout)
    assert int(row[4]) == TINY_PARAMS + 8 * 32 * 32 * 2 + 2


def test_memory_csv_ends_with_the_totals_row():
    row = last_csv_row(invoke("memory", "-", "--format", "csv", "--optimizer", "adam", input=TINY).stdout)
    # weights, gradients, Adam's two states: 314 float32 values each
    assert row[:6] == ["total", "total", str(314 * 4), str(314 * 4), str(2 * 314 * 4), "0"]


def test_latency_csv_ends_with_the_totals_row():
    out = invoke("latency", "-", "--device", "a100-80gb", "--format", "csv", input=TINY).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    total = rows[-1]
    assert total["name"] == "total"
    assert int(total["flops"]) == sum(int(r["flops"]) for r in rows[:-1])


@pytest.mark.parametrize("args", [
    ("table", "-"), ("memory", "-"), ("rf", "-"), ("explain", "-"), ("latency", "-", "--device", "a100-80gb"),
    ("sweep", "-", "--batch", "1,2"), ("compare", "-", "alexnet"), ("info", "-"), ("budget", "-", "--max-params", "1M"),
    ("check", "alexnet"),
])
def test_json_outputs_carry_the_schema_version(args):
    result = invoke(*args, "--format", "json", input=TINY)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and next(iter(data)) == "schema_version"


def test_report_json_carries_the_description():
    data = json.loads(invoke("table", "-", "--format", "json", input=TINY).stdout)
    assert data["description"] == "A tiny test network"


# ---------------------------------------------------------------- compare without a stem


def test_compare_cifar_networks():
    result = invoke("compare", "resnet20_cifar", "resnet56_cifar", "--format", "json")
    assert result.exit_code == 0, result.output
    models = {m["model"]: m for m in json.loads(result.stdout)["models"]}
    # He et al. 2015, Table 6: ResNet-20 0.27M, ResNet-56 0.85M parameters
    assert round(models["resnet20_cifar"]["whole"]["params"] / 1e6, 2) == 0.27
    assert round(models["resnet56_cifar"]["whole"]["params"] / 1e6, 2) == 0.85


def test_compare_a_network_without_a_stem_compares_the_whole_networks():
    result = invoke("compare", "-", "resnet20_cifar", input=NO_STEM)
    assert result.exit_code == 0, result.output
    lines = [l for l in result.stdout.splitlines() if l.startswith("No stem part")]
    assert lines == ["No stem part for no_stem: the stem ends at the first output at or below 28x28, and no_stem's "
                     "smallest map is 32x32 at input 3x32x32."]
    data = json.loads(invoke("compare", "-", "resnet20_cifar", "--format", "json", input=NO_STEM).stdout)
    assert data["models"][0]["stem"] is None and data["models"][0]["whole"]["params"] == 82_154
    assert data["models"][0]["stem_absent"] == "smallest map is 32x32 at input 3x32x32"
    assert data["models"][1]["stem"] is not None


def test_compare_networks_that_never_reach_the_cut():
    # FCN keeps output stride 8: 520 / 8 = 65, so no map is at or below 28x28
    result = invoke("compare", "fcn_resnet50", "fcn_resnet101", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert [r["part"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["whole", "whole"]
    text = invoke("compare", "fcn_resnet50", "fcn_resnet101", "--format", "markdown").stdout
    assert "Stem:" not in text
    assert "fcn_resnet50's smallest map is 65x65 at input 3x520x520" in text
    assert "Only the whole networks are compared." in text


# ---------------------------------------------------------------- budget


@pytest.mark.parametrize("text, value", [("5M", 5_000_000), ("600k", 600_000), ("600K", 600_000),
                                          ("1.5G", 1_500_000_000),
                                          ("5_000_000", 5_000_000), ("5,000,000", 5_000_000), ("1e9", 10 ** 9),
                                          ("0", 0), (" 12 ", 12), ("2T", 2 * 10 ** 12)])
def test_counts(text, value):
    assert parse_count(text, "--max-params") == value


@pytest.mark.parametrize("text, value", [("64MiB", 64 * 1024 * 1024), ("64mib", 64 * 1024 * 1024), ("1KiB", 1024),
                                          ("2GiB", 2 * 1024 ** 3), ("64MB", 64_000_000), ("1KB", 1000),
                                          ("1GB", 10 ** 9), ("100", 100), ("100B", 100), ("1.5KiB", 1536)])
def test_sizes(text, value):
    assert parse_bytes(text, "--max-memory") == value


@pytest.mark.parametrize("option, text, words", [
    ("--max-params", "5MB", "unknown unit 'MB' for a count"),
    ("--max-memory", "64M", "unknown unit 'M' for a size"),
    ("--max-params", "1,5M", "not a number"),  # a decimal comma is not read as 15M
    ("--max-params", "-1", "negative"),
    ("--max-params", "1.5", "not a whole number"),
    ("--max-macs", "lots", "not a number"),
    ("--max-flops", "1e999999", "larger than"),
])
def test_bad_limits_are_usage_errors(option, text, words):
    result = invoke("budget", "-", option, text, input=TINY)
    assert result.exit_code == 2 and result.stdout == ""
    assert words in result.stderr and option in result.stderr and len(result.stderr.splitlines()) == 1


def test_budget_needs_a_limit():
    result = invoke("budget", "-", input=TINY)
    assert result.exit_code == 2 and "give at least one limit" in result.stderr


def test_budget_within_every_limit_is_one_ok_line():
    result = invoke("budget", "-", "--max-params", "5M", "--max-macs", "600M", "--max-flops", "1G",
                    "--max-memory", "64MiB", input=TINY)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "<stdin>: within budget (params 314 <= 5,000,000; MACs 229,456 <= 600,000,000; FLOPs 458,912 <= "
        "1,000,000,000; activation memory 32,872 bytes <= 67,108,864)"]


def test_budget_exceeded_is_one_line_per_limit_and_exit_1(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    result = invoke("budget", path, "--max-params", "300", "--max-macs", "200k", "--max-memory", "32KiB",
                    "--max-flops", "1G")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}: params: 314, over --max-params 300 by 4.7%",  # 14 / 300
        f"{path}: MACs: 229,456, over --max-macs 200k (200,000) by 14.7%",  # 29,456 / 200,000
        f"{path}: activation memory: 32,872 bytes, over --max-memory 32KiB (32,768 bytes) by 0.3%",  # 104 / 32,768
    ]


def test_budget_limit_equal_to_the_figure_holds():
    assert invoke("budget", "-", "--max-macs", TINY_MACS, input=TINY).exit_code == 0
    assert invoke("budget", "-", "--max-macs", TINY_MACS - 1, input=TINY).exit_code == 1


def test_budget_takes_batch_input_set_and_convention():
    # batch 2 doubles the MACs: 458,912
    assert invoke("budget", "-", "--batch", "2", "--max-macs", 2 * TINY_MACS, input=TINY).exit_code == 0
    assert invoke("budget", "-", "--batch", "2", "--max-macs", 2 * TINY_MACS - 1, input=TINY).exit_code == 1
    # at 3x16x16: conv 8*16*16*27 = 55,296, pool 8*16*16 = 2,048, fc 80: 57,424
    assert invoke("budget", "-", "--input", "3x16x16", "--max-macs", 57_424, input=TINY).exit_code == 0
    assert invoke("budget", "-", "--input", "3x16x16", "--max-macs", 57_423, input=TINY).exit_code == 1
    # torchvision's convention counts no pooling: 221,184 + 80
    assert invoke("budget", "-", "--convention", "torchvision", "--max-macs", 221_264, input=TINY).exit_code == 0
    # float16 halves the activation bytes: 32,872 / 2
    assert invoke("budget", "-", "--dtype", "float16", "--max-memory", 16_436, input=TINY).exit_code == 0
    # resnet20_cifar's n: 6n + 2 layers; n=1 keeps one block per stage. He et al.: 0.27M at n=3
    assert invoke("budget", "resnet20_cifar", "--max-params", "0.28M").exit_code == 0
    assert invoke("budget", "resnet20_cifar", "--set", "n=9", "--max-params", "0.28M").exit_code == 1


def test_budget_json_for_ci():
    result = invoke("budget", "-", "--max-params", "300", "--max-memory", "64MiB", "--format", "json", input=TINY)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["model"] == "tiny" and data["file"] == "<stdin>"
    assert data["checks"] == [
        {"figure": "params", "option": "--max-params", "value": 314, "limit": 300, "limit_text": "300", "ok": False,
         "excess": 14},
        {"figure": "memory", "option": "--max-memory", "value": 32_872, "limit": 64 * 1024 * 1024,
         "limit_text": "64MiB", "ok": True, "excess": 0},
    ]


# ---------------------------------------------------------------- info


def test_info_shows_parameters_with_defaults_and_docs():
    data = json.loads(invoke("info", "mobilenet_v1", "--format", "json").stdout)
    # architectures/mobilenet_v1.yaml: alpha 1.0 (width multiplier), resolution 224, classes 1000
    assert [(p["name"], p["default"], p["doc"]) for p in data["parameters"]] == [
        ("alpha", 1.0, "width multiplier"), ("resolution", 224, "input height and width"), ("classes", 1000, "")]
    assert data["input"] == [3, 224, 224]
    assert data["references"] == ["Howard et al. 2017, Table 1"]


def test_info_shows_choices_and_what_a_model_extends():
    data = json.loads(invoke("info", "resnet101", "--format", "json").stdout)
    assert data["extends"] == "resnet50"
    params = {p["name"]: p for p in data["parameters"]}
    assert params["stride_on"]["choices"] == ["3x3", "1x1"] and params["stride_on"]["default"] == "3x3"
    assert params["depths"]["default"] == [3, 4, 23, 3]  # He et al. 2015, Table 1, 101-layer


def test_info_shows_published_figures():
    data = json.loads(invoke("info", "resnet50", "--format", "json").stdout)
    published = {p["id"]: p for p in data["published"]}
    # torchvision's ResNet50_Weights.IMAGENET1K_V1: num_params 25,557,032; acc@1 76.130, acc@5 92.862
    assert published["torchvision/resnet50/num_params"]["printed"] == "25,557,032"
    assert published["torchvision/resnet50/num_params"]["outcome"] == "reproduces"
    assert data["accuracy"]["top1"] == 76.13 and data["accuracy"]["top5"] == 92.862


def test_info_text():
    result = invoke("info", "resnet20_cifar")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "resnet20_cifar: ResNet-20 for CIFAR-10, option A shortcuts (He et al. 2015)"
    assert any(l.split()[:2] == ["n", "3"] and "depth = 6n + 2" in l for l in lines)
    assert any("printed \"0.27M\"" in l for l in lines)  # He et al. 2015, Table 6


def test_info_of_an_unknown_model_is_one_error():
    result = invoke("info", "resnet5")
    assert result.exit_code == 2 and "no architecture named 'resnet5'" in result.stderr


# ---------------------------------------------------------------- the Python API

import inspect  # noqa: E402
import os  # noqa: E402
from importlib import resources  # noqa: E402

import cnncost  # noqa: E402
from cnncost import CnnCostError  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def test_report_repr_is_one_short_line():
    report = cnncost.analyze_text(TINY)
    assert repr(report) == ("<Report tiny: input 3x32x32, batch 1, float32, lecture; 5 layers, 314 params, "
                            "229,456 MACs, 32,872 bytes of activations>")
    # 515 rows, and still one short line
    assert len(repr(cnncost.analyze("resnet152"))) < 200


def test_str_of_a_report_is_the_commands_table():
    report = cnncost.analyze_text(TINY, name="<stdin>")
    assert str(report) == invoke("table", "-", input=TINY).stdout  # piped: the whole table, no colour


@pytest.mark.parametrize("options, args", [
    (dict(format="markdown", exact=True), ["--format", "markdown", "--exact"]),
    (dict(format="csv", depth=1), ["--format", "csv", "--depth", "1"]),
    (dict(sort="params", top=2, notes=False), ["--sort", "params", "--top", "2", "--no-notes"]),
    (dict(format="json", rf=True), ["--format", "json", "--rf"]),
])
def test_report_table_takes_the_commands_options(options, args):
    report = cnncost.analyze("resnet18")
    assert report.table(**options) == invoke("table", "resnet18", *args).stdout


def test_report_table_fits_a_width():
    text = cnncost.analyze("resnet18").table(width=72)
    assert max(len(line) for line in text.splitlines()) <= 72


def test_analyze_takes_the_input_as_the_command_line_writes_it():
    # at 3x16x16: conv 8*16*16*27 = 55,296, pool 8*16*16 = 2,048, fc 80
    assert cnncost.analyze_text(TINY, input="3x16x16").totals.macs == 57_424
    assert cnncost.analyze_text(TINY, input=(3, 16, 16)).totals.macs == 57_424
    assert cnncost.analyze("resnet18", input="3x64x64").input == (3, 64, 64)


def test_a_bad_input_names_the_argument_not_the_zoo_file():
    with pytest.raises(CnnCostError) as caught:
        cnncost.analyze("resnet50", input="224x224")
    assert caught.value.file is None and str(caught.value).startswith("input '224x224' must be three")


def test_errors_carry_file_line_and_layer():
    with pytest.raises(CnnCostError) as caught:
        cnncost.analyze_text(TINY.replace("out: 10", "out: 0"), name="tiny.yaml")
    error = caught.value
    assert (error.file, error.line, error.layer) == ("tiny.yaml", 9, "fc")  # TINY's line 9 is fc
    assert str(error).startswith("tiny.yaml:9: layer 'fc': ")


BAD_CALLS = {
    "model is an int": lambda: cnncost.analyze(5),
    "model is None": lambda: cnncost.load(None),
    "settings is a dict": lambda: cnncost.analyze("alexnet", {"batch": 2}),
    "batch is text": lambda: cnncost.analyze("alexnet", batch="4"),
    "batch is a float": lambda: cnncost.analyze("alexnet", batch=2.0),
    "dtype is an int": lambda: cnncost.analyze("alexnet", dtype=16),
    "convention is a list": lambda: cnncost.analyze("alexnet", convention=["fvcore"]),
    "include_side is text": lambda: cnncost.analyze("alexnet", include_side="yes"),
    "set is an int": lambda: cnncost.analyze("alexnet", set=5),
    "set has an int key": lambda: cnncost.analyze("alexnet", set={1: 2}),
    "input has two numbers": lambda: cnncost.analyze("alexnet", input=(3, 224)),
    "input has a string in it": lambda: cnncost.analyze("alexnet", input=(3, "224", 224)),
    "input text is not numbers": lambda: cnncost.analyze("alexnet", input="3x22ax224"),
    "text is bytes": lambda: cnncost.analyze_text(TINY.encode()),
    "name is an int": lambda: cnncost.load_text(TINY, 5),
    "unknown option to load": lambda: cnncost.load("alexnet", batches=2),
    "under an unknown convention": lambda: cnncost.analyze("alexnet").under("flops"),
    "group_by_depth of a name": lambda: cnncost.group_by_depth("alexnet", 1),
    "group_by_depth of depth text": lambda: cnncost.group_by_depth(cnncost.analyze("alexnet"), "1"),
    "table in a format that is not one": lambda: cnncost.analyze("alexnet").table("html"),
    "table sorted by nothing known": lambda: cnncost.analyze("alexnet").table(sort="flops"),
    "table depth 0": lambda: cnncost.analyze("alexnet").table(depth=0),
    "settings replaced by an unknown field": lambda: cnncost.Settings().replace(batches=2),
    "model_info of an int": lambda: cnncost.model_info(5),
    "to_torch of a list": lambda: cnncost.to_torch(["alexnet"]),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_arguments_raise_cnncost_errors(name):
    with pytest.raises(CnnCostError):
        BAD_CALLS[name]()


def test_to_torch_takes_analyzes_options():
    torch = pytest.importorskip("torch")
    options = dict(input="3x16x16", batch=4, dtype="float64", convention="fvcore", include_side=False)
    net = cnncost.to_torch(cnncost.load_text(TINY, input=(3, 16, 16)), **options)
    assert sum(p.numel() for p in net.parameters()) == TINY_PARAMS
    assert {p.dtype for p in net.parameters()} == {torch.float64}
    assert net(torch.zeros(4, 3, 16, 16, dtype=torch.float64)).shape == (4, 10)
    resnet = cnncost.to_torch("resnet18", set={"classes": 7}, input="3x32x32")
    assert resnet.fc.out_features == 7 and resnet.input_shape == (3, 32, 32)
    # ResNet-18 with 7 classes: torchvision's 11,689,512 less 513 * (1000 - 7) fc weights and biases
    assert sum(p.numel() for p in resnet.parameters()) == 11_689_512 - 513 * 993


@pytest.mark.parametrize("options, words", [
    (dict(dtype="int8"), "floating point"), (dict(device=0), "device must be a str"),
    (dict(device="tpu"), "unknown device"), (dict(batch=0), "batch must be"),
])
def test_to_torch_errors(options, words):
    pytest.importorskip("torch")
    with pytest.raises(CnnCostError, match=words):
        cnncost.to_torch("alexnet", **options)


def test_public_api_has_docstrings_and_type_hints():
    for name in cnncost.__all__:
        thing = getattr(cnncost, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(thing), name
        if inspect.isfunction(thing):
            signature = inspect.signature(thing)
            assert signature.return_annotation is not inspect.Signature.empty, name
            for parameter in signature.parameters.values():
                assert parameter.annotation is not inspect.Parameter.empty, (name, parameter.name)


def test_the_package_ships_py_typed():
    assert resources.files("cnncost").joinpath("py.typed").is_file()
    with open(os.path.join(os.path.dirname(DOCS), "pyproject.toml")) as f:
        assert '"cnncost" = ["py.typed"]' in f.read()


def test_every_subpackage_ships():
    # the wheel holds only the packages pyproject.toml names: a new subpackage left out installs a cnncost that
    # cannot import it (a clean install's 'cnncost graph' failed on cnncost.expand, split out of expand.py)
    root = os.path.dirname(DOCS)
    with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:  # no tomllib before Python 3.11
        listed = set(re.findall(r'"([\w.]+)"', re.search(r"^packages = \[(.*?)\]", f.read(), re.M | re.S)[1]))
    found = {os.path.relpath(folder, root).replace(os.sep, ".") for folder, _, files in
             os.walk(os.path.join(root, "cnncost")) if "__init__.py" in files}
    assert found and found <= listed, sorted(found - listed)


def test_docs_stand_alone():
    # users have the docs and the README, not the project's shared folder
    folder = os.path.dirname(DOCS)
    paths = [os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".md")]
    for path in paths + [os.path.join(folder, "README.md")]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert "shared/" not in text and "lecture8.txt" not in text, path
