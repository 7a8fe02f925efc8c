"""Every command on a pseudo-terminal 60, 80 and 120 columns wide: no line longer than the terminal, no number
cut, a line naming the columns left out to fit, and wrapped names visibly continued.

The expectation is always the command's own whole output (piped: nothing left out, nothing wrapped), so
each check compares two forms of the same figures, not text pasted from the tool.
"""

from __future__ import annotations

import fcntl
import json
import struct
import os
import re
import subprocess
import sys
import termios

import pytest

from tests.test_tables import ANSI, NUMBER, run_in_pty

COMMANDS = {
    "table": ["table", "resnet50"],
    "table-top": ["table", "resnet152", "--sort", "macs", "--top", "10"],
    "memory": ["memory", "resnet50", "--device", "a100-80gb"],
    "rf": ["rf", "resnet50", "--local"],
    "latency": ["latency", "resnet50", "--device", "t4"],
    "explain": ["explain", "resnet18"],
    "devices": ["devices"],
    "compare": ["compare", "vgg16", "googlenet"],
    "check": ["check", "alexnet", "--explain"],
    "sweep": ["sweep", "resnet18", "--batch", "1,8", "--input", "3x{128..160..32}", "--memory"],
    "info": ["info", "mobilenet_v1"],
    "list": ["list"],
    "kinds": ["kinds"],
}
WIDTHS = (60, 80, 120)
NOTE = "Left out to fit the terminal: "
MARK = "\x1e"  # starts each output's label line in the child's stream

# One process on a pseudo-terminal runs every command at every width (the terminal resized before each, as a
# user's window is), and each once more with stdout not a terminal (piped: whole). One Python start-up in all.
CHILD = r"""
import fcntl, io, json, struct, sys, termios
from cnncost.cli import main
for name, args, width in json.loads(sys.argv[1]):
    sys.stdout.write("\x1e" + json.dumps([name, width]) + "\n")
    sys.stdout.flush()
    if width:
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    else:
        real, sys.stdout = sys.stdout, io.StringIO()
    code = 0
    try:
        main(args)
    except SystemExit as exit:
        code = exit.code
    if not width:
        text, sys.stdout = sys.stdout.getvalue(), real
        sys.stdout.write(text)
    sys.stdout.write("\x1e" + json.dumps(["end", code]) + "\n")
    sys.stdout.flush()
"""


@pytest.fixture(scope="module")
def outputs():
    """{(name, width): text}, width 0 for the piped (whole) output."""
    jobs = [(name, args, width) for name, args in COMMANDS.items() for width in (0, *WIDTHS)]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(jobs)], stdin=slave, stdout=slave,
                             stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert child.wait() == 0
    found, label, body = {}, None, []
    for line in b"".join(chunks).decode().replace("\r\n", "\n").split("\n"):
        if line.startswith(MARK):
            first, second = json.loads(line[1:])
            if first == "end":
                assert second in (0, None), (label, "\n".join(body[-3:]))
                found[label] = ANSI.sub("", "\n".join(body)) + "\n"
            else:
                label, body = (first, second), []
            continue
        body.append(line)
    assert len(found) == len(jobs)
    return found


def whole(outputs, name: str) -> str:
    """The command piped: every column, nothing wrapped."""
    return outputs[name, 0]


def shown(outputs, name: str, width: int) -> str:
    return outputs[name, width]


def _first_table(text: str) -> tuple[list[str], list[str]] | None:
    """The first box-drawn table's lines, and the lines after it up to the next table."""
    lines = text.splitlines()
    top = next((i for i, line in enumerate(lines) if line.startswith("┏")), None)
    if top is None:
        return None
    bottom = next(i for i in range(top, len(lines)) if lines[i].startswith("└"))
    after = []
    for line in lines[bottom + 1:]:
        if line.startswith("┏") or (after and not line.strip()):
            break
        after.append(line)
    return lines[top:bottom + 1], after


def _columns(table: list[str]) -> int:
    return table[0].count("┳") + 1


def _left_out(after: list[str]) -> list[str]:
    text = " ".join(after)
    if NOTE not in text:
        return []
    listed = text.split(NOTE, 1)[1].split(". --wide", 1)[0]
    return [h.strip() for h in listed.split(", ")]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_fits_the_terminal(outputs, name, width):
    text = shown(outputs, name, width)
    full = whole(outputs, name)
    assert text.strip() and full.strip()
    assert max(map(len, text.splitlines())) <= width, name
    # no number cut: each number shown is one of the whole output's
    numbers = set(NUMBER.findall(full))
    cut = [n for n in NUMBER.findall(text) if n not in numbers]
    assert not cut, cut[:5]
    narrow, wide = _first_table(text), _first_table(full)
    if narrow is None:
        return
    # the columns left out are named under the table, and only those
    (table, after), (whole_table, _) = narrow, wide
    listed = _left_out(after)
    merged = 2 if any("K/S/P" in line for line in table[:3]) else 0  # table: K, S and P shown as one column
    assert _columns(table) + len(listed) + merged == _columns(whole_table), (listed, table[:3])
    for header in listed:
        assert f" {header} " in whole_table[1], header
    # a wrapped name goes on under its row, marked, never as a line that reads as a row of its own
    for line in table:
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0] and not any(cells[1:]) and len(cells) > 1:
            assert cells[0].startswith("↳ "), line


def test_colour_on_a_terminal_and_none_in_a_pipe(outputs):
    assert run_in_pty(COMMANDS["memory"][:2], 120).count("\x1b[") > 0
    assert "\x1b[" not in whole(outputs, "memory")


def test_share_columns_tell_the_rows_apart(outputs):
    """ResNet-152's ten costliest layers by MACs: conv1 (118,013,952 MACs) and nine 3x3 convs of 115,605,504
    (64 x 56 x 56 x 64 x 9 and the like) are 1.02% and 1.00% of 11,515,533,... MACs; one place would print
    1.0 for both."""
    table, _ = _first_table(whole(outputs, "table-top"))
    header = [c.strip() for c in table[1].strip("┃").split("┃")]
    k = header.index("% MACs")
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in table if line.startswith("│")]
    macs = {r[0]: r[k] for r in rows if r[0] != "total"}
    assert macs["conv1"] != macs["layer1.0.conv2"]
    assert re.fullmatch(r"1\.0\d+", macs["conv1"]) and re.fullmatch(r"1\.0\d+", macs["layer1.0.conv2"])
