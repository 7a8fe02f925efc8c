"""from_torch on attention biases gathered from a learnable table by a constant index buffer (LeViT,
EfficientFormer, EfficientViT, CoAtNet, Swin: ``attn + table[:, idx]``, ``table[idx.view(-1)].view(...).permute``).
Each small module is run by torch, and cnncost's import must count what torch does: parameters (sum of numel),
MACs (FlopCounterMode at batch 1), saved activations (saved_tensors_hooks at batch 2 in training mode) and the
output's shape. What cannot be exact is refused, by name."""

from __future__ import annotations

import pytest

import cnncost
from cnncost.errors import CnnCostError
from tests.helpers import cnncost_figures as _cnncost_figures, torch_figures as _torch_figures

torch = pytest.importorskip("torch")
nn = torch.nn


def _offsets(side):
    """LeViT's index: each pair of positions of a side x side grid -> |dy| * side + |dx|."""
    points = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")).flatten(1)
    offsets = (points[:, :, None] - points[:, None, :]).abs()
    return offsets[0] * side + offsets[1]


class MapAttention(nn.Module):
    """EfficientFormerV2's attention on a map: q, k, v by 1x1 convs, q and v viewed as (N, heads, L, d) by a
    reshape and a transpose of the last two axes (matmul folds those as views), attn + table[:, idx] with the
    index a buffer, and v's map read by a depth-wise conv too (which saves it first). ``per_head``:
    EfficientViT's form, one gather for all heads and each head adding its row."""

    def __init__(self, channels=16, heads=2, side=4, per_head=False):
        super().__init__()
        self.heads, self.per_head = heads, per_head
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.v_local = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.attention_biases = nn.Parameter(torch.randn(heads, side * side))
        self.register_buffer("attention_bias_idxs", _offsets(side))

    def forward(self, x):
        b, c, h, w = x.shape
        n, d = h * w, c // self.heads
        q = self.q(x).reshape(b, self.heads, d, n).permute(0, 1, 3, 2)
        k = self.k(x).reshape(b, self.heads, d, n)
        v_map = self.v(x)
        v = v_map.reshape(b, self.heads, d, n).transpose(2, 3)
        attn = (q @ k) * d ** -0.5
        bias = self.attention_biases[:, self.attention_bias_idxs]
        if self.per_head:
            attn = torch.stack([attn[:, i] + bias[i] for i in range(self.heads)], dim=1)
        else:
            attn = attn + bias
        return (attn.softmax(dim=-1) @ v).transpose(2, 3).reshape(b, c, h, w) + self.v_local(v_map)


class RowsTable(nn.Module):
    """CoAtNet's and Swin's form: table[idx.view(-1)].view(L, L, heads).permute(2, 0, 1), the table (offsets,
    heads), added to logits made from tokens."""

    def __init__(self, channels=16, heads=2, side=3):
        super().__init__()
        self.heads, self.side = heads, side
        self.qk = nn.Linear(channels, 2 * channels)
        self.table = nn.Parameter(torch.randn((2 * side - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (side - 1)
        self.register_buffer("index", relative[..., 0] * (2 * side - 1) + relative[..., 1])

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)
        b, n, c = tokens.shape
        q, k = self.qk(tokens).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.table[self.index.view(-1)].view(n, n, self.heads).permute(2, 0, 1)
        return (q @ k.transpose(-2, -1) + bias).softmax(dim=-1)


@pytest.mark.parametrize("model, kinds", [
    (MapAttention(), {"table_bias": 1, "matmul": 2}),
    (MapAttention(per_head=True), {"table_bias": 2, "matmul": 2}),
    (RowsTable(), {"table_bias": 1, "matmul": 1}),
], ids=["levit-columns", "efficientvit-per-head", "swin-rows"])
def test_a_gathered_bias_table_imports_as_torch_runs_it(model, kinds):
    shape = (16, 4, 4) if isinstance(model, MapAttention) else (16, 3, 3)
    graph = cnncost.from_torch(model.eval(), input=shape)
    assert _cnncost_figures(graph) == _torch_figures(model, shape)
    used = [n.kind for n in graph.nodes]
    assert {kind: used.count(kind) for kind in kinds} == kinds
    # the table's parameters are counted once, at the row that first adds it
    rows = [n for n in graph.nodes if n.kind == "table_bias"]
    assert [n.params for n in rows] == [model.attention_biases.numel() if hasattr(model, "attention_biases")
                                        else model.table.numel()] + [0] * (len(rows) - 1)


class Multiplied(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(2, 16))
        self.register_buffer("index", _offsets(4))

    def forward(self, x):
        return x * self.table[:, self.index]


def test_a_gathered_table_other_than_added_is_refused_by_name():
    with pytest.raises(CnnCostError, match="gathered from a parameter table; cnncost's table_bias adds"):
        cnncost.from_torch(Multiplied(), input=(2, 16, 16))


class ChannelSlices(nn.Module):
    """EfficientViT's and SHViT's unequal channel split, then flatten(2): at batch > 1 a view of each sample (the
    slice's C, H and W stay contiguous), so the product saves the conv's output, which the depth-wise conv saved
    first, and no copy."""

    def __init__(self):
        super().__init__()
        self.conv, self.local = nn.Conv2d(8, 16, 1), nn.Conv2d(16, 16, 3, padding=1, groups=16)

    def forward(self, x):
        y = self.conv(x)
        q, v = y[:, :4].flatten(2), y[:, 4:].flatten(2)
        attn = (q.transpose(1, 2) @ q).softmax(dim=-1)
        return (v @ attn).unflatten(2, y.shape[2:]) + self.local(y)[:, 4:]


def test_a_flattened_channel_slice_is_a_view_as_in_torch():
    model = ChannelSlices()
    graph = cnncost.from_torch(model.eval(), input=(8, 4, 4))
    assert _cnncost_figures(graph) == _torch_figures(model, (8, 4, 4))


class Cached(MapAttention):
    """timm's form: in eval mode the gathered bias is kept in a dict, which its train() empties."""

    def __init__(self):
        super().__init__()
        self.cache: dict = {}

    def train(self, mode=True):
        super().train(mode)
        self.cache = {}
        return self

    def forward(self, x):
        if "bias" not in self.cache:
            self.cache["bias"] = self.attention_biases[:, self.attention_bias_idxs]
        b, c, h, w = x.shape
        q = self.q(x).reshape(b, self.heads, c // self.heads, h * w).transpose(2, 3)
        return (q @ q.transpose(2, 3) + self.cache["bias"]).softmax(dim=-1)


def test_a_module_that_caches_in_forward_runs_after_the_import():
    model = Cached().eval()
    graph = cnncost.from_torch(model, input=(16, 4, 4))
    assert [n.kind for n in graph.nodes].count("table_bias") == 1
    assert model.cache == {} and not model.training  # no tracer's proxy left in the cache
    assert model(torch.randn(2, 16, 4, 4)).shape == (2, 2, 16, 16)


class MaskedAttention(RowsTable):
    """CoAtNet's form: the gathered bias, bias.unsqueeze(0).contiguous(), is F.scaled_dot_product_attention's
    attn_mask. Inference runs the CPU's fused kernel (FlopCounterMode counts it 0); training, where the mask needs
    a gradient, the math path. A mask of three axes (``dense=False``) makes inference run the math path too
    (measured), which is refused."""

    def __init__(self, dense=True):
        super().__init__(channels=24)  # heads of 12 features: the fused kernel's output and log-sum-exp (9 x 13 a
        self.qk, self.dense = nn.Linear(24, 72), dense  # head) are then not the math path's weights (9 x 9) in size

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)
        b, n, c = tokens.shape
        q, k, v = self.qk(tokens).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.table[self.index.view(-1)].view(n, n, self.heads).permute(2, 0, 1)
        bias = bias.unsqueeze(0).contiguous() if self.dense else bias
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def test_a_gathered_bias_as_an_attention_mask_imports_as_torch_runs_it():
    model = MaskedAttention()
    graph = cnncost.from_torch(model.eval(), input=(24, 3, 3))
    assert _cnncost_figures(graph) == _torch_figures(model, (24, 3, 3))
    attention = next(n for n in graph.nodes if n.kind == "attention")
    assert attention.params == model.table.numel() == 25 * 2


def test_an_attention_mask_with_a_strided_last_axis_is_refused_by_name():
    with pytest.raises(CnnCostError, match="a mask of another rank than the query's"):
        cnncost.from_torch(MaskedAttention(dense=False).eval(), input=(24, 3, 3))
