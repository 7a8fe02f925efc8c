"""The expanded graph as a real ``torch.nn.Module``.

Every graph node becomes one module, placed in a tree that mirrors the node's
dotted name, so ``net.get_submodule("layer1.0.conv1")`` is the module of row
``layer1.0.conv1`` and the state-dict keys read like torchvision's. The root's
forward walks the graph in order. Graph operations (concat, add, mul, ...)
are small modules too (``Op``), so forward hooks see every row.

Each kind's record (kinds.py) says how to build its module; this file holds
the toolbox those builders use and the network around them. torch is
imported here and in the torch checks (validate/) only; the rest of cnncost never needs it.
"""

from __future__ import annotations

import sys
from typing import Callable

from .errors import CnnCostError
from .graph import INPUT, Graph, Node
from .kinds import KINDS
from .report import dtype_bytes

INSTALL_HINT = "pip install 'cnncost[torch]'"

try:
    import warnings

    with warnings.catch_warnings():
        # torch without numpy (a plain "pip install 'cnncost[torch]'") warns over several lines at import;
        # nothing here converts to numpy, so the warning says nothing that matters
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised by a test that hides torch
    raise CnnCostError("this needs PyTorch, which is not installed", hint=INSTALL_HINT) from None


# --- where and in what precision a network runs (to_torch and validate) ---

TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda")


def torch_dtype(name: str):
    dtype, _ = dtype_bytes(name)
    if dtype not in TORCH_DTYPES:
        raise CnnCostError(f"validation runs floating-point networks; --dtype {name} cannot be run",
                           hint="choose from " + ", ".join(TORCH_DTYPES))
    return getattr(torch, dtype)


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; cuda without a GPU is a user error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise CnnCostError(f"--device {name}: PyTorch {torch.__version__} ({build}) sees no CUDA GPU",
                               hint="use --device cpu, or auto to pick a GPU when there is one")
        return name
    raise CnnCostError(f"unknown device '{name}'", hint="choose from " + ", ".join(DEVICES))


# --- the toolbox the kinds' builders use (kinds.py: each kind's ``build``) ---


class PaddedConv2d(nn.Conv2d):
    """A conv with [top, bottom, left, right] zero padding (TF "same" padding)."""

    def __init__(self, in_channels: int, out_channels: int, *, pad: tuple[int, int, int, int], **kwargs):
        super().__init__(in_channels, out_channels, padding=0, **kwargs)
        top, bottom, left, right = pad
        self.pad = nn.ZeroPad2d((left, right, top, bottom))  # F.pad orders the last axis first

    def forward(self, x):
        return super().forward(self.pad(x))


def conv2d(cin: int, cout: int, a: dict, groups: int) -> nn.Conv2d:
    """nn.Conv2d for a conv row's arguments; asymmetric padding runs a ZeroPad2d first, in the same module."""
    common = dict(kernel_size=a["kernel"], stride=a["stride"], dilation=a["dilation"], groups=groups,
                  bias=a["bias"])
    top, bottom, left, right = a["padding"]
    if top == bottom and left == right:
        conv = nn.Conv2d(cin, cout, padding=(top, left), **common)
    else:
        conv = PaddedConv2d(cin, cout, pad=(top, bottom, left, right), **common)
    if a.get("fixed"):  # the weight a buffer, as a blur filter is kept
        weight = conv.weight.detach()
        del conv.weight
        conv.register_buffer("weight", weight)
    return conv


class StandardizedConv2d(nn.Conv2d):
    """Weight standardisation (Qiao et al. 2019; NF-nets' scaled form, Brock et al. 2021): each output channel's
    weights normalised by F.batch_norm in training mode at every call, times a gain per channel when it has one,
    then the conv. Asymmetric padding pads first."""

    def __init__(self, cin: int, cout: int, a: dict):
        top, bottom, left, right = a["padding"]
        symmetric = top == bottom and left == right
        super().__init__(cin, cout, a["kernel"], a["stride"], (top, left) if symmetric else 0, a["dilation"],
                         a["groups"], a["bias"])
        self.pad = None if symmetric else (left, right, top, bottom)
        self.eps = a["eps"]
        self.gain = nn.Parameter(torch.ones(cout)) if a["gain"] else None
        self.scale = self.weight[0].numel() ** -0.5 if a["gain"] else 1.0

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        gain = self.gain * self.scale if self.gain is not None else None
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, gain, training=True,
                              momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def std_conv2d(cin: int, cout: int, a: dict) -> nn.Module:
    return StandardizedConv2d(cin, cout, a)


def pool2d(kind: str, a: dict) -> nn.Module:
    """nn.MaxPool2d or nn.AvgPool2d for a pooling row; asymmetric padding ("same") pads first, in the module."""
    if len(a["padding"]) == 2:
        if kind == "max":
            return nn.MaxPool2d(a["kernel"], a["stride"], a["padding"], a["dilation"], ceil_mode=a["ceil_mode"])
        return nn.AvgPool2d(a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
                            count_include_pad=a["count_include_pad"])
    top, bottom, left, right = a["padding"]
    if kind == "max":  # a max never picks the padding
        max_pool = PaddedMaxPool2d(a["kernel"], a["stride"], 0, a["dilation"])
        max_pool.pad = (left, right, top, bottom)
        return max_pool
    pool = PaddedAvgPool2d(a["kernel"], a["stride"], 0)
    pool.pad = (left, right, top, bottom)
    return pool


class PaddedMaxPool2d(nn.MaxPool2d):
    """Max pooling after explicit -inf padding (padding "same" that comes out asymmetric)."""

    pad: tuple[int, int, int, int]  # F.pad's order: left, right, top, bottom

    def forward(self, x):
        return super().forward(F.pad(x, self.pad, value=float("-inf")))


class PaddedAvgPool2d(nn.AvgPool2d):
    """Average pooling after explicit zero padding (padding "same" that comes out asymmetric)."""

    pad: tuple[int, int, int, int]  # F.pad's order: left, right, top, bottom

    def forward(self, x):
        return super().forward(F.pad(x, self.pad))


class LocalResponseNorm(nn.LocalResponseNorm):
    """nn.LocalResponseNorm that also runs in float16/bfloat16 on CPU.

    PyTorch's CPU kernel (avg_pool3d) has no half-precision version, so there
    it computes in float32 and casts back; the output keeps the input's dtype.
    """

    def forward(self, x):
        if x.device.type == "cpu" and x.dtype in (torch.float16, torch.bfloat16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class ChannelsLinear(nn.Linear):
    """nn.Linear on each position's channels of an NCHW map: what ConvNeXt runs on a channels-last view.

    Run as a 1x1 conv with the linear's weight, so that the output stays a contiguous NCHW map (a later
    flatten is then a view, as cnncost's memory rules expect) and autograd saves the input itself.
    """

    def forward(self, x):
        return F.conv2d(x, self.weight[:, :, None, None], self.bias)


class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm over the channels of each position of an NCHW map (as torchvision's ConvNeXt), returned
    as a contiguous NCHW map for the same reason."""

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2).contiguous()


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention (batch first) called as a layer: attention of the tokens to themselves, or to a key
    and a value given after them; the output alone (need_weights=False). Its state dict is nn.MultiheadAttention's."""

    def forward(self, x, *key_value):
        k, v = key_value if key_value else (x, x)
        return super().forward(x, k, v, need_weights=False)[0]


class Op(nn.Module):
    """A row that torch.nn has no module for: ``forward(self, *inputs)``, with its settings as attributes.

    Graph operations (concat, add, mul, ...) are modules too, so that hooks see every row.
    """

    def __init__(self, forward: Callable, **settings):
        super().__init__()
        self._forward = forward
        self._settings = settings
        for key, value in settings.items():
            setattr(self, key, value)

    def forward(self, *xs):
        return self._forward(self, *xs)

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self._settings.items())


_OP_CLASSES: dict[str, type] = {}


def op(class_name: str, forward: Callable, **settings) -> Op:
    """An Op whose class is named for its kind, so that printed networks read ChannelShuffle(groups=3)."""
    cls = _OP_CLASSES.get(class_name)
    if cls is None:
        cls = _OP_CLASSES[class_name] = type(class_name, (Op,), {"__module__": __name__})
    return cls(forward, **settings)


def build_layer(node: Node) -> nn.Module:
    kind = KINDS.get(node.kind)
    if kind is None:
        raise CnnCostError(f"the torch backend cannot build unknown layer kind '{node.kind}'", layer=node.name)
    return kind.build(_TOOLBOX, node.args, node.input_shapes, node.output_shape)


_TOOLBOX = sys.modules[__name__]  # what builders receive: torch, nn, F and the helpers above


# --- the network ---


class Scope(nn.Module):
    """A container for the layers under one dotted name prefix (a block, a repeat iteration)."""


class GraphNet(nn.Module):
    """A cnncost graph as a module: one submodule per node, run in the graph's order.

    ``forward(x)`` runs the main chain and returns the network's output; side
    outputs (auxiliary heads) are left out. ``run_all(x)`` runs every node,
    side outputs included, and returns every node's output by name.
    """

    def __init__(self, graph: Graph, build: Callable | None = None):
        super().__init__()
        self.model_name = graph.name
        self.input_shape = tuple(graph.input_shape)
        self.output_name = graph.output
        steps = []
        by_name: dict[str, nn.Module] = {}
        at_root: dict = {}  # layer -> its tensors held by the model itself (torch_names '.')
        self._shared = frozenset(graph.shared)
        for node in graph.nodes:
            module = (build and build(node)) or build_layer(node)
            if node.name in graph.shared:  # the weights of an earlier layer: a module called twice
                _tie(module, by_name[graph.shared[node.name]])
            by_name[node.name] = module
            path = graph.torch_path(node.name)
            if path == ".":
                at_root[node.name] = _attach_to_root(self, node.name, module)
            else:
                _attach(self, path, module)
            steps.append((node.name, node.inputs, node.side, module))
        self._steps = steps  # a plain list: the modules are registered by _attach
        self._by_name = {name: module for name, _, _, module in steps}
        self._at_root = at_root
        self._root_readers = [(attr, by_name[layer]) for layer, attrs in at_root.items() for attr in attrs]
        self._main_plan = _plan(steps, [graph.output], include_side=False)
        self._full_plan = _plan(steps, [graph.output], include_side=True)

    def forward(self, x):
        return self._run([x], self._main_plan)[self.output_name]

    def _apply(self, fn, recurse=True):
        # .to(), .half(), .to_empty() may give the root new tensors: the layers that read them as attributes
        # (torch_names '.') follow
        result = super()._apply(fn, recurse)
        for name, module in self.__dict__.get("_root_readers", ()):
            module.__dict__[name] = self._parameters[name] if name in self._parameters else self._buffers[name]
        return result

    def run_all(self, x) -> dict:
        """Every node's output, side outputs included, keyed by node name."""
        return self._run([x], self._full_plan, keep=True)

    def run(self, x, include_side: bool = False):
        """The outputs nothing reads, keyed by node name (the main output; with ``include_side``, the side
        heads' too), freeing every other activation, the input included, after its last reader."""
        box = [x]
        del x  # the run holds the input alone, so it can free it
        return self._run(box, self._full_plan if include_side else self._main_plan)

    def layer(self, name: str) -> nn.Module:
        """The module of one graph node, by its name."""
        return self._by_name[name]

    def own(self, name: str, what: str = "parameters") -> list:
        """One node's own parameters (or buffers): its module's, without those of other nodes' modules placed
        below it by torch_names (ConvNeXt's block holds its layer scale above its sub-layers). A layer that
        shares an earlier layer's weights owns none."""
        if name in self._shared:
            return []
        if name in self._at_root:
            held = self._parameters if what == "parameters" else self._buffers
            return [held[attr] for attr in self._at_root[name] if attr in held]
        layers = self.__dict__.get("_layer_ids")
        if layers is None:
            layers = self.__dict__["_layer_ids"] = {id(m) for m in self._by_name.values()}
        found, stack = [], [self._by_name[name]]
        while stack:
            module = stack.pop()
            found.extend(getattr(module, what)(recurse=False))
            stack.extend(child for child in module.children() if id(child) not in layers)
        return found

    def _run(self, box: list, plan, keep=False):
        values = {INPUT: box.pop()}
        for name, inputs, module, release in plan:
            values[name] = module(*(values[i] for i in inputs))
            if not keep:
                for done in release:  # free activations nothing later reads
                    del values[done]
        return values

    def extra_repr(self):
        return f"model={self.model_name!r}, input={'x'.join(map(str, self.input_shape))}"


def _tie(module: nn.Module, original: nn.Module):
    """Make ``module`` use ``original``'s parameters and buffers (the same kind and arguments: the same
    structure), as one torch module called twice does."""
    for mine, theirs in zip(module.modules(), original.modules()):
        for key in mine._parameters:
            mine._parameters[key] = theirs._parameters[key]
        for key in mine._buffers:
            mine._buffers[key] = theirs._buffers[key]


def _plan(steps, outputs, include_side):
    chosen = [s for s in steps if include_side or not s[2]]
    last_use = {}
    for position, (_, inputs, _, _) in enumerate(chosen):
        for i in inputs:
            last_use[i] = position
    keep = set(outputs)
    plan = []
    for position, (name, inputs, _, module) in enumerate(chosen):
        release = tuple(i for i in dict.fromkeys(inputs) if last_use[i] == position and i not in keep)
        plan.append((name, inputs, module, release))
    return plan


def _attach(root: nn.Module, dotted: str, module: nn.Module):
    """Place a layer's module at its dotted path; a path may hold a layer and, below it, other layers (a
    torchvision block with a parameter of its own, like ConvNeXt's layer scale). The path "." is the model
    itself: the layer's parameters and buffers sit on the root under their own names (ViT's class_token), and
    the layer's module stays at the layer's own name, holding them as plain attributes (_attach_to_root)."""
    if dotted == ".":
        raise CnnCostError("a layer at the model itself ('.') is placed by _attach_to_root", layer=dotted)
    *scopes, leaf = dotted.split(".")
    parent = root
    for part in scopes:
        child = parent._modules.get(part)
        if child is None:
            child = Scope()
            _add(parent, part, child, dotted)
        parent = child
    existing = parent._modules.get(leaf)
    if isinstance(existing, Scope):  # layers were placed below this path first: they move under the layer
        for name, child in existing.named_children():
            _add(module, name, child, dotted)
        del parent._modules[leaf]
    _add(parent, leaf, module, dotted)


def _attach_to_root(root: nn.Module, name: str, module: nn.Module) -> list:
    """A layer whose tensors torch_names puts on the model itself ('.'): they move to the root under their own
    names, and the module, at the layer's name, keeps them as plain attributes (torch.fx finds a parameter read
    that way on the root); returns their names."""
    moved = []
    for key, store in (("_parameters", root.register_parameter), ("_buffers", root.register_buffer)):
        for attr, tensor in list(getattr(module, key).items()):
            if attr in root._parameters or attr in root._buffers or hasattr(root, attr):
                raise CnnCostError(f"the model's own attribute '{attr}' is taken by another layer", layer=name,
                                   hint="map one of them elsewhere in torch_names")
            store(attr, tensor)
            del getattr(module, key)[attr]
            module.__dict__[attr] = tensor
            moved.append(attr)
    _attach(root, name, module)
    return moved


def _add(parent: nn.Module, name: str, module: nn.Module, dotted: str):
    if name in parent._modules or hasattr(parent, name):
        raise CnnCostError(f"the torch module path '{dotted}' is taken by another layer (or by an attribute of "
                           f"its parent)", layer=dotted, hint="rename the layer, or map it elsewhere in torch_names")
    parent.add_module(name, module)


def build_module(graph: Graph, build: Callable | None = None) -> GraphNet:
    """The graph as a trainable ``torch.nn.Module`` (float32, on the CPU, in training mode).

    ``build(node)`` may return a module to use instead of the kind's own (validation builds linearised
    networks this way); None keeps the kind's.
    """
    return GraphNet(graph, build)
