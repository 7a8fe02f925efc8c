"""Check the analytic figures against PyTorch running the same network.

Each analysis owns its torch check, in the module named after it here, and registers it (base.register):
figures.py the per-row figures under every convention, memory.py what autograd saves and what stays live,
rf.py the receptive fields, latency.py the roofline's time. ``validate`` is the driver over that registry;
results.py holds the plain results, which render/validation.py writes. What is compared, and on what basis,
is docs/validation.md. torch is imported only when a check runs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from .. import api
from ..errors import CnnCostError
from ..graph import Graph
from ..report import Settings
from .base import CHECKS, TorchCheck, refuse_what_cannot_fit, register, require_torch, resolve_device, \
    torch_dtype, torch_version
from .figures import DEFAULT_MEASURES, Measured, Seen, adaptive_extent, measure, validate_graph
from .latency import LatencyResult, LayerTiming, spearman, validate_latency_graph
from .memory import validate_memory_graph
from .results import TOTAL, Check, LayerResult, ModelResult, ValidationRun
from .rf import STAND_INS, FieldCheck, validate_rf_graph

__all__ = [
    "CHECKS", "DEFAULT_MEASURES", "TOTAL", "Check", "FieldCheck", "LatencyResult", "LayerResult", "LayerTiming",
    "Measured", "ModelResult", "STAND_INS", "Seen", "TorchCheck", "ValidationRun", "adaptive_extent", "measure",
    "refuse_what_cannot_fit", "register", "require_torch", "resolve_device", "smallest_input", "spearman",
    "torch_dtype", "torch_version", "validate", "validate_graph", "validate_latency_graph", "validate_many",
    "validate_memory_graph", "validate_one", "validate_rf_graph",
]


def validate(model: str | Path | Graph, settings: Settings | None = None, *, memory: bool = False,
             rf: bool = False, check: str | None = None, **options):
    """Validate a zoo name, a YAML file or a Graph with one registered torch check: ``check`` names it
    (figures, memory, rf, latency); ``memory`` and ``rf`` are the CLI's flags for two of them; the figures
    by default. ``options`` as the check takes them; those another check takes are left out."""
    name = check or ("rf" if rf else "memory" if memory else "figures")
    if name not in CHECKS:
        raise CnnCostError(f"no torch check '{name}'", hint="choose from " + ", ".join(CHECKS))
    chosen = CHECKS[name]
    others = {o for c in CHECKS.values() for o in c.options} - set(chosen.options)
    settings = settings or Settings()
    graph = api.load(model, settings)
    return chosen.run(graph, settings, **{k: v for k, v in options.items() if k not in others})


SMALLEST_FROM = 64  # smaller inputs clip most fields to the image and leave 1x1 maps: too little to check
SIZE_STEP = 4


SMALLEST_FRAMES = 4  # a video model's frames at its smallest input: enough for time's padding and strides to act
SMALLEST_VIDEO_FROM = 32  # a video map has no receptive field to clip (rf.py follows 2-D maps), so from 32


def smallest_input(model: str | Path | Graph, settings: Settings | None = None) -> tuple:
    """The smallest square input (SMALLEST_FROM, then steps of SIZE_STEP, up to the default) at which the
    model builds the same layers as at its default input, and no more of them see a 1x1 map (a batch norm
    there cannot train on one sample): the same rules, at a fraction of the work. A video clip keeps
    SMALLEST_FRAMES frames, or the fewest above that with the same layers at its own H, W (S3D's time
    strides and 2-frame head pool need 13)."""
    settings = settings or Settings()
    default = api.load(model, settings)
    shape = default.input_shape
    # a video clip (C x T x H x W) keeps SMALLEST_FRAMES frames, or fewer if it has fewer; only H, W shrink
    channels, frames, height, width = ((shape[0], (), *shape[1:]) if len(shape) == 3 else
                                       (shape[0], (min(shape[1], SMALLEST_FRAMES),), *shape[2:]) if len(shape) == 4
                                       else (None, (), 0, 0))

    def layers(graph):
        # maps of one position (C x 1 x 1, C x 1 x 1 x 1): a batch norm there cannot train on one sample
        return [n.name for n in graph.nodes], sum(len(n.output_shape) >= 3 and math.prod(n.output_shape[1:]) == 1
                                                  for n in graph.nodes)

    names = layers(default)
    if frames:
        frames = (next((t for t in range(frames[0], shape[1]) if _same_layers(
            model, replace(settings, input=(channels, t, height, width)), layers, names)), shape[1]),)
    for size in range(SMALLEST_VIDEO_FROM if frames else SMALLEST_FROM, min(height, width), SIZE_STEP):
        try:
            graph = api.load(model, replace(settings, input=(channels, *frames, size, size)))
        except CnnCostError:
            continue
        if not graph.left_out and layers(graph) == names:
            return graph.input_shape
    return default.input_shape


def _same_layers(model, settings: Settings, layers: Callable, names) -> bool:
    try:
        graph = api.load(model, settings)
    except CnnCostError:
        return False
    return not graph.left_out and layers(graph) == names


def validate_many(
    models: Iterable[str | Path],
    settings: Settings | None = None,
    *,
    device: str = "cpu",
    on_model: Callable[[str], None] | None = None,
    on_done: Callable[[ModelResult], None] | None = None,
    smallest: bool = False,
    **options,
) -> ValidationRun:
    """Validate several models; a model that fails to load is recorded, not raised. ``smallest``: each at
    its smallest_input."""
    settings = settings or Settings()
    require_torch()
    device = resolve_device(device)  # a bad device or dtype is one error, not one per model
    torch_dtype(settings.dtype)
    results = []
    for model in models:
        if on_model:
            on_model(str(model))
        try:
            chosen = replace(settings, input=smallest_input(model, settings)) if smallest else settings
            result = validate(model, chosen, device=device, **options)
        except CnnCostError as exc:
            result = ModelResult(str(model), (), settings.batch, settings.dtype, device, (), (), 0.0, str(exc))
        results.append(result)
        if on_done:
            on_done(result)
    return ValidationRun(tuple(results), device, torch_version())


def validate_one(model: str | Path | Graph, settings: Settings | None = None, *, device: str = "cpu",
                 **options) -> ValidationRun:
    """One model as a run; unlike validate_many, an error in the model's file is raised."""
    result = validate(model, settings, device=device, **options)
    return ValidationRun((result,), result.device, torch_version())
