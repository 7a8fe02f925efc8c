"""The tensor-op vocabulary through ONNX: small torch modules that use each pattern, exported with both of torch's
exporters (the TorchScript one, dynamo=False, and the default dynamo one), imported, and compared with torch:
parameters with sum(numel), MACs with FlopCounterMode on the module, the output shape the module computes, and
the bytes autograd saves in training at batch 2 (saved_tensors_hooks). Exporting is slow, so each module is
exported once per session and every check reads the same files."""

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
nn, F = torch.nn, torch.nn.functional

SHAPE = (3, 16, 16)


class MapOps(nn.Module):
    """Arithmetic with numbers, parameters and a second activation, reductions, splits, slices, views, pixel
    (un)shuffle, instance norm, and a channels-last block, on an N x C x H x W map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.full((8, 1, 1), 0.5))  # x * gamma: the layer scale it was
        self.shift = nn.Parameter(torch.zeros(8, 1, 1))  # x - shift
        self.scale = nn.Parameter(torch.ones(1, 8, 1, 1))  # x / scale
        self.norm = nn.InstanceNorm2d(8, affine=True)
        with torch.no_grad():  # as trained: dynamo's optimizer merges equal initializers, and at their initial
            self.norm.weight.fill_(2.0)  # ones this would stand in for F.instance_norm's constant ones
        self.ln, self.fc = nn.LayerNorm(8), nn.Linear(8, 8)
        self.gamma_last = nn.Parameter(torch.full((8,), 0.5))  # ConvNeXt's channels-last gamma * x
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        x = (x - 0.5) / 3.0
        x = torch.sqrt(torch.exp(-x.abs()) + 1)  # neg, abs, exp, add, sqrt
        x = torch.erf(x) ** 2
        x = torch.clamp_min(x, 0.1)
        x = 2 - (x * self.gamma - self.shift) / self.scale
        gate = x.sum(dim=1, keepdim=True)  # reduce over channels, broadcast back: binary
        a, b = torch.split(x, [3, 5], dim=1)
        x = torch.cat([a, b * gate], dim=1)
        shuffled = F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2)
        x = self.norm(shuffled) + F.instance_norm(x)
        grouped = x.reshape(x.shape[0], 2, 4, 16, 16).permute(0, 2, 1, 3, 4).reshape(x.shape[0], 8, 16, 16)
        x = torch.maximum(grouped, x)
        x = (self.gamma_last * self.fc(self.ln(x.permute(0, 2, 3, 1)))).permute(0, 3, 1, 2) + x
        pooled = torch.norm(x, p=2, dim=(2, 3), keepdim=True) + x.amax(dim=(2, 3), keepdim=True)
        x = self.head(x * pooled / 10)[:, :, 2:13:2, 1:7]  # an off-centre window, a step
        return torch.cat([x.flatten(1), x.mean(dim=1).flatten(1)], dim=1)


class TokenOps(nn.Module):
    """A conv stem to tokens, a positional parameter, layer norm and linears on tokens, heads by reshape and
    permute, attention by matmul and softmax(-1), an einsum, a class token by x[:, 0], and GELU."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 16, 16))
        self.norm, self.qkv, self.proj = nn.LayerNorm(16), nn.Linear(16, 48), nn.Linear(16, 16)
        self.act, self.head, self.norm_no_bias = nn.GELU(), nn.Linear(16, 10), nn.LayerNorm(16, bias=False)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2) + self.pos  # N, L, C
        q, k, v = self.qkv(self.norm(t)).split(16, dim=-1)
        n, length, _ = q.shape
        q, k, v = (u.reshape(n, length, 2, 8).permute(0, 2, 1, 3) for u in (q, k, v))
        attention = (q @ k.transpose(-2, -1) * 8 ** -0.5).softmax(dim=-1)
        t = t + self.proj((attention @ v).transpose(1, 2).reshape(n, length, 16))
        t = torch.einsum("nlc,nkc->nlk", t, t).softmax(dim=1) @ t
        return self.head(self.norm_no_bias(self.act(t))[:, 0])


class Unbound(nn.Module):
    """timm's attention: q, k, v = qkv.reshape(B, N, 3, heads, d).permute(2, 0, 3, 1, 4).unbind(0) (the batch
    axis moved second, then picked along the first), and F.scaled_dot_product_attention, which both exporters
    write as q and k^T each scaled by sqrt(scale), their product, a softmax and a product with v."""

    def __init__(self):
        super().__init__()
        self.stem, self.qkv, self.proj = nn.Conv2d(3, 16, 4, stride=4), nn.Linear(16, 48), nn.Linear(16, 16)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)
        n, length, c = t.shape
        q, k, v = self.qkv(t).reshape(n, length, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, length, c))


MODULES = {"MapOps": MapOps, "TokenOps": TokenOps, "Unbound": Unbound}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each module exported by both exporters, once: {(module, exporter): path}."""
    folder = tmp_path_factory.mktemp("onnx_tensor_ops")
    paths = {}
    logging.disable(logging.WARNING)
    try:
        for name, cls in MODULES.items():
            torch.manual_seed(0)
            module = cls().eval()
            for exporter in ("torchscript", "dynamo"):
                if exporter == "dynamo" and not _has_onnxscript():
                    continue
                path = folder / f"{name}_{exporter}.onnx"
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
                    warnings.simplefilter("ignore")
                    options = {"dynamo": False, "opset_version": 17} if exporter == "torchscript" else {}
                    torch.onnx.export(module, (torch.zeros(1, *SHAPE),), str(path), **options)
                paths[name, exporter] = path
    finally:
        logging.disable(logging.NOTSET)
    return paths


def _has_onnxscript() -> bool:
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_figures(module):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = module.eval()(torch.zeros(1, *SHAPE))
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape[1:])


def _torch_saved_bytes(module, batch=2) -> int:
    return saved_bytes(module.train(), torch.randn(batch, *SHAPE), buffers=False)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", list(MODULES))
def test_each_pattern_imports_with_torchs_figures(exported, name, exporter):
    if (name, exporter) not in exported:
        pytest.skip("onnxscript is not installed")
    torch.manual_seed(0)
    module = MODULES[name]()
    params, macs, shape = _torch_figures(module)
    graph = cnncost.load(str(exported[name, exporter]))
    report = cnncost.analyze(graph, convention="flopcounter")
    assert graph.nodes[-1].output_shape == shape
    assert report.totals.params == params
    assert report.totals.macs == macs
    saved = memory.analyze_memory(graph, cnncost.Settings(batch=2), device_kind="cpu").saved_activation_bytes
    assert saved == _torch_saved_bytes(module)


def test_the_patterns_map_to_the_tensor_op_kinds(exported):
    """What each module is written with, as the kinds issue 21 defines (ops.md), through both exporters:
    checked so that a pattern cannot pass the figures above by some other, accidental route."""
    kinds = {name: set.intersection(*({n.kind for n in cnncost.load(str(path)).nodes}
                                      for (module, _), path in exported.items() if module == name))
             for name in MODULES}
    assert {"scalar", "unary", "param", "binary", "mul", "reduce", "slice", "concat", "pixel_shuffle",
            "pixel_unshuffle", "channel_shuffle", "instancenorm"} <= kinds["MapOps"]
    assert {"reshape", "transpose", "permute", "param", "layernorm", "linear", "matmul", "softmax", "einsum",
            "slice", "gelu"} <= kinds["TokenOps"]
    assert {"permute", "slice", "attention"} <= kinds["Unbound"] and "matmul" not in kinds["Unbound"]


def test_small_external_data_is_read_only_from_a_regular_file_beside_the_model(tmp_path):
    """The dynamo exporter writes even the constants of its shape arithmetic to model.onnx.data; those are read
    (an as_strided's Gather indices), but never from outside the model's folder, nor from a FIFO."""
    import os
    import struct

    from cnncost.importers import onnx_proto

    def tensor(location, offset=0):
        t = onnx_proto.Tensor()
        t.dims, t.data_type, t.external = (3,), onnx_proto.INT64, True
        t.external_data = {"location": location, "offset": str(offset), "length": "24"}
        return t

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "m.onnx.data").write_bytes(b"\0" * 8 + struct.pack("<3q", 4, 5, 6))
    (tmp_path / "outside.data").write_bytes(struct.pack("<3q", 7, 8, 9))
    os.mkfifo(folder / "fifo.data")
    beside, outside, fifo = tensor("m.onnx.data", 8), tensor("../outside.data"), tensor("fifo.data")
    for t in (beside, outside, fifo):
        onnx_proto.load_external(t, str(folder))
    assert (beside.values(), outside.values(), fifo.values()) == ([4, 5, 6], None, None)
