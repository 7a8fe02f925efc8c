"""The command line as a user meets it: formats, options, exit codes, imports."""

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cnncost.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True)


def test_every_command_has_help_text():
    for name, command in main.commands.items():
        assert command.help, name
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, name


def test_table_imports_neither_torch_nor_numpy():
    code = ("import sys; from cnncost.cli import main\n"
            "try:\n    main(['table', 'alexnet', '--format', 'json'])\nexcept SystemExit: pass\n"
            "bad = [m for m in ('torch', 'numpy') if m in sys.modules]\n"
            "sys.stderr.write(repr(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().endswith("[]"), out.stderr


def test_json_format_totals_are_exact_integers():
    data = json.loads(run("table", "alexnet", "--format", "json").stdout)
    assert set(data) >= {"model", "input", "batch", "dtype", "convention", "layers", "totals"}
    assert data["input"] == [3, 227, 227] and data["batch"] == 1 and data["dtype"] == "float32"
    assert data["convention"] == "lecture"
    for layer in data["layers"]:
        assert set(layer) >= {"name", "type", "input_shape", "output_shape", "params", "buffers", "macs",
                              "flops", "memory_bytes"}
    assert all(isinstance(v, int) for v in data["totals"].values())


def test_csv_and_markdown():
    rows = list(csv.DictReader(io.StringIO(run("table", "alexnet", "--format", "csv").stdout)))
    conv1 = rows[0]
    assert (conv1["name"], conv1["output_shape"], conv1["macs"]) == ("conv1", "64x56x56", str(72_855_552))
    md = run("table", "alexnet", "--format", "markdown").stdout
    assert md.startswith("| Layer |") and "| conv1 | conv |" in md


def test_options_batch_dtype_input_set():
    out = run("table", "alexnet", "--format", "json", "--batch", "32", "--dtype", "float16",
              "--input", "3x224x224", "--set", "classes=10")
    data = json.loads(out.stdout)
    conv1, fc8 = data["layers"][0], data["layers"][-1]
    assert conv1["output_shape"] == [64, 55, 55]
    assert conv1["memory_bytes"] == 64 * 55 * 55 * 32 * 2
    assert conv1["macs"] == 32 * (64 * 55 * 55 * 3 * 11 * 11)
    assert fc8["output_shape"] == [10]


def test_depth_gives_subtotals(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - sequence:\n      name: a\n      layers:\n"
                    "        - conv: {out: 4, kernel: 1}\n        - conv: {name: c2, out: 4, kernel: 1}\n")
    data = json.loads(run("table", str(path), "--depth", "1", "--format", "json").stdout)
    assert [(l["name"], l["params"]) for l in data["layers"]] == [("a", (4 * 3 + 4) + (4 * 4 + 4))]


def test_output_file(tmp_path):
    target = tmp_path / "out.json"
    result = run("table", "alexnet", "--format", "json", "-o", str(target))
    assert result.returncode == 0 and result.stdout == ""
    assert json.loads(target.read_text())["model"] == "alexnet"


def test_user_error_is_one_line_on_stderr_with_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n")
    result = run("table", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{path}:3" in result.stderr and "kernal" in result.stderr and "did you mean 'kernel'" in result.stderr


def test_unknown_model_suggests_a_name():
    result = run("table", "alexnt")
    assert result.returncode == 2 and "did you mean 'alexnet'" in result.stderr


@pytest.mark.parametrize("args", [["--input", "3x224"], ["--input", "abc"], ["--set", "nope"],
                                  ["--set", "missing=1"], ["--batch", "0"], ["--dtype", "float13"]])
def test_bad_options_exit_2_without_traceback(args):
    result = run("table", "alexnet", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_list_shows_the_zoo():
    data = json.loads(run("list", "--format", "json").stdout)
    alexnet = next(m for m in data if m["model"] == "alexnet")
    assert alexnet["params"] == 61_100_840 and alexnet["input"] == [3, 227, 227]


def test_version():
    assert run("--version").stdout.startswith("cnncost, version")


def test_table_reads_a_network_from_stdin():
    text = "input: [1, 28, 28]\nlayers:\n  - conv: {out: 6, kernel: 5}\n"
    result = subprocess.run([sys.executable, "-m", "cnncost", "table", "-", "--format", "json"], input=text,
                            capture_output=True, text=True)
    conv = json.loads(result.stdout)["layers"][0]
    # 6*1*5*5 + 6 parameters; 6*24*24 outputs of 25 MACs each
    assert (conv["params"], conv["macs"]) == (6 * 25 + 6, 6 * 24 * 24 * 25)


def test_kinds_lists_every_registered_kind_with_its_arguments():
    from cnncost.kinds import KINDS

    data = json.loads(run("kinds", "--format", "json").stdout)
    assert [k["kind"] for k in data] == list(KINDS)
    conv = next(k for k in data if k["kind"] == "conv")
    assert [a["name"] for a in conv["args"] if a["required"]] == ["out", "kernel"]
    result = run("kinds", "cnv")
    assert result.returncode == 2 and "did you mean 'conv'" in result.stderr


def test_depth_json_shows_groups_even_when_there_are_as_many_groups_as_layers():
    # two groups of one layer each: the subtotals are named a and b, whatever the count
    text = ("input: [3, 8, 8]\nlayers:\n  - sequence: {name: a, layers: [{conv: {out: 4, kernel: 1}}]}\n"
            "  - sequence: {name: b, layers: [relu]}\n")
    result = CliRunner().invoke(main, ["table", "-", "--depth", "1", "--format", "json"], input=text)
    rows = json.loads(result.stdout)["layers"]
    assert [(r["name"], r["type"]) for r in rows] == [("a", "block"), ("b", "block")]
    csv_rows = CliRunner().invoke(main, ["table", "-", "--depth", "1", "--format", "csv"], input=text).stdout
    assert [line.split(",")[0] for line in csv_rows.splitlines()[1:]] == ["a", "b", "total"]  # the totals row last


def test_errata_notes_only_at_the_batch_and_dtype_they_were_printed_for():
    # the lecture's conv1 "78M" is about one 227x227 image: at batch 8 the table's figure is 8 times it
    assert "78M" in run("table", "alexnet").stdout
    assert "78M" not in run("table", "alexnet", "--batch", "8").stdout
    assert "78M" not in run("table", "alexnet", "--dtype", "float16").stdout


def test_explain_shows_every_convention_and_what_each_adds():
    from cnncost import conventions

    data = json.loads(run("explain", "resnet18", "--format", "json").stdout)
    by_name = {c["convention"]: c for c in data["conventions"]}
    assert list(by_name) == list(conventions.CONVENTIONS)
    # ptflops over torchvision, by hand: 20 BNs and 17 ReLU modules at 2 per element, the max pool (2 per
    # input element), the adaptive pool (2 per input element) and fc's bias
    bn = 2 * (64 * 112 * 112 + 4 * 64 * 56 * 56 + 4 * 128 * 28 * 28 + 4 * 256 * 14 * 14 + 4 * 512 * 7 * 7
              + 128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7)
    relu = 2 * (64 * 112 * 112 + 4 * 64 * 56 * 56 + 4 * 128 * 28 * 28 + 4 * 256 * 14 * 14 + 4 * 512 * 7 * 7)
    pools = 2 * 64 * 112 * 112 + 2 * 512 * 7 * 7
    ptflops = by_name["ptflops"]
    assert ptflops["macs"] - by_name["torchvision"]["macs"] == bn + relu + pools + 1000
    assert {d["kind"]: d["delta"] for d in ptflops["differences"]} == {
        "batchnorm": bn, "relu": relu, "maxpool": 2 * 64 * 112 * 112, "adaptive_avgpool": 2 * 512 * 7 * 7,
        "linear": 1000}
    for fmt, marker in (("table", "ptflops"), ("csv", "ptflops,batchnorm"), ("markdown", "| ptflops |")):
        assert marker in run("explain", "resnet18", "--format", fmt).stdout, fmt


def test_a_format_registered_in_one_place_is_offered_and_used(tmp_path, monkeypatch):
    """Adding a format is one FORMATS entry and one writer (render/formats.py): the CLI offers it in
    --format and for -o FILE's extension, and every command's result goes through it."""
    from cnncost.render.formats import FORMATS, Format

    def tsv(shown):
        header, rows = shown.records()
        return "".join("\t".join(map(str, row)) + "\n" for row in [header, *rows])

    runner = CliRunner()
    assert runner.invoke(main, ["table", "alexnet", "--format", "tsv"]).exit_code == 2  # not offered before
    monkeypatch.setitem(FORMATS, "tsv", Format("tsv", tsv, (".tsv",)))
    assert "tsv" in runner.invoke(main, ["table", "--help"]).output
    for command in (["table", "alexnet"], ["memory", "alexnet"], ["rf", "alexnet"], ["explain", "alexnet"],
                    ["list"]):
        as_csv = runner.invoke(main, [*command, "--format", "csv"])
        as_tsv = runner.invoke(main, [*command, "--format", "tsv"])
        assert as_csv.exit_code == as_tsv.exit_code == 0, command
        assert as_tsv.output == "".join("\t".join(row) + "\n" for row in csv.reader(io.StringIO(as_csv.output)))
    written = tmp_path / "alexnet.tsv"
    assert runner.invoke(main, ["table", "alexnet", "-o", str(written)]).exit_code == 0
    assert written.read_text().splitlines()[0].split("\t")[:3] == ["name", "type", "input_shape"]
