"""The intermediate form: a graph of primitive layers with their shapes.

Everything downstream (the analytic engine, the torch backend) reads this,
never the YAML.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Node:
    name: str  # hierarchical, dot-separated: inception3a.branch2.conv
    kind: str  # a key of kinds.KINDS
    args: dict[str, Any]  # checked and normalised by the kind
    inputs: tuple[str, ...]  # producers' names; INPUT for the network input
    input_shapes: tuple[tuple[int, ...], ...]  # per sample
    output_shape: tuple[int, ...]  # per sample
    side: bool = False  # on a side output (auxiliary head): not part of the main chain
    line: int | None = None  # where the layer is written in its YAML file


make_node = fast_constructor(Node)


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

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
