"""The intermediate form: a graph of primitive layers with their shapes.

Everything downstream (the analytic engine, the torch backend) reads this,
never the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INPUT = "input"  # the name of the network's input tensor


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
