"""The newest surfaces under hostile and odd input (issue 26): the ONNX reader, from_torch, sweep, devices and
calibration, plain output, YAML merge keys.

Each test is one finding of the issue; docs/security.md lists them with their reproducers. Time and memory
are measured in benchmarks/hostile.py, not here: these check what each input gives, and how it is refused.
"""

import json
import math
import os
import subprocess

import pytest

import cnncost
from cnncost.importers import onnx_proto

from .test_hostile import cnncost_cli, one_error_line

# --- a protobuf writer, enough for the ONNX files below (the onnx package is slow at 100,000 nodes) ---


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _value_info(name: str, dims=None) -> bytes:
    """A float tensor's name and type; its shape unless dims is None."""
    shape = b"" if dims is None else _field(2, b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d))
                                                        for d in dims))
    return _field(1, name) + _field(2, _field(1, _field(1, 1) + shape))


def _node(op: str, inputs, outputs, name="", attrs=b"") -> bytes:
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs)
            + (_field(3, name) if name else b"") + _field(4, op) + attrs)


def _float_attribute(name: str, value: float) -> bytes:
    import struct

    return _field(5, _field(1, name) + _field(20, 1) + _varint(2 << 3 | 5) + struct.pack("<f", value))


def _ints_attribute(name: str, values) -> bytes:
    return _field(5, _field(1, name) + _field(20, 7) + b"".join(_field(8, v) for v in values))


def onnx_file(path, nodes, output, dims=(1, 3, 8, 8), initializers=b"") -> str:
    graph = b"".join(_field(1, n) for n in nodes) + _field(2, "g") + initializers
    graph += _field(11, _value_info("x", dims)) + _field(12, _value_info(output))
    model = _field(1, 8) + _field(8, _field(1, "") + _field(2, 17)) + _field(7, graph)
    path.write_bytes(model)
    return str(path)


def relus(count: int, name: str = "relu") -> list:
    return [_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}"], name) for i in range(count)]


def weight(name: str, dims) -> bytes:
    """A float initializer of zeros, as raw data."""
    return _field(5, b"".join(_field(1, d) for d in dims) + _field(2, 1) + _field(8, name)
                  + _field(9, bytes(4 * math.prod(dims))))


# --- the ONNX reader ---


def test_a_fifo_as_the_onnx_file_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    assert "not a regular file" in one_error_line(cnncost_cli("table", str(fifo)))


def test_onnx_names_repeated_thousands_of_times_are_numbered_in_order(tmp_path):
    # 3,000 nodes all named 'relu' but one, which wants 'relu_5' after the fifth took it: names stay unique,
    # numbered in order as cnncost numbers its own unnamed layers (relu, relu_2, relu_3, ...)
    nodes = relus(3000)
    nodes[10] = _node("Relu", ["t9"], ["t10"], "relu_5")
    graph = cnncost.load(onnx_file(tmp_path / "r.onnx", nodes, "t2999"))
    names = [n.name for n in graph.nodes]
    assert names[:10] == ["relu"] + [f"relu_{i}" for i in range(2, 11)]
    assert names[10] == "relu_5_2"
    assert names[11:] == [f"relu_{i}" for i in range(11, 3000)]


def test_the_layer_limit_is_reached_as_onnx_rows_are_made(tmp_path):
    # 20,001 Relu nodes: refused as the 20,001st row is made, not after naming them all
    path = onnx_file(tmp_path / "many.onnx", relus(20_001), "t20000")
    assert "more than 20,000 layers" in one_error_line(cnncost_cli("table", path))


def test_more_nodes_than_any_network_needs_are_refused_while_parsing(tmp_path):
    # 100,001 nodes, none of them used: the reader stops at its node limit, before it reads what they do
    nodes = [_node("Relu", ["x"], ["u"])] * 100_001
    path = onnx_file(tmp_path / "unused.onnx", nodes, "u0")
    assert "more than 100,000 nodes" in one_error_line(cnncost_cli("table", path))


def test_a_large_int64_data_initializer_is_counted_not_decoded(tmp_path):
    # 1,000,000 int64 values written as packed varints (int64_data): kept as dims only, like a weight
    values = bytes(1_000_000)  # a million zeros, one byte each
    big = _field(5, _field(1, 1_000_000) + _field(2, 7) + _field(7, values) + _field(8, "big"))
    small = _field(5, _field(1, 3) + _field(2, 7) + _field(7, b"".join(_varint(v) for v in (4, 5, 6)))
                   + _field(8, "small"))
    path = onnx_file(tmp_path / "big.onnx", relus(1), "t0", initializers=big + small)
    model = onnx_proto.read(path)
    assert model.graph.initializers["big"].dims == (1_000_000,)
    assert model.graph.initializers["big"].values() is None
    assert model.graph.initializers["small"].values() == [4, 5, 6]
    assert cnncost.load(path).nodes[0].kind == "relu"


def test_a_conv_whose_kernel_shape_disagrees_with_its_weight_is_refused(tmp_path):
    # kernel_shape 5x5 against a 4x3x3x3 weight: costed from the attribute it would claim 4*3*25+0 = 300
    # params where the file holds 4*3*3*3 = 108
    conv = _node("Conv", ["x", "w"], ["y"], "conv", _ints_attribute("kernel_shape", [5, 5]))
    path = onnx_file(tmp_path / "k.onnx", [conv], "y", initializers=weight("w", (4, 3, 3, 3)))
    err = one_error_line(cnncost_cli("table", path))
    assert "kernel_shape [5, 5] disagrees with its weight's [3, 3]" in err
    # the same file with a matching attribute: 108 params
    conv = _node("Conv", ["x", "w"], ["y"], "conv", _ints_attribute("kernel_shape", [3, 3]))
    path = onnx_file(tmp_path / "k3.onnx", [conv], "y", initializers=weight("w", (4, 3, 3, 3)))
    assert cnncost.analyze(path).totals.params == 4 * 3 * 3 * 3
    # a transposed convolution likewise (its weight is Cin x Cout x kH x kW)
    deconv = _node("ConvTranspose", ["x", "w"], ["y"], "deconv", _ints_attribute("kernel_shape", [5, 5]))
    path = onnx_file(tmp_path / "t.onnx", [deconv], "y", initializers=weight("w", (3, 4, 3, 3)))
    assert "kernel_shape [5, 5] disagrees with its weight's [3, 3]" in one_error_line(cnncost_cli("table", path))


def test_two_nodes_writing_one_tensor_are_refused(tmp_path):
    nodes = [_node("Relu", ["x"], ["y"], "a"), _node("Sigmoid", ["x"], ["y"], "b")]
    err = one_error_line(cnncost_cli("table", onnx_file(tmp_path / "two.onnx", nodes, "y")))
    assert "node 'b' writes 'y'" in err and "one writer" in err


@pytest.mark.parametrize("op, attribute, value", [("LeakyRelu", "alpha", float("nan")), ("Elu", "alpha", float("inf")),
                                                  ("LeakyRelu", "alpha", float("-inf"))])
def test_non_finite_attributes_are_refused_by_table_and_import_alike(tmp_path, op, attribute, value):
    path = onnx_file(tmp_path / "a.onnx", [_node(op, ["x"], ["y"], "act", _float_attribute(attribute, value))], "y")
    for command in ("table", "import"):
        err = one_error_line(cnncost_cli(command, path))
        assert "not a finite number" in err and "'act'" in err


def test_sweep_gives_an_onnx_file_of_open_size_its_input_axis(tmp_path):
    # a 3x3 conv of 4 filters on 3 x H x W, H and W symbolic: MACs = 4 * (S-2)^2 * 3 * 9 at S x S
    conv = _node("Conv", ["x", "w"], ["y"], "conv")
    path = onnx_file(tmp_path / "open.onnx", [conv], "y", dims=(1, 3, "H", "W"), initializers=weight("w", (4, 3, 3, 3)))
    out = cnncost_cli("sweep", path, "--input", "3x{8..32..8}", "--format", "json")
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["points"]
    assert [p["macs"] for p in points] == [4 * (s - 2) ** 2 * 3 * 9 for s in (8, 16, 24, 32)]


# --- from_torch ---


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def test_a_module_called_twice_counts_its_parameters_once(torch, tmp_path):
    nn = torch.nn

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x)))

    module = Twice()
    graph = cnncost.from_torch(module, input="3x8x8")
    report = cnncost.analyze(graph)
    # parameters: torch's own count, 3*3*3*3 + 3 = 84, not 168; MACs: both calls, 2 * 3*8*8 * 3*9
    assert report.totals.params == sum(p.numel() for p in module.parameters()) == 84
    assert report.totals.macs == 2 * 3 * 8 * 8 * 3 * 9
    # the YAML that 'cnncost import' would write says so, and reads back to the same totals
    assert "shares: conv" in graph.to_yaml()
    again = cnncost.analyze_text(graph.to_yaml())
    assert (again.totals.params, again.totals.macs) == (84, 2 * 3 * 8 * 8 * 3 * 9)
    # and torch, built from that YAML, ties the weights: one parameter set, the figures agree with torch
    net = cnncost.to_torch(again.graph)
    assert sum(p.numel() for p in net.parameters()) == 84


def test_shares_must_name_an_earlier_layer_of_the_same_weights():
    head = "input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 3, padding: 1}\n"
    with pytest.raises(cnncost.CnnCostError, match="same kind and arguments"):
        cnncost.load_text(head + "  - conv: {name: b, out: 4, kernel: 1, shares: a}\n")
    with pytest.raises(cnncost.CnnCostError, match="unknown layer 'c'"):
        cnncost.load_text(head + "  - conv: {name: b, out: 4, kernel: 3, padding: 1, shares: c}\n")


@pytest.mark.parametrize("how", ["forward", "pre", "global"])
def test_a_forward_hook_is_refused_by_name(torch, how):
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    def doubled(m, args, out=None):  # changes what the conv returns: fx would not see it
        return torch.cat([out, out], 1) if out is not None else None

    handle = {"forward": lambda: module[0].register_forward_hook(doubled),
              "pre": lambda: module[0].register_forward_pre_hook(doubled),
              "global": lambda: nn.modules.module.register_module_forward_hook(doubled)}[how]()
    try:
        with pytest.raises(cnncost.CnnCostError, match="forward (pre-)?hook.*doubled"):
            cnncost.from_torch(module, input="3x8x8")
    finally:
        handle.remove()
    assert cnncost.from_torch(module, input="3x8x8").nodes[-1].output_shape == (4, 6, 6)


def test_functional_calls_past_the_layer_limit_are_refused_as_rows_are_made(torch):
    class Many(torch.nn.Module):
        def __init__(self, count):
            super().__init__()
            self.count = count

        def forward(self, x):
            for _ in range(self.count):
                x = torch.nn.functional.relu(x)
            return x

    with pytest.raises(cnncost.CnnCostError, match="more than 20,000 layers"):
        cnncost.from_torch(Many(20_001), input="3x4x4")
    names = [n.name for n in cnncost.from_torch(Many(2_000), input="3x4x4").nodes]
    assert names == ["relu"] + [f"relu_{i}" for i in range(2, 2001)]


def test_an_optional_argument_that_recurses_is_traced_at_its_default(torch):
    nn = torch.nn

    class Recursive(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x, depth=None):
            depth = 3 if depth is None else depth
            return x if depth == 0 else self.forward(self.conv(x), depth - 1)

    report = cnncost.analyze(cnncost.from_torch(Recursive(), input="3x8x8"))
    # three calls of one 1x1 conv: 3*3 + 3 = 12 params once, 3 * (3*8*8*3) MACs
    assert report.totals.params == 12 and report.totals.macs == 3 * 3 * 8 * 8 * 3


# --- sweep ---


def test_sweep_takes_list_values_such_as_resnet_depths():
    out = cnncost_cli("sweep", "resnet18", "--set", "depths=[1,1,1,1],[2,2,2,2]", "--format", "json")
    assert out.returncode == 0, out.stderr
    points = json.loads(out.stdout)["points"]
    # [2,2,2,2]: torchvision's 11,689,512. One basic block fewer per stage drops 2*(9c^2) conv weights and 4c
    # batch-norm parameters at c = 64, 128, 256, 512
    fewer = sum(2 * 9 * c * c + 4 * c for c in (64, 128, 256, 512))
    assert [p["depths"] for p in points] == [[1, 1, 1, 1], [2, 2, 2, 2]]
    assert [p["params"] for p in points] == [11_689_512 - fewer, 11_689_512]


def test_sweep_reads_set_under_the_document_limits():
    bomb = "[" + ", ".join(["&a [x, x, x, x, x, x, x, x, x, x]"] + ["*a"] * 120) + "]"
    assert "aliases" in one_error_line(cnncost_cli("sweep", "alexnet", "--set", f"classes={bomb}"))


def test_a_sweep_past_its_work_bound_is_refused_up_front():
    # 2,000 input sizes of ResNet-50 (175 rows): 350,000 rows in all, more than 200,000
    err = one_error_line(cnncost_cli("sweep", "resnet50", "--input", "3x{64..2063}"))
    assert "2,000 networks of about 175 layers each, more than 200,000 layers in all" in err
    # 1,001 values of a parameter: 1,001 full expansions of 21 rows, each counted as at least 50
    err = one_error_line(cnncost_cli("sweep", "alexnet", "--set", "classes={1..1001}"))
    assert "more than 50,000 layers in all" in err


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_sweep_where_some_points_fail_is_drawn(fmt):
    # found by the fuzzer (docs/security.md, F32): a point without an error next to one with it
    out = cnncost_cli("sweep", "alexnet", "--input", "3x{16..64..48}", "--format", fmt)
    assert out.returncode == 0 and b"internal error" not in out.stderr, out.stderr
    assert out.stdout.decode().count("3x64x64") == 1 and b"1 of 2 points could not be costed" in out.stderr


def test_a_sweep_that_analyses_each_point_is_bounded_by_its_layers():
    # found by the fuzzer (F35): --memory walks each point's graph; 4,002 points of MobileNet's 84 rows
    err = one_error_line(cnncost_cli("sweep", "mobilenet_v1", "--device", "a100-80gb,t4", "--memory", "--input",
                                     "3x{8..8}x{8..2008}"))
    assert "4,002 points' 84 layers: more than 40,000 in all" in err


def test_a_set_value_that_is_not_utf8_is_one_line(tmp_path):
    # found by the fuzzer (F34): bytes that are not UTF-8 on the command line reached the C YAML parser
    (tmp_path / "p.yaml").write_text("params: {p: 1}\ninput: [3, 8, 8]\nlayers: [relu]\n")
    for command in ("table", "sweep"):
        err = one_error_line(cnncost_cli(command, str(tmp_path / "p.yaml"), "--set", b"p=\xed\xa0\x80"))
        assert "--set p: not UTF-8 text" in err


def test_long_numbers_in_sweep_ranges_are_shortened():
    err = one_error_line(cnncost_cli("sweep", "alexnet", "--input", "3x{1.." + "9" * 5000 + "}"))
    assert len(err) < 300 and "(5,003 characters)" in err


@pytest.mark.parametrize("model", ["alexnet", "inception_v3"])
def test_sweep_totals_scaled_by_batch_are_the_tables(model):
    # the speed-up of sweep.totals (per-sample sums scaled by batch and bytes) against engine.view
    from cnncost import conventions, engine
    from cnncost import sweep as sw

    graph = cnncost.load(model)
    cache: dict = {}
    for convention in conventions.CONVENTIONS:
        for batch, dtype, side in ((1, "float32", False), (7, "float16", True), (64, "int8", False)):
            settings = cnncost.Settings(batch=batch, dtype=dtype, convention=convention, include_side=side)
            t = engine.view(graph, settings).totals
            assert sw.totals(graph.nodes, settings, cache) == (t.params, t.macs, t.memory_bytes), (convention, batch)


# --- devices and calibration ---


@pytest.mark.parametrize("field, value", [("bandwidth_gb_s", ".nan"), ("bandwidth_gb_s", ".inf"),
                                          ("memory_bytes", ".nan"), ("peak_tflops", "{fp32: .nan}")])
def test_nan_and_infinity_are_not_positive_in_a_device_file(tmp_path, field, value):
    fields = {"name": "'x'", "kind": "cuda", "memory_bytes": "1000000", "bandwidth_gb_s": "100",
              "peak_tflops": "{fp32: 10}", field: value}
    path = tmp_path / "d.yaml"
    path.write_text("devices:\n  x:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items()))
    err = one_error_line(cnncost_cli("latency", "alexnet", "--device-file", str(path), "--device", "x"))
    assert ("must be positive and finite" if field != "memory_bytes" else "must be an integer") in err
    # the same in a calibration profile
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "local-device.yaml").write_text(path.read_text().replace("  x:", "  local:"))
    err = one_error_line(cnncost_cli("latency", "alexnet", "--device", "local",
                                     env={**os.environ, "CNNCOST_CONFIG_DIR": str(tmp_path / "config")}))
    assert "calibration profile is broken" in err


def test_calibrate_checks_its_destination_before_measuring(tmp_path):
    (tmp_path / "file").write_text("")
    for folder in (tmp_path / "file", tmp_path / "file" / "below"):
        out = cnncost_cli("calibrate", env={**os.environ, "CNNCOST_CONFIG_DIR": str(folder)})
        # one line and exit 1, before any measurement (measuring prints its progress on stderr first)
        err = one_error_line(out, code=1)
        assert "cannot write the profile" in err and "calibrate:" not in err


# --- plain output ---

HOSTILE = "E\x1b]0;TITLE\x07\x1b[2J\nforged | row\u2028x\x9b"


def test_names_from_files_never_reach_the_terminal_raw(tmp_path):
    text = (f"name: {json.dumps(HOSTILE)}\ndescription: {json.dumps(HOSTILE)}\nnotes: [{json.dumps(HOSTILE)}]\n"
            "input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n  - relu\n")
    model = tmp_path / "evil.yaml"
    model.write_text(text)
    devices = tmp_path / "d.yaml"
    devices.write_text(f"devices:\n  evil:\n    name: {json.dumps(HOSTILE)}\n    kind: cuda\n"
                       "    memory_bytes: 17179869184\n    bandwidth_gb_s: 100\n    peak_tflops: {fp32: 10}\n")
    named = tmp_path / "e\x1b[2J.yaml"  # a model without a name is named after its file
    named.write_text("input: [3, 8, 8]\nlayers:\n  - relu\n")
    device = ["--device-file", str(devices), "--device", "evil"]
    commands = [["table"], ["table", "--format", "markdown"], ["table", "--format", "csv"], ["memory", *device],
                ["rf"], ["latency", *device], ["info"], ["sweep", "--batch", "1,2"], ["explain"],
                ["budget", "--max-params", "1"], ["compare", str(model), "alexnet"]]
    for command in commands:
        for path in (model, named) if command == ["table"] else (model,):
            args = command if command[0] == "compare" else [command[0], str(path), *command[1:]]
            out = cnncost_cli(*args)
            shown = out.stdout.decode()
            assert out.returncode in (0, 1), (args, out.stderr)
            assert not any(c in shown for c in "\x1b\x07\x9b\u2028"), (args, shown)
            assert not any(line.startswith("forged") for line in shown.splitlines()), (args, shown)
    out = cnncost_cli("devices", "--device-file", str(devices))
    assert "\x1b" not in out.stdout.decode() and "\nforged" not in out.stdout.decode()
    # JSON keeps the exact string
    data = json.loads(cnncost_cli("table", str(model), "--format", "json").stdout)
    assert data["model"] == HOSTILE


def test_check_keeps_a_model_files_names_on_their_lines(tmp_path):
    # found by the fuzzer (F36): a claim's problem quotes the model file's layer names
    (tmp_path / "net.yaml").write_text(f"name: {json.dumps(HOSTILE)}\ninput: [3, 16, 16]\nlayers:\n  - relu\n")
    out = cnncost_cli("check", "alexnet", "--model-file", f"alexnet={tmp_path / 'net.yaml'}")
    shown = out.stdout.decode()
    assert out.returncode == 1 and shown, out.stderr
    assert not any(c in shown for c in "\x1b\x07\x9b\u2028")
    assert not any(line.startswith("forged") for line in shown.splitlines()), shown


def test_a_png_plot_is_written_to_a_fifo(tmp_path):
    pytest.importorskip("matplotlib")
    fifo = tmp_path / "plot.png"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    out = cnncost_cli("plot", "alexnet", "-o", str(fifo))
    data = reader.communicate(timeout=60)[0]
    assert out.returncode == 0, out.stderr
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


# --- YAML ---


def test_a_merge_key_may_be_overridden():
    text = ("input: [3, 16, 16]\nlayers:\n  - conv: &c {out: 8, kernel: 3}\n  - conv: {<<: *c, kernel: 1}\n"
            "  - conv: {<<: *c, out: 4}\n")
    graph = cnncost.load_text(text)
    # YAML's merge rule: the mapping's own key wins over the merged one
    assert [(n.args["out"], n.args["kernel"]) for n in graph.nodes] == [(8, (3, 3)), (8, (1, 1)), (4, (3, 3))]
    with pytest.raises(cnncost.CnnCostError, match="duplicate key 'kernel'"):
        cnncost.load_text("input: [3, 16, 16]\nlayers:\n  - conv: {out: 8, kernel: 1, kernel: 3}\n")


# --- small ones ---


def test_a_limit_too_small_to_be_whole_is_not_zero():
    err = one_error_line(cnncost_cli("budget", "alexnet", "--max-params", "1e-999999999"))
    assert "not a whole number" in err and len(err) < 300
