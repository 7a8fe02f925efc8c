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

from . import engine, zoo
from .expand import load_graph
from .graph import Graph
from .report import Report, Settings


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
def load(model: str | os.PathLike | Graph, settings: Settings | None = None, **options) -> Graph:
    """Expand a zoo name or YAML file into a graph of primitive layers (``set`` and ``input`` apply)."""
    if isinstance(model, Graph):
        return model
    settings = Settings.of(settings, **options)
    return load_graph(zoo.file_of(model), overrides=settings.set, input_shape=settings.input)


@_without_gc
def analyze(
    model: str | os.PathLike | Graph,
    settings: Settings | None = None,
    *,
    batch: int | None = None,
    dtype: str | None = None,
    convention: str | None = None,
    include_side: bool | None = None,
    set: dict[str, Any] | None = None,
    input: tuple[int, ...] | str | None = None,
) -> Report:
    """Analyse a model: every layer's shape, parameters, MACs, FLOPs and memory.

    ``settings`` (a Settings) or the keywords, which change it: the batch, the
    element type, the counting convention, whether side outputs count, model
    parameter overrides and the input shape.
    """
    settings = Settings.of(settings, batch=batch, dtype=dtype, convention=convention, include_side=include_side,
                           set=set, input=input)
    return engine.view(load(model, settings), settings)


@_without_gc
def load_text(text: str, name: str = "<text>", settings: Settings | None = None, **options) -> Graph:
    """Expand a network written as a YAML string."""
    settings = Settings.of(settings, **options)
    return load_graph(name, text=text, overrides=settings.set, input_shape=settings.input)


@_without_gc
def analyze_text(text: str, name: str = "<text>", settings: Settings | None = None, **options) -> Report:
    """Analyse a network written as a YAML string (options as for analyze)."""
    settings = Settings.of(settings, **options)
    return engine.view(load_text(text, name, settings), settings)


def to_torch(model, settings: Settings | None = None, **options):
    """The network as a real ``torch.nn.Module`` (needs the torch extra)."""
    from .torch_backend import build_module  # torch is imported only here

    return build_module(load(model, settings, **options))
