"""The intermediate form: a graph of primitive layers, their wiring, shapes and quantities.

Each node carries the convention-free quantities that any counting rule
needs, worked out once by its kind when the graph is expanded. Everything
downstream (the views of conventions.py and engine.py, memory, receptive
fields, latency, compare, claims, the torch backend and validation) reads
this, never the YAML; what each does with a node is the rule its kind's
record names (kinds.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

INPUT = "input"  # the name of the network's input tensor


def fast_constructor(cls):
    """``cls(*values)`` for a frozen dataclass, about twice as fast.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; a network builds thousands of rows, so the hot
    paths fill ``__dict__`` directly. Anything but all fields, in order,
    goes through the real ``__init__``.
    """
    names = tuple(f.name for f in fields(cls))
    assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__"), cls
    new = object.__new__

    def make(*values):
        if len(values) != len(names):
            return cls(*values)
        obj = new(cls)
        obj.__dict__.update(zip(names, values))
        return obj

    return make


class Quantities:
    """What a counting rule may read of one row (per sample): a graph Node, or what torch measured.

    Subclasses have ``input_shapes``, ``output_shape``, ``params``, ``buffers``,
    ``macs`` (bias excluded), ``bias_adds``, ``window`` and ``call``.
    """

    # declared, not set: each subclass holds them (as dataclass fields or attributes)
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    params: int
    buffers: int
    macs: int
    bias_adds: int
    window: tuple
    call: str

    @property
    def input_elements(self) -> int:
        """Elements of all inputs, per sample."""
        return sum(math.prod(s) for s in self.input_shapes)

    @property
    def output_elements(self) -> int:
        return math.prod(self.output_shape)

    @property
    def channels(self) -> int:
        """Output channels (features, for a vector)."""
        return self.output_shape[0]


@dataclass(frozen=True)
class Node(Quantities):
    name: str  # hierarchical, dot-separated: inception3a.branch2.conv
    kind: str  # a key of kinds.KINDS
    args: dict[str, Any]  # checked and normalised by the kind
    inputs: tuple[str, ...]  # producers' names; INPUT for the network input
    input_shapes: tuple[tuple[int, ...], ...]  # per sample
    output_shape: tuple[int, ...]  # per sample
    side: bool = False  # on a side output (auxiliary head): not part of the main chain
    line: int | None = None  # where the layer is written in its YAML file
    call: str = "module"  # how the reference implementation runs the row: kinds.CALLS
    # the convention-free quantities, per sample (kinds.py works them out)
    params: int = 0  # learnable parameters
    buffers: int = 0  # non-trainable floating-point state
    macs: int = 0  # multiply-accumulates, bias excluded
    bias_adds: int = 0  # one add per output element of a layer with a bias
    window: tuple = ()  # the pooling window (kh, kw); () for other kinds

    def __repr__(self) -> str:  # one line: a notebook cell shows it whole
        shapes = ", ".join("x".join(map(str, s)) for s in self.input_shapes)
        return (f"<Node {self.name}: {self.kind}{' (side)' if self.side else ''}, {shapes} -> "
                f"{'x'.join(map(str, self.output_shape))}, {self.params:,} params, {self.macs:,} MACs>")


make_node = fast_constructor(Node)


def counted(rows, include_side: bool) -> list:
    """The rows (Nodes, or a report's LayerCosts) that count in totals: every one with include_side, else those
    not on a side output (auxiliary heads run in training only)."""
    return list(rows) if include_side else [r for r in rows if not r.side]


@dataclass
class Graph:
    name: str
    input_shape: tuple[int, ...]
    nodes: list[Node]
    output: str  # the node whose output is the network's output
    params: dict[str, Any] = field(default_factory=dict)  # model parameters in force
    description: str = ""
    source: str | None = None  # the YAML file
    notes: list[str] = field(default_factory=list)
    # (regular expression, replacement): a layer whose name fully matches gets that torch module path, so that
    # to_torch's state-dict keys can be a reference implementation's (torchvision's) while rows keep their names
    torch_names: tuple = ()
    # side outputs that could not be computed at this input (a head too big for a small map), each with why;
    # they are absent from nodes, and the main network does not need them
    left_out: tuple = ()
    # a layer that uses an earlier layer's weights ('shares': a module called twice) -> that layer; its own
    # params and buffers are 0, so that the totals count the weights once
    shared: dict = field(default_factory=dict)
    # module path -> parameters of a module the forward never runs (smp's PSPNet builds a deeper encoder than it
    # uses): in no row, but in the parameters of the conventions whose tools count every parameter
    unused_params: dict = field(default_factory=dict)

    def __repr__(self) -> str:  # one line, not every node's (50,000 characters for ResNet-50)
        return (f"<Graph {self.name}: input {'x'.join(map(str, self.input_shape))}, {len(self.nodes):,} layers, "
                f"output {self.output}>")

    def torch_path(self, name: str) -> str:
        """The torch module path of a layer: the first of torch_names that fully matches, else its name."""
        import re

        for pattern, path in self.torch_names:
            match = re.fullmatch(pattern, name)
            if match:
                return match.expand(path)
        return name

    def unsupported(self) -> list[dict]:
        """The operators an import could not map, which are opaque rows (``cnncost import --partial``), by
        operator: [{"op", "count", "layers"}]. Empty for a complete model; otherwise every total is a lower
        bound."""
        found: dict = {}
        for n in self.nodes:
            if n.kind == "opaque":
                found.setdefault(n.args["op"], []).append(n.name)
        return [{"op": op, "count": len(names), "layers": names} for op, names in found.items()]

    def counted(self, include_side: bool) -> list[Node]:
        """The nodes that count in totals: every one with include_side, else those not on a side output."""
        return counted(self.nodes, include_side)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
