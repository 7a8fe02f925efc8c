"""Imports that meet operators cnncost cannot map: every one listed in one refusal, or, asked for, a partial
import whose opaque rows have the shapes torch gives and whose totals say they are lower bounds (docs/import.md).
Also the input forms from_torch takes. Expected shapes and counts come from torch itself (running the module)
or from the module as written here."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import cnncost
from cnncost.errors import CnnCostError
from tests.helpers import saved_bytes

torch = pytest.importorskip("torch")
nn = torch.nn


class Unmapped(nn.Module):
    """A conv net with operators cnncost cannot map (a log-sum-exp over the channels, and a 1-D conv on pooled
    features, ECA's but with circular padding), a parameter reshaped before use (timm's layer scale), and a split
    at given indices (torch.tensor_split)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(8))
        self.eca = nn.Conv1d(1, 1, 3, padding=1, bias=False, padding_mode="circular")  # conv1d pads zeros only
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        x = x * self.gamma.reshape(1, -1, 1, 1)
        weights = self.eca(x.mean((2, 3)).unsqueeze(1)).transpose(-1, -2).unsqueeze(-1)
        x = x * weights.sigmoid()
        a, b = torch.tensor_split(x, [3], dim=1)
        total = x.logsumexp(dim=1, keepdim=True)
        return self.head(torch.cat([b, a], 1)), total


def _graph(**options):
    return cnncost.from_torch(Unmapped().eval(), input=(1, 3, 16, 16), **options)


def test_a_refusal_lists_every_operator_in_one_pass():
    with pytest.raises(CnnCostError) as error:
        _graph()
    message = str(error.value)
    assert "\n" not in message
    # each operator below stands after another one that is refused: all are named, with their counts
    for part in ("Conv1d x1: 'eca'", "torch.tensor_split x1", "Tensor.logsumexp x1"):
        assert part in message, part
    assert "--partial" in message


def test_a_partial_import_has_the_shapes_torch_gives_and_says_its_totals_are_lower_bounds():
    module = Unmapped().eval()
    graph = cnncost.from_torch(module, input=(1, 3, 16, 16), partial=True)
    shapes = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[1:])))
             for n, m in module.named_children()]
    with torch.no_grad():
        module(torch.zeros(1, 3, 16, 16))
    for h in hooks:
        h.remove()
    opaque = {n.name: n for n in graph.nodes if n.kind == "opaque"}
    assert opaque["eca"].output_shape == shapes["eca"] == (1, 8)
    assert opaque["eca"].args["params"] == 3  # the Conv1d's own 1x1x3 weight, as torch holds it
    split = [n for n in graph.nodes if n.kind == "opaque" and n.args["op"] == "torch.tensor_split"]
    assert sorted(n.output_shape for n in split) == [(3, 16, 16), (5, 16, 16)]
    # every parameter torch holds is in a row: conv, gamma (a layer scale by its own path), eca, head
    report = cnncost.analyze(graph)
    assert report.totals.params == sum(p.numel() for p in module.parameters()) == 224 + 8 + 3 + 36
    assert [n.name for n in graph.nodes if n.kind == "layer_scale"] == ["gamma"]
    assert graph.unsupported() and {u["op"] for u in graph.unsupported()} >= {"Conv1d", "torch.tensor_split"}


def test_a_partial_import_is_marked_in_every_format_and_refused_by_budget(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text(_graph(partial=True).to_yaml())

    def run(*args):
        return subprocess.run([sys.executable, "-m", "cnncost", *args, str(path)], capture_output=True, text=True)

    table = run("table")
    assert table.returncode == 0 and "lower bounds: at least" in table.stdout and "Incomplete:" in table.stdout
    assert "lower bound" in table.stderr  # the exit message, whatever the format
    data = json.loads(run("table", "--format", "json").stdout)
    assert data["complete"] is False
    ops = {u["op"]: u for u in data["unsupported"]}
    assert ops["torch.tensor_split"]["count"] == 2 and len(ops["torch.tensor_split"]["layers"]) == 2
    assert run("table", "--format", "csv").stdout.splitlines()[-1].split(",")[1] == "total (lower bound)"
    refused = run("budget", "--max-params", "1M")
    assert refused.returncode == 2 and "lower bounds" in refused.stderr and "--allow-partial" in refused.stderr
    assert run("budget", "--max-params", "1M", "--allow-partial").returncode == 0
    complete = json.loads(subprocess.run([sys.executable, "-m", "cnncost", "table", "alexnet", "--format", "json"],
                                         capture_output=True, text=True).stdout)
    assert complete["complete"] is True and complete["unsupported"] == []


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("given", [(1, 3, 16, 16), (3, 16, 16), "3x16x16", torch.Size([2, 3, 16, 16]),
                                   ((1, 3, 16, 16),)], ids=str)
def test_from_torch_takes_the_input_as_torch_users_give_it(given):
    assert cnncost.from_torch(Small(), input=given).input_shape == (3, 16, 16)


def test_from_torch_takes_a_tensor():
    assert cnncost.from_torch(Small(), input=torch.zeros(2, 3, 16, 16)).input_shape == (3, 16, 16)


@pytest.mark.parametrize("given, words", [
    ((torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16)), "2 inputs given"),
    (torch.zeros(7), "1 dimension"),
    (None, "not NoneType"),
    ((3, 0, 16), "not a positive integer"),
    ([3.0, 16, 16], "not a positive integer"),
])
def test_a_bad_input_is_one_line_without_a_tensor(given, words):
    with pytest.raises(CnnCostError) as error:
        cnncost.from_torch(Small(), input=given)
    message = str(error.value)
    assert words in message and "\n" not in message and "tensor(" not in message


def test_input_is_required():
    with pytest.raises(TypeError):
        cnncost.from_torch(Small())  # pylint: disable=no-value-for-parameter


def test_an_onnx_file_lists_every_refusal_and_imports_partially(tmp_path):
    pytest.importorskip("onnx")

    class Summed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

        def forward(self, x):
            x = self.conv(x)
            return self.head(x) * torch.sigmoid(x.prod(dim=1, keepdim=True)) + x.logsumexp(dim=1, keepdim=True)

    path = tmp_path / "summed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Summed().eval(), (torch.zeros(1, 3, 16, 16),), str(path), dynamo=False)
    with pytest.raises(CnnCostError) as error:
        cnncost.load(str(path))
    assert "ReduceProd x1" in str(error.value) and "ReduceLogSumExp x1" in str(error.value)
    graph = cnncost.from_onnx(str(path), partial=True)
    # the Mul and Add broadcast 1 channel over 4: mul (as a squeeze-and-excitation's) and binary rows; the two
    # reductions no kind has are opaque
    assert sorted((n.args["op"], n.output_shape) for n in graph.nodes if n.kind == "opaque") == [
        ("ReduceLogSumExp", (1, 16, 16)), ("ReduceProd", (1, 16, 16))]
    assert [(n.kind, n.args.get("op"), n.output_shape) for n in graph.nodes if n.kind in ("mul", "binary")] == [
        ("mul", None, (4, 16, 16)), ("binary", "add", (4, 16, 16))]
    assert cnncost.analyze(graph).totals.params == sum(p.numel() for p in Summed().parameters())


def test_an_onnx_file_with_folded_batch_norms_says_so_and_refuses_training_memory(tmp_path):
    pytest.importorskip("onnx")
    from cnncost import memory

    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3)).eval()
    folded, kept = tmp_path / "folded.onnx", tmp_path / "kept.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(folded), dynamo=False)  # eval: BN folded
        torch.onnx.export(net, (torch.zeros(1, 3, 16, 16),), str(kept), dynamo=False, do_constant_folding=False)
    graph = cnncost.load(str(folded))
    assert [n.kind for n in graph.nodes] == ["conv", "relu", "conv"]  # the file as written: no batch norm
    assert any(note.startswith("Batch norms folded") for note in graph.notes)
    info = subprocess.run([sys.executable, "-m", "cnncost", "info", str(folded)], capture_output=True, text=True)
    assert "Batch norms folded" in info.stdout
    with pytest.raises(CnnCostError, match="folded"):
        memory.analyze_memory(graph, cnncost.Settings(batch=2))
    memory.analyze_memory(graph, cnncost.Settings(batch=2), mode="infer")  # inference stays exact
    unfolded = cnncost.load(str(kept))
    assert "batchnorm" in [n.kind for n in unfolded.nodes] and not unfolded.notes
    memory.analyze_memory(unfolded, cnncost.Settings(batch=2))


def test_in_place_activations_are_recorded_and_train_as_torch_saves():
    """nn.LeakyReLU(inplace=True) and nn.ELU(inplace=True) save their output, not their input (leaky_relu_,
    elu_): the import records inplace, and training memory equals what saved_tensors_hooks sees torch save."""
    import torch.nn.functional as F

    from cnncost import memory

    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = nn.Conv2d(3, 8, 3), nn.LeakyReLU(0.1, inplace=True)
            self.conv2, self.elu, self.conv3 = nn.Conv2d(8, 8, 3), nn.ELU(inplace=True), nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return F.relu(self.conv3(self.elu(self.conv2(self.act(self.conv(x))))), inplace=True)

    module = InPlace()
    graph = cnncost.from_torch(module, input=(2, 3, 16, 16))
    assert [n.args.get("inplace") for n in graph.nodes if n.kind in ("leaky_relu", "elu", "relu")] == [True] * 3
    measured = saved_bytes(module.train(), torch.randn(2, 3, 16, 16))
    settings = cnncost.Settings(batch=2)
    assert memory.analyze_memory(graph, settings, device_kind="cpu").saved_activation_bytes == measured


def test_constants_reductions_stacks_and_unequal_slices_map_to_the_tensor_kinds():
    """x * 0.5 + 1, torch.stack, x.sum(dim) and x[:, :3] of 5 channels: scalar, stack, reduce and slice rows whose
    output shape and MACs under flopcounter are torch's own (FlopCounterMode counts none of these four)."""
    from torch.utils.flop_counter import FlopCounterMode

    class Tensorish(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 5, 1)

        def forward(self, x):
            x = self.conv(x)
            return self.head(torch.stack([x, x * 0.5 + 1], 1).sum(1))[:, :3]

    module = Tensorish()
    graph = cnncost.from_torch(module, input=(1, 3, 16, 16))
    assert [n.kind for n in graph.nodes] == ["conv", "scalar", "scalar", "stack", "reduce", "conv", "slice"]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = module(torch.zeros(1, 3, 16, 16))
    assert graph.nodes[-1].output_shape == tuple(out.shape[1:]) == (3, 16, 16)
    assert cnncost.analyze(graph, convention="flopcounter").totals.macs == counter.get_total_flops() // 2
