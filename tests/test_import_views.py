"""from_torch on views, products and attention: token tensors (N, L, C), reshapes and permutes that keep the batch
first, q @ k.transpose(-2, -1), softmax along any axis, einsum, scaled-dot-product attention,
nn.MultiheadAttention and pixel shuffles. Each small module here is run by torch, and cnncost's import of it must
count what torch does: parameters (sum of numel), MACs (FlopCounterMode at batch 1), saved activations
(saved_tensors_hooks at batch 2 in training mode) and the output's shape. What cannot be exact is refused, by name."""

from __future__ import annotations

import pytest

import cnncost
from cnncost.errors import CnnCostError
from tests.helpers import cnncost_figures as _cnncost_figures, torch_figures as _torch_figures

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def _imports_as_torch_runs(model, shape) -> list:
    graph = cnncost.from_torch(model.eval(), input=shape)
    assert _cnncost_figures(graph) == _torch_figures(model, shape)
    return [n.kind for n in graph.nodes]


class Attention(nn.Module):
    """timm's Attention: qkv reshaped to heads, the batch moved by the permute, unbind(0), then q @ k^T * scale,
    softmax(dim=-1), @ v (or F.scaled_dot_product_attention), heads merged back."""

    def __init__(self, dim=16, heads=2, fused=False, index=False):
        super().__init__()
        self.heads, self.fused, self.index = heads, fused, index
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = (qkv[0], qkv[1], qkv[2]) if self.index else qkv.unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            x = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Tokens(nn.Module):
    """A patch embedding to tokens (flatten(2).transpose(1, 2)), a pre-norm attention block, a mean over tokens."""

    def __init__(self, attention):
        super().__init__()
        self.patch, self.norm, self.attn = nn.Conv2d(3, 16, 4, 4), nn.LayerNorm(16), attention

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = x + self.attn(self.norm(x))
        return x.mean(1)


@pytest.mark.parametrize("fused, index", [(False, False), (True, False), (False, True)],
                         ids=["matmul-softmax", "sdpa", "indexed-qkv"])
def test_a_vit_attention_block_imports_as_torch_runs_it(fused, index):
    kinds = _imports_as_torch_runs(Tokens(Attention(fused=fused, index=index)), (3, 16, 16))
    assert ("attention" in kinds) == fused and ("matmul" in kinds) != fused
    assert {"flatten", "transpose", "reshape", "permute", "slice", "layernorm", "linear", "reduce"} <= set(kinds)


class Products(nn.Module):
    """einsum, torch.matmul, bmm, softmax over a middle axis, unflatten and unsqueeze/squeeze on tokens."""

    def __init__(self):
        super().__init__()
        self.patch, self.key = nn.Conv2d(3, 8, 4, 4), nn.Linear(8, 8)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)  # 16 tokens of 8
        k = self.key(t)
        a = torch.einsum("bqc,bkc->bqk", t, k).softmax(dim=1)
        y = torch.bmm(a, k) + torch.matmul(a, t)
        y = y.unflatten(2, (2, 4)).unsqueeze(1).squeeze(1)  # 16 x 2 x 4
        return y.flatten(2).transpose(1, 2).reshape(-1, 8, 4, 4)


def test_einsum_matmul_bmm_and_views_import_as_torch_runs_them():
    kinds = _imports_as_torch_runs(Products(), (3, 16, 16))
    assert kinds.count("matmul") == 2 and {"einsum", "softmax", "unflatten"} <= set(kinds)


class MultiHead(nn.Module):
    def __init__(self, cross=False):
        super().__init__()
        self.cross = cross
        self.patch, self.attn = nn.Conv2d(3, 16, 4, 4), nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        k, v = (t * 0.5, t * 2.0) if self.cross else (t, t)
        return self.attn(t, k, v, need_weights=False)[0]


@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_multihead_attention_batch_first_imports_as_torch_runs_it(cross):
    assert "multihead_attention" in _imports_as_torch_runs(MultiHead(cross), (3, 16, 16))


class Shuffles(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.up, self.down = nn.Conv2d(3, 16, 3, padding=1), nn.PixelShuffle(2), nn.PixelUnshuffle(2)

    def forward(self, x):
        x = self.down(self.up(self.conv(x)))
        return F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2)


def test_pixel_shuffle_and_unshuffle_import_as_torch_runs_them():
    kinds = _imports_as_torch_runs(Shuffles(), (3, 8, 8))
    assert kinds.count("pixel_shuffle") == kinds.count("pixel_unshuffle") == 2


class SplitAttention(nn.Module):
    """Split attention as ResNeSt and SKNet write it: the channels viewed as (radix, C / radix), a softmax over the
    radix (after a transpose, ResNeSt's rSoftMax), a weighted sum over it."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(8, 16, 1)

    def forward(self, x):
        x = self.conv(x)
        b = x.shape[0]
        parts = x.reshape(b, 2, 8, *x.shape[2:])
        gap = parts.sum(dim=1).mean((2, 3), keepdim=True)
        attn = self.fc(gap).view(b, 1, 2, -1).transpose(1, 2)
        attn = F.softmax(attn, dim=1).reshape(b, -1).view(b, 2, 8, 1, 1)
        return (parts * attn).sum(dim=1)


def test_split_attention_imports_as_torch_runs_it():
    kinds = _imports_as_torch_runs(SplitAttention(), (3, 8, 8))
    assert {"reshape", "transpose", "softmax", "reduce"} <= set(kinds)


class ChannelsLast(nn.Module):
    """A map viewed channels-last for a layer norm (read as the channels of each position, no row), then
    reshaped to tokens (PVT-v2's stage end): the view becomes a permute row where the reshape reads it."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.LayerNorm(8), nn.Linear(8, 4)

    def forward(self, x):
        x = self.norm(self.conv(x).permute(0, 2, 3, 1))
        return self.fc(x.reshape(x.shape[0], -1, 8))


def test_a_channels_last_view_read_by_a_reshape_is_a_permute_row():
    kinds = _imports_as_torch_runs(ChannelsLast(), (3, 8, 8))
    assert kinds == ["conv", "layernorm", "permute", "reshape", "linear"]


class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        x = self.conv(x)
        b, c, h, w = x.shape
        return x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)


def test_the_existing_patterns_keep_their_rows():
    assert _imports_as_torch_runs(Shuffle(), (3, 4, 4)) == ["conv", "channel_shuffle"]
    head = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    assert _imports_as_torch_runs(head, (3, 8, 8)) == ["conv", "global_avgpool", "flatten", "linear"]


class Folded(nn.Module):
    """Bottleneck attention's reshape(B * heads, d, -1): the batch folded into another axis."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        x = self.conv(x)
        q = x.reshape(x.shape[0] * 2, 4, -1)
        return q.transpose(-2, -1) @ q


class BatchMoved(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return self.conv(x).permute(1, 0, 2, 3).sigmoid()


class MultiHeadCalled(nn.Module):
    def __init__(self, batch_first, need_weights):
        super().__init__()
        self.need_weights = need_weights
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


class KeyIsValue(MultiHeadCalled):
    def forward(self, x):
        kv = x * 0.5
        return self.attn(x, kv, kv, need_weights=False)[0]


@pytest.mark.parametrize("model, shape, words", [
    (Folded(), (3, 4, 4), "the module's output, 2x16x16, has its batch folded into axis 0"),  # followed till there
    (BatchMoved(), (3, 4, 4), "moves the batch axis from first"),
    (MultiHeadCalled(batch_first=False, need_weights=False), (5, 8), "batch_first=False"),
    (MultiHeadCalled(batch_first=True, need_weights=True), (5, 8), "need_weights=True"),
    (KeyIsValue(batch_first=True, need_weights=False), (5, 8), "the key and the value one tensor"),
], ids=["folded", "moved", "sequence-first", "weights", "key-is-value"])
def test_what_cannot_be_exact_is_refused_with_its_reason(model, shape, words):
    with pytest.raises(CnnCostError) as error:
        cnncost.from_torch(model.eval(), input=shape)
    assert words in str(error.value) and "\n" not in str(error.value)


class Softmaxes(nn.Module):
    def forward(self, x):
        return F.softmax(x, dim=1) + x.softmax(dim=-1) + torch.softmax(x, -2) + nn.functional.softmax(x, 2)


def test_softmax_records_how_it_is_called():
    # ptflops patches F.softmax (which nn.Softmax calls) and neither the Tensor method nor torch.softmax:
    # tests/data/peer_ops.tsv, cases softmax_last_module and softmax_last_function
    graph = cnncost.from_torch(Softmaxes(), input=(4, 5, 6))
    rows = [(n.args["dim"], n.call) for n in graph.nodes if n.kind == "softmax"]
    assert rows == [(1, "function"), (3, "method"), (2, "method"), (2, "function")]
    ptflops = cnncost.analyze(graph, convention="ptflops")
    assert [r.macs for r in ptflops.layers if r.kind == "softmax"] == [120, 0, 0, 120]


class TokensToMap(nn.Module):
    """Tokens back to a map for a depthwise conv (PVT-v2's and Twins' positional convs): transpose(1, 2) then a
    reshape that splits L into H and W, which torch does as a view of the transposed tensor, no copy."""

    def __init__(self):
        super().__init__()
        self.patch, self.pos = nn.Conv2d(3, 8, 2, 2), nn.Conv2d(8, 8, 3, padding=1, groups=8)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        b, n, c = t.shape
        y = self.pos(t.transpose(1, 2).reshape(b, c, 4, 4))
        return y.flatten(2).transpose(1, 2) + t


def test_a_reshape_that_splits_one_axis_is_a_view_whatever_the_strides():
    kinds = _imports_as_torch_runs(TokensToMap(), (3, 8, 8))
    assert "unflatten" in kinds and "reshape" not in kinds


class Windows(nn.Module):
    """Swin's window partition: the batch folded with the windows, attention per window, the map back."""

    def __init__(self):
        super().__init__()
        self.patch, self.qkv, self.proj = nn.Conv2d(3, 8, 2, 2), nn.Linear(8, 24), nn.Linear(8, 8)

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)  # B, 8, 8, C
        b, h, w, c = x.shape
        windows = x.view(b, 2, 4, 2, 4, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 16, c)
        q, k, v = self.qkv(windows).reshape(-1, 16, 3, c).permute(2, 0, 1, 3).unbind(0)
        y = self.proj(F.scaled_dot_product_attention(q, k, v))
        return y.view(b, 2, 2, 4, 4, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c).mean((1, 2))


def test_a_folded_batch_is_refused_where_it_cannot_be_exact_and_a_partial_import_goes_on_with_torch_shapes():
    # single-head attention on (B*windows, L, C) runs torch's math path, which cnncost follows only with the
    # batch first (the window partition itself is followed: importers/folding.py, tests/test_import_folds.py)
    model = Windows().eval()
    with pytest.raises(CnnCostError, match="torch runs its math path there"):
        cnncost.from_torch(model, input=(3, 16, 16))
    graph = cnncost.from_torch(model, input=(3, 16, 16), partial=True)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 16, 16))
    assert graph.nodes[-1].output_shape == tuple(out.shape[1:]) == (8,)
    assert cnncost.analyze(graph).totals.params == sum(p.numel() for p in model.parameters())
    # the partition before it is followed; what reads the refused attention's folded output is refused in turn
    refused = {u["op"] for u in graph.unsupported()}
    assert "F.scaled_dot_product_attention" in refused and "Tensor.permute" not in refused


class InnerWindows(Windows):
    """The windows outermost and the batch inside them (x.transpose(0, 1) before the partition's reshape): one
    window's rows then come from every sample."""

    def forward(self, x):
        x = self.patch(x).permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        windows = x.reshape(b, 2, 4, 2, 4, c).transpose(0, 1).reshape(2, -1, c)
        return self.proj(windows).mean(1)


def test_a_folded_batch_that_is_not_outermost_is_refused_and_a_partial_import_goes_on_with_torch_shapes():
    model = InnerWindows().eval()
    with pytest.raises(CnnCostError, match="moves the batch axis"):
        cnncost.from_torch(model, input=(3, 16, 16))
    graph = cnncost.from_torch(model, input=(3, 16, 16), partial=True)
    # torch's output at batch 1 is (2, 8): its batch is not first, the opaque rows follow torch's shapes
    assert graph.nodes[-1].output_shape == (2, 8)
    # every parameter is in a row (the linear layer reads the folded windows: an opaque row holding them)
    assert cnncost.analyze(graph).totals.params == sum(
        p.numel() for name, p in model.named_parameters() if not name.startswith("qkv"))
    assert {u["op"] for u in graph.unsupported()} >= {"Linear", "Tensor.reshape"}


class Pads(nn.Module):
    """F.pad of a channels-last view's H and W (Swin-style window padding) and of the last axis of tokens split
    into heads (EfficientViT's F.pad(v, (0, 1), value=1))."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 8, 3), nn.LayerNorm(8)

    def forward(self, x):
        y = F.pad(self.norm(self.conv(x).permute(0, 2, 3, 1)), (0, 0, 0, 2, 1, 1)).permute(0, 3, 1, 2)
        t = y.flatten(2).transpose(1, 2).reshape(y.shape[0], -1, 2, 4).transpose(1, 2)
        return F.pad(t, (0, 1), mode="constant", value=1.0) * 2.0


def test_pads_of_a_channels_last_view_and_of_the_last_axis_import_as_torch_runs_them():
    kinds = _imports_as_torch_runs(Pads(), (3, 8, 8))
    assert kinds.count("pad") == 2


class ClassToken(nn.Module):
    """The class token read as ViTs read it, x[:, 0], and a pad of the tokens axis of heads (CoaT's
    F.pad(k, (0, 0, 1, 0, 0, 0)))."""

    def __init__(self):
        super().__init__()
        self.patch, self.head = nn.Conv2d(3, 8, 4, 4), nn.Linear(8, 3)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        heads = F.pad(t.reshape(t.shape[0], -1, 2, 4).transpose(1, 2), (0, 0, 1, 0, 0, 0))
        return torch.cat([self.head(t[:, 0]), heads[:, -1, 1:, ...].mean(1)], dim=1)


def test_a_class_token_select_and_a_tokens_pad_import_as_torch_runs_them():
    kinds = _imports_as_torch_runs(ClassToken(), (3, 8, 8))
    assert kinds.count("slice") + kinds.count("channel_split") == 3 and "pad" in kinds


class Sequence1d(nn.Module):
    """NextViT's key and value path: tokens as (N, C, L), nn.AvgPool1d over L, nn.BatchNorm1d over C."""

    def __init__(self):
        super().__init__()
        self.patch, self.pool, self.norm = nn.Conv2d(3, 8, 2, 2), nn.AvgPool1d(2, 2), nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        t = self.pool(self.patch(x).flatten(2))
        return self.fc(self.norm(t).transpose(1, 2))


def test_one_dimensional_pooling_and_batch_norm_on_tokens_import_as_torch_runs_them():
    kinds = _imports_as_torch_runs(Sequence1d(), (3, 8, 8))
    assert {"avgpool", "batchnorm"} <= set(kinds)


class StridedAttention(nn.Module):
    """LowFormer's attention: q, k, v chunks of the last axis of a permuted tensor, so their last axis is strided
    and torch runs the math path of F.scaled_dot_product_attention (FlopCounterMode then counts its products)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 24, 2, 2)

    def forward(self, x):
        qkv = self.conv(x).reshape(x.shape[0], 2, 12, 16).permute(0, 1, 3, 2)
        q, k, v = qkv.chunk(3, dim=3)
        return F.scaled_dot_product_attention(q, k, v)


def test_attention_on_strided_inputs_is_refused_as_torch_counts_its_math_path():
    from torch.utils.flop_counter import FlopCounterMode

    model = StridedAttention().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 8, 8))
    # the conv (24 x 4x4 outputs x 3*2*2) and the math path's Q K^T and weights x V (2 heads x 16 x 16 x (4 + 4))
    assert counter.get_total_flops() // 2 == 24 * 16 * 12 + 2 * 16 * 16 * (4 + 4)
    with pytest.raises(CnnCostError, match="last axis is strided"):
        cnncost.from_torch(model, input=(3, 8, 8))


class UnbindOfOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        (only,) = self.conv(x).unsqueeze(2).unbind(2)  # an axis of one: the tensor itself
        return only.sigmoid()


def test_an_unbind_along_an_axis_of_one_is_the_tensor_itself():
    kinds = _imports_as_torch_runs(UnbindOfOne(), (3, 6, 6))
    assert "slice" not in kinds and kinds[0] == "conv" and kinds[-1] == "sigmoid"


def test_a_video_network_imports_as_torch_runs_it():
    # nn.Conv3d (strided, padded, grouped), nn.BatchNorm3d, nn.AdaptiveAvgPool3d(1): torchvision's video ResNets'
    # modules on a C x T x H x W clip, given to from_torch with its batch (N, C, T, H, W)
    model = nn.Sequential(nn.Conv3d(3, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
                          nn.BatchNorm3d(8), nn.ReLU(),
                          nn.Conv3d(8, 8, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0), groups=2),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 5))
    shape = (3, 4, 10, 10)
    graph = cnncost.from_torch(model.eval(), input=(1, *shape))
    assert _cnncost_figures(graph) == _torch_figures(model, shape)
    assert [n.kind for n in graph.nodes] == ["conv3d", "batchnorm", "relu", "conv3d", "global_avgpool3d", "flatten",
                                             "linear"]
    with pytest.raises(CnnCostError, match="adaptive average pooling of a video map to"):
        cnncost.from_torch(nn.Sequential(nn.AdaptiveAvgPool3d(2)), input=(1, *shape))


class EfficientChannelAttention(nn.Module):
    """timm's EcaModule: the squeezed channels viewed as a sequence of one channel, a Conv1d across them, then a
    sigmoid gate viewed back to C x 1 x 1."""

    def __init__(self, channels=16, kernel=3):
        super().__init__()
        self.body = nn.Conv2d(3, channels, 3, padding=1)
        self.conv = nn.Conv1d(1, 1, kernel, padding=(kernel - 1) // 2, bias=False)
        self.mix = nn.Conv1d(1, channels, 3, stride=2, padding=2, dilation=2)  # strided, dilated, with a bias

    def forward(self, x):
        x = self.body(x)
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = self.conv(y)
        gate = y.sigmoid().view(x.shape[0], -1, 1, 1)
        return x * gate.expand_as(x) + self.mix(y).mean(-1).view(x.shape[0], -1, 1, 1)


def test_eca_conv1d_across_the_channels_imports_as_torch_runs_it():
    kinds = _imports_as_torch_runs(EfficientChannelAttention(), (3, 8, 8))
    assert kinds.count("conv1d") == 2
    with pytest.raises(CnnCostError, match="padding_mode='circular'"):
        cnncost.from_torch(nn.Sequential(nn.Conv1d(3, 3, 3, padding=1, padding_mode="circular")), input=(3, 10))


class NotStandardized(nn.Conv2d):
    """F.batch_norm over the weight in eval mode (running statistics of its own): not weight standardisation."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout, 3, padding=1)
        self.register_buffer("mean", torch.zeros(cout))
        self.register_buffer("var", torch.ones(cout))

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), self.mean, self.var, training=False)
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, self.stride, self.padding)


def test_weight_standardised_convs_import_as_torch_runs_them():
    from tests.subclass_cases import StandardizedConv

    # the gain and its absence in one configuration otherwise, and a third like the first: each read right, though
    # the pattern is traced once per configuration
    model = nn.Sequential(StandardizedConv(3, 8, 3, gain=True, padding=1), nn.ReLU(),
                          StandardizedConv(8, 8, 3, gain=False, padding=1), StandardizedConv(8, 8, 3, gain=True,
                                                                                           padding=1, groups=2))
    graph = cnncost.from_torch(model.eval(), input=(3, 8, 8))
    assert _cnncost_figures(graph) == _torch_figures(model, (3, 8, 8))
    rows = [(n.kind, n.args.get("gain"), n.args.get("groups"), n.call) for n in graph.nodes]
    assert rows == [("std_conv", True, 1, "subclass"), ("relu", None, None, "module"),
                    ("std_conv", False, 1, "subclass"), ("std_conv", True, 2, "subclass")]
    with pytest.raises(CnnCostError, match="computes with parameters"):
        cnncost.from_torch(nn.Sequential(NotStandardized(3, 4)), input=(3, 8, 8))


class GatedChannelsLast(nn.Module):
    """MambaOut's gated block on a channels-last map: layer norm and a linear layer on the last axis, torch.split
    along it into a gate, an identity part and a part for a depthwise conv (permuted there and back), torch.cat
    along it again, the gate's product, a second linear layer, and the residual."""

    def __init__(self, dim=8, hidden=12, conv=4):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 3, padding=1)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * hidden)
        self.sizes = (hidden, hidden - conv, conv)
        self.conv = nn.Conv2d(conv, conv, 3, padding=1, groups=conv)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        g, i, c = torch.split(self.fc1(self.norm(x)), self.sizes, dim=-1)
        c = self.conv(c.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = x + self.fc2(F.gelu(g) * torch.cat((i, c), dim=-1))
        return x.permute(0, 3, 1, 2)


def test_a_channels_last_split_and_join_imports_as_torch_runs_it():
    kinds = _imports_as_torch_runs(GatedChannelsLast(), (3, 6, 6))
    assert kinds.count("linear") == 2 and "concat" in kinds  # the linear layers on the channels-last views


class SwappedAxes(nn.Module):
    """MaxViT's SwapAxes (torch.swapaxes on partitioned tokens) and the method and swapdims spellings: aliases of
    transpose."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 1), nn.Linear(6, 4)

    def forward(self, x):
        x = self.conv(x).reshape(x.shape[0], 8, 2, 3)  # (N, 8, 2, 3): 8 groups of 2 x 3
        x = torch.swapaxes(x, -2, -3).swapaxes(1, 2)  # (N, 3, 8, 2) as (N, 8, 3, 2), then (N, 3, 8, 2)
        return self.fc(torch.swapdims(x, 2, 3).reshape(x.shape[0], 8, 6))  # (N, 3, 2, 8) read as 8 x 6


def test_swapaxes_and_swapdims_import_as_transpose_as_torch_runs_them():
    kinds = _imports_as_torch_runs(SwappedAxes(), (3, 2, 3))
    assert kinds.count("transpose") == 3
