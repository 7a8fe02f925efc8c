"""from_torch where forward folds the batch into another axis (issue 21): window attention's B*windows, MobileViT's
B*patch_area. cnncost's shapes are per sample: a tensor whose batch is the outermost factor of its first axis is
W windows per sample, and the import follows it (importers/folding.py). Each small module is run by torch and the
import must count what torch does: parameters (sum of numel), MACs (FlopCounterMode at batch 1), saved activations
(saved_tensors_hooks at batch 2 in training mode), the output's shape. Where the batch is not outermost, refused."""

from __future__ import annotations

import pytest

import cnncost
from cnncost.errors import CnnCostError
from tests.helpers import cnncost_figures as _cnncost_figures, torch_figures as _torch_figures
from tests.test_import_views import Attention

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class Block(nn.Module):
    """A pre-norm transformer block on tokens (B, L, C), as timm's: attention and an MLP, each with a residual."""

    def __init__(self, dim=16, heads=2, fused=True):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, fused=fused)
        self.norm2, self.fc1, self.act, self.fc2 = nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), \
            nn.Linear(2 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class Windows(nn.Module):
    """Swin-style window partition of a channels-last map (B, H, W, C) into (B*windows, ws*ws, C), a block on each
    window, and the windows put back."""

    def __init__(self, dim=16, ws=4, fused=True):
        super().__init__()
        self.ws, self.embed, self.block = ws, nn.Conv2d(3, dim, 2, 2), Block(dim, fused=fused)

    def forward(self, x):
        x = self.embed(x).permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        ws = self.ws
        x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        x = self.block(x)
        x = x.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        return x.mean((1, 2))


class Patches(nn.Module):
    """MobileViT's unfold into patches: (B, C, H, W) to (B*P, N, C) with P = ph*pw pixels per patch, N patches, a
    block along each pixel position's patches, and the fold back."""

    def __init__(self, dim=16, p=2):
        super().__init__()
        self.p, self.embed, self.block = p, nn.Conv2d(3, dim, 2, 2), Block(dim)

    def forward(self, x):
        x = self.embed(x)
        b, c, h, w = x.shape
        p, nh, nw = self.p, h // self.p, w // self.p
        x = x.reshape(b * c * nh, p, nw, p).transpose(1, 2)
        x = x.reshape(b, c, nh * nw, p * p).transpose(1, 3).reshape(b * p * p, nh * nw, -1)
        x = self.block(x)
        x = x.contiguous().view(b, p * p, nh * nw, -1)
        x = x.transpose(1, 3).reshape(b * c * nh, nw, p, p)
        return x.transpose(1, 2).reshape(b, c, nh * p, nw * p)


class PaddedWindows(nn.Module):
    """DaViT's spatial block: tokens viewed as a channels-last map (B, H, W, C), padded to whole windows
    (F.pad(x, (0, 0, 0, right, 0, bottom))), windows of multi-head attention, the padding cropped off again."""

    def __init__(self, dim=16, ws=3):
        super().__init__()
        self.ws, self.embed = ws, nn.Conv2d(3, dim, 2, 2)
        self.norm, self.attn = nn.LayerNorm(dim), Attention(dim, 2, fused=True)

    def forward(self, x):
        x = self.embed(x)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        x = self.norm(tokens).view(b, h, w, c)
        ws = self.ws
        x = F.pad(x, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        _, hp, wp, _ = x.shape
        x = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws * ws, c)
        x = self.attn(x)
        x = x.view(-1, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).contiguous().view(b, hp, wp, c)
        x = x[:, :h, :w, :].contiguous().view(b, h * w, c)
        return (tokens + x).mean(1)


@pytest.mark.parametrize("model", [Windows(), Windows(fused=False), Patches(), PaddedWindows()],
                         ids=["windows", "windows-matmul", "patches", "padded-windows"])
def test_a_folded_batch_imports_as_torch_runs_it(model):
    shape = (3, 16, 16)
    graph = cnncost.from_torch(model.eval(), input=shape)
    assert _cnncost_figures(graph) == _torch_figures(model, shape)


class InnerBatch(nn.Module):
    """x.reshape(2, -1, C) on tokens (B, L, C): at batch 1 it looks like 2 windows of L/2 tokens, but at batch 2 it
    is (2, L, C), the batch inside the second axis, and the linear layer after it mixes samples' rows."""

    def __init__(self):
        super().__init__()
        self.embed, self.fc = nn.Conv2d(3, 8, 4, 4), nn.Linear(8, 8)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        return self.fc(x.reshape(2, -1, x.shape[-1]))


def test_a_batch_that_is_not_outermost_is_refused():
    with pytest.raises(CnnCostError, match="Tensor.reshape x1: 'forward' \\(views a tensor whose batch is not "
                                           "outermost"):
        cnncost.from_torch(InnerBatch().eval(), input=(3, 16, 16))


class AlongTheBatch(nn.Module):
    """Windows (B*4, 16, C), then something that mixes the batch: a softmax over the windows axis (dim 0), or the
    windows added to tokens whose batch is first."""

    def __init__(self, how):
        super().__init__()
        self.how, self.embed = how, nn.Conv2d(3, 8, 2, 2)

    def forward(self, x):
        x = self.embed(x).permute(0, 2, 3, 1)
        b, h, w, c = x.shape
        windows = x.reshape(b, 2, 4, 2, 4, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 16, c)
        if self.how == "softmax":
            windows = windows.softmax(dim=0)
        else:
            windows = windows + x.reshape(b, 64, c)[:, :16]
        return windows.reshape(b, 4, 16, c).mean((1, 2))


@pytest.mark.parametrize("how, words", [
    ("softmax", "works along axis 0 of a 4x16x8 tensor, which holds the batch"),
    # (B*4, 16, C) + (B, 16, C) broadcasts at batch 1 only: torch cannot run it at batch 2, nor cnncost follow it
    ("plain", "torch's shapes for it at batch 2 are unknown"),
])
def test_an_op_that_mixes_samples_of_a_folded_batch_is_refused(how, words):
    with pytest.raises(CnnCostError) as error:
        cnncost.from_torch(AlongTheBatch(how).eval(), input=(3, 16, 16))
    assert words in str(error.value)


class ChannelsLastMlp(nn.Module):
    """A layer norm and an MLP on a channels-last map that is a tensor of its own (tokens viewed as (B, H, W, C),
    as MaxViT's and GC ViT's blocks run theirs): torch's linear layer and layer norm work on its last axis."""

    def __init__(self, dim=8):
        super().__init__()
        self.embed, self.norm = nn.Conv2d(3, dim, 2, 2), nn.LayerNorm(dim)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)

    def forward(self, x):
        x = self.embed(x)
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2).reshape(b, h, w, c)
        return (x + self.fc2(self.act(self.fc1(self.norm(x))))).mean((1, 2))


def test_linear_layers_and_norms_on_a_channels_last_tensor_import_as_torch_runs_them():
    model, shape = ChannelsLastMlp().eval(), (3, 8, 8)
    graph = cnncost.from_torch(model, input=shape)
    assert _cnncost_figures(graph) == _torch_figures(model, shape)
