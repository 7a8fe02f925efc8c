"""The expander core as the jobs' modules (scopes, blocks, constructs) see it: what they may read and call.

core.Expander is the one implementation; this keeps the jobs' modules from importing it (no import cycle).
"""

from __future__ import annotations

from typing import Any, NoReturn, Protocol

from ..graph import Node


class Core(Protocol):
    doc: Any  # the network description (a yamlio.LineDict)
    blocks: dict  # block name -> definition
    nodes: list[Node]  # made so far, in order
    shapes: dict[str, tuple]  # layer -> output shape per sample
    lines: dict[str, int]  # layer -> its line in the file
    position: dict[str, int]  # layer -> its place in nodes
    aliases: dict[str, str]  # a named block or construct -> its output layer
    _written_names: set | None
    groups: set[str]  # every dotted prefix that names a group of layers
    next_suffix: dict[str, int]
    call_stack: list[str]  # the blocks being called, outermost first
    left_out: list[tuple[str, str]]  # side outputs that do not fit this input, and why
    shared: dict[str, str]  # a layer -> the layer whose weights it uses

    def fail(self, message, container=None, key=None, layer=None, hint=None, argument=None) -> NoReturn: ...

    def value(self, raw, variables, container=None, key=None) -> Any: ...

    def items(self, items, scope, cur: str, container=None, key=None) -> str: ...

    def item(self, item, scope, cur: str, parent) -> str: ...

    def add_node(self, kind_name, checked, inputs, full, scope, line, call=None) -> str: ...
