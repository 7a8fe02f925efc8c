"""Models into graphs: a zoo name, a YAML file or text, an ONNX file, or a PyTorch model (api.load).

Below the API and the analyses that load models themselves (sweep.py, the claims, validation), so they
need not import the API; api.py re-exports ``load`` and ``load_text``.
"""

from __future__ import annotations

import functools
import gc
import os
from typing import Any, Mapping

from . import zoo
from .errors import CnnCostError
from .expand import load_graph
from .graph import Graph
from .report import Settings


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


def _check_model(model: object) -> None:
    if isinstance(model, (str, os.PathLike, Graph)):
        return
    from .pymodel import is_torch_module

    if not is_torch_module(model):
        raise CnnCostError(f"model must be a zoo name, a YAML file's path, 'package.module:factory', a Graph or "
                           f"a torch.nn.Module, got {type(model).__name__}", hint="see cnncost.zoo.names() for the zoo")


def _check_text(text: object, name: object) -> None:
    if not isinstance(text, str):
        raise CnnCostError(f"text must be the YAML document as a str, got {type(text).__name__}")
    if not isinstance(name, str):
        raise CnnCostError(f"name must be a str, got {type(name).__name__}")


@_without_gc
def load(
    model: str | os.PathLike | Graph,
    settings: Settings | None = None,
    *,
    set: Mapping[str, Any] | None = None,
    input: tuple[int, int, int] | str | None = None,
    **options: Any,
) -> Graph:
    """Expand a zoo name or YAML file into a graph of primitive layers.

    ``set`` (model parameters) and ``input`` (``(3, 224, 224)`` or
    ``"3x224x224"``) shape the graph, given as keywords or in ``settings``;
    other Settings fields (``options``) are accepted and change nothing here.
    A Graph is returned as it is. A PyTorch model, as a ``torch.nn.Module`` or
    named ``"torchvision:resnet50"``, ``"timm:convnext_tiny"`` or
    ``"package.module:factory"`` (``set``: the factory's keyword arguments), is
    imported by from_torch at ``input``, which it needs.
    """
    _check_model(model)
    settings = Settings.of(settings, set=set, input=input, **options)
    if isinstance(model, Graph):
        return model
    if not isinstance(model, (str, os.PathLike)) or ":" in os.fspath(model):  # a PyTorch model (pymodel.py)
        from . import pymodel

        if pymodel.is_torch_module(model):
            return pymodel.load_module(model, settings.input)
        if pymodel.is_python_model(model):
            return pymodel.load_python_model(model, settings.input, settings.set)
    if os.fspath(model).lower().endswith(".onnx"):  # read statically: cnncost/importers/onnx.py
        from .importers.onnx import load_onnx

        return load_onnx(model, settings.input, settings.set)
    return load_graph(zoo.file_of(model), overrides=settings.set, input_shape=settings.input)


def load_text(text: str, name: str = "<text>", settings: Settings | None = None, **options: Any) -> Graph:
    """Expand a network written as a YAML string; ``name`` is what errors call it (options as for load)."""
    _check_text(text, name)
    settings = Settings.of(settings, **options)
    return load_graph(name, text=text, overrides=settings.set, input_shape=settings.input)
