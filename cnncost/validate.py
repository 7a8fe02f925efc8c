"""Check the analytic engine against PyTorch running the same network.

The graph is built as a torch module (torch_backend.py), run forward once on
random input, and every row of the report is compared with what torch saw:
output shape, activation bytes, parameters, buffers, and MACs/FLOPs under
every counting convention. What is compared, and on what basis, is stated in
docs/validation.md. Results are plain dataclasses; rendering is elsewhere.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import api, conventions, engine
from .errors import CnnCostError
from .graph import Graph
from .kinds import KINDS

DEVICES = ("auto", "cpu", "cuda")


# --- results ---


@dataclass(frozen=True)
class Check:
    """One figure of one row: what cnncost computed and what torch showed."""

    figure: str  # shape, memory_bytes, params, buffers, "macs (lecture)", "flops (torchvision)", ...
    cnncost: Any
    torch: Any
    basis: str  # how the torch figure was obtained

    @property
    def ok(self) -> bool:
        return self.cnncost == self.torch


@dataclass(frozen=True)
class LayerResult:
    name: str
    kind: str
    side: bool
    checks: tuple[Check, ...]

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class ModelResult:
    model: str
    input: tuple
    batch: int
    dtype: str
    device: str
    conventions: tuple[str, ...]
    layers: tuple[LayerResult, ...]
    seconds: float
    error: str | None = None  # the model could not be built or run: a failure in itself

    @property
    def figures(self) -> int:
        return sum(len(l.checks) for l in self.layers)

    @property
    def mismatches(self) -> list[tuple[str, Check]]:
        return [(l.name, c) for l in self.layers for c in l.mismatches]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches


@dataclass(frozen=True)
class ValidationRun:
    models: tuple[ModelResult, ...]
    device: str
    torch_version: str

    @property
    def layers(self) -> int:
        return sum(len(m.layers) for m in self.models)

    @property
    def figures(self) -> int:
        return sum(m.figures for m in self.models)

    @property
    def mismatches(self) -> int:
        return sum(len(m.mismatches) for m in self.models)

    @property
    def errors(self) -> int:
        return sum(1 for m in self.models if m.error is not None)

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.models)


# --- torch side ---


def _torch():
    try:
        from . import torch_backend
    except CnnCostError as exc:  # torch is not installed
        raise CnnCostError("validation needs PyTorch, which is not installed", hint=exc.hint) from None
    return torch_backend.torch


TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16")


def torch_dtype(name: str):
    dtype, _ = engine.dtype_bytes(name)
    if dtype not in TORCH_DTYPES:
        raise CnnCostError(f"validation runs floating-point networks; --dtype {name} cannot be run",
                           hint="choose from " + ", ".join(TORCH_DTYPES))
    return getattr(_torch(), dtype)


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; cuda without a GPU is a user error."""
    torch = _torch()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise CnnCostError(f"--device {name}: PyTorch {torch.__version__} ({build}) sees no CUDA GPU",
                               hint="use --device cpu, or auto to pick a GPU when there is one")
        return name
    raise CnnCostError(f"unknown device '{name}'", hint="choose from " + ", ".join(DEVICES))


@dataclass
class _Seen:
    """What a forward hook saw for one node."""

    input_shapes: list
    output_shape: tuple
    numel: int
    element_size: int
    flops: int  # counted by FlopCounterMode during this module's call
    params: int
    buffers: int


def _adaptive_extent(size: int, out: int) -> int:
    """Total length of torch's adaptive-pooling windows along one axis, measured from torch itself.

    Pooling the rows of an identity matrix shows which input positions each
    output window reads: the non-zero entries.
    """
    torch = _torch()
    eye = torch.eye(size, dtype=torch.float64).unsqueeze(0)  # (1, size, size): row j is position j
    pooled = torch.nn.functional.adaptive_avg_pool1d(eye, out)  # (1, size, out)
    return int((pooled != 0).sum())


def _pool_window(module) -> int:
    k = module.kernel_size
    return math.prod(k) if isinstance(k, tuple) else k * k


def _adaptive_work(seen: _Seen) -> int:
    n, c, h, w = seen.input_shapes[0]
    _, _, oh, ow = seen.output_shape
    return n * c * _adaptive_extent(h, oh) * _adaptive_extent(w, ow)


# The raw work of each kind, from the tensors torch produced. The default is
# FlopCounterMode's count / 2 (conv, linear, and anything that multiplies
# matrices); the kinds below are those torch's counter does not count.
WORK: dict[str, tuple[Callable[[_Seen, Any], int], str]] = {
    "maxpool": (lambda s, m: s.numel * _pool_window(m), "output numel x kernel area"),
    "avgpool": (lambda s, m: s.numel * _pool_window(m), "output numel x kernel area"),
    "adaptive_avgpool": (lambda s, m: _adaptive_work(s), "N x C x torch's window extents (measured)"),
    "global_avgpool": (lambda s, m: _adaptive_work(s), "N x C x torch's window extents (measured)"),
    "lrn": (lambda s, m: s.numel * m.size, "output numel x window size"),
    "batchnorm": (lambda s, m: s.numel, "output numel"),
    "add": (lambda s, m: s.numel * (len(s.input_shapes) - 1), "output numel x (inputs - 1)"),
    "mul": (lambda s, m: s.numel, "output numel"),
}
FLOP_COUNTER = "FlopCounterMode"


def _torch_work(kind: str, seen: _Seen, module) -> tuple[int, str]:
    if kind in WORK:
        rule, basis = WORK[kind]
        return rule(seen, module), basis
    if seen.flops % 2:
        raise CnnCostError(f"FlopCounterMode counted an odd number of FLOPs ({seen.flops}) for a {kind}")
    return seen.flops // 2, f"{FLOP_COUNTER} / 2"


def _run_torch(graph: Graph, batch: int, dtype, device: str, seed: int):
    """Build and run the network once; what each node's hook saw, by node name."""
    from torch.utils.flop_counter import FlopCounterMode

    from .torch_backend import build_module

    torch = _torch()
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        net = build_module(graph)
        x = torch.randn(batch, *graph.input_shape, dtype=torch.float32)
    net = net.to(device=device, dtype=dtype).eval()
    x = x.to(device=device, dtype=dtype)

    seen: dict[str, _Seen] = {}
    counters: list = []
    current: list[str] = []
    handles = []

    def before(name):
        def hook(module, args):
            current.append(name)
            counter = FlopCounterMode(display=False)
            counter.__enter__()
            counters.append(counter)

        return hook

    def after(name):
        def hook(module, args, output):
            counter = counters.pop()
            counter.__exit__(None, None, None)
            current.pop()
            seen[name] = _Seen(
                input_shapes=[tuple(a.shape) for a in args],
                output_shape=tuple(output.shape),
                numel=output.numel(),
                element_size=output.element_size(),
                flops=counter.get_total_flops(),
                params=sum(p.numel() for p in module.parameters()),
                # BN's num_batches_tracked is an integer counter, not a statistic
                buffers=sum(b.numel() for b in module.buffers() if b.is_floating_point()),
            )

        return hook

    for name, _, _, module in net._steps:
        handles.append(module.register_forward_pre_hook(before(name)))
        handles.append(module.register_forward_hook(after(name)))
    modules = {name: module for name, _, _, module in net._steps}
    try:
        with torch.no_grad():
            net.run_all(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        where = f"layer '{current[-1]}': " if current else ""
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _ForwardFailed(f"{where}torch failed: {message}") from exc
    finally:
        while counters:
            counters.pop().__exit__(None, None, None)
        for handle in handles:
            handle.remove()
    return seen, modules


class _ForwardFailed(Exception):
    pass


# --- the comparison ---


def _layer_checks(row_by_convention: dict, kind_name: str, seen: _Seen, module, batch: int) -> list[Check]:
    kind = KINDS[kind_name]
    first = next(iter(row_by_convention.values()))
    checks = [Check("shape", (batch, *first.output_shape), seen.output_shape, "output tensor")]
    if kind.inplace:
        # cnncost counts no new memory; torch must show an output that could overwrite its input
        same = seen.output_shape == seen.input_shapes[0]
        checks.append(Check("memory_bytes", first.memory_bytes, 0 if same else seen.numel * seen.element_size,
                            "0: in place (output has its input's shape)" if same
                            else "output numel x element size (its shape differs from its input's)"))
    else:
        checks.append(Check("memory_bytes", first.memory_bytes, seen.numel * seen.element_size,
                            "output numel x element size"))
    checks.append(Check("params", first.params, seen.params, "numel of the module's parameters"))
    checks.append(Check("buffers", first.buffers, seen.buffers, "numel of the module's float buffers"))
    work, basis = _torch_work(kind_name, seen, module)
    for name, row in row_by_convention.items():
        counted = kind.category in conventions.get(name).counted
        expected = work if counted else 0
        why = basis if counted else f"0: the {name} convention does not count {kind.category} work"
        checks.append(Check(f"macs ({name})", row.macs, expected, why))
        flops_basis = FLOP_COUNTER if counted and basis.startswith(FLOP_COUNTER) else f"2 x ({why})"
        checks.append(Check(f"flops ({name})", row.flops, 2 * expected, flops_basis))
    return checks


def validate_graph(
    graph: Graph,
    *,
    batch: int = 1,
    dtype: str = "float32",
    device: str = "cpu",
    convention_names: Iterable[str] | None = None,
    seed: int = 0,
) -> ModelResult:
    """Run ``graph`` in torch and compare every row of cnncost's report with it."""
    start = time.perf_counter()
    names = tuple(convention_names or conventions.CONVENTIONS)
    reports = {c: engine.analyze(graph, batch=batch, dtype=dtype, convention=c, include_side=True) for c in names}
    tdtype = torch_dtype(dtype)
    device = resolve_device(device)
    dtype_name = next(iter(reports.values())).dtype

    def result(layers, error=None):
        return ModelResult(graph.name, tuple(graph.input_shape), batch, dtype_name, device, names,
                           tuple(layers), time.perf_counter() - start, error)

    try:
        seen, modules = _run_torch(graph, batch, tdtype, device, seed)
    except _ForwardFailed as exc:
        return result([], str(exc))
    layers = []
    for position, node in enumerate(graph.nodes):
        rows = {c: reports[c].layers[position] for c in names}
        if node.name not in seen:
            return result(layers, f"layer '{node.name}' was never run by torch")
        layers.append(LayerResult(node.name, node.kind, node.side,
                                  tuple(_layer_checks(rows, node.kind, seen[node.name], modules[node.name], batch))))
    return result(layers)


def validate(
    model: str | Path | Graph,
    *,
    set: dict[str, Any] | None = None,
    input: tuple[int, ...] | None = None,
    **options,
) -> ModelResult:
    """Validate a zoo name, a YAML file or a Graph (options as for validate_graph)."""
    return validate_graph(api.load(model, set=set, input=input), **options)


def validate_many(
    models: Iterable[str | Path],
    *,
    device: str = "cpu",
    on_model: Callable[[str], None] | None = None,
    on_done: Callable[[ModelResult], None] | None = None,
    **options,
) -> ValidationRun:
    """Validate several models; a model that fails to load is recorded, not raised."""
    torch = _torch()
    device = resolve_device(device)  # a bad device or dtype is one error, not one per model
    torch_dtype(options.get("dtype", "float32"))
    results = []
    for model in models:
        if on_model:
            on_model(str(model))
        try:
            result = validate(model, device=device, **options)
        except CnnCostError as exc:
            result = ModelResult(str(model), (), options.get("batch", 1), options.get("dtype", "float32"),
                                 device, (), (), 0.0, str(exc))
        results.append(result)
        if on_done:
            on_done(result)
    return ValidationRun(tuple(results), device, torch.__version__)


def validate_one(model: str | Path | Graph, *, device: str = "cpu", **options) -> ValidationRun:
    """One model as a run; unlike validate_many, an error in the model's file is raised."""
    result = validate(model, device=device, **options)
    return ValidationRun((result,), result.device, torch_version())


def require_torch():
    _torch()


def torch_version() -> str:
    return _torch().__version__
