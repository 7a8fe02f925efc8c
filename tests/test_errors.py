"""Bad input: each error exits 2 with one line on stderr naming file, line and layer; stdout stays empty."""

import subprocess
import sys
import time

import pytest

GOOD_HEAD = "input: [3, 32, 32]\nlayers:\n"

# (case id, file text, command-line extras, what the message must contain)
CASES = [
    ("invalid yaml", "input: [3, 32\nlayers: []\n", [], ["invalid YAML", ":2"]),
    ("empty file", "", [], ["empty file"]),
    ("top level a list", "- conv: {out: 3, kernel: 1}\n", [], ["top level must be a mapping", ":1"]),
    ("unknown kind", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernel: 3}\n  - cnov: {name: c2, out: 8}\n", [],
     [":4", "unknown layer kind 'cnov'", "did you mean 'conv'"]),
    ("unknown argument", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernal: 3}\n", [],
     [":3", "layer 'c1'", "no argument 'kernal'", "did you mean 'kernel'"]),
    ("missing argument", GOOD_HEAD + "  - conv: {name: c1, out: 8}\n", [], [":3", "layer 'c1'", "needs argument 'kernel'"]),
    ("string for int", GOOD_HEAD + "  - conv: {name: c1, out: wide, kernel: 3}\n", [],
     [":3", "layer 'c1'", "'out' must be an integer", "'wide'"]),
    ("float channels", GOOD_HEAD + "  - conv: {name: c1, out: 8.5, kernel: 3}\n", [], ["'out' must be an integer", "8.5"]),
    ("boolean kernel", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernel: true}\n", [], ["'kernel' must be an integer"]),
    ("zero channels", GOOD_HEAD + "  - conv: {name: c1, out: 0, kernel: 3}\n", [], ["layer 'c1'", "'out' must be positive"]),
    ("negative kernel", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernel: -3}\n", [], ["'kernel' must be positive"]),
    ("zero stride", GOOD_HEAD + "  - maxpool: {name: p, kernel: 2, stride: 0}\n", [], ["layer 'p'", "'stride' must be positive"]),
    ("zero groups", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernel: 3, groups: 0}\n", [], ["'groups' must be positive"]),
    ("groups do not divide", GOOD_HEAD + "  - conv: {name: c1, out: 8, kernel: 3, groups: 2}\n", [],
     ["layer 'c1'", "groups=2 must divide", "(3)"]),
    ("kernel larger than input", GOOD_HEAD + "  - conv: {name: big, out: 8, kernel: 40}\n", [],
     [":3", "layer 'big'", "larger than the padded input"]),
    ("concat mismatch", GOOD_HEAD + "  - conv: {name: a, out: 4, kernel: 1}\n  - conv: {name: b, out: 4, kernel: 3, input: input}\n"
     "  - concat: {name: cat, input: [a, b]}\n", [], [":5", "layer 'cat'", "4x32x32", "4x30x30"]),
    ("add mismatch", GOOD_HEAD + "  - conv: {name: a, out: 4, kernel: 1}\n  - conv: {name: b, out: 5, kernel: 1, input: input}\n"
     "  - add: {name: sum, input: [a, b]}\n", [], [":5", "layer 'sum'", "'a' (4x32x32)", "'b' (5x32x32)"]),
    ("unknown reference", GOOD_HEAD + "  - conv: {name: conv1, out: 4, kernel: 1}\n  - relu: {input: cnv1}\n", [],
     [":4", "unknown layer 'cnv1'", "did you mean 'conv1'"]),
    ("cycle", GOOD_HEAD + "  - add: {name: a, input: [input, b]}\n  - relu: {name: b}\n", [],
     [":3", "unknown layer 'b'", "layers may only use earlier layers"]),
    ("forward reference in a block", "input: [3, 8, 8]\nblocks:\n  blk:\n    layers:\n"
     "      - add: {name: a, input: [input, later]}\n      - relu: {name: later}\nlayers:\n  - blk\n", [],
     [":5", "layer 'a'", "unknown layer 'later'", "layers may only use earlier layers"]),
    ("block calls itself", "input: [3, 8, 8]\nblocks:\n  loop:\n    layers:\n      - relu\n      - loop\nlayers:\n  - loop\n", [],
     ["block 'loop' calls itself"]),
    ("repeat zero", GOOD_HEAD + "  - repeat: {count: 0, layers: relu}\n", [], [":3", "repeat count must be between 1"]),
    ("repeat negative", GOOD_HEAD + "  - repeat: {count: -2, layers: relu}\n", [], ["repeat count must be between 1"]),
    ("repeat huge", GOOD_HEAD + "  - repeat: {count: 1000000000, layers: relu}\n", [], ["repeat count must be between 1"]),
    ("divide by zero", "input: [3, 8, 8]\nparams: {w: 0}\nlayers:\n  - conv: {name: c, out: '${8 // w}', kernel: 1}\n", [],
     [":4", "division by zero"]),
    ("unknown parameter in expression", "input: [3, 8, 8]\nparams: {width: 2}\nlayers:\n  - conv: {name: c, out: '${8 * widht}', kernel: 1}\n",
     [], [":4", "unknown name 'widht'", "did you mean 'width'"]),
    ("set unknown parameter", "input: [3, 8, 8]\nparams: {width: 2}\nlayers:\n  - relu\n", ["--set", "widht=3"],
     ["--set widht", "did you mean 'width'"]),
    ("input does not parse", GOOD_HEAD + "  - relu\n", ["--input", "3x2x"], ["--input '3x2x'"]),
    ("non-utf8", b"input: [3, 8, 8]\nlayers:\n  - relu: {name: \xff\xfe}\n", [], ["not UTF-8", ":3"]),
    ("binary", b"\x00\x01\x02\x03 ELF", [], ["binary data, not YAML text"]),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(12)), [],
     ["aliases"]),
    ("flatten then conv", GOOD_HEAD + "  - flatten\n  - conv: {name: c, out: 4, kernel: 1}\n", [],
     ["layer 'c'", "expects a CxHxW feature map"]),
    ("layer and group share a name", GOOD_HEAD + "  - relu: {name: a}\n  - sequence: {name: a, layers: [relu]}\n", [],
     [":4", "'a' is a layer, so it cannot also name a group"]),
    ("group and then layer share a name", GOOD_HEAD + "  - sequence: {name: a, layers: [relu]}\n  - relu: {name: a}\n", [],
     [":4", "'a' already names a group"]),
    ("duplicate names", GOOD_HEAD + "  - relu: {name: a}\n  - relu: {name: a}\n", [], [":4", "'a' is already used"]),
]


def run(path, extra):
    return subprocess.run([sys.executable, "-m", "cnncost", "table", str(path), *extra],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, extra, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_user_error(tmp_path, text, extra, expected):
    path = tmp_path / "net.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    result = run(path, extra)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert "Traceback" not in message
    if "--input" not in extra and "--set" not in extra:
        assert str(path) in message
    # the temporary path carries the case's name: look for each part in the rest of the message
    rest = message.replace(str(path), "<file>")
    for part in expected:
        assert part in rest, f"{part!r} not in {message!r}"


def test_directory_and_missing_file(tmp_path):
    for target, words in ((tmp_path, "is a directory"), (tmp_path / "nope.yaml", "no such file")):
        result = run(target, [])
        assert result.returncode == 2 and result.stdout == "" and words in result.stderr


def test_alias_bomb_fails_fast(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(20)))
    start = time.perf_counter()
    assert run(path, []).returncode == 2
    assert time.perf_counter() - start < 20  # generous: it must not expand 9**20 nodes


def test_unknown_kind_is_never_counted_as_zero():
    import cnncost

    with pytest.raises(cnncost.CnnCostError, match="unknown layer kind"):
        cnncost.analyze_text("input: [3, 8, 8]\nlayers:\n  - swishy\n")


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(GOOD_HEAD + "  - cnov\n")
    result = subprocess.run([sys.executable, "-m", "cnncost", "--debug", "table", str(path)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_huge_inputs_stay_exact():
    import cnncost

    text = "input: [3, 100000, 100000]\nlayers:\n  - conv: {out: 64, kernel: 3, padding: 1}\n"
    report = cnncost.analyze_text(text, batch=10**6)
    conv = report.layers[0]
    assert conv.macs == 10**6 * 64 * 100000 * 100000 * 3 * 9
    assert conv.memory_bytes == 10**6 * 64 * 100000 * 100000 * 4
    assert conv.flops == 2 * conv.macs


def test_an_error_carries_its_file_line_layer_and_argument_as_fields(tmp_path):
    """The expander adds what it knows as fields (issue 27), never by editing the message: the argument at
    fault is the one the kind's check names, and the line is that argument's line (here: its own line)."""
    from cnncost import CnnCostError, load

    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 32, 32]\nlayers:\n  - conv:\n      name: c1\n      out: 8\n      kernel: -3\n")
    with pytest.raises(CnnCostError) as error:
        load(str(path))
    e = error.value
    assert (e.file, e.line, e.layer, e.argument) == (str(path), 6, "c1", "kernel")  # kernel: -3 is line 6
    assert "'kernel' must be positive" in e.message
    assert str(e).startswith(f"{path}:6: layer 'c1': ")


def test_an_error_in_the_file_extended_says_so_in_a_field(tmp_path):
    from cnncost import CnnCostError, load

    (tmp_path / "derived.yaml").write_text("extends: missing.yaml\n")  # no such file: about the base as a whole
    with pytest.raises(CnnCostError) as error:
        load(str(tmp_path / "derived.yaml"))
    e = error.value
    assert (e.within, e.message, e.line) == ("extends 'missing.yaml'", "no such file", 1)
    assert str(e) == f"{tmp_path / 'derived.yaml'}:1: extends 'missing.yaml': no such file"
