"""Receptive fields against torch (validate --rf): in a linearised network, the support of the input's
gradient for one unit of a layer is that unit's field (docs/validation.md)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from .. import rf
from ..graph import Graph, Node
from ..kinds import KINDS, pool_pads, register_check
from ..report import Settings
from .base import _torch, refuse_what_cannot_fit, register, resolve_device
from .results import Check, LayerResult, ModelResult


def _linearised(node: Node):
    """A module for the gradient check: every path positive and linear, so no gradient cancels or vanishes.

    Activations and other element-wise maps become the identity, max pooling an all-ones window of the
    same geometry, reflect and replicate padding zero padding, group norm x + its mean over positions
    (which keeps its global reach): each kind's record names its stand-in (STAND_INS). Convs and linears
    get constant positive weights scaled to keep values near 1; batch norm the identity scale.
    """
    stand_in = KINDS[node.kind].rf_stand_in
    return None if stand_in is None else STAND_INS[stand_in](node)


def _zero_pad(node: Node):
    from .. import torch_backend as t

    top, bottom, left, right = node.args["padding"]  # a field is in padded coordinates, whatever fills the border
    return t.nn.ZeroPad2d((left, right, top, bottom))


def _position_mean(node: Node):
    from .. import torch_backend as t

    return t.op("PositionMean", lambda m, x: x + x.mean(dim=(2, 3), keepdim=True))


def _identity(node: Node):
    from .. import torch_backend as t

    return t.nn.Identity()


def _ones_window(node: Node):
    """A pooling row as a depthwise conv of ones with its kernel, stride, padding, dilation and ceil mode."""
    from .. import torch_backend as t

    a = node.args
    (kh, kw), (dh, dw) = a["kernel"], a.get("dilation", (1, 1))
    top, bottom, left, right = pool_pads(a)
    sh, sw = a["stride"] or a["kernel"]
    c, h, w = node.input_shapes[0]
    _, oh, ow = node.output_shape

    def extra(size, out, k, s, before, after, d):  # ceil mode's overhanging last window reads zeros past the edge
        return max(0, (out - 1) * s + d * (k - 1) + 1 - (size + before + after))

    pad = (left, right + extra(w, ow, kw, sw, left, right, dw), top, bottom + extra(h, oh, kh, sh, top, bottom, dh))

    def forward(m, x):
        ones = x.new_ones(c, 1, kh, kw)
        y = t.F.conv2d(t.F.pad(x, pad), ones, stride=(sh, sw), dilation=(dh, dw), groups=c)
        return y[:, :, :oh, :ow]

    return t.op("OnesWindow", forward)


def _partition_sum(node: Node):
    """MaxViT's partition attention (kinds_maxvit.py): each unit becomes the sum of its group, its P x P window or
    its P x P grid spread H/P and W/P apart: every unit of a group reads every other, as attention does (the
    layer norms, summed over the channels, would cancel the gradient the check follows)."""
    from .. import torch_backend as t

    p, grid = node.args["size"], node.args["partition"] == "grid"

    def forward(m, x):
        n, c, h, w = x.shape
        if grid:  # token (i, j) of a group is pixel (i H/P + y, j W/P + x)
            shape, summed = (n, c, p, h // p, p, w // p), (2, 4)
        else:
            shape, summed = (n, c, h // p, p, w // p, p), (3, 5)
        return x.reshape(shape).sum(dim=summed, keepdim=True).expand(shape).reshape(n, c, h, w)

    return t.op("PartitionSum", forward)
def _window_mean(node: Node):
    """validate --rf's stand-in: each unit plus the mean of the tokens it attends to (its window's, its region's),
    a linear map with attention's reach and no softmax (whose masked weights, exp(-100), are not exactly 0)."""
    from .. import torch_backend as t
    from ..kinds_swin import rolled_groups, window_geometry

    c, h, w, ph, pw, _, _, sh, sw, _, _ = window_geometry(node.args, node.input_shapes[0])
    rolled = rolled_groups(node.args, node.input_shapes[0])
    # the group of each position of the padded map before the roll (the roll by -shift moved (y, x) to
    # (y - sh, x - sw)); ids renumbered 0..G-1
    groups = [rolled[((y - sh) % ph) * pw + (x - sw) % pw] for y in range(ph) for x in range(pw)]
    ids = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    index = t.torch.tensor([ids[g] for g in groups])

    def forward(m, x):
        n = x.shape[0]
        padded = t.F.pad(x, (0, pw - w, 0, ph - h)).reshape(n, c, ph * pw)
        idx = m.index.to(x.device)
        sums = padded.new_zeros(n, c, len(ids)).index_add(2, idx, padded)
        counts = t.torch.bincount(idx, minlength=len(ids)).to(x.dtype)
        mean = (sums / counts)[:, :, idx]
        return (padded + mean).reshape(n, c, ph, pw)[:, :, :h, :w]

    return t.op("WindowMean", forward, index=index)


# The linear stand-ins a kind's record may name (kinds.py, ``rf_stand_in``); None builds the kind itself.
STAND_INS: dict[str, Callable] = {
    "identity": _identity,  # element-wise maps, and norms whose statistics do not move the field
    "ones_window": _ones_window,  # pooling, as a window of ones with its geometry
    "zero_pad": _zero_pad,
    "position_mean": _position_mean,  # x + its mean over positions: group norm's global reach
    "partition_sum": _partition_sum,  # each unit the sum of its attention group
    "window_mean": _window_mean,  # x + the mean of the tokens its (shifted) window lets it attend to
}


def _check(kind) -> None:
    if kind.rf_stand_in is not None and kind.rf_stand_in not in STAND_INS:
        raise ValueError(f"layer kind {kind.name}: validate/rf.py has no stand-in '{kind.rf_stand_in}' "
                         f"(its stand-ins: {', '.join(STAND_INS)})")


register_check("validation", _check)


def _constant_weights(net):
    torch = _torch()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                module.weight.fill_(1.0 / (module.weight[0].numel()))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()  # weight 1, bias 0, running mean 0, running variance 1


def _probes(graph: Graph, fields: dict) -> list[Node]:
    """The last layer of each resolution along the main chain (each stage's output; the last is the last
    feature map), and every global field after them; only layers that have a field (none after tokens)."""
    chosen: dict[tuple, Node] = {}
    for node in graph.nodes:
        if not node.side and len(node.output_shape) == 3 and fields[node.name] is not None:
            chosen[node.output_shape[1:]] = node
    return sorted(chosen.values(), key=graph.nodes.index)


def _support(grad) -> tuple | None:
    """The first and last row and column where the input's gradient is non-zero, or None."""
    torch = _torch()
    mass = grad.abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(mass.sum(dim=1)).flatten(), torch.nonzero(mass.sum(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


@dataclass(frozen=True)
class FieldCheck(Check):
    """A field against the gradient's support. Where the field reaches past the image, the support stops at
    the edge or, with dilation, at the first tap that lands inside: there the support must lie within."""

    clipped: tuple = ()  # per axis: (first clipped, last clipped)
    bound: bool = False  # the field bounds the unit's (after upsampling): the support must lie within

    @property
    def ok(self) -> bool:
        if self.bound and self.torch is None:
            return True  # a bound holds for a unit that reads only padding
        if self.cnncost is None or self.torch is None:
            return self.cnncost == self.torch
        for (first, last), (got_first, got_last), (cut_first, cut_last) in zip(self.cnncost, self.torch, self.clipped):
            if not (first <= got_first and got_last <= last):
                return False
            if self.bound:
                continue
            if (got_first != first and not cut_first) or (got_last != last and not cut_last):
                return False
        return True


def _expected(field, unit: tuple, size: tuple) -> tuple:
    """The field of one unit, clipped to the image, and which ends were clipped."""
    spans, clipped = [], []
    for axis, i, n in zip(field.axes(), unit, size):
        first = i * axis.stride - axis.padding
        last = first + axis.size - 1
        first, last = math.ceil(first), math.floor(last)  # a bound's fractional ends, to whole pixels
        clipped.append((first < 0, last > n - 1))
        first, last = max(0, first), min(n - 1, last)
        if first > last:
            return None, ()
        spans.append((first, last))
    return tuple(spans), tuple(clipped)


@register("rf")
def validate_rf_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu") -> ModelResult:
    """Receptive fields against torch: in a linearised network (float32, batch 1), the support of the
    input's gradient for one unit of a layer, summed over its channels, is that unit's field."""
    from ..torch_backend import build_module

    start = time.perf_counter()
    settings = settings or Settings()
    torch = _torch()
    device = resolve_device(device)

    def result(layers, error=None):
        return ModelResult(graph.name, tuple(graph.input_shape), 1, "float32", device, (), tuple(layers),
                           time.perf_counter() - start, error)

    if len(graph.input_shape) != 3:
        return result([], "receptive fields need a CxHxW feature-map input (rf.py follows 2-D maps; a CxTxHxW "
                          "video clip gives no field)")
    fields = {row.name: row.field for row in rf.receptive_fields(graph)}
    refuse_what_cannot_fit(graph, Settings(), device, outputs_held=3)  # every output kept, and its gradient
    net = build_module(graph, _linearised).to(device=device).eval()
    _constant_weights(net)
    x = torch.ones(1, *graph.input_shape, device=device, requires_grad=True)
    try:
        outputs = net.run_all(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return result([], f"torch failed: {str(exc).strip().splitlines()[0]}")
    size = graph.input_shape[1:]
    after_pad: set[str] = set()  # layers at or after a pad layer
    for node in graph.nodes:
        if node.kind == "pad" or any(i in after_pad for i in node.inputs):
            after_pad.add(node.name)
    layers = []
    for node in _probes(graph, fields):
        field, (_, h, w) = fields[node.name], node.output_shape
        assert field is not None  # _probes picks layers that have a field
        if not field.uniform and not field.bound:
            continue  # irregular adaptive windows: no one field size to check
        units = [(0, 0)] + ([(h // 2, w // 2)] if field.aligned and (h, w) != (1, 1) else [])
        if node.name in after_pad:
            # unit 0 may lie in a pad layer's border, whose constant reads no pixel, while the field (in padded
            # coordinates) clips to the image's edge: the centre is inside
            units = [(h // 2, w // 2)]
        checks = []
        for unit in units:
            grad, = torch.autograd.grad(outputs[node.name][0, :, unit[0], unit[1]].sum(), x, retain_graph=True)
            expected, clipped = _expected(field, unit, size)
            checks.append(FieldCheck(f"rf at {unit[0]},{unit[1]}", expected, _support(grad),
                                     "rows and columns of the input where the gradient of this unit (all channels) is "
                                     "non-zero, in the linearised network (within the field where it reaches past "
                                     "the image)" + ("; the field is a bound, which the support must lie within"
                                                     if field.bound else ""), clipped, field.bound))
        layers.append(LayerResult(node.name, node.kind, node.side, tuple(checks)))
    return result(layers)
