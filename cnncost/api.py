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
from typing import TYPE_CHECKING, Any, Mapping

from . import engine, zoo
from .errors import CnnCostError
from .expand import load_graph
from .graph import Graph
from .report import Report, Settings

if TYPE_CHECKING:  # torch only for the type checker: importing cnncost never imports it
    import torch


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
    if not isinstance(model, (str, os.PathLike, Graph)):
        raise CnnCostError(f"model must be a zoo name, a YAML file's path or a Graph, got {type(model).__name__}",
                           hint="see cnncost.zoo.names() for the zoo")


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
    A Graph is returned as it is.
    """
    _check_model(model)
    settings = Settings.of(settings, set=set, input=input, **options)
    if isinstance(model, Graph):
        return model
    if os.fspath(model).lower().endswith(".onnx"):  # read statically: cnncost/importers/onnx.py
        from .importers.onnx import load_onnx

        return load_onnx(model, settings.input, settings.set)
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
    set: Mapping[str, Any] | None = None,
    input: tuple[int, int, int] | str | None = None,
) -> Report:
    """Analyse a model: every layer's shape, parameters, MACs, FLOPs and memory.

    ``model`` is a zoo name (``"resnet50"``), a YAML file's path, or a Graph
    from load(). ``settings`` (a Settings) or the keywords, which change it:
    the batch, the element type (``"float16"``), the counting convention
    (docs/conventions.md), whether side outputs count, model parameter
    overrides (``set={"classes": 10}``) and the input shape, as ``(3, 224, 224)``
    or the command line's ``"3x224x224"``. Bad values raise CnnCostError.
    """
    _check_model(model)
    settings = Settings.of(settings, batch=batch, dtype=dtype, convention=convention, include_side=include_side,
                           set=set, input=input)
    return engine.view(load(model, settings), settings)


@_without_gc
def load_text(text: str, name: str = "<text>", settings: Settings | None = None, **options: Any) -> Graph:
    """Expand a network written as a YAML string; ``name`` is what errors call it (options as for load)."""
    _check_text(text, name)
    settings = Settings.of(settings, **options)
    return load_graph(name, text=text, overrides=settings.set, input_shape=settings.input)


@_without_gc
def analyze_text(text: str, name: str = "<text>", settings: Settings | None = None, **options: Any) -> Report:
    """Analyse a network written as a YAML string (options as for analyze)."""
    _check_text(text, name)
    settings = Settings.of(settings, **options)
    return engine.view(load_text(text, name, settings), settings)


def to_torch(
    model: str | os.PathLike | Graph,
    settings: Settings | None = None,
    *,
    set: Mapping[str, Any] | None = None,
    input: tuple[int, int, int] | str | None = None,
    dtype: str | None = None,
    device: str | None = None,
    batch: int | None = None,
    convention: str | None = None,
    include_side: bool | None = None,
) -> "torch.nn.Module":
    """The network as a real ``torch.nn.Module``, in training mode (needs the torch extra).

    Takes analyze's options. ``set`` and ``input`` shape the network;
    ``dtype`` (float32, float16, bfloat16 or float64) is its parameters'
    type, float32 unless given; ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``)
    is where they live. ``batch``, ``convention`` and ``include_side`` change
    no module: they are accepted, and checked, so that the same options can be
    given to analyze and to_torch. ``net(x)`` runs the main network;
    ``net.run(x, include_side=True)`` the side outputs too.
    """
    _check_model(model)
    settings = Settings.of(settings, set=set, input=input, dtype=dtype, batch=batch, convention=convention,
                           include_side=include_side)
    if device is not None and not isinstance(device, str):
        raise CnnCostError(f"device must be a str such as 'cpu' or 'cuda', got {type(device).__name__}")
    if settings.dtype in ("int8", "uint8"):
        raise CnnCostError(f"dtype {settings.dtype}: a module's parameters are floating point",
                           hint="choose float32, float16, bfloat16 or float64")
    graph = load(model, settings)
    from .torch_backend import build_module  # torch is imported only here
    from .validate import resolve_device, torch_dtype

    net = build_module(graph)
    if settings.dtype != "float32":
        net = net.to(dtype=torch_dtype(settings.dtype))
    if device is not None:
        net = net.to(device=resolve_device(device))
    return net
