"""The terminal table: fitting the width (COLUMNS and a real pseudo-terminal), whole when piped or --wide,
numbers never cut, --fold, --sort/--top, share columns, --no-notes, and the readability rules.

Figures are worked out by hand in the comments, or read from the JSON report (exact integers) and compared
with what the table prints after parsing its cells; no expected text is the tool's own output pasted back.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios

import pytest

from cnncost import zoo
from cnncost.render import table as layer_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# A network small enough to cost by hand (lecture convention, float32, batch 1):
#   conv1 3->4, 3x3, pad 1 on 8x8: params 4*3*9 + 4 = 112, MACs 4*8*8*3*9 = 6,912, memory 4*8*8*4 = 1,024 B
#   bn1: params 2*4 = 8, in place; relu1: in place
#   pool1 2x2: out 4x4x4, MACs 4*4*4*2*2 = 256, memory 64*4 = 256 B
#   conv2 4->8, 3x3, pad 1, groups 2: params 8*(4/2)*9 + 8 = 152, MACs 8*4*4*(4/2)*9 = 2,304, memory 512 B
#   relu2, drop2: in place
#   flatten: 128 values, memory 512 B
#   fc 128->10: params 1,290, MACs 1,280, memory 40 B
# Totals: params 1,562, MACs 10,752, memory 2,344 B.
TINY = """\
name: tiny
input: [3, 8, 8]
layers:
  - conv: {name: conv1, out: 4, kernel: 3, padding: 1}
  - batchnorm: {name: bn1}
  - relu: {name: relu1}
  - maxpool: {name: pool1, kernel: 2}
  - conv: {name: conv2, out: 8, kernel: 3, padding: 1, groups: 2}
  - relu: {name: relu2}
  - dropout: {name: drop2}
  - flatten: {name: flatten}
  - linear: {name: fc, out: 10}
notes:
  - "A note of the network's own."
"""
TINY_TOTALS = {"params": 1562, "macs": 10752, "memory_bytes": 2344}


def run(*args, columns=None, stdin=None):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    result = subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True, env=env,
                            input=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_in_pty(args, columns: int, env_extra=None) -> str:
    """cnncost on a pseudo-terminal of the given width (and no COLUMNS unless env_extra has it), as a
    user's terminal runs it."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    env.update(env_extra or {})
    child = subprocess.Popen([sys.executable, "-m", "cnncost", *args], stdin=slave, stdout=slave, stderr=slave,
                             env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert child.wait() == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def on_terminal(args, columns: int) -> str:
    """What a terminal shows, its width given by COLUMNS (over a pseudo-terminal of 200 columns), colours
    taken out."""
    return ANSI.sub("", run_in_pty(args, 200, {"COLUMNS": str(columns)}))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tables") / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


def box(text: str) -> list[str]:
    """The table's lines, from the top border to the bottom one."""
    lines = ANSI.sub("", text).splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    bottom = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[top:bottom + 1]


def parse(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The table's headers (stacked lines joined) and its rows by layer name (wrapped names joined)."""
    lines = box(text)
    header_lines = [line for line in lines if line.startswith("┃")]
    parts = [[cell.strip() for cell in line.strip("┃").split("┃")] for line in header_lines]
    headers = [" ".join(p for p in column if p) for column in zip(*parts)]
    rows: dict[str, dict[str, str]] = {}
    current = None
    for line in lines:
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if current is not None and all(not c for c in cells[1:]):  # a wrapped name's next line ...
            assert cells[0].startswith("↳ "), line  # ... marked, so it never reads as a row of its own
            name = current["Layer"] + cells[0][2:]
            rows[name] = rows.pop(current["Layer"])
            current["Layer"] = name
            continue
        current = dict(zip(headers, cells))
        rows[current["Layer"]] = current
    return headers, rows


def figure(cell: str) -> float:
    return float(cell.replace(",", ""))


def check_numbers_whole(text: str, report: dict):
    """Every figure the table shows is the JSON's exact figure, rounded as its unit says: a number cut short
    (493,8 for 493,800) cannot pass."""
    headers, rows = parse(text)
    layers = {layer["name"]: layer for layer in report["layers"]}
    checked = 0
    for name, cells in rows.items():
        if name == "total":
            continue
        layer = layers[name]
        for header, value, scale, places in (("MACs (M)", layer["macs"], 1e6, 3),
                                            ("Params (k)", layer["params"], 1e3, 3),
                                            ("Memory (KiB)", layer["memory_bytes"], 1024, 2)):
            if header in headers:
                shown = cells[header]
                assert "…" not in shown
                exact = value / scale
                # to its places, or (a small value that is not zero) to its first significant digit
                assert abs(figure(shown) - exact) <= 0.5 * 10 ** -places or (
                    exact and abs(figure(shown) - exact) <= 0.5 * abs(exact)), (name, header, shown, exact)
                checked += 1
    assert checked >= len(rows) - 1


def width_of(text: str) -> int:
    return max(len(line) for line in ANSI.sub("", text).splitlines())


@pytest.mark.parametrize("model", ["resnet50", "googlenet", "alexnet"])
@pytest.mark.parametrize("columns", [60, 80, 100, 120])
def test_the_table_fits_the_width_in_columns_and_cuts_no_number(model, columns):
    text = on_terminal(["table", model], columns)
    assert width_of(text) <= columns
    check_numbers_whole(text, json.loads(run("table", model, "--format", "json")))
    headers, rows = parse(text)
    assert {"Layer", "Params (k)", "MACs (M)"} <= set(headers)  # never left out


def test_a_pseudo_terminal_sets_the_width_and_colour():
    text = run_in_pty(["table", "resnet50"], 80)
    assert "\x1b[" in text  # a terminal gets colour ...
    assert width_of(text) <= 80  # ... and a table that fits it
    check_numbers_whole(text, json.loads(run("table", "resnet50", "--format", "json")))
    plain = run_in_pty(["table", "resnet50"], 80, {"NO_COLOR": "1"})
    assert "\x1b[" not in plain and width_of(plain) <= 80
    assert ANSI.sub("", text) == plain


def test_columns_wins_over_the_terminal_size():
    assert width_of(run_in_pty(["table", "resnet50"], 200, {"COLUMNS": "70"})) <= 70


def test_columns_does_not_narrow_piped_output():
    # shells and CI jobs export COLUMNS; what a program reads must still be whole
    assert run("table", "resnet50", columns=60) == run("table", "resnet50")
    assert run("memory", "resnet50", columns=60) == run("memory", "resnet50")


def test_a_wide_terminal_shows_the_whole_table():
    whole = run("table", "alexnet")
    shown = ANSI.sub("", run_in_pty(["table", "alexnet"], 200))
    assert box(shown) == box(whole)
    assert shown.split() == whole.split()  # the notes under it wrapped to 200 columns, word for word the same
    assert width_of(shown) <= 200 < width_of(whole)


def test_columns_go_in_the_stated_order():
    """Narrowing the terminal only ever takes columns away, and in the order table.py states."""
    report = json.loads(run("table", "resnet50", "--format", "json", "--rf"))
    order = [c for c in layer_table.DROPS if c not in ("merge", "wrap")]
    previous = None
    gone: list[str] = []
    for columns in range(140, 39, -4):
        headers, _ = parse(on_terminal(["table", "resnet50", "--rf"], columns))
        shown = set(headers)
        if previous is not None:
            assert shown - previous <= {"K/S/P"}, columns  # only the merged column ever appears
            gone += [h for h in order if h in previous and h not in shown and h not in gone]
        previous = shown
    assert gone == [h for h in order if h in gone]  # in the stated order
    assert gone[:2] == ["H/W in", "Cin"]
    assert {"Layer", "Params (k)", "MACs (M)"} <= previous
    assert len(report["layers"]) > 100


def test_piped_output_is_whole_and_plain():
    text = run("table", "resnet50")
    report = json.loads(run("table", "resnet50", "--format", "json"))
    headers, rows = parse(text)
    assert headers == ["Layer", "Type", "Cin", "Cout", "K", "S", "P", "H/W in", "H/W out", "Memory (KiB)",
                       "Params (k)", "MACs (M)"]
    assert "\x1b[" not in text
    names = [line.split("│")[1].strip() for line in box(text) if line.startswith("│")]
    assert names == [layer["name"] for layer in report["layers"]] + ["total"]  # every row, one line each
    check_numbers_whole(text, report)
    assert "25,557,032 params" in text  # the footer line is whole too


def test_wide_keeps_every_column_in_a_narrow_terminal():
    wide = on_terminal(["table", "resnet50", "--wide"], 60)
    assert box(wide) == box(run("table", "resnet50"))
    assert width_of(wide) > 60
    assert len(parse(run_in_pty(["table", "resnet50", "--wide"], 60))[0]) == 12


def test_output_to_a_file_is_whole(tmp_path):
    target = tmp_path / "t.txt"
    run_in_pty(["table", "resnet50", "-o", str(target)], 60)
    assert target.read_text() == run("table", "resnet50")


def test_long_names_wrap_and_never_cut(tmp_path):
    long = "a_very_long_layer_name_that_goes_on_and_on_and_on_for_a_while"
    path = tmp_path / "long.yaml"
    path.write_text(f"input: [3, 32, 32]\nlayers:\n  - conv: {{name: {long}, out: 493, kernel: 3}}\n"
                    "  - global_avgpool: {name: gap}\n")
    text = on_terminal(["table", str(path)], 70)
    assert width_of(text) <= 70
    headers, rows = parse(text)
    assert long in rows  # the wrapped pieces join up to the name
    # 493 * 30 * 30 * 3 * 9 = 11,979,900 MACs: 11.98M
    assert rows[long]["MACs (M)"] == "11.98"


def test_a_number_too_wide_for_any_layout_still_prints_whole():
    text = on_terminal(["table", "resnet50"], 20)
    check_numbers_whole(text, json.loads(run("table", "resnet50", "--format", "json")))


def test_fold(tiny):
    data = json.loads(run("table", tiny, "--fold", "--format", "json"))
    rows = {layer["name"]: layer for layer in data["layers"]}
    assert list(rows) == ["conv1", "pool1", "conv2", "flatten", "fc"]
    assert rows["conv1"]["folded"] == ["bn1", "relu1"] and rows["conv2"]["folded"] == ["relu2", "drop2"]
    assert rows["conv1"]["params"] == 112 + 8  # the batch norm's 2*4 added to the conv's
    assert rows["conv1"]["macs"] == 6912 and rows["conv2"]["memory_bytes"] == 512
    assert {k: data["totals"][k] for k in TINY_TOTALS} == TINY_TOTALS  # folding moves no total
    headers, table = parse(run("table", tiny, "--fold"))
    assert list(table) == ["conv1", "pool1", "conv2", "flatten", "fc", "total"]
    assert table["conv1"]["Type"] == "conv+bn+relu"
    assert table["conv2"]["Type"] == "conv g=2+relu+drop"
    assert table["conv1"]["Params (k)"] == "0.12"
    # without --fold every layer has its row
    assert len(parse(run("table", tiny))[1]) == 9 + 1


def test_fold_leaves_a_row_whose_producer_is_not_the_row_before(tmp_path):
    path = tmp_path / "branch.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 1}\n"
                    "  - conv: {name: b, out: 4, kernel: 1}\n  - relu: {name: r, input: a}\n"
                    "  - add: {name: s, input: [r, b]}\n")
    data = json.loads(run("table", str(path), "--fold", "--format", "json"))
    assert [layer["name"] for layer in data["layers"]] == ["a", "b", "r", "s"]


def test_sort_top_and_shares(tiny):
    # MACs: conv1 6,912, conv2 2,304, fc 1,280, pool1 256, the rest 0; of 10,752
    data = json.loads(run("table", tiny, "--sort", "macs", "--format", "json"))
    assert [layer["name"] for layer in data["layers"]][:4] == ["conv1", "conv2", "fc", "pool1"]
    text = run("table", tiny, "--sort", "macs", "--top", "2")
    headers, rows = parse(text)
    assert list(rows) == ["conv1", "conv2", "total"]
    assert headers == ["Layer", "Type", "Cin", "Cout", "K", "S", "P", "H/W in", "H/W out", "Memory (KiB)", "% mem",
                       "Params (k)", "% params", "MACs (M)", "% MACs"]
    # 100 * 6,912 / 10,752 = 64.29; 2,304 -> 21.43; params 112 / 1,562 = 7.17, 152 -> 9.73;
    # memory 1,024 / 2,344 = 43.69, 512 -> 21.84
    assert (rows["conv1"]["% MACs"], rows["conv2"]["% MACs"]) == ("64.3", "21.4")
    assert (rows["conv1"]["% params"], rows["conv2"]["% params"]) == ("7.2", "9.7")
    assert (rows["conv1"]["% mem"], rows["conv2"]["% mem"]) == ("43.7", "21.8")
    assert rows["total"]["% MACs"] == "100.0"  # places kept, so the column lines up
    # the two hold (6,912 + 2,304) / 10,752 = 85.7% of the MACs, 264 / 1,562 = 16.9% of the params
    assert "85.7% of the MACs" in text and "16.9% of the parameters" in text
    by_params = parse(run("table", tiny, "--sort", "params", "--top", "1"))[1]
    assert list(by_params) == ["fc", "total"] and by_params["fc"]["% params"] == "82.6"  # 1,290 / 1,562
    by_memory = parse(run("table", tiny, "--sort", "memory", "--top", "1"))[1]
    assert list(by_memory) == ["conv1", "total"]
    # --top alone ranks by MACs
    assert list(parse(run("table", tiny, "--top", "1"))[1]) == ["conv1", "total"]


def test_share_columns_without_sorting(tiny):
    headers, rows = parse(run("table", tiny, "--share"))
    assert list(rows)[:3] == ["conv1", "bn1", "relu1"]  # network order
    assert rows["fc"]["% params"] == "82.6" and rows["pool1"]["% MACs"] == "2.4"  # 256 / 10,752 = 2.38
    assert rows["bn1"]["% params"] == "0.5"  # 8 / 1,562 = 0.51
    md = run("table", tiny, "--share", "--format", "markdown")
    assert "| % MACs |" in md.splitlines()[0] and "| 64.3 |" in md


def test_no_notes(tiny):
    assert "A note of the network's own." in run("table", tiny)
    assert "A note of the network's own." not in run("table", tiny, "--no-notes")
    lecture = run("table", "alexnet")
    assert "Erratum:" in lecture and "78M" in lecture
    quiet = run("table", "alexnet", "--no-notes")
    assert "Erratum:" not in quiet and "78M" not in quiet
    assert "61,100,840 params" in quiet  # the totals line stays
    assert "Erratum:" not in run("table", "alexnet", "--no-notes", "--format", "markdown")


def test_small_values_never_print_as_zero(tmp_path):
    path = tmp_path / "small.yaml"
    # one int8 value: 1 byte = 0.0009765625 KB; a linear 1 -> 1: 1 MAC = 0.000001 M, 2 params = 0.002 k
    path.write_text("input: [1, 1, 1]\nlayers:\n  - flatten: {name: f}\n  - linear: {name: fc, out: 1}\n")
    rows = parse(run("table", str(path), "--dtype", "int8"))[1]
    assert rows["fc"]["Memory (KiB)"] == "0.001"
    assert rows["fc"]["MACs (M)"] == "0.000001"
    assert rows["fc"]["Params (k)"] == "0.002"
    assert rows["f"]["MACs (M)"] == "0"  # a true zero stays 0


def test_decimals_align():
    lines = box(run("table", "alexnet"))
    headers, _ = parse(run("table", "alexnet"))
    for column in ("Memory (KiB)", "Params (k)", "MACs (M)"):
        k = headers.index(column) + 1
        dots = {line.split("│")[k].find(".") for line in lines if line.startswith("│") and "." in line.split("│")[k]}
        assert len(dots) == 1, column  # one decimal point position per column
        ends = {len(line.split("│")[k]) for line in lines if line.startswith("│")}
        assert len(ends) == 1


def test_groups_and_concat_channels(tmp_path):
    path = tmp_path / "cat.yaml"
    path.write_text("input: [8, 8, 8]\nlayers:\n  - parallel:\n      merge: concat\n      branches:\n"
                    "        a: {conv: {out: 4, kernel: 1}}\n        b: {conv: {out: 6, kernel: 3, padding: 1}}\n"
                    "  - conv: {name: g, out: 10, kernel: 1, groups: 5}\n")
    rows = parse(run("table", str(path)))[1]
    assert rows["concat"]["Cin"] == "10"  # 4 + 6 channels in
    assert rows["g"]["Type"] == "conv g=5"


def test_errata_prefilter_finds_every_zoo_model_with_errata():
    """The table's quick look at the registry says yes for every zoo model that has errata to show."""
    from cnncost import api, claims
    from cnncost.cli import errata_name

    named = {c.target["model"] for c in claims.load() if c.expected == "erratum" and c.target.get("model")}
    assert {"alexnet", "vgg16", "resnet50"} <= named
    for name in zoo.names():
        if name in named:
            assert errata_name(name), name
        elif errata_name(name):
            continue  # may say yes where there is nothing to show: claims decides
        else:
            assert not claims.errata_notes(name, api.analyze(name)), name
    assert not errata_name("-")


NUMBER = re.compile(r"(?<![\w.,/-])(?<!↳ )\d[\d,]*(?:\.\d+)?(?![\w,/-]|\.\d)")  # not a wrapped name's end


# every other command on a terminal of 60, 80 and 120 columns: tests/test_terminal.py


@pytest.mark.parametrize("text, width, lines", [
    ("72,855,552 (72.9M)", 10, ["72,855,552", "(72.9M)"]),  # at the space, not inside the number
    ("182.25 KB", 6, ["182.25", "KB"]),  # '.' is a separator, but not between digits
    ("layer1.0.shortcut.conv", 10, ["layer1.0.", "shortcut.", "conv"]),
    ("ab 1,234.5 cd", 4, ["ab", "1,234.5", "cd"]),  # a number wider than the line keeps a line of its own
])
def test_wrapping_never_splits_a_number(text, width, lines):
    from cnncost.render.grid import wrap_text

    assert wrap_text(text, width) == lines


def test_a_sweep_fits_the_terminal_and_keeps_its_figures_whole():
    args = ["sweep", "mobilenet_v1", "--set", "alpha=0.5,1.0", "--input", "3x{128..160..32}", "--memory", "--exact"]
    narrow = on_terminal(args, 70)
    assert width_of(narrow) <= 70
    # MobileNet v1 at alpha 1.0 and 160x160: 4,231,976 parameters (Howard et al. 2017, Table 6: 4.2M)
    assert "4,231,976" in narrow
    whole = run(*args)  # piped: every column
    assert "Training peak" in whole and width_of(whole) > 70


def test_a_video_map_shows_its_time_axis():
    # R(2+1)D's stem: a 1x7x7 conv3d, stride 1x2x2, padding 0x3x3, on 16 frames of 112x112 (torchvision's
    # R2Plus1dStem); the output keeps the 16 frames and halves height and width: 16x56x56, and 3 -> 45 channels
    out = run("table", "r2plus1d_18", columns=200)
    header = next(line for line in out.splitlines() if "Layer" in line)
    stem = next(line for line in out.splitlines() if "stem.0" in line)
    row = dict(zip([c.strip() for c in re.split("[┃]", header)], [c.strip() for c in re.split("[│]", stem)]))
    assert (row["Layer"], row["Type"], row["Cin"], row["Cout"]) == ("stem.0", "conv3d", "3", "45")
    assert (row["K"], row["S"], row["P"]) == ("1x7x7", "1x2x2", "0x3x3")
    assert (row["H/W in"], row["H/W out"]) == ("16x112x112", "16x56x56")


def test_a_sequence_conv_shows_its_one_number_window():
    # ECA's conv1d over 256 channels viewed as a 1 x 256 sequence (k 5, padding 2, groups 1), and a grouped
    # standardised conv: the table read an int kernel as a pair and failed before
    text = ("input: [1, 256]\nlayers:\n  - conv1d: {name: eca, out: 4, kernel: 5, stride: 2, padding: 2, groups: 1}\n"
            "  - reshape: {shape: [4, 16, 8]}\n  - std_conv: {name: ws, out: 8, kernel: 3, padding: 1, groups: 2}\n")
    out = run("table", "-", columns=200, stdin=text)
    header = next(line for line in out.splitlines() if "Layer" in line)
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    cells = {name: dict(zip([c.strip() for c in re.split("[┃]", header)], [c.strip() for c in line.split("│")]))
             for name, line in rows.items()}
    assert (cells["eca"]["K"], cells["eca"]["S"], cells["eca"]["P"]) == ("5", "2", "2")
    # a sequence's channels are its first axis and its length its size: 1 -> 4 channels, 256 -> (256 + 4 - 5)//2 + 1
    assert (cells["eca"]["Cin"], cells["eca"]["Cout"], cells["eca"]["H/W in"], cells["eca"]["H/W out"]) == \
        ("1", "4", "256", "128")
    assert cells["ws"]["Type"] == "std_conv g=2"
