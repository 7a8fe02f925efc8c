"""Expand a YAML network description into a Graph of primitive layers.

The language (docs/yaml-reference.md has the full reference):

    name: resnet18
    input: [3, 224, 224]
    params: {classes: 1000}          # overridable with --set
    blocks:                          # reusable, with named arguments
      basic: {args: {out: null, stride: 1}, layers: [...]}
    layers:                          # a chain: each item feeds the next
      - conv: {name: conv1, out: 64, kernel: 7, stride: 2, padding: 3}
      - relu
      - repeat: {name: layer1, count: 2, layers: {basic: {out: 64}}}

Each item is a one-key mapping (or a bare word): a layer kind from the
registry, a block, or a construct (sequence, repeat, parallel, residual,
side). ``$name`` and ``${expr}`` are expressions; other strings are literal.
A ``name`` gives the item a scope of its own; without one its contents are
placed in the enclosing scope.

The expansion is split along its jobs: document.py reads the file (and what it extends), core.py walks the
items, scopes.py names layers and resolves references and expressions, blocks.py defines and calls blocks,
constructs.py expands sequence, side, repeat, parallel and residual.
"""

from .core import Expander
from .document import load_graph, with_base
from .scopes import Scope, resolve

__all__ = ["Expander", "Scope", "load_graph", "resolve", "with_base"]
