"""Swin Transformer's kinds: shifted-window attention (V1 and V2) and patch merging.

Liu et al. 2021 (arXiv:2103.14030) and Liu et al. 2022 (Swin V2, arXiv:2111.09883), as torchvision builds them
(torchvision/models/swin_transformer.py). The map stays C x H x W per sample, as everywhere in cnncost; the
reference runs it channels last (N, H, W, C), which changes no count: every rule below is of numels. One record
per kind, as in kinds.py (which imports this module: the registry is one).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import CnnCostError
from .kinds import Arg, Measure, boolean, define, feature_map, nonnegative_pair, positive_int, positive_pair

CPB_HIDDEN = 512  # Swin V2's continuous position bias MLP: Linear(2, 512), ReLU, Linear(512, heads)
MASKED = -100.0  # the shifted windows' mask: a large negative logit, as the authors and torchvision add


# --- the geometry: padding to whole windows, the shift that torch applies ---


def window_geometry(a, shape):
    """(C, H, W, padded H, padded W, window h, window w, shift h, shift w, windows, tokens per window).
    The map is padded below and right to whole windows; an axis no longer than one window is not shifted."""
    c, h, w = shape
    wh, ww = a["window"]
    ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
    sh, sw = a["shift"]
    sh, sw = (0 if wh >= ph else sh), (0 if ww >= pw else sw)
    return c, h, w, ph, pw, wh, ww, sh, sw, (ph // wh) * (pw // ww), wh * ww


def _bias_table(a) -> int:
    wh, ww = a["window"]
    return (2 * wh - 1) * (2 * ww - 1)  # one entry per relative offset (dy, dx)


def _swa_shape(a, shapes):
    c, _, _ = feature_map(shapes, "shifted_window_attention")
    if c % a["heads"]:
        raise CnnCostError(f"heads={a['heads']} must divide the {c} channels")
    wh, ww = a["window"]
    if a["shift"][0] >= wh or a["shift"][1] >= ww:
        raise CnnCostError(f"shift {list(a['shift'])} must be smaller than the window {list(a['window'])}")
    return shapes[0]


def _swa_params(a, ins, out):
    c, heads = ins[0][0], a["heads"]
    projections = 4 * c * c + (3 * c if a["qkv_bias"] else 0) + (c if a["proj_bias"] else 0)
    if a["version"] == 1:
        return projections + _bias_table(a) * heads  # the relative position bias table
    # logit_scale (heads x 1 x 1) and the CPB MLP: Linear(2, 512) with bias, Linear(512, heads) without
    return projections + heads + 2 * CPB_HIDDEN + CPB_HIDDEN + CPB_HIDDEN * heads


def _swa_buffers(a, ins, out):
    # float buffers: V2's relative_coords_table (1, 2Wh-1, 2Ww-1, 2); the relative_position_index of both is an
    # int64 buffer (Wh*Ww)^2, not counted, as batch norm's num_batches_tracked is not
    return 0 if a["version"] == 1 else 2 * _bias_table(a)


def cpb_macs(a) -> int:
    """V2's CPB MLP on the table of offsets: once per forward, whatever the batch (so not in the per-sample MACs;
    each convention that counts it adds it once, conventions.py)."""
    return _bias_table(a) * (2 * CPB_HIDDEN + CPB_HIDDEN * a["heads"]) if a["version"] == 2 else 0


def cpb_bias_adds(a) -> int:
    return _bias_table(a) * CPB_HIDDEN if a["version"] == 2 else 0  # the MLP's first linear, once per forward


def _swa_parts(a, shape) -> dict:
    """MACs by part, per sample: the q, k, v and output projections on every padded position, and Q K^T and A V
    in every window."""
    c, _, _, ph, pw, _, _, _, _, _, n = window_geometry(a, shape)
    return {"qkv": ph * pw * 3 * c * c, "products": 2 * ph * pw * n * c, "proj": ph * pw * c * c}


def _swa_macs(a, ins, out):
    return sum(_swa_parts(a, ins[0]).values())


def _swa_bias_adds(a, ins, out):
    c, _, _, ph, pw, *_ = window_geometry(a, ins[0])
    return (ph * pw * 3 * c if a["qkv_bias"] else 0) + (ph * pw * c if a["proj_bias"] else 0)


def _swa_saved(node, ctx):
    # measured with saved_tensors_hooks on torchvision's ShiftedWindowAttention(V2), torch 2.13 CPU, float32 and
    # bfloat16 (no float32 copies), shifted or not, padded or not; T = padded positions x batch, A = T x heads x
    # window tokens (the attention weights). V1: the windows (qkv's input), copies of q * scale and of k^T for the
    # batched product, the softmax output, a copy of v, the output projection's input: 5 T C + A. V2 adds:
    # the whole qkv output (F.normalize keeps q and k, views of it), each norm and its clamp for q and k (4 T
    # heads), the products before the logit scale (A), and per forward, not per sample, the CPB MLP's hidden
    # layer (ReLU's output), the bias after the sigmoid (heads x N x N) and exp(logit_scale) (heads)
    from .saved_rules import _new

    if not ctx.trainable and not any(ctx.grad_inputs):
        return ()
    # One window in the whole batch (batch 1, a map of one window): the batched products fold a batch of 1 into a
    # view, not a copy, so k^T and v are saved as views of the qkv output, whose whole storage (3 T C) is kept
    # (V1: 6 T C + A; V2: v's copy is not made, 7 T C + ...; measured the same way)
    a, b = node.args, ctx.element_bytes
    c, _, _, ph, pw, _, _, _, _, windows, n = window_geometry(a, node.input_shapes[0])
    t = ph * pw * ctx.batch
    weights = t * a["heads"] * n
    one_window = windows * ctx.batch == 1
    if a["version"] == 1:
        copies = 3 if one_window else 5  # windows, q * scale (and k^T, v copies), proj's input
        saved = [_new(t * c * b) for _ in range(copies)] + [_new(weights * b)]
        return (*saved, _new(3 * t * c * b)) if one_window else tuple(saved)
    saved = [_new(t * c * b) for _ in range(4 if one_window else 5)] + [_new(weights * b)]
    saved += [_new(3 * t * c * b), *(_new(t * a["heads"] * b) for _ in range(4)), _new(weights * b),
              _new(_bias_table(a) * CPB_HIDDEN * b), _new(a["heads"] * n * n * b), _new(a["heads"] * b)]
    return tuple(saved)


def _swa_field(node, fields):
    # a unit sees the tokens of its own window (and, in a shifted window, of its own region of it): all within
    # Wh - 1 rows and Ww - 1 columns of itself, so the field of a (2Wh - 1) x (2Ww - 1) window centred on the
    # unit bounds it; where the unit sits in its window moves its exact field, which no one affine field gives
    # (so not uniform: a bound, as after upsampling)
    from .rf import Field, _window

    (field,) = fields
    wh, ww = node.args["window"]
    return Field(_window(field.h, 2 * wh - 1, 1, wh - 1), _window(field.w, 2 * ww - 1, 1, ww - 1),
                 field.aligned, uniform=False, bound=True)


def rolled_groups(args, shape):
    """Per position of the rolled, padded map (row-major), the group of tokens it attends within: its window
    and, in a shifted layer, its region (torchvision's three slices per axis; the mask keeps regions apart)."""
    _, _, _, ph, pw, wh, ww, sh, sw, _, _ = window_geometry(args, shape)

    def region(i, size, window, shift):  # [0, size - window), [size - window, size - shift), [size - shift, size)
        return 0 if i < size - window else (1 if i < size - shift else 2)

    shifted = bool(sh or sw)
    return [((y // wh) * (pw // ww) + x // ww) * 9 + (region(y, ph, wh, sh) * 3 + region(x, pw, ww, sw)
                                                     if shifted else 0)
            for y in range(ph) for x in range(pw)]


def _swin_attention_class(t):
    cls = _CLASSES.get("attention")
    if cls is not None:
        return cls
    torch, nn, F = t.torch, t.nn, t.F
    module: Any = nn.Module  # torch is imported only when a network is built

    class ShiftedWindowAttention(module):
        """Shifted-window multi-head self-attention on an (N, C, H, W) map, computed channels last; the state
        dict is torchvision's (qkv, proj, and V1's relative_position_bias_table or V2's logit_scale, cpb_mlp,
        relative_coords_table; relative_position_index)."""

        def __init__(self, channels, heads, window, shift, version, qkv_bias, proj_bias):
            super().__init__()
            self.heads, self.window, self.shift, self.version = heads, tuple(window), tuple(shift), version
            wh, ww = window
            self.qkv = nn.Linear(channels, 3 * channels, bias=qkv_bias)
            self.proj = nn.Linear(channels, channels, bias=proj_bias)
            offsets = (2 * wh - 1) * (2 * ww - 1)
            if version == 1:
                self.relative_position_bias_table = nn.Parameter(torch.empty(offsets, heads).normal_(std=0.02))
            else:
                self.logit_scale = nn.Parameter(torch.full((heads, 1, 1), math.log(10.0)))
                self.cpb_mlp = nn.Sequential(nn.Linear(2, CPB_HIDDEN), nn.ReLU(inplace=True),
                                             nn.Linear(CPB_HIDDEN, heads, bias=False))
                dy = torch.arange(1 - wh, wh, dtype=torch.float32) / max(wh - 1, 1) * 8
                dx = torch.arange(1 - ww, ww, dtype=torch.float32) / max(ww - 1, 1) * 8
                table = torch.stack(torch.meshgrid(dy, dx, indexing="ij"), dim=-1).unsqueeze(0)
                # log-spaced offsets in [-1, 1] (Swin V2, Eq. 4): sign(d) log2(1 + |d|) / log2(8)
                self.register_buffer("relative_coords_table", torch.sign(table) * torch.log2(table.abs() + 1) / 3)
            ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
            ys, xs = ys.flatten(), xs.flatten()
            index = (ys[:, None] - ys[None, :] + wh - 1) * (2 * ww - 1) + (xs[:, None] - xs[None, :] + ww - 1)
            self.register_buffer("relative_position_index", index.flatten())

        def position_bias(self, tokens):
            if self.version == 1:
                table = self.relative_position_bias_table
            else:
                table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
            bias = table[self.relative_position_index].view(tokens, tokens, self.heads).permute(2, 0, 1)
            return bias if self.version == 1 else 16 * torch.sigmoid(bias)

        def forward(self, x):
            n, c, h, w = x.shape
            wh, ww = self.window
            args = {"window": self.window, "shift": self.shift}
            _, _, _, ph, pw, _, _, sh, sw, windows, tokens = window_geometry(args, (c, h, w))
            x = x.permute(0, 2, 3, 1)
            if (ph, pw) != (h, w):
                x = F.pad(x, (0, 0, 0, pw - w, 0, ph - h))
            if sh or sw:
                x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
            x = x.reshape(n, ph // wh, wh, pw // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, tokens, c)
            bias = self.qkv.bias
            if self.version == 2 and bias is not None:  # V2 learns no key bias: its third is held at zero
                bias = torch.cat([bias[:c], torch.zeros_like(bias[c:2 * c]), bias[2 * c:]])
            qkv = F.linear(x, self.qkv.weight, bias)
            q, k, v = qkv.reshape(-1, tokens, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            if self.version == 1:
                attn = (q * (c // self.heads) ** -0.5).matmul(k.transpose(-2, -1))
            else:  # cosine attention, scaled by a learnt temperature capped at 100
                attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
                attn = attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
            attn = attn + self.position_bias(tokens)
            if sh or sw:
                groups = torch.tensor(rolled_groups(args, (c, h, w)), device=x.device)
                groups = groups.view(ph // wh, wh, pw // ww, ww).permute(0, 2, 1, 3).reshape(windows, tokens)
                mask = (groups[:, :, None] != groups[:, None, :]).to(attn.dtype) * MASKED
                attn = (attn.view(n, windows, self.heads, tokens, tokens) + mask[None, :, None]).view(
                    -1, self.heads, tokens, tokens)
            x = attn.softmax(dim=-1).matmul(v).transpose(1, 2).reshape(-1, tokens, c)
            x = F.linear(x, self.proj.weight, self.proj.bias)
            x = x.view(n, ph // wh, pw // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(n, ph, pw, c)
            if sh or sw:
                x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
            return x[:, :h, :w, :].permute(0, 3, 1, 2).contiguous()

        def extra_repr(self):
            return (f"heads={self.heads}, window={list(self.window)}, shift={list(self.shift)}, "
                    f"version={self.version}")

    _CLASSES["attention"] = ShiftedWindowAttention
    return ShiftedWindowAttention


_CLASSES: dict = {}


def _build_swa(t, a, ins, out):
    cls = _swin_attention_class(t)
    return cls(ins[0][0], a["heads"], a["window"], a["shift"], a["version"], a["qkv_bias"], a["proj_bias"])


def _module_cpb(m) -> tuple[int, int]:
    """V2's CPB MLP as torch's module holds it: (MACs, bias adds) on its table of offsets, once per forward."""
    if m.version != 2:
        return 0, 0
    offsets = m.relative_coords_table[0, :, :, 0].numel()
    first, last = m.cpb_mlp[0], m.cpb_mlp[2]
    return offsets * (first.weight.numel() + last.weight.numel()), offsets * first.out_features


def _measured_macs(s):
    return s.flops // 2 - _module_cpb(s.module)[0]


def _measured_bias_adds(s):
    m = s.module
    c, h, w = s.input_shapes[0][1:]
    _, _, _, ph, pw, *_ = window_geometry({"window": m.window, "shift": m.shift}, (c, h, w))
    adds = ph * pw * (m.qkv.out_features if m.qkv.bias is not None else 0) + ph * pw * (
        m.proj.out_features if m.proj.bias is not None else 0)
    return s.input_shapes[0][0] * adds


def _version(value, what):
    if value not in (1, 2) or isinstance(value, bool):
        raise CnnCostError(f"{what} must be 1 (Swin) or 2 (Swin V2), got {value!r}")
    return value


define(
    "shifted_window_attention",
    "other",
    "Swin's (shifted) window multi-head self-attention on a C x H x W map (torchvision's ShiftedWindowAttention, "
    "version 2: ShiftedWindowAttentionV2): padded below and right to whole windows, rolled up and left by the "
    "shift, cut into windows of Wh x Ww tokens; per window a qkv linear, Q K^T (V2: of the L2-normalised q and k, "
    "times a learnt logit scale) plus a relative position bias (V1: a learnt table of (2Wh-1)(2Ww-1) x heads; "
    "V2: a continuous position bias MLP on log-spaced offsets, 16 sigmoid), the shifted windows' mask, softmax, "
    "times V, the output projection; windows merged, rolled back, the padding cut.",
    args=(
        Arg("heads", positive_int, doc="attention heads; must divide C"),
        Arg("window", positive_pair, doc="Wh x Ww tokens per window: w or [wh, ww]"),
        Arg("shift", nonnegative_pair, 0, "the roll, 0 or [sh, sw] (Swin: half the window in every other block)"),
        Arg("version", _version, 1,
            "1: Swin's scaled dot product and bias table; 2: Swin V2's cosine attention and CPB MLP"),
        Arg("qkv_bias", boolean, True, "the qkv linear has a bias (V2: its key third held at zero)"),
        Arg("proj_bias", boolean, True, "the output projection has a bias"),
    ),
    shape=_swa_shape,
    params=_swa_params,
    buffers=_swa_buffers,
    macs=_swa_macs,
    bias_adds=_swa_bias_adds,
    calls=("module",),
    build=_build_swa,
    measure={"macs": Measure(_measured_macs, "FlopCounterMode / 2 (the two linears, the two batched products), "
                             "less V2's CPB MLP, which runs once per forward: its linears' weights x the offsets"),
             "bias_adds": Measure(_measured_bias_adds, "qkv and proj out features x padded positions x N, from "
                                  "torch's module and tensor")},
    formulas={"output": "same", "params": "4C^2 + 4C + (2Wh-1)(2Ww-1) heads (V2: + heads + 1536 + 512 heads)",
              "macs": "H'W'(4C^2 + 2 Wh Ww C), H' W' padded to whole windows (V2: + (2Wh-1)(2Ww-1)(1024 + 512 "
                      "heads) once per batch)"},
    saved=_swa_saved, rf=_swa_field, latency="matrix", counts="shifted_window_attention",
    rf_stand_in="window_mean",
)


# --- patch merging ---


def _merge_shape(a, shapes):
    c, h, w = feature_map(shapes, "patch_merge")
    return (4 * c, -(-h // 2), -(-w // 2))


def _patch_merge(m, x):
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2))
    # torchvision's order: (even row, even col), (odd, even), (even, odd), (odd, odd)
    return torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], dim=1)


def _merge_field(node, fields):
    from .rf import _window

    (field,) = fields
    return field.like(_window(field.h, 2, 2, 0), _window(field.w, 2, 2, 0))


define(
    "patch_merge",
    "reshape",
    "Swin's patch merging before its norm and linear: each 2 x 2 neighbourhood's four C-channel tokens "
    "concatenated into 4C channels, in torchvision's order (0,0), (1,0), (0,1), (1,1); an odd side padded with "
    "zeros below or right.",
    shape=_merge_shape,
    calls=("function",),  # torchvision's _patch_merging_pad: F.pad, four strided slices, torch.cat
    build=lambda t, a, ins, out: t.op("PatchMerge", _patch_merge),
    formulas={"output": "4C x ceil(H/2) x ceil(W/2)", "params": "0", "macs": "0"},
    # slices and cat keep nothing for backward, nor does a constant pad
    saved="nothing", rf=_merge_field, latency="copy", counts="reshape",
)
