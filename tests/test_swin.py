"""Swin's kinds (cnncost/kinds_swin.py) and zoo files, by hand arithmetic and against torch.

torchvision itself is not needed: its published figures are in cnncost/data/published/torchvision.yaml
(test_zoo.py checks params and MACs of every model), and its measured peer totals, saved bytes and state dict
keys in tests/data (test_conventions.py, test_memory.py, test_zoo.py). Here: the kinds' formulas written out,
torchvision's MACs rebuilt from the paper's configuration, and the torch module against a window-by-window
reference written with loops.
"""

import math
from decimal import ROUND_HALF_UP, Decimal

import pytest

import cnncost
from cnncost.errors import CnnCostError

from tests.test_zoo import PUBLISHED


def one(item, shape):
    text = f"input: [{', '.join(map(str, shape))}]\nlayers:\n  - {item}\n"
    return cnncost.analyze_text(text).layers[0]


def test_window_attention_params_and_macs_by_hand():
    # Swin-T's first block: C = 96, 3 heads, 7 x 7 windows on the 56 x 56 map (64 windows, no padding)
    row = one("shifted_window_attention: {heads: 3, window: 7}", (96, 56, 56))
    # qkv 96 x 288 + 288, proj 96 x 96 + 96, the bias table (2*7 - 1)^2 x 3
    assert row.params == 96 * 288 + 288 + 96 * 96 + 96 + 13 * 13 * 3 == 37_755
    # per position qkv 3 C^2 and proj C^2; per window Q K^T and A V, 49 x 49 x 96 each
    assert row.macs == 56 * 56 * 4 * 96 * 96 + 64 * 2 * 49 * 49 * 96 == 145_108_992
    assert row.buffers == 0  # relative_position_index is int64, as batch norm's counter, not counted


def test_a_map_that_is_not_whole_windows_is_padded_to_them():
    # 10 x 10 in windows of 7: padded to 14 x 14, four windows; every projection runs on the padding too
    row = one("shifted_window_attention: {heads: 2, window: 7, shift: 3}", (8, 10, 10))
    assert row.output_shape == (8, 10, 10)
    assert row.macs == 14 * 14 * 4 * 8 * 8 + 4 * 2 * 49 * 49 * 8


def test_v2_adds_the_logit_scale_and_the_cpb_mlp_and_a_coordinate_buffer():
    row = one("shifted_window_attention: {heads: 3, window: 8, version: 2}", (96, 64, 64))
    # projections as V1; logit_scale (3); Linear(2, 512) with bias, Linear(512, 3) without
    assert row.params == 4 * 96 * 96 + 4 * 96 + 3 + (2 * 512 + 512) + 512 * 3 == 40_323
    assert row.buffers == 15 * 15 * 2  # relative_coords_table (1, 15, 15, 2)
    # the CPB MLP runs once per forward, on the 15 x 15 offsets: 225 x (2 x 512 + 512 x 3), not per sample
    per_sample = 64 * 64 * 4 * 96 * 96 + 64 * 2 * 64 * 64 * 96
    for batch in (1, 3):
        report = cnncost.analyze_text("input: [96, 64, 64]\nlayers:\n  - shifted_window_attention: {heads: 3, "
                                      "window: 8, version: 2}\n", batch=batch, convention="torchvision")
        assert report.totals.macs == batch * per_sample + 225 * (2 * 512 + 512 * 3)


def test_patch_merging_concatenates_neighbourhoods_and_pads_an_odd_side():
    assert one("patch_merge", (96, 56, 56)).output_shape == (384, 28, 28)
    row = one("patch_merge", (8, 7, 5))
    assert (row.output_shape, row.params, row.macs) == ((32, 4, 3), 0, 0)


@pytest.mark.parametrize("item, message", [
    ("shifted_window_attention: {heads: 5, window: 7}", "heads=5 must divide the 96 channels"),
    ("shifted_window_attention: {heads: 3, window: 7, shift: 7}", "must be smaller than the window"),
    ("shifted_window_attention: {heads: 3, window: 7, version: 3}", "must be 1 \\(Swin\\) or 2"),
])
def test_bad_arguments_are_refused_by_name(item, message):
    with pytest.raises(CnnCostError, match=message):
        one(item, (96, 14, 14))


def _swin_macs(image, patch, embed, depths, heads, window, v2=False):
    """torchvision's Swin MACs from the paper's configuration: the patch embedding; per block qkv (3C^2) and proj
    (C^2) per padded position, Q K^T and A V (2 x window tokens x C per position), the MLP (8C^2) per position,
    V2's CPB MLP on (2M - 1)^2 offsets (2 x 512 + 512 x heads); patch merging 4C x 2C per merged position; the
    head."""
    h = image // patch
    macs, c = h * h * embed * 3 * patch * patch, embed
    for stage, (depth, n_heads) in enumerate(zip(depths, heads)):
        padded = -(-h // window) * window
        block = padded * padded * (4 * c * c + 2 * window * window * c) + h * h * 8 * c * c
        cpb = (2 * window - 1) ** 2 * (2 * 512 + 512 * n_heads) if v2 else 0  # once per forward, batch 1 here
        macs += depth * (block + cpb)
        if stage < len(depths) - 1:
            h = -(-h // 2)
            macs += h * h * 4 * c * 2 * c
            c *= 2
    return macs + c * 1000


SWIN = [("swin_t", 96, [2, 2, 6, 2], [3, 6, 12, 24]), ("swin_s", 96, [2, 2, 18, 2], [3, 6, 12, 24]),
        ("swin_b", 128, [2, 2, 18, 2], [4, 8, 16, 32])]


@pytest.mark.parametrize("name, embed, depths, heads", SWIN)
@pytest.mark.parametrize("v2", [False, True])
def test_swin_gflops_are_the_papers_configuration_by_hand(name, embed, depths, heads, v2):
    # Liu et al. 2021, Table 7: patch 4, window 7 (V2: window 8 at 256); torchvision's _ops (published.yaml) to
    # every printed digit; V2's figures count the CPB MLP: without it they would not round to the published ones
    name = name.replace("swin_", "swin_v2_") if v2 else name
    meta = PUBLISHED[name]
    macs = _swin_macs(meta["input"][1], 4, embed, depths, heads, 8 if v2 else 7, v2)
    printed = Decimal(meta["ops"])
    assert (Decimal(macs) / 10**9).quantize(printed, rounding=ROUND_HALF_UP) == printed
    if v2:
        without = _swin_macs(meta["input"][1], 4, embed, depths, heads, 8)
        assert (Decimal(without) / 10**9).quantize(printed, rounding=ROUND_HALF_UP) != printed
    assert cnncost.analyze(name, convention="torchvision").totals.macs == macs


# --- the torch module against a reference with loops ---


def _regions(size, window, shift):
    """torchvision's mask regions along one axis of the rolled map, as slices assigned in turn."""
    ids = [0] * size
    for tag, (start, stop) in enumerate(((0, size - window), (size - window, size - shift), (size - shift, size))):
        for i in range(start, stop):
            ids[i] = tag
    return ids


def _reference(module, x):
    """Window by window, token by token: the attention each window's tokens compute, with loops."""
    torch = pytest.importorskip("torch")
    n, c, h, w = x.shape
    (wh, ww), (sh, sw), heads = module.window, module.shift, module.heads
    ph, pw = -(-h // wh) * wh, -(-w // ww) * ww
    sh, sw = (0 if wh >= ph else sh), (0 if ww >= pw else sw)
    d = c // heads
    grid = torch.zeros(n, ph, pw, c)
    grid[:, :h, :w] = x.permute(0, 2, 3, 1)
    rolled = torch.roll(grid, shifts=(-sh, -sw), dims=(1, 2))
    rows, cols = _regions(ph, wh, sh), _regions(pw, ww, sw)
    bias = module.qkv.bias
    if module.version == 2 and bias is not None:
        bias = bias.clone()
        bias[c:2 * c] = 0
    out = torch.zeros_like(rolled)
    for b in range(n):
        for y0 in range(0, ph, wh):
            for x0 in range(0, pw, ww):
                spots = [(y0 + i, x0 + j) for i in range(wh) for j in range(ww)]
                tokens = torch.stack([rolled[b, y, xx] for y, xx in spots])
                qkv = tokens @ module.qkv.weight.T + (bias if bias is not None else 0)
                mixed = torch.zeros(len(spots), c)
                for head in range(heads):
                    q, k, v = (qkv[:, part * c + head * d: part * c + (head + 1) * d] for part in range(3))
                    scores = torch.zeros(len(spots), len(spots))
                    for i, (yi, xi) in enumerate(spots):
                        for j, (yj, xj) in enumerate(spots):
                            dy, dx = yi - yj, xi - xj
                            if module.version == 1:
                                s = (q[i] @ k[j]) / math.sqrt(d)
                                s = s + module.relative_position_bias_table[(dy + wh - 1) * (2 * ww - 1) + dx + ww - 1,
                                                                            head]
                            else:
                                cosine = (q[i] @ k[j]) / (q[i].norm().clamp_min(1e-12) * k[j].norm().clamp_min(1e-12))
                                s = cosine * module.logit_scale[head, 0, 0].clamp(max=math.log(100)).exp()
                                coords = module.relative_coords_table[0, dy + wh - 1, dx + ww - 1]
                                s = s + 16 * torch.sigmoid(module.cpb_mlp(coords)[head])
                            if (sh or sw) and (rows[yi], cols[xi]) != (rows[yj], cols[xj]):
                                s = s - 100
                            scores[i, j] = s
                    mixed[:, head * d:(head + 1) * d] = scores.softmax(dim=-1) @ v
                projected = mixed @ module.proj.weight.T + (module.proj.bias if module.proj.bias is not None else 0)
                for (y, xx), value in zip(spots, projected):
                    out[b, y, xx] = value
    out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
    return out[:, :h, :w].permute(0, 3, 1, 2)


@pytest.mark.parametrize("args, shape", [
    ("heads: 2, window: 3, shift: 1", (4, 5, 7)),  # padded to 6 x 9, shifted: the mask between regions
    ("heads: 2, window: [2, 3], shift: [1, 2], version: 2", (4, 4, 6)),  # V2, shifted, no padding
    ("heads: 1, window: 4, shift: 2, version: 2, proj_bias: false", (4, 3, 4)),  # one window: no shift, no mask
])
def test_the_torch_module_computes_the_windows_attention(args, shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    graph = cnncost.load_text(f"input: [{', '.join(map(str, shape))}]\nlayers:\n"
                              f"  - shifted_window_attention: {{name: attn, {args}}}\n")
    net = cnncost.to_torch(graph).eval()
    (module,) = [m for m in net.modules() if type(m).__name__ == "ShiftedWindowAttention"]
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.5)  # every term large enough to show
        x = torch.randn(2, *shape)
        assert torch.allclose(net(x), _reference(module, x), atol=1e-5)


def test_one_window_in_the_batch_saves_views_of_the_qkv_output():
    # measured with saved_tensors_hooks on torchvision's ShiftedWindowAttention at batch 1 on a 7 x 7 map (window
    # 7, C = 32, 2 heads): 56,840 bytes = 6 x 49 x 32 x 4 + 2 x 49 x 49 x 4. With one window the batched products'
    # batch of 1 folds into a view, so k^T and v are the qkv output's storage (3 T C), not copies; q * scale, the
    # windows and proj's input T C each, the softmax's weights A. Here: T = 36 tokens of 8 channels, 2 heads
    from tests.test_memory import saved_by

    assert saved_by("shifted_window_attention: {name: x, heads: 2, window: 6}", batch=1) == (
        6 * 36 * 8 + 2 * 36 * 36) * 4
    # batch 2: two windows, copies of q * scale, k^T and v (5 T C + A)
    assert saved_by("shifted_window_attention: {name: x, heads: 2, window: 6}", batch=2) == (
        5 * 72 * 8 + 72 * 2 * 36) * 4
