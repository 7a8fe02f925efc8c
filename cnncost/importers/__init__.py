"""Bring your own model: a torch module or an ONNX file as cnncost layers (docs/import.md).

Both importers write cnncost YAML and expand it through the normal path, so
an imported model is a Graph like any other: ``cnncost.analyze`` takes it,
and its ``to_yaml()`` is the file ``cnncost import`` writes. Neither torch
nor any ONNX package is imported until one of these is called.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the type checker only: importing cnncost imports neither torch nor the builder
    from .builder import ImportedGraph


def from_onnx(path: str | os.PathLike, input: tuple[int, ...] | str | None = None,
              partial: bool = False) -> ImportedGraph:
    """The network in an ONNX file, read statically: no onnxruntime, nothing runs, no weight is read.

    ``input``: the per-sample input shape (``"3x224x224"`` or a tuple) instead of the file's own. The result is
    a Graph (``cnncost.analyze(graph)``) whose ``to_yaml()`` is what ``cnncost import`` writes. ``partial``: as
    ``cnncost import --partial``, operators cnncost cannot map become opaque rows (docs/import.md).

        >>> graph = cnncost.from_onnx("resnet50.onnx")          # doctest: +SKIP
        >>> cnncost.analyze(graph, convention="fvcore").totals  # doctest: +SKIP
    """
    from ..report import parse_input
    from .onnx import load_onnx

    return load_onnx(path, None if input is None else parse_input(input), partial=partial)


def from_torch(module: Any, input: Any, name: str | None = None, partial: bool = False) -> ImportedGraph:
    """A ``torch.nn.Module`` as cnncost layers, traced with torch.fx (nothing runs), rows named by module path.

    ``input``: what you would feed it: a tensor, its shape ``(N, C, H, W)``, the per-sample ``(C, H, W)`` or
    ``"3x224x224"``, or a one-element tuple of one of these. ``name``: the model's name (its class's by default).
    ``partial``: import a module with operators cnncost cannot map, each as an opaque row of the shape torch
    gives, the totals then lower bounds (docs/import.md); by default such a module is refused, every operator
    listed. The result is a Graph (``cnncost.analyze(graph)``) with ``to_yaml()``.

        >>> graph = cnncost.from_torch(torchvision.models.resnet18(), input=(1, 3, 224, 224))  # doctest: +SKIP
        >>> print(graph.to_yaml())                                                             # doctest: +SKIP
    """
    from .torch import import_module

    return import_module(module, input, name, partial)
