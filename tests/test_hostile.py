"""Untrusted input (issue 15): bounded work, safe output files, and one line for every failure.

Each case here is one the hostile-input audit named. Time and memory are measured in
benchmarks/hostile.py, not here; these tests check that each input is refused, and how.
"""

import errno
import os
import stat
import subprocess
import sys
import threading

import pytest

import cnncost
from cnncost import CnnCostError, output, yamlio

NET = "input: [3, 8, 8]\nlayers:\n  - conv: {name: c, out: 4, kernel: 3}\n"

# The "billion laughs": 81 aliases, under the old 100-alias limit, standing for 10**9 values.
BOMB = "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]\n" for i in range(9)
) + "input: [3, 8, 8]\nlayers: *a8\n"


def cnncost_cli(*args, stdin=None, **options):
    """Run the CLI; stdin is bytes to send, or a file to read from."""
    feed = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, timeout=60, **feed,
                          **options)


def one_error_line(result, code=2) -> str:
    err = result.stderr.decode("utf-8", "replace") if isinstance(result.stderr, bytes) else result.stderr
    assert result.returncode == code, err
    assert err.count("\n") == 1 and err.startswith("cnncost: error: ") and "Traceback" not in err, err
    return err


# --- resource bounds ---


def test_the_alias_bomb_is_refused_by_what_it_expands_to(tmp_path):
    assert BOMB.count("*") == 81
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    err = one_error_line(cnncost_cli("table", str(path), env={**os.environ, "CNNCOST_CACHE_DIR": str(tmp_path)}))
    assert "expands to more than 100,000 values" in err
    # the same document on stdin, through extends, and as a checked model file
    assert "expands to more than" in one_error_line(cnncost_cli("table", "-", stdin=BOMB.encode()))
    (tmp_path / "child.yaml").write_text("extends: bomb.yaml\n")
    assert "expands to more than" in one_error_line(cnncost_cli("table", str(tmp_path / "child.yaml")))
    assert "expands to more than" in one_error_line(cnncost_cli("check", "--model-file", f"alexnet={path}"))


def test_an_alias_bomb_in_set_is_refused():
    value = BOMB.replace("input: [3, 8, 8]\nlayers: *a8\n", "top: *a8\n")
    err = one_error_line(cnncost_cli("table", "alexnet", "--set", f"classes={value}"))
    assert "--set classes" in err and "expands to more than" in err


def test_a_document_of_too_many_items_is_refused_before_parsing():
    text = "input: [3, 8, 8]\nlayers: [" + ", ".join(["relu"] * 100_001) + "]\n"  # 100,000 commas and 2 lines
    with pytest.raises(CnnCostError, match="more than 100,000 lines and commas"):
        cnncost.analyze_text(text)


@pytest.mark.parametrize("expression, message", [
    ("'a' * 10**9", "longer than 10,000"),
    ("[0] * 10**9", "longer than 10,000"),
    ("sum([[0] * 1000] * 100000, [])", "longer than 10,000"),
    ("sum([[0], [1]], [])", "sum() adds numbers only"),  # quadratic list building, even when small
    ("[[0] * 100] * 100", "longer than 10,000"),  # 100 * (1 + 100) values for whatever walks it
    ("'%0999999999d' % 1", "'%' formats no strings"),
    ("'ab' * 5000 + 'c'", "longer than 10,000"),
    ("round(5, -10**9)", "ndigits must be between -30 and 30"),
    ("(-8) ** 0.5", "not a real number"),
])
def test_expressions_cannot_build_large_values(expression, message):
    text = f'input: [3, 8, 8]\nparams: {{v: "${{{expression}}}"}}\nlayers:\n  - relu\n'
    with pytest.raises(CnnCostError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cnncost.analyze_text(text)


def test_expressions_still_build_what_networks_use():
    text = ('input: [3, 8, 8]\nparams: {widths: "${[16] * 3 + [32]}", total: "${sum([1, 2, 3])}"}\n'
            'layers:\n  - conv: {out: "${widths[3] + total}", kernel: 1}\n')
    assert cnncost.analyze_text(text).layers[0].output_shape == (32 + 6, 8, 8)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_sources_are_read_only_up_to_the_limit(tmp_path):
    assert "not a regular file" in one_error_line(cnncost_cli("table", "/dev/zero"))
    (tmp_path / "child.yaml").write_text("extends: /dev/zero\n")
    err = one_error_line(cnncost_cli("table", str(tmp_path / "child.yaml")))
    assert "child.yaml:1: extends '/dev/zero': not a regular file" in err
    with open("/dev/zero", "rb") as zeros:
        assert "larger than 4 MiB" in one_error_line(cnncost_cli("table", "-", stdin=zeros))


def test_a_fifo_as_the_model_or_its_base_is_refused_without_waiting_for_a_writer(tmp_path):
    # found by tools/fuzz.py (F2): open() of a FIFO with no writer blocked forever
    os.mkfifo(tmp_path / "f.yaml")
    assert "not a regular file" in one_error_line(cnncost_cli("table", str(tmp_path / "f.yaml")))
    (tmp_path / "m.yaml").write_text("extends: f.yaml\n")
    assert "extends 'f.yaml': not a regular file" in one_error_line(cnncost_cli("table", str(tmp_path / "m.yaml")))


@pytest.mark.parametrize("text, message", [
    # found by tools/fuzz.py (F1): 10**400 channels overflowed the renderers' float arithmetic
    (f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: {10**20}, kernel: 1}}\n", "'out' must be at most 1,000,000,000"),
    (f"input: [3, 8, {10**10}]\nlayers: [relu]\n", "input dimensions must be integers from 1 to 1,000,000,000"),
    ("input: [3, 8, 8]\nlayers:\n  - pad: {padding: 10000000000}\n", "must be at most 1,000,000,000"),
])
def test_integers_past_any_real_network_are_refused(text, message):
    with pytest.raises(CnnCostError, match=message):
        cnncost.analyze_text(text)
    with pytest.raises(CnnCostError, match="batch must be an integer from 1 to 1,000,000,000"):
        cnncost.analyze_text(NET, batch=10**10)


def test_a_number_past_pythons_digit_limit_is_refused_with_its_line():
    # found by tools/fuzz.py (F5): PyYAML let out Python's ValueError for integers of more than 4,300 digits
    nines = "9" * 5000
    with pytest.raises(CnnCostError, match="more than 1,000 digits") as caught:
        cnncost.analyze_text(f"input: [3, 8, 8]\nlayers:\n  - conv: {{out: {nines}, kernel: 1}}\n")
    assert caught.value.location.line == 3
    assert "more than 1,000 digits" in one_error_line(cnncost_cli("table", "alexnet", "--set", f"classes={nines}"))


@pytest.mark.parametrize("literal", ["0x" + "f" * 5000, "1" + ":1" * 200_000, "0" + "7" * 200])  # YAML 1.1's octal
def test_integer_literals_in_any_base_are_short(literal):
    # found by tools/fuzz.py: hexadecimal past Python's digit limit broke every message that printed it, and
    # YAML 1.1's base 60 (1:1:1...) multiplies once per group: 200,000 groups took 10 s
    with pytest.raises(CnnCostError, match="a number written with more than 100 characters") as caught:
        cnncost.analyze_text(f"input: [3, 8, 8]\nparams: {{a: {literal}}}\nlayers: [relu]\n")
    assert caught.value.location.line == 2


@pytest.mark.parametrize("item", ["sequence: {input: [], layers: [relu]}", "center_crop: {size: 1, input: []}",
                                  "upsample: {scale: 2, input: []}", "repeat: {count: 2, input: [], layers: [relu]}"])
def test_an_empty_input_list_is_refused(item):
    # found by tools/fuzz.py (F6): an IndexError or a ValueError where a construct or a kind read input: []
    with pytest.raises(CnnCostError, match="'input' names no layer"):
        cnncost.analyze_text(f"input: [3, 8, 8]\nlayers:\n  - {item}\n")


def test_a_network_past_the_layer_limit_is_refused():
    text = ("input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 10000\n      layers:\n"
            "        - repeat: {count: 100, layers: [relu]}\n")  # 1,000,000 layers
    with pytest.raises(CnnCostError, match="expands to more than 20,000 layers"):
        cnncost.analyze_text(text)


# --- a side branch may not feed the main chain ---


def test_a_side_output_read_by_the_main_chain_is_refused():
    text = ("input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 3}\n  - side:\n      layers:\n"
            "        - conv: {name: s, out: 4, kernel: 1}\n  - add: {name: merge, input: [a, s]}\n")
    with pytest.raises(CnnCostError, match="reads 's', which is in a side branch") as caught:
        cnncost.analyze_text(text)
    assert caught.value.layer == "merge" and caught.value.location.line == 7


# --- output files ---


def test_a_symlink_is_written_through(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    os.symlink("real.txt", tmp_path / "link.txt")
    output.write_text(str(tmp_path / "link.txt"), "new")
    assert os.path.islink(tmp_path / "link.txt") and (tmp_path / "real.txt").read_text() == "new"


def test_new_files_get_the_redirection_mode_and_old_ones_keep_theirs(tmp_path):
    old_mask = os.umask(0o022)
    try:
        output.write_text(str(tmp_path / "new.txt"), "x")
        assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o644  # 0666 less the umask
        os.chmod(tmp_path / "new.txt", 0o640)
        output.write_text(str(tmp_path / "new.txt"), "y")
        assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    finally:
        os.umask(old_mask)


def test_a_fifo_is_written_in_place_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    output.write_text(str(fifo), "through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_failures_leave_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "target").mkdir()
    with pytest.raises(CnnCostError, match="Is a directory"):
        output.write_text(str(tmp_path / "target"), "x")

    def full_disk(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CnnCostError, match="No space left on device") as caught:
        output.write_file(str(tmp_path / "out.txt"), full_disk)
    assert caught.value.exit_code == 1
    assert sorted(os.listdir(tmp_path)) == ["target"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_is_one_line_and_exit_1():
    assert "cannot write /dev/full: No space left on device" in one_error_line(
        cnncost_cli("table", "alexnet", "-o", "/dev/full"), code=1)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written in place, never replaced by a file
    with open("/dev/full", "wb") as full:
        result = subprocess.run([sys.executable, "-m", "cnncost", "table", "alexnet"], stdout=full,
                                stderr=subprocess.PIPE, timeout=60)
    assert "cannot write to stdout: No space left on device" in one_error_line(result, code=1)


# --- one line for every failure ---


def test_a_closed_stdout_is_one_line_and_exit_1():
    result = subprocess.run([sys.executable, "-m", "cnncost", "table", "alexnet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, timeout=60, pass_fds=(), close_fds=True,
                            preexec_fn=lambda: os.close(1))
    assert "cannot write to stdout: it is closed" in one_error_line(result, code=1)


def test_bytes_that_are_not_utf8_on_stdin_are_an_input_error():
    err = one_error_line(cnncost_cli("table", "-", stdin=b"input: [3, 8, 8]\nlayers: [\xff]\n"))
    assert err == "cnncost: error: <stdin>:2: not UTF-8 text\n"


@pytest.mark.parametrize("name, shown", [
    ("re\\nlu", "re\\nlu"), ("re\\x00lu", "re\\x00lu"), ("\\e[31mred", "\\x1b[31mred"), ("a\\u2028b", "a\\u2028b"),
])
def test_control_characters_in_names_are_escaped(name, shown):
    err = one_error_line(cnncost_cli("table", "-", stdin=f'input: [3, 8, 8]\nlayers:\n  - "{name}"\n'.encode()))
    assert f"unknown layer kind '{shown}'" in err


def test_a_memory_error_has_a_message(monkeypatch):
    from click.testing import CliRunner

    from cnncost import api
    from cnncost.cli import main

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(api, "analyze", exhausted)
    result = CliRunner().invoke(main, ["table", "alexnet"])
    assert result.exit_code == 1 and result.output.startswith("cnncost: error: out of memory")


def test_a_broken_model_file_for_check_is_one_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("input: [3, 8, 8]\nlayers: [bogus]\n")
    result = cnncost_cli("check", "--model-file", f"vgg16={tmp_path / 'broken.yaml'}")
    assert "broken.yaml:2: unknown layer kind 'bogus'" in one_error_line(result)
    assert result.stdout == b""


def test_torch_without_numpy_prints_no_warning():
    pytest.importorskip("torch")
    # torch warns "Failed to initialize NumPy" over several lines when numpy cannot be imported
    code = ("import sys; sys.modules['numpy'] = None\n"
            "from cnncost.cli import main\nmain(['validate', 'alexnet', '--input', '3x64x64', '--format', 'json'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""


def test_read_stdin_refuses_what_a_file_refuses(monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"layers: [relu]\x00\n")))
    with pytest.raises(CnnCostError, match="binary data"):
        yamlio.read_stdin()


def test_validate_refuses_a_network_larger_than_the_machine_before_torch_allocates_it(monkeypatch):
    pytest.importorskip("torch")
    from cnncost import validate as checker
    from cnncost.validate import base  # where the machine's size is read

    monkeypatch.setattr(base, "_machine_bytes", lambda device: 64 * 2**20)  # a 64 MiB machine
    text = "input: [3, 2048, 2048]\nlayers:\n  - conv: {name: c, out: 4, kernel: 1}\n"
    # weights 4 * 3 + 4 = 16 floats; the output 4 x 2048 x 2048 floats = 64 MiB; with the weights, more than 64 MiB
    with pytest.raises(CnnCostError, match=r"needs about 0\.1 GiB .* more than the 0\.1 GiB of cpu"):
        checker.validate(cnncost.load_text(text))
    # training holds outputs three times over (outputs, saved tensors, gradients): 3 x 64 MiB = 0.1875 GiB
    with pytest.raises(CnnCostError, match=r"needs about 0\.2 GiB"):
        checker.validate(cnncost.load_text(text), memory=True)
    monkeypatch.setattr(base, "_machine_bytes", lambda device: 2**30)
    assert checker.validate(cnncost.load_text(text.replace("2048, 2048", "64, 64"))).ok  # what fits still runs
