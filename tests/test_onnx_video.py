"""A video clip through ONNX: a small network of torch's 3-D layers (Conv3d, BatchNorm3d, MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d) on an (N, C, T, H, W) clip, exported by both of torch's exporters, imported, and compared with
torch: parameters with sum(numel), MACs with FlopCounterMode on the module, the output shape, and (TorchScript,
batch norm kept) the bytes autograd saves in training at batch 2 (saved_tensors_hooks)."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import pytest

import cnncost
from cnncost import memory
from tests.helpers import saved_bytes

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
nn = torch.nn

CLIP = (3, 6, 12, 12)  # C x T x H x W


class Clip(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv3d(3, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2))
        self.bn = nn.BatchNorm3d(8)
        self.pool = nn.MaxPool3d((3, 3, 3), stride=2, padding=1, ceil_mode=True)
        self.temporal = nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0), groups=2, bias=False)
        self.avg = nn.AvgPool3d((1, 2, 2), stride=1, padding=(0, 1, 1), count_include_pad=False)
        self.head = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.stem(x))))
        return self.fc(self.head(self.avg(self.temporal(x))).flatten(1))


def _export(path, exporter):
    torch.manual_seed(0)
    module = Clip().eval()
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            options = {"dynamo": False, "do_constant_folding": False, "opset_version": 17} \
                if exporter == "torchscript" else {}
            torch.onnx.export(module, (torch.zeros(1, *CLIP),), str(path), **options)
    finally:
        logging.disable(logging.NOTSET)
    return module


def _torch_figures(module):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = module.eval()(torch.zeros(1, *CLIP))
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


def test_a_clip_through_the_torchscript_exporter_has_torchs_figures(tmp_path):
    module = _export(tmp_path / "clip.onnx", "torchscript")
    params, macs, shape = _torch_figures(module)
    graph = cnncost.load(str(tmp_path / "clip.onnx"))
    assert [n.kind for n in graph.nodes][:5] == ["conv3d", "batchnorm", "relu", "maxpool3d", "conv3d"]
    assert {"avgpool3d", "global_avgpool3d"} <= {n.kind for n in graph.nodes}
    report = cnncost.analyze(graph, convention="flopcounter")
    assert (report.totals.params, report.totals.macs, graph.nodes[-1].output_shape) == (params, macs, shape)
    saved = memory.analyze_memory(graph, cnncost.Settings(batch=2), device_kind="cpu").saved_activation_bytes
    # the batch norm's running statistics, which its backward reads, are buffers: left out, as for torchvision's models
    assert saved == saved_bytes(module.train(), torch.randn(2, *CLIP))


def test_a_clip_through_the_dynamo_exporter_has_torchs_macs(tmp_path):
    pytest.importorskip("onnxscript")
    module = _export(tmp_path / "clip.onnx", "dynamo")
    params, macs, shape = _torch_figures(module)
    graph = cnncost.load(str(tmp_path / "clip.onnx"))
    report = cnncost.analyze(graph, convention="flopcounter")
    assert (report.totals.macs, graph.nodes[-1].output_shape) == (macs, shape)
    # dynamo folds the eval-mode batch norm into the stem (which has a bias already): its scale and shift, 2 x 8
    assert report.totals.params == params - 2 * 8
    assert "batchnorm" not in {n.kind for n in graph.nodes}
