"""What torch's TorchScript exporter writes for ordinary modules, read back as the modules' own kinds: group norm
(InstanceNormalization between reshapes), GELU before opset 20 (Erf arithmetic) and TensorFlow-"same" padding
computed from the input's shape (Clip over shape arithmetic, as timm's Conv2dSame). Expected figures come from
torch: the module's parameters and FlopCounterMode, and the output shape it computes."""

from __future__ import annotations

import math
import warnings

import pytest

import cnncost

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
nn, F = torch.nn, torch.nn.functional


class NormGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.act = nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8), nn.GELU()
        self.plain = nn.GroupNorm(2, 8, affine=False)

    def forward(self, x):
        return self.plain(self.act(self.norm(self.conv(x))))


class SameConv(nn.Module):
    """A stride-2 conv padded as TensorFlow's "same", the pads computed from the input's size (timm's pad_same)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)

    def forward(self, x):
        ih, iw = x.size()[-2:]
        ph = max((math.ceil(ih / 2) - 1) * 2 + 3 - ih, 0)
        pw = max((math.ceil(iw / 2) - 1) * 2 + 3 - iw, 0)
        return self.conv(F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]))


def _export(module, path, opset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(1, 3, 17, 17),), str(path), dynamo=False, opset_version=opset)


def _flopcounter_macs(module) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.zeros(1, 3, 17, 17))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("opset", [17, 18])
def test_group_norm_and_erf_gelu_read_as_their_kinds(tmp_path, opset):
    module = NormGelu()
    _export(module, tmp_path / "m.onnx", opset)
    graph = cnncost.load(str(tmp_path / "m.onnx"))
    assert [(n.kind, *((n.args["groups"], n.args["affine"]) if n.kind == "groupnorm" else (None, None)))
            for n in graph.nodes] == [
        ("conv", None, None), ("groupnorm", 4, True), ("gelu", None, None), ("groupnorm", 2, False)]
    report = cnncost.analyze(graph, convention="flopcounter")
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert report.totals.macs == _flopcounter_macs(module)


def test_tf_same_padding_from_shape_arithmetic_reads_as_a_pad(tmp_path):
    module = SameConv()
    _export(module, tmp_path / "same.onnx", 17)
    graph = cnncost.load(str(tmp_path / "same.onnx"))
    with torch.no_grad():
        shape = tuple(module(torch.zeros(1, 3, 17, 17)).shape[1:])
    assert [n.kind for n in graph.nodes] == ["pad", "conv"]
    assert graph.nodes[-1].output_shape == shape == (8, 9, 9)
    assert graph.nodes[0].args["padding"] == (1, 1, 1, 1)  # (9 - 1) * 2 + 3 - 17 = 2: one each side
    assert cnncost.analyze(graph, convention="flopcounter").totals.macs == _flopcounter_macs(module)


@pytest.mark.parametrize("name", ["resnet18"])  # convnext_tiny passes too (checked by hand; a minute more)
def test_zoo_models_through_torchs_default_exporter(name, tmp_path):
    """torch.onnx.export's default since torch 2.9 (dynamo=True; needs onnxscript): its names, operators and
    folding differ from the TorchScript exporter's. Its optimizer folds every batch norm away (at initialisation
    they are the identity), so each row but those comes back with every figure under every convention, and the
    totals' parameters are the model's less its batch norms'. Slow (a minute a model on a busy machine): one
    model with batch norms and residuals (ConvNeXt-T's layer norms, channels-last linears and layer scales pass
    too, run by hand); the TorchScript exporter takes the whole zoo (tests/test_import.py)."""
    import contextlib
    import dataclasses
    import io
    import logging

    pytest.importorskip("onnxscript")
    from cnncost.kinds import KINDS
    from cnncost.validate import smallest_input
    from tests.test_import import _AllOutputs, figures

    shape = smallest_input(name)
    original = cnncost.load(name, input=shape)
    net = cnncost.to_torch(original).eval()
    path = tmp_path / f"{name}.onnx"
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_AllOutputs(torch, net, original.output), (torch.zeros(1, *shape),), str(path))
    finally:
        logging.disable(logging.NOTSET)
    imported = cnncost.load(str(path))
    nodes = [dataclasses.replace(n, call=KINDS[n.kind].calls[0]) for n in original.nodes if not n.side]
    expected = dataclasses.replace(original, nodes=nodes)
    gone = ("dropout", "identity", "stochastic_depth", "batchnorm")
    keep = [i for i, n in enumerate(expected.nodes) if n.kind not in gone]
    # this exporter writes the global average pool as ReduceMean, which the import reads as torch's
    # x.mean([2, 3]) (call: mean): the conventions that count a pooling module and a mean apart (fvcore, ptflops,
    # thop, torchinfo, torchscan) differ on that row by design; these do not
    for convention in ("lecture", "torchvision", "flopcounter"):
        want = [figures(cnncost.analyze(expected, convention=convention))[i] for i in keep]
        assert want == figures(cnncost.analyze(imported, convention=convention)), convention
    norms = sum(n.params for n in cnncost.analyze(expected).layers if n.kind == "batchnorm")
    assert cnncost.analyze(imported).totals.params == cnncost.analyze(expected).totals.params - norms
    assert norms > 0
