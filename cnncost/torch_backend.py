"""The expanded graph as a real ``torch.nn.Module``.

Every graph node becomes one module, placed in a tree that mirrors the node's
dotted name, so ``net.get_submodule("layer1.0.conv1")`` is the module of row
``layer1.0.conv1`` and the state-dict keys read like torchvision's. The root's
forward walks the graph in order. Graph operations (concat, add, mul, ...)
are small modules too, so forward hooks see every row.

torch is imported here and in validate.py only; the rest of cnncost never
needs it.
"""

from __future__ import annotations

from typing import Callable

from .errors import CnnCostError
from .graph import INPUT, Graph, Node
from .kinds import KINDS

INSTALL_HINT = "pip install 'cnncost[torch]'"

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised by a test that hides torch
    raise CnnCostError("this needs PyTorch, which is not installed", hint=INSTALL_HINT) from None


# --- modules for what torch.nn does not have as a module ---


class AsymmetricConv2d(nn.Conv2d):
    """A conv with [top, bottom, left, right] zero padding (TF "same" padding)."""

    def __init__(self, *args, pad: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        top, bottom, left, right = pad
        self.pad = nn.ZeroPad2d((left, right, top, bottom))  # F.pad orders the last axis first

    def forward(self, x):
        return super().forward(self.pad(x))


class LocalResponseNorm(nn.LocalResponseNorm):
    """nn.LocalResponseNorm that also runs in float16/bfloat16 on CPU.

    PyTorch's CPU kernel (avg_pool3d) has no half-precision version, so there
    it computes in float32 and casts back; the output keeps the input's dtype.
    """

    def forward(self, x):
        if x.device.type == "cpu" and x.dtype in (torch.float16, torch.bfloat16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class StochasticDepth(nn.Module):
    """Drops whole samples ("row") or the whole batch ("batch") in training; the identity at inference."""

    def __init__(self, p: float, mode: str):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep if keep > 0 else x * mask

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Add(nn.Module):
    def forward(self, first, *rest):
        out = first
        for x in rest:
            out = out + x
        return out


class Mul(nn.Module):
    def forward(self, a, b):
        return a * b


class ChannelShuffle(nn.Module):
    """ShuffleNet's shuffle: channels viewed as groups x per-group, then transposed."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    def extra_repr(self):
        return f"groups={self.groups}"


class ChannelSplit(nn.Module):
    def __init__(self, parts: int, index: int):
        super().__init__()
        self.parts, self.index = parts, index

    def forward(self, x):
        size = x.shape[1] // self.parts
        return x[:, self.index * size:(self.index + 1) * size]

    def extra_repr(self):
        return f"parts={self.parts}, index={self.index}"


class SubsamplePad(nn.Module):
    """Option A shortcut: every stride-th position, channels padded with zeros up to ``out``."""

    def __init__(self, out: int, stride: int):
        super().__init__()
        self.out, self.stride = out, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out - x.shape[1]))

    def extra_repr(self):
        return f"out={self.out}, stride={self.stride}"


# --- one builder per layer kind: (args, input shapes, output shape) -> module ---


def _conv(a, ins, out, groups):
    cin = ins[0][0]
    common = dict(kernel_size=a["kernel"], stride=a["stride"], dilation=a["dilation"], groups=groups,
                  bias=a["bias"])
    top, bottom, left, right = a["padding"]
    if top == bottom and left == right:
        return nn.Conv2d(cin, out[0], padding=(top, left), **common)
    return AsymmetricConv2d(cin, out[0], pad=(top, bottom, left, right), **common)


def _batchnorm(a, ins, out):
    cls = nn.BatchNorm2d if len(ins[0]) == 3 else nn.BatchNorm1d
    return cls(ins[0][0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


def _no_args(cls):
    return lambda a, ins, out: cls()


BUILDERS: dict[str, Callable] = {
    "conv": lambda a, ins, out: _conv(a, ins, out, a["groups"]),
    "dwconv": lambda a, ins, out: _conv(a, ins, out, ins[0][0]),
    "linear": lambda a, ins, out: nn.Linear(ins[0][0], a["out"], bias=a["bias"]),
    "maxpool": lambda a, ins, out: nn.MaxPool2d(a["kernel"], a["stride"], a["padding"], a["dilation"],
                                                ceil_mode=a["ceil_mode"]),
    "avgpool": lambda a, ins, out: nn.AvgPool2d(a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
                                                count_include_pad=a["count_include_pad"]),
    "adaptive_avgpool": lambda a, ins, out: nn.AdaptiveAvgPool2d(a["output"]),
    "global_avgpool": lambda a, ins, out: nn.AdaptiveAvgPool2d(1),
    "lrn": lambda a, ins, out: LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"]),
    "batchnorm": _batchnorm,
    # activations are built out of place so that hooks see each row's own output
    "relu": _no_args(nn.ReLU),
    "relu6": _no_args(nn.ReLU6),
    "leaky_relu": lambda a, ins, out: nn.LeakyReLU(a["slope"]),
    "elu": lambda a, ins, out: nn.ELU(a["alpha"]),
    "sigmoid": _no_args(nn.Sigmoid),
    "tanh": _no_args(nn.Tanh),
    "hardsigmoid": _no_args(nn.Hardsigmoid),
    "hardswish": _no_args(nn.Hardswish),
    "silu": _no_args(nn.SiLU),
    "gelu": _no_args(nn.GELU),
    "dropout": lambda a, ins, out: nn.Dropout(a["p"]),
    "stochastic_depth": lambda a, ins, out: StochasticDepth(a["p"], a["mode"]),
    "identity": _no_args(nn.Identity),
    "softmax": lambda a, ins, out: nn.Softmax(dim=1),
    "flatten": lambda a, ins, out: nn.Flatten(1),
    "concat": _no_args(Concat),
    "add": _no_args(Add),
    "mul": _no_args(Mul),
    "channel_shuffle": lambda a, ins, out: ChannelShuffle(a["groups"]),
    "channel_split": lambda a, ins, out: ChannelSplit(a["parts"], a["index"]),
    "subsample_pad": lambda a, ins, out: SubsamplePad(a["out"], a["stride"]),
}


def missing_builders() -> list[str]:
    """Registered layer kinds that the torch backend cannot build (should be none)."""
    return sorted(set(KINDS) - set(BUILDERS))


def build_layer(node: Node) -> nn.Module:
    builder = BUILDERS.get(node.kind)
    if builder is None:
        raise CnnCostError(f"the torch backend has no builder for layer kind '{node.kind}'",
                           layer=node.name, hint="add one to BUILDERS in cnncost/torch_backend.py")
    return builder(node.args, node.input_shapes, node.output_shape)


# --- the network ---


class Scope(nn.Module):
    """A container for the layers under one dotted name prefix (a block, a repeat iteration)."""


class GraphNet(nn.Module):
    """A cnncost graph as a module: one submodule per node, run in the graph's order.

    ``forward(x)`` runs the main chain and returns the network's output; side
    outputs (auxiliary heads) are left out. ``run_all(x)`` runs every node,
    side outputs included, and returns every node's output by name.
    """

    def __init__(self, graph: Graph):
        super().__init__()
        self.model_name = graph.name
        self.input_shape = tuple(graph.input_shape)
        self.output_name = graph.output
        steps = []
        for node in graph.nodes:
            module = build_layer(node)
            _attach(self, node.name, module)
            steps.append((node.name, node.inputs, node.side, module))
        self._steps = steps  # a plain list: the modules are registered by _attach
        self._main_plan = _plan(steps, [graph.output], include_side=False)
        self._full_plan = _plan(steps, [graph.output], include_side=True)

    def forward(self, x):
        return self._run(x, self._main_plan)[self.output_name]

    def run_all(self, x) -> dict:
        """Every node's output, side outputs included, keyed by node name."""
        return self._run(x, self._full_plan, keep=True)

    def layer(self, name: str) -> nn.Module:
        """The module of one graph node, by its dotted name."""
        return self.get_submodule(name)

    def _run(self, x, plan, keep=False):
        values = {INPUT: x}
        for name, inputs, module, release in plan:
            values[name] = module(*(values[i] for i in inputs))
            if not keep:
                for done in release:  # free activations nothing later reads
                    del values[done]
        return values

    def extra_repr(self):
        return f"model={self.model_name!r}, input={'x'.join(map(str, self.input_shape))}"


def _plan(steps, outputs, include_side):
    chosen = [s for s in steps if include_side or not s[2]]
    last_use = {}
    for position, (name, inputs, _, _) in enumerate(chosen):
        for i in inputs:
            last_use[i] = position
    keep = set(outputs)
    plan = []
    for position, (name, inputs, _, module) in enumerate(chosen):
        release = tuple(i for i in dict.fromkeys(inputs) if last_use[i] == position and i not in keep)
        plan.append((name, inputs, module, release))
    return plan


def _attach(root: nn.Module, dotted: str, module: nn.Module):
    *scopes, leaf = dotted.split(".")
    parent = root
    for depth, part in enumerate(scopes):
        child = parent._modules.get(part)
        if child is None:
            child = Scope()
            _add(parent, part, child, dotted)
        elif not isinstance(child, Scope):
            prefix = ".".join(scopes[:depth + 1])
            raise CnnCostError(f"'{prefix}' names both a layer and a group of layers, "
                               "which a torch module tree cannot hold", layer=dotted,
                               hint="rename the layer or the block around it")
        parent = child
    _add(parent, leaf, module, dotted)


def _add(parent: nn.Module, name: str, module: nn.Module, dotted: str):
    if name in parent._modules or hasattr(parent, name):
        raise CnnCostError(f"the name '{name}' cannot be a torch submodule (it is already taken)",
                           layer=dotted, hint="rename the layer")
    parent.add_module(name, module)


def build_module(graph: Graph) -> GraphNet:
    """The graph as a trainable ``torch.nn.Module`` (float32, on the CPU, in training mode)."""
    return GraphNet(graph)
