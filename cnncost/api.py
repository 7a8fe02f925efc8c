"""The Python API: what the CLI calls, and what users can call directly.

    >>> import cnncost
    >>> report = cnncost.analyze("alexnet")
    >>> report.totals.params
    61100840
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, TypeAlias

from . import engine
from .errors import CnnCostError
from .graph import Graph
from .loading import _check_model, _check_text, _without_gc, load, load_text  # noqa: F401  (load: part of the API)
from .report import Report, Settings

if TYPE_CHECKING:  # torch only for the type checker: importing cnncost never imports it
    import torch

    from .devices import Device
    from .explain import Explanation
    from .latency import Latency
    from .memory import Memory
    from .results import ReceptiveFields
    from .sweep import Sweep

# what every analysis takes as its model
Model: TypeAlias = "str | os.PathLike | Graph | torch.nn.Module"


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
    pass_: str | None = None,
    freeze: list[str] | tuple[str, ...] | None = None,
) -> Report:
    """Analyse a model: every layer's shape, parameters, MACs, FLOPs and memory.

    ``model`` is a zoo name (``"resnet50"``), a YAML file's path, or a Graph
    from load(). ``settings`` (a Settings) or the keywords, which change it:
    the batch, the element type (``"float16"``), the counting convention
    (docs/conventions.md), whether side outputs count, model parameter
    overrides (``set={"classes": 10}``) and the input shape, as ``(3, 224, 224)``
    or the command line's ``"3x224x224"``. ``pass_="train"`` adds a training
    step's backward MACs per layer (the input's and the weights' gradients) and
    ``freeze`` lists regular expressions: layers whose names ``re.match`` one
    are frozen (docs/training.md). Bad values raise CnnCostError.
    """
    _check_model(model)
    settings = Settings.of(settings, batch=batch, dtype=dtype, convention=convention, include_side=include_side,
                           set=set, input=input, pass_=pass_, freeze=freeze)
    return engine.view(load(model, settings), settings)


@_without_gc
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
    from .torch_backend import build_module, resolve_device, torch_dtype  # torch is imported only here

    net = build_module(graph)
    if settings.dtype != "float32":
        net = net.to(dtype=torch_dtype(settings.dtype))
    if device is not None:
        net = net.to(device=resolve_device(device))
    return net


# --- every other analysis, taking analyze's model forms and options ---

def _devices(names: Any, device_file: str | None) -> tuple:
    """Device records from names of 'cnncost devices' (or your file's), or Device values as they are."""
    from . import devices

    if isinstance(names, (str, devices.Device)):
        names = (names,)
    known = devices.table(device_file) if device_file is not None or any(isinstance(n, str) for n in names) else {}
    return tuple(n if isinstance(n, devices.Device) else devices.get(n, known) for n in names)


@_without_gc
def analyze_memory(model: Model, settings: Settings | None = None, *, mode: str = "train", optimizer: str = "sgd",
                   amp: bool = False, devices: "str | Device | tuple" = (), device_file: str | None = None,
                   checkpoint: int | str | None = None, gpus: int = 1, parallel: str | None = None,
                   **options: Any) -> Memory:
    """Training (``mode="train"``) or inference (``"infer"``) memory, as ``cnncost memory``: weights,
    gradients, optimizer state (``optimizer``: sgd, momentum, adam, adamw), saved activations, the peak,
    and whether it fits on each of ``devices`` (names of ``cnncost devices``; ``device_file`` adds yours).
    Takes analyze's model forms and options (batch, dtype, include_side, set, input, freeze). ``checkpoint``
    (N segments, or a regular expression naming blocks), ``gpus`` and ``parallel`` ("data" or "model") are
    memory's --checkpoint, --gpus and --parallel (docs/training.md). Returns a Memory."""
    from . import memory

    settings = Settings.of(settings, **options)
    memory.check_optimizer(optimizer)
    chosen = _devices(devices, device_file)
    return memory.analyze_memory(load(model, settings), settings, mode=mode, optimizer=optimizer, amp=amp,
                                 devices=chosen, checkpoint=checkpoint, gpus=gpus, parallel=parallel)


@_without_gc
def analyze_latency(model: Model, settings: Settings | None = None, *, device: "str | Device",
                    device_file: str | None = None, fuse: bool = False, overhead_us: float = 0.0,
                    **options: Any) -> Latency:
    """Roofline latency on ``device`` (a name of ``cnncost devices``, or ``"local"`` after ``cnncost
    calibrate``), as ``cnncost latency``: per layer FLOPs, bytes moved, time and bound. ``fuse`` runs batch
    norm and activations inside the conv before them; ``overhead_us`` is a fixed cost per layer. Returns a
    Latency."""
    from .latency import roofline

    settings = Settings.of(settings, **options)
    if isinstance(overhead_us, bool) or not isinstance(overhead_us, (int, float)) or not overhead_us >= 0:
        raise CnnCostError(f"overhead_us must be a number of microseconds, at least 0, got {overhead_us!r}")
    (chosen,) = _devices(device, device_file)
    return roofline(load(model, settings), settings, chosen, fuse=fuse, overhead_s=overhead_us * 1e-6)


@_without_gc
def receptive_fields(model: Model, settings: Settings | None = None, *, local: bool = False,
                     **options: Any) -> ReceptiveFields:
    """Every layer's receptive field, effective stride and padding, as ``cnncost rf``. ``local=True`` gives
    the conventional field of conv and pool paths, leaving out global statistics (norms, gates, global
    pools), as ``cnncost rf --local``. Returns a ReceptiveFields."""
    from . import rf
    from .results import ReceptiveFields

    settings = Settings.of(settings, **options)
    graph = load(model, settings)
    rows = rf.receptive_fields(graph, local=local)
    return ReceptiveFields(graph.name, tuple(rows), local)


def _axis(values: Any) -> list:
    """An axis's values: a list, or one value; strings as the command line takes them ("1,8,64", ranges)."""
    if values is None:
        return []
    if isinstance(values, (str, int, float)) and not isinstance(values, bool):
        values = [values]
    return list(values)


@_without_gc
def analyze_sweep(model: str | os.PathLike, *, set: Mapping[str, list] | None = None, input: Any = None,
                  batch: Any = None, dtype: Any = None, convention: Any = None, device: Any = None,
                  include_side: bool = False, memory: bool = False, optimizer: str = "sgd", latency: bool = False,
                  device_file: str | None = None) -> Sweep:
    """Totals over the product of the given axes, as ``cnncost sweep``: ``set={"alpha": [0.5, 1.0]}``,
    ``input=["3x128x128", "3x160x160"]`` (or the command line's ranges, ``"3x{128..512..32}"``),
    ``batch=[1, 8]``, ``dtype``, ``convention`` and ``device`` lists. ``memory`` adds the training peak,
    ``latency`` the roofline time on each device. ``model`` is a zoo name or a YAML file (a sweep expands
    it at each point). Returns a Sweep."""
    from . import conventions, devices as device_tables, sweep
    from .memory import check_optimizer

    if not isinstance(model, (str, os.PathLike)):
        raise CnnCostError(f"a sweep expands its model at each point: give a zoo name or a YAML file's path, "
                           f"got {type(model).__name__}")
    if set is not None and not isinstance(set, Mapping):
        raise CnnCostError(f"set must map parameter names to lists of values, got {type(set).__name__}")
    if memory:
        check_optimizer(optimizer)
    sets = {str(name): _axis(values) for name, values in (set or {}).items()}
    inputs = sweep.input_values([v if isinstance(v, str) else "x".join(map(str, v)) for v in
                                 ([input] if isinstance(input, tuple) else _axis(input))])
    batches = sweep.list_values([str(b) for b in _axis(batch)], "batch", sweep.batch_value)
    dtypes = [Settings(dtype=d).dtype for d in sweep.list_values(_axis(dtype), "dtype")]
    names = [conventions.get(c).name for c in sweep.list_values(_axis(convention), "convention")]
    device_names = sweep.list_values(_axis(device), "device")
    table = device_tables.table(device_file)
    for name in device_names:
        device_tables.get(name, table)
    axes = sweep.axes_from(sets, inputs, batches, dtypes, names, device_names)
    return sweep.sweep(os.fspath(model), axes, Settings(include_side=include_side), memory=memory,
                       optimizer=optimizer, latency=latency, device_table=table)


@_without_gc
def explain_conventions(model: Model, settings: Settings | None = None, **options: Any) -> Explanation:
    """Every convention's totals side by side, and per layer kind what each counts beyond the torchvision
    figure, as ``cnncost explain``. Returns an Explanation."""
    from .explain import explain

    settings = Settings.of(settings, **options)
    return explain(load(model, settings), settings)
