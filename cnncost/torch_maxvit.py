"""MaxViT's partition attention in torch (kinds_maxvit.py builds it): written from the paper and torchvision's
module structure, whose parameter and buffer names it keeps so that torchvision's weights load."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _relative_index(p: int):
    """For each pair of tokens of a P x P group (row-major), the row of the (2P - 1)^2 bias table of their
    offset (dy, dx): (dy + P - 1) * (2P - 1) + dx + P - 1."""
    ys, xs = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + p - 1
    dx = xs[:, None] - xs[None, :] + p - 1
    return dy * (2 * p - 1) + dx


class RelativePositionAttention(nn.Module):
    """Multi-head attention within each group of P^2 tokens, with a learnt bias per head and offset; its
    parameter names are torchvision's RelativePositionalMultiHeadAttention's (to_qkv, merge, the table and
    its index buffer). The scale is C^-0.5 applied to the keys, as torchvision does."""

    relative_position_index: torch.Tensor

    def __init__(self, channels: int, head_dim: int, p: int):
        super().__init__()
        self.heads, self.head_dim, self.tokens = channels // head_dim, head_dim, p * p
        self.scale = channels ** -0.5
        self.to_qkv = nn.Linear(channels, 3 * channels)
        self.merge = nn.Linear(channels, channels)
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * p - 1) ** 2, self.heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", _relative_index(p))

    def forward(self, x):  # (N, G, P^2, C)
        n, g, tokens, c = x.shape
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)  # unpacked, not iterated: torch.fx traces it
        q = q.reshape(n, g, tokens, self.heads, self.head_dim).permute(0, 1, 3, 2, 4)
        k = k.reshape(n, g, tokens, self.heads, self.head_dim).permute(0, 1, 3, 2, 4)
        v = v.reshape(n, g, tokens, self.heads, self.head_dim).permute(0, 1, 3, 2, 4)
        k = k * self.scale
        scores = torch.einsum("bghid,bghjd->bghij", q, k)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(self.tokens, self.tokens, self.heads).permute(2, 0, 1).contiguous().unsqueeze(0)
        weights = F.softmax(scores + bias, dim=-1)  # F.softmax, as torchvision calls it (ptflops patches it)
        mixed = torch.einsum("bghij,bghjd->bghid", weights, v)
        return self.merge(mixed.permute(0, 1, 3, 2, 4).reshape(n, g, tokens, c))


class PartitionAttention(nn.Module):
    """torchvision's PartitionAttentionLayer as one layer: partition, x + sd(attention(LN(x))),
    x + sd(MLP(LN(x))), departition; its state dict keys are torchvision's (attn_layer.0 the norm,
    attn_layer.1 the attention, mlp_layer.0, .1, .3 the norm and the two linear layers)."""

    def __init__(self, channels: int, a: dict):
        super().__init__()
        self.partition, self.p, self.drop = a["partition"], a["size"], a["stochastic_depth"]
        hidden = channels * a["mlp_ratio"]
        self.attn_layer = nn.Sequential(nn.LayerNorm(channels), RelativePositionAttention(
            channels, a["head_dim"], self.p), nn.Dropout(0.0))
        self.mlp_layer = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, hidden), nn.GELU(),
                                       nn.Linear(hidden, channels), nn.Dropout(0.0))

    def _stochastic_depth(self, x):
        # torchvision's stochastic_depth, mode "row": one keep-or-drop per sample, rescaled
        if not self.training or self.drop == 0:
            return x
        keep = 1.0 - self.drop
        noise = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(keep)
        if keep > 0:
            noise.div_(keep)
        return x * noise

    def forward(self, x):
        n, c, h, w = x.shape
        p = self.p
        if self.partition == "window":  # (N, windows, P*P tokens, C), each window's tokens row-major
            x = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
            x = x.reshape(n, (h // p) * (w // p), p * p, c)
        else:  # (N, H/P * W/P groups, P*P tokens, C): token (i, j) of a group is pixel (i H/P + y, j W/P + x)
            x = x.reshape(n, c, p, h // p, p, w // p).permute(0, 2, 4, 3, 5, 1)
            x = x.reshape(n, p * p, (h // p) * (w // p), c).transpose(1, 2)
        x = x + self._stochastic_depth(self.attn_layer(x))
        x = x + self._stochastic_depth(self.mlp_layer(x))
        if self.partition == "window":
            x = x.reshape(n, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
        else:
            x = x.transpose(1, 2).reshape(n, p, p, h // p, w // p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(n, c, h, w)
