"""The Python API: what the CLI calls, and what users can call directly.

    >>> import cnncost
    >>> report = cnncost.analyze("alexnet")
    >>> report.totals.params
    61100840
"""

from __future__ import annotations

import functools
import gc
import os
from typing import Any

from . import conventions, engine, zoo
from .expand import load_graph
from .graph import Graph
from .report import Report


def _without_gc(function):
    """Pause the cyclic garbage collector for one analysis.

    An analysis allocates many objects and builds no cycles; CPython's collector
    would scan them all over again each time enough accumulate, which made a
    10,000-layer network cost 13x a 1,000-layer one instead of 10x (see
    docs/performance.md). Reference counting still frees everything.
    """

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():  # paused already: by an outer call, or by the caller
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


@_without_gc
def load(
    model: str | os.PathLike | Graph,
    *,
    set: dict[str, Any] | None = None,
    input: tuple[int, ...] | None = None,
) -> Graph:
    """Expand a zoo name or YAML file into a graph of primitive layers."""
    if isinstance(model, Graph):
        return model
    return load_graph(zoo.file_of(model), overrides=set, input_shape=input)


@_without_gc
def analyze(
    model: str | os.PathLike | Graph,
    *,
    batch: int = 1,
    dtype: str = "float32",
    convention: str = conventions.DEFAULT,
    include_side: bool = False,
    set: dict[str, Any] | None = None,
    input: tuple[int, ...] | None = None,
) -> Report:
    """Analyse a model: every layer's shape, parameters, MACs, FLOPs and memory."""
    graph = load(model, set=set, input=input)
    return engine.analyze(graph, batch=batch, dtype=dtype, convention=convention, include_side=include_side)


@_without_gc
def analyze_text(text: str, name: str = "<text>", **options) -> Report:
    """Analyse a network written as a YAML string."""
    graph = load_graph(name, text=text, overrides=options.pop("set", None), input_shape=options.pop("input", None))
    return engine.analyze(graph, **options)


def to_torch(model, **options):
    """The network as a real ``torch.nn.Module`` (needs the torch extra)."""
    from .torch_backend import build_module  # torch is imported only here

    return build_module(load(model, **options))
