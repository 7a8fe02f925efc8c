"""from_torch on element-wise arithmetic, parameters and buffers in arithmetic, unequal splits, stacks and timm's own
layers: each pattern in a small hand-written module whose figures come from torch itself (params with
sum(numel), MACs with FlopCounterMode, saved activations with saved_tensors_hooks, shapes from running it)."""

from __future__ import annotations

import pytest

import cnncost
from cnncost import memory
from cnncost.errors import CnnCostError
from tests.helpers import saved_bytes

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def torch_figures(module, shape, batch=2):
    """What torch says of the module: params, MACs (FlopCounterMode / 2), output shape, saved bytes in training."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = module.eval()(x)
    saved = saved_bytes(module.train(), torch.randn(batch, *shape))
    module.eval()
    return {"params": sum(p.numel() for p in module.parameters()), "macs": counter.get_total_flops() // 2,
            "output": tuple(out.shape[1:]), "saved": saved}


def cnncost_figures(graph, batch=2):
    report = cnncost.analyze(graph, convention="flopcounter")
    return {"params": report.totals.params, "macs": report.totals.macs, "output": graph.nodes[-1].output_shape,
            "saved": memory.analyze_memory(graph, cnncost.Settings(batch=batch), device_kind="cpu")
            .saved_activation_bytes}


def imported(module, shape):
    graph = cnncost.from_torch(module, input=shape)
    assert cnncost_figures(graph) == torch_figures(module, shape)
    return graph


class Arithmetic(nn.Module):
    """sub, div, pow, a constant on the left, neg and the unary functions, two activations with broadcasting (and an
    expanded view), timm's StarReLU (scale * relu(x) ** 2 + bias, 1-element parameters) and PoolFormer's
    pool(x) - x."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.scale, self.bias = nn.Parameter(torch.ones(1)), nn.Parameter(torch.zeros(1))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        x = self.pool(x) - x
        x = self.scale * F.relu(x) ** 2 + self.bias
        y = (x + x.exp()) / 2
        y = 1 - y.sigmoid() + 1 / (y.abs() + 1)
        y = torch.sub(y, y.mean((2, 3), keepdim=True)).div(y.sqrt().clamp_min(1e-3))
        y = torch.maximum(-y, torch.erf(y)) - y.rsqrt() * torch.exp(y)
        y = y * y.sum(-1, keepdim=True).expand_as(y)  # MobileViT-v2's context vector
        return self.head(y.pow(2) - torch.minimum(y, y[:, :1]))


def test_arithmetic_of_activations_constants_and_one_element_parameters_counts_as_torch():
    graph = imported(Arithmetic(), (3, 8, 8))
    kinds = [n.kind for n in graph.nodes]
    assert {"scalar", "unary", "binary", "param"} <= set(kinds)
    assert [n.args["op"] for n in graph.nodes if n.kind == "unary"] == ["exp", "abs", "sqrt", "neg", "erf", "rsqrt",
                                                                      "exp"]
    params = {n.name: n.args for n in graph.nodes if n.kind == "param"}
    assert params == {"scale": {"op": "mul", "shape": (1,), "learnable": True, "init": 1.0},
                      "bias": {"op": "add", "shape": (1,), "learnable": True, "init": 1.0}}


class Parameters(nn.Module):
    """Buffers in arithmetic ((x - mean) / std), a channels-last gamma (EdgeNeXt), a layer scale written with
    reshape (timm's ConvNeXt: stays a layer_scale row), and one parameter used twice."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.LayerNorm(8, bias=False)  # timm's LayerNormNoBias
        self.gamma = nn.Parameter(torch.full((8,), 0.5))
        self.layer_scale = nn.Parameter(torch.full((8,), 0.1))
        self.shift = nn.Parameter(torch.zeros(8, 1, 1))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv((x - self.mean) / self.std)
        y = self.norm(x.permute(0, 2, 3, 1))
        y = (self.gamma * y).permute(0, 3, 1, 2)
        y = y.mul(self.layer_scale.reshape(1, -1, 1, 1))
        return self.head(y + self.shift + x.add(self.shift))


def test_parameters_and_buffers_broadcast_in_arithmetic_count_as_torch():
    graph = imported(Parameters(), (3, 8, 8))
    rows = {n.name: (n.kind, n.args) for n in graph.nodes if n.kind in ("param", "layer_scale")}
    assert rows["mean"] == ("param", {"op": "sub", "shape": (3, 1, 1), "learnable": False, "init": 1.0})
    assert rows["std"] == ("param", {"op": "div", "shape": (3, 1, 1), "learnable": False, "init": 1.0})
    assert rows["gamma"] == ("param", {"op": "mul", "shape": (8, 1, 1), "learnable": True, "init": 1.0})
    assert rows["layer_scale"][0] == "layer_scale"
    assert cnncost.analyze(graph).totals.buffers == 6  # the two 3-element buffers, as torch holds them


@pytest.mark.parametrize("expression, words", [
    (lambda m, x: m.p - x, r"p - x"), (lambda m, x: m.p / x, r"p / x"), (lambda m, x: 2 ** x, "power"),
    (lambda m, x: x * torch.ones(1, 4, 1, 1), "built in forward"), (lambda m, x: x + x.sum(1), "lines the batch"),
    (lambda m, x: torch.stack([x, x]).relu(), "stack along the batch axis that is not reduced"),
    (lambda m, x: x.sum(1, keepdim=True).expand(-1, 4, -1, -1).relu(), "expanded view"),
])
def test_what_has_no_exact_row_is_refused_by_name(expression, words):
    class Refused(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.p = nn.Conv2d(3, 4, 1), nn.Parameter(torch.ones(4, 1, 1))

        def forward(self, x):
            return expression(self, self.conv(x))

    with pytest.raises(CnnCostError, match=words):
        cnncost.from_torch(Refused(), input=(3, 4, 4))


class Splits(nn.Module):
    """Unequal splits (FasterNet's partial conv), chunks along H, strided slices along W, and an FPN's merge
    torch.stack(xs).sum(0) and .mean(0)."""

    def __init__(self):
        super().__init__()
        self.conv, self.partial = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.norm = nn.GroupNorm(1, 6)  # on a channel slice: torch normalises (and saves) a contiguous copy
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        a, b = torch.split(x, [2, 6], dim=1)
        x = torch.cat([self.partial(a), self.norm(b)], 1)
        top, bottom = x.chunk(2, dim=2)
        merged = torch.stack([top, bottom, top * 2]).sum(0) + torch.stack([top, bottom]).mean(dim=0)
        return self.head(merged[:, :, :, 1::2] + merged[..., ::2])


def test_unequal_splits_slices_and_a_stack_reduced_over_dim_0_count_as_torch():
    graph = imported(Splits(), (3, 8, 8))
    slices = [(n.args["dim"], n.args["start"], n.args["end"], n.args["step"]) for n in graph.nodes
              if n.kind == "slice"]
    # channels 0:2 are the first of 4 equal parts (channel_split); x[..., ::2] of 8 ends after index 6
    assert [(n.args["parts"], n.args["index"]) for n in graph.nodes if n.kind == "channel_split"] == [(4, 0)]
    assert slices == [(1, 2, 8, 1), (2, 0, 4, 1), (2, 4, 8, 1), (3, 1, 8, 2), (3, 0, 7, 2)]
    assert [(n.args["dim"], len(n.inputs)) for n in graph.nodes if n.kind == "stack"] == [(1, 3), (1, 2)]
    assert [(n.args["op"], n.args["dims"]) for n in graph.nodes if n.kind == "reduce"] == [("sum", (1,)),
                                                                                          ("mean", (1,))]


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2's global response norm as timm 1.0 computes it (timm.layers.grn), given timm's module path so
    that from_torch takes it for timm's: x + bias + weight * x * N(x), N the 2-norm over positions over its mean
    over channels."""

    def __init__(self, dim, eps=1e-6, channels_last=True):
        super().__init__()
        self.eps = eps
        self.spatial_dim, self.channel_dim = ((1, 2), -1) if channels_last else ((2, 3), 1)
        self.wb_shape = (1, 1, 1, -1) if channels_last else (1, -1, 1, 1)
        self.weight, self.bias = nn.Parameter(torch.rand(dim)), nn.Parameter(torch.rand(dim))

    def forward(self, x):
        x_g = x.norm(p=2, dim=self.spatial_dim, keepdim=True)
        x_n = x_g / (x_g.mean(dim=self.channel_dim, keepdim=True) + self.eps)
        return x + torch.addcmul(self.bias.view(self.wb_shape), self.weight.view(self.wb_shape), x * x_n)


GlobalResponseNorm.__module__ = "timm.layers.grn"


class ConvNeXtV2Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc1 = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, 16)
        self.grn, self.fc2 = GlobalResponseNorm(16), nn.Linear(16, 8)
        self.grn_map, self.head = GlobalResponseNorm(8, channels_last=False), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        y = self.fc2(self.grn(F.gelu(self.fc1(x.permute(0, 2, 3, 1))))).permute(0, 3, 1, 2)
        return self.head(self.grn_map(x + y))


def test_timms_global_response_norm_is_a_grn_row_that_counts_as_torch():
    graph = imported(ConvNeXtV2Mlp(), (3, 8, 8))
    assert [(n.name, n.args["channels_last"]) for n in graph.nodes if n.kind == "grn"] == [("grn", False),
                                                                                          ("grn_map", False)]
