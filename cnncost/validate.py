"""Check the analytic figures against PyTorch running the same network.

The graph is built as a torch module (torch_backend.py) and run forward once
on random input. Per row, torch's tensors and modules give the quantities
every counting rule reads (each kind's record in kinds.py says how they are
measured). Those are compared with the graph's, and then every convention's
rule is applied to torch's quantities and compared with that convention's
report row, paired by name. One forward pass serves every convention. What
is compared, and on what basis, is docs/validation.md. Results are plain
dataclasses; rendering is elsewhere.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from . import api, conventions
from .engine import view
from .errors import CnnCostError
from .graph import Graph, Node, Quantities
from .kinds import KINDS, Measure, register_check
from .report import Report, Settings, dtype_bytes

DEVICES = ("auto", "cpu", "cuda")
TOTAL = "total"  # the name of the pseudo-row that checks the totals


# --- results ---


@dataclass(frozen=True)
class Check:
    """One figure of one row: what cnncost computed and what torch showed."""

    figure: str  # shape, memory_bytes, params, buffers, raw macs, bias adds, window, "macs (ptflops)", ...
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
    layers: tuple[LayerResult, ...]  # one per graph node
    seconds: float
    error: str | None = None  # the model could not be built or run: a failure in itself
    include_side: bool = False
    totals: LayerResult | None = None  # the totals' checks, a pseudo-row named "total"

    @property
    def rows(self) -> tuple[LayerResult, ...]:
        """The layers, then the totals."""
        return self.layers + ((self.totals,) if self.totals is not None else ())

    @property
    def figures(self) -> int:
        return sum(len(l.checks) for l in self.rows)

    @property
    def mismatches(self) -> list[tuple[str, Check]]:
        return [(l.name, c) for l in self.rows for c in l.mismatches]

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


def _machine_bytes(device: str) -> int | None:
    """The memory torch can use on device: the GPU's, or this machine's RAM; None when unknown."""
    try:
        if device.startswith("cuda"):
            return _torch().cuda.get_device_properties(device).total_memory
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError, RuntimeError):
        return None


def refuse_what_cannot_fit(graph: Graph, settings: Settings, device: str, outputs_held: int = 1) -> None:
    """Refuse, before torch allocates it, a run that needs more memory than the device has: the weights and
    every layer's output, held ``outputs_held`` times over (a training pass keeps what backward needs)."""
    have = _machine_bytes(device)
    if have is None:
        return
    totals = view(graph, settings).totals
    _, element = dtype_bytes(settings.dtype)
    need = (totals.params + totals.buffers) * element + outputs_held * totals.memory_bytes
    if need > have:
        raise CnnCostError(
            f"running {graph.name} in torch needs about {need / 2**30:,.1f} GiB (its weights and every layer's "
            f"output), more than the {have / 2**30:,.1f} GiB of {device}",
            hint="validate at a smaller --input or --batch, or with --smallest-input")


def torch_dtype(name: str):
    dtype, _ = dtype_bytes(name)
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
class Seen:
    """What a forward hook saw for one node: what the kinds' Measure rules read."""

    module: Any
    input_shapes: list  # with the batch
    output_shape: tuple  # with the batch
    output_numel: int
    element_size: int
    flops: int  # counted by FlopCounterMode during this module's call
    params: int
    buffers: int

    @staticmethod
    def adaptive_extent(size: int, out: int) -> int:
        return adaptive_extent(size, out)


def adaptive_extent(size: int, out: int) -> int:
    """Total length of torch's adaptive-pooling windows along one axis, measured from torch itself.

    Pooling the rows of an identity matrix shows which input positions each
    output window reads: the non-zero entries.
    """
    torch = _torch()
    eye = torch.eye(size, dtype=torch.float64).unsqueeze(0)  # (1, size, size): row j is position j
    pooled = torch.nn.functional.adaptive_avg_pool1d(eye, out)  # (1, size, out)
    return int((pooled != 0).sum())


FLOP_COUNTER = "FlopCounterMode"


def _flop_counter_macs(seen: Seen) -> int:
    if seen.flops % 2:
        raise CnnCostError(f"FlopCounterMode counted an odd number of FLOPs ({seen.flops})")
    return seen.flops // 2


# What validation reads for a quantity that a kind's record does not say how to measure.
DEFAULT_MEASURES = {
    "macs": Measure(_flop_counter_macs, f"{FLOP_COUNTER} / 2 (bias excluded)"),
    "bias_adds": Measure(lambda s: 0, "0: torch's module for this kind adds no bias"),
    "window": Measure(lambda s: (), "(): this kind has no pooling window"),
}


@dataclass(frozen=True)
class Measured(Quantities):
    """One row's quantities as torch showed them, per sample: what a counting rule reads, torch's side."""

    kind: str
    call: str  # not measurable: how the reference implementation runs the row is the graph's to say
    input_shapes: tuple
    output_shape: tuple
    params: int
    buffers: int
    macs: int
    bias_adds: int
    window: tuple
    args: dict  # not measurable either: the row's own arguments (a softmax's dim), as the graph gives them


def measure(node: Node, seen: Seen, batch: int) -> tuple[Measured, dict[str, tuple[Any, str]]]:
    """Torch's quantities for one row, per sample, and the whole-batch readings with their bases."""
    record = KINDS[node.kind].measure
    readings = {}
    for quantity, default in DEFAULT_MEASURES.items():
        rule = record.get(quantity, default)
        readings[quantity] = (rule.read(seen), rule.basis)
    measured = Measured(
        node.kind, node.call, tuple(tuple(s[1:]) for s in seen.input_shapes), tuple(seen.output_shape[1:]),
        seen.params, seen.buffers, readings["macs"][0] // batch, readings["bias_adds"][0] // batch,
        tuple(readings["window"][0]), node.args)
    return measured, readings


def _run_torch(graph: Graph, batch: int, dtype, device: str, seed: int):
    """Build and run the network once; what each node's hook saw, by node name, and the network."""
    from torch.utils.flop_counter import FlopCounterMode

    from .torch_backend import build_module

    torch = _torch()
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(seed)
        net = build_module(graph)
        x = torch.randn(batch, *graph.input_shape, dtype=torch.float32)
    net = net.to(device=device, dtype=dtype).eval()
    x = x.to(device=device, dtype=dtype)

    seen: dict[str, Seen] = {}
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
            seen[name] = Seen(
                module=module,
                input_shapes=[tuple(a.shape) for a in args],
                output_shape=tuple(output.shape),
                output_numel=output.numel(),
                element_size=output.element_size(),
                flops=counter.get_total_flops(),
                params=sum(p.numel() for p in net.own(name)),
                # BN's num_batches_tracked is an integer counter, not a statistic
                buffers=sum(b.numel() for b in net.own(name, "buffers") if b.is_floating_point()),
            )

        return hook

    for name, _, _, module in net._steps:
        handles.append(module.register_forward_pre_hook(before(name)))
        handles.append(module.register_forward_hook(after(name)))
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
    return seen, net


class _ForwardFailed(Exception):
    pass


# --- the comparison ---


def _row_checks(node: Node, seen: Seen, rows: dict[str, Any], own: str, batch: int) -> tuple[list[Check], Measured]:
    """``rows``: this node's report row under each convention checked; ``own``: the one whose FLOPs are checked."""
    kind = KINDS[node.kind]
    row = rows[own]
    checks = [Check("shape", (batch, *node.output_shape), seen.output_shape, "output tensor")]
    numel_bytes = seen.output_numel * seen.element_size
    if kind.inplace:
        # cnncost counts no new memory; torch must show an output that could overwrite its input
        same = seen.output_shape == seen.input_shapes[0]
        checks.append(Check("memory_bytes", row.memory_bytes, 0 if same else numel_bytes,
                            "0: in place (output has its input's shape)" if same
                            else "output numel x element size (its shape differs from its input's)"))
    else:
        checks.append(Check("memory_bytes", row.memory_bytes, numel_bytes, "output numel x element size"))
    checks.append(Check("params", node.params, seen.params, "numel of the module's parameters"))
    checks.append(Check("buffers", node.buffers, seen.buffers, "numel of the module's float buffers"))
    measured, readings = measure(node, seen, batch)
    checks.append(Check("raw macs", node.macs * batch, *readings["macs"]))
    checks.append(Check("bias adds", node.bias_adds * batch, *readings["bias_adds"]))
    if node.window or readings["window"][0]:
        checks.append(Check("window", node.window, tuple(readings["window"][0]), readings["window"][1]))
    expected = {}
    for name, conv_row in rows.items():
        rule = conventions.get(name).rule(node.kind)
        expected[name] = rule(measured, batch)
        checks.append(Check(f"macs ({name})", conv_row.macs, expected[name], f"{name} rule: {rule.text}"))
    checks.append(Check(f"flops ({own})", rows[own].flops, 2 * expected[own],
                        f"2 x the {own} rule on torch's quantities"))
    return checks, measured


def _total_checks(graph: Graph, reports: dict[str, Report], measured: dict[str, Measured], net, settings: Settings,
                  batch: int) -> list[Check]:
    """The totals: parameters from torch's whole network, MACs summed over torch's rows."""
    include_side = settings.include_side
    counted = [n for n in graph.nodes if include_side or not n.side]
    checks = []
    for name, report in reports.items():
        convention = conventions.get(name)
        whole = include_side or convention.unrun_params
        if whole and not convention.unregistered and not convention.left_out_params:
            params, basis = sum(p.numel() for p in net.parameters()), "numel of every parameter of the network"
        else:
            chosen = [n for n in (graph.nodes if whole else counted) if not convention.is_unregistered(n.kind, n.call)]
            params = sum(p.numel() for n in chosen for p in net.own(n.name))
            params -= sum(convention.left_out(n.kind, n.args, n.input_shapes) for n in chosen)
            basis = ("numel of the parameters of the modules" + ("" if whole else " that run (side outputs left out)")
                     + (f", but for kinds {name} has no rule for" if convention.unregistered else "")
                     + (", less what it leaves out of a row (left_out_params)" if convention.left_out_params
                        else ""))
        checks.append(Check(f"params ({name})", report.totals.params, params, basis))
        macs = sum(convention.rule(n.kind)(measured[n.name], batch) for n in counted)
        checks.append(Check(f"macs ({name})", report.totals.macs, macs,
                            f"the {name} rule summed over torch's rows"
                            + ("" if include_side else " (no side outputs)")))
    return checks


def validate_graph(
    graph: Graph,
    settings: Settings | None = None,
    *,
    device: str = "cpu",
    convention_names: Iterable[str] | None = None,
    seed: int = 0,
) -> ModelResult:
    """Run ``graph`` in torch once and compare every row, under every convention, with what torch showed."""
    start = time.perf_counter()
    settings = settings or Settings()
    names = tuple(conventions.get(c).name for c in convention_names) if convention_names else tuple(
        conventions.CONVENTIONS)
    own = settings.convention if settings.convention in names else names[0]
    base = view(graph, settings)
    reports = {c: base if c == base.convention else base.under(c) for c in names}
    rows = {c: {r.name: r for r in report.layers} for c, report in reports.items()}
    tdtype = torch_dtype(settings.dtype)
    device = resolve_device(device)
    batch = settings.batch
    refuse_what_cannot_fit(graph, settings, device)

    def result(layers, error=None, totals=None):
        return ModelResult(graph.name, tuple(graph.input_shape), batch, settings.dtype, device, names,
                           tuple(layers), time.perf_counter() - start, error, settings.include_side, totals)

    try:
        seen, net = _run_torch(graph, batch, tdtype, device, seed)
    except _ForwardFailed as exc:
        return result([], str(exc))
    layers: list[LayerResult] = []
    measured: dict[str, Measured] = {}
    for node in graph.nodes:
        if node.name not in seen:
            return result(layers, f"layer '{node.name}' was never run by torch")
        checks, measured[node.name] = _row_checks(node, seen[node.name], {c: rows[c][node.name] for c in names},
                                                  own, batch)
        layers.append(LayerResult(node.name, node.kind, node.side, tuple(checks)))
    totals = LayerResult(TOTAL, "totals", False, tuple(_total_checks(graph, reports, measured, net, settings, batch)))
    return result(layers, totals=totals)


# --- memory (validate --memory) ---


def _storage_key(t) -> int:
    return t.untyped_storage().data_ptr()


def _measure_saved(graph: Graph, net, x, include_side: bool) -> dict[str, dict[int, int]]:
    """Per node, the storages autograd saves during its forward that no earlier node saved: {ptr: bytes}.

    A training forward pass under ``saved_tensors_hooks``; parameters and buffers are left out.
    """
    torch = _torch()
    excluded = {_storage_key(t) for t in (*net.parameters(), *net.buffers())}
    current: list[str] = []
    first: dict[str, dict[int, int]] = {n.name: {} for n in graph.nodes}
    seen: set[int] = set()

    def pack(t):
        key = _storage_key(t)
        if key not in excluded and key not in seen:
            seen.add(key)
            first[current[-1]][key] = t.untyped_storage().nbytes()
        return t

    def leave(module, args, output):
        current.pop()  # and return None: a forward hook's result would replace the output

    handles = []
    for name, _, _, module in net._steps:
        handles.append(module.register_forward_pre_hook(lambda m, a, name=name: current.append(name)))
        handles.append(module.register_forward_hook(leave))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            outputs = net.run(x, include_side)  # kept until the end, and the saved tensors with them
    finally:
        for handle in handles:
            handle.remove()
    del outputs
    return first


def _measure_live(graph: Graph, net, make_input, include_side: bool) -> dict[str, int]:
    """Per node, the bytes of live tensor storages just after it ran, in an eval forward pass.

    Lifetimes are torch's own: each output's storage is watched through weak references to the tensors
    that use it (views and in-place results share one), so a storage counts while any of them is alive.
    """
    import weakref

    torch = _torch()
    storages: dict[int, tuple[int, list]] = {}  # ptr -> (bytes, weak references to tensors using it)

    def watch(t):
        key = _storage_key(t)
        entry = storages.get(key)
        if entry is None or not any(ref() is not None for ref in entry[1]):  # new, or an old address reused
            entry = storages[key] = (t.untyped_storage().nbytes(), [])
        entry[1].append(weakref.ref(t))

    def live() -> int:
        return sum(nbytes for nbytes, refs in storages.values() if any(ref() is not None for ref in refs))

    during: dict[str, int] = {}
    handles = []
    for name, _, _, module in net._steps:
        def after(module, args, output, name=name):
            watch(output)
            during[name] = live()

        handles.append(module.register_forward_hook(after))
    def watched_input():
        x = make_input()
        watch(x)
        return x  # held by the run alone, which frees it after its last reader

    try:
        with torch.no_grad():
            net.run(watched_input(), include_side)
    finally:
        for handle in handles:
            handle.remove()
    return during


def validate_memory_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu",
                          seed: int = 0) -> ModelResult:
    """Memory against torch: per row, what autograd saves in a training forward pass, and the live
    activations of an eval pass with in-place activations; then the totals and the peak."""
    from . import memory
    from .torch_backend import build_module

    start = time.perf_counter()
    settings = settings or Settings()
    torch = _torch()
    tdtype = torch_dtype(settings.dtype)
    device = resolve_device(device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    batch, include_side = settings.batch, settings.include_side
    analytic = memory.analyze_memory(graph, settings, device_kind=kind)  # refuses what PyTorch cannot train
    refuse_what_cannot_fit(graph, settings, device, outputs_held=3)  # outputs, saved tensors, gradients
    expected_saved = memory.saved_storages(graph, settings, kind)[0]
    expected_live = memory.live_activations(graph, settings)

    def result(layers, error=None, totals=None):
        return ModelResult(graph.name, tuple(graph.input_shape), batch, settings.dtype, device, (), tuple(layers),
                           time.perf_counter() - start, error, include_side, totals)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_module(graph)
        x = torch.randn(batch, *graph.input_shape, dtype=torch.float32)
    net = net.to(device=device, dtype=tdtype)
    try:
        saved = _measure_saved(graph, net.train(), x.to(device=device, dtype=tdtype), include_side)
        for name in memory.inplace_nodes(graph, include_side):
            # torch types Module attributes as Tensor | Module; an activation's inplace is a bool
            net.layer(name).inplace = True  # type: ignore[assignment]
        live = _measure_live(graph, net.eval(), lambda: x.to(device=device, dtype=tdtype, copy=True), include_side)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return result([], f"torch failed: {message}")
    layers = []
    for node in graph.nodes:
        if node.side and not include_side:
            continue
        measured = sum(saved[node.name].values())
        layers.append(LayerResult(node.name, node.kind, node.side, (
            Check("saved_bytes", sum(expected_saved[node.name].values()), measured,
                  "storages autograd saved during this layer's forward and no earlier layer saved (train mode)"),
            Check("live_bytes", expected_live[node.name], live.get(node.name),
                  "live activation storages after this layer ran (eval, in-place activations, weak references)"),
        )))
    totals = LayerResult(TOTAL, "totals", False, (
        Check("saved_activation_bytes", analytic.saved_activation_bytes,
              sum(sum(s.values()) for s in saved.values()), "every storage autograd saved, once"),
        Check("peak_activation_bytes", max(expected_live.values()), max(live.values()),
              "the most live activation bytes after any layer ran (eval)"),
    ))
    return result(layers, totals=totals)


# --- receptive fields (validate --rf) ---


def _linearised(node: Node):
    """A module for the gradient check: every path positive and linear, so no gradient cancels or vanishes.

    Activations and other element-wise maps become the identity, max pooling an all-ones window of the
    same geometry, reflect and replicate padding zero padding, group norm x + its mean over positions
    (which keeps its global reach): each kind's record names its stand-in (STAND_INS). Convs and linears
    get constant positive weights scaled to keep values near 1; batch norm the identity scale.
    """
    stand_in = KINDS[node.kind].rf_stand_in
    return None if stand_in is None else STAND_INS[stand_in](node)


def _zero_pad(node: Node):
    from . import torch_backend as t

    top, bottom, left, right = node.args["padding"]  # a field is in padded coordinates, whatever fills the border
    return t.nn.ZeroPad2d((left, right, top, bottom))


def _position_mean(node: Node):
    from . import torch_backend as t

    return t.op("PositionMean", lambda m, x: x + x.mean(dim=(2, 3), keepdim=True))


def _identity(node: Node):
    from . import torch_backend as t

    return t.nn.Identity()


def _ones_window(node: Node):
    """A pooling row as a depthwise conv of ones with its kernel, stride, padding, dilation and ceil mode."""
    from . import torch_backend as t

    from .kinds import pool_pads

    a = node.args
    (kh, kw), (dh, dw) = a["kernel"], a.get("dilation", (1, 1))
    top, bottom, left, right = pool_pads(a)
    sh, sw = a["stride"] or a["kernel"]
    c, h, w = node.input_shapes[0]
    _, oh, ow = node.output_shape

    def extra(size, out, k, s, before, after, d):  # ceil mode's overhanging last window reads zeros past the edge
        return max(0, (out - 1) * s + d * (k - 1) + 1 - (size + before + after))

    pad = (left, right + extra(w, ow, kw, sw, left, right, dw), top, bottom + extra(h, oh, kh, sh, top, bottom, dh))

    def forward(m, x):
        ones = x.new_ones(c, 1, kh, kw)
        y = t.F.conv2d(t.F.pad(x, pad), ones, stride=(sh, sw), dilation=(dh, dw), groups=c)
        return y[:, :, :oh, :ow]

    return t.op("OnesWindow", forward)


def _partition_sum(node: Node):
    """MaxViT's partition attention (kinds_maxvit.py): each unit becomes the sum of its group, its P x P window or
    its P x P grid spread H/P and W/P apart: every unit of a group reads every other, as attention does (the
    layer norms, summed over the channels, would cancel the gradient the check follows)."""
    from . import torch_backend as t

    p, grid = node.args["size"], node.args["partition"] == "grid"

    def forward(m, x):
        n, c, h, w = x.shape
        if grid:  # token (i, j) of a group is pixel (i H/P + y, j W/P + x)
            shape, summed = (n, c, p, h // p, p, w // p), (2, 4)
        else:
            shape, summed = (n, c, h // p, p, w // p, p), (3, 5)
        return x.reshape(shape).sum(dim=summed, keepdim=True).expand(shape).reshape(n, c, h, w)

    return t.op("PartitionSum", forward)


# The linear stand-ins a kind's record may name (kinds.py, ``rf_stand_in``); None builds the kind itself.
STAND_INS: dict[str, Callable] = {
    "identity": _identity,  # element-wise maps, and norms whose statistics do not move the field
    "ones_window": _ones_window,  # pooling, as a window of ones with its geometry
    "zero_pad": _zero_pad,
    "position_mean": _position_mean,  # x + its mean over positions: group norm's global reach
    "partition_sum": _partition_sum,  # each unit the sum of its attention group
}


def _check(kind) -> None:
    if kind.rf_stand_in is not None and kind.rf_stand_in not in STAND_INS:
        raise ValueError(f"layer kind {kind.name}: validate.py has no stand-in '{kind.rf_stand_in}' "
                         f"(its stand-ins: {', '.join(STAND_INS)})")


register_check("validation", _check)


def _constant_weights(net):
    torch = _torch()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                module.weight.fill_(1.0 / (module.weight[0].numel()))
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()  # weight 1, bias 0, running mean 0, running variance 1


def _probes(graph: Graph, fields: dict) -> list[Node]:
    """The last layer of each resolution along the main chain (each stage's output; the last is the last
    feature map), and every global field after them; only layers that have a field (none after tokens)."""
    chosen: dict[tuple, Node] = {}
    for node in graph.nodes:
        if not node.side and len(node.output_shape) == 3 and fields[node.name] is not None:
            chosen[node.output_shape[1:]] = node
    return sorted(chosen.values(), key=graph.nodes.index)


def _support(grad) -> tuple | None:
    """The first and last row and column where the input's gradient is non-zero, or None."""
    torch = _torch()
    mass = grad.abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(mass.sum(dim=1)).flatten(), torch.nonzero(mass.sum(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


@dataclass(frozen=True)
class FieldCheck(Check):
    """A field against the gradient's support. Where the field reaches past the image, the support stops at
    the edge or, with dilation, at the first tap that lands inside: there the support must lie within."""

    clipped: tuple = ()  # per axis: (first clipped, last clipped)
    bound: bool = False  # the field bounds the unit's (after upsampling): the support must lie within

    @property
    def ok(self) -> bool:
        if self.bound and self.torch is None:
            return True  # a bound holds for a unit that reads only padding
        if self.cnncost is None or self.torch is None:
            return self.cnncost == self.torch
        for (first, last), (got_first, got_last), (cut_first, cut_last) in zip(self.cnncost, self.torch, self.clipped):
            if not (first <= got_first and got_last <= last):
                return False
            if self.bound:
                continue
            if (got_first != first and not cut_first) or (got_last != last and not cut_last):
                return False
        return True


def _expected(field, unit: tuple, size: tuple) -> tuple:
    """The field of one unit, clipped to the image, and which ends were clipped."""
    spans, clipped = [], []
    for axis, i, n in zip(field.axes(), unit, size):
        first = i * axis.stride - axis.padding
        last = first + axis.size - 1
        first, last = math.ceil(first), math.floor(last)  # a bound's fractional ends, to whole pixels
        clipped.append((first < 0, last > n - 1))
        first, last = max(0, first), min(n - 1, last)
        if first > last:
            return None, ()
        spans.append((first, last))
    return tuple(spans), tuple(clipped)


def validate_rf_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu") -> ModelResult:
    """Receptive fields against torch: in a linearised network (float32, batch 1), the support of the
    input's gradient for one unit of a layer, summed over its channels, is that unit's field."""
    from . import rf
    from .torch_backend import build_module

    start = time.perf_counter()
    settings = settings or Settings()
    torch = _torch()
    device = resolve_device(device)

    def result(layers, error=None):
        return ModelResult(graph.name, tuple(graph.input_shape), 1, "float32", device, (), tuple(layers),
                           time.perf_counter() - start, error)

    if len(graph.input_shape) != 3:
        return result([], "receptive fields need a CxHxW feature-map input (rf.py follows 2-D maps; a CxTxHxW "
                          "video clip gives no field)")
    fields = {row.name: row.field for row in rf.receptive_fields(graph)}
    refuse_what_cannot_fit(graph, Settings(), device, outputs_held=3)  # every output kept, and its gradient
    net = build_module(graph, _linearised).to(device=device).eval()
    _constant_weights(net)
    x = torch.ones(1, *graph.input_shape, device=device, requires_grad=True)
    try:
        outputs = net.run_all(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return result([], f"torch failed: {str(exc).strip().splitlines()[0]}")
    size = graph.input_shape[1:]
    after_pad: set[str] = set()  # layers at or after a pad layer
    for node in graph.nodes:
        if node.kind == "pad" or any(i in after_pad for i in node.inputs):
            after_pad.add(node.name)
    layers = []
    for node in _probes(graph, fields):
        field, (_, h, w) = fields[node.name], node.output_shape
        assert field is not None  # _probes picks layers that have a field
        if not field.uniform and not field.bound:
            continue  # irregular adaptive windows: no one field size to check
        units = [(0, 0)] + ([(h // 2, w // 2)] if field.aligned and (h, w) != (1, 1) else [])
        if node.name in after_pad:
            # unit 0 may lie in a pad layer's border, whose constant reads no pixel, while the field (in padded
            # coordinates) clips to the image's edge: the centre is inside
            units = [(h // 2, w // 2)]
        checks = []
        for unit in units:
            grad, = torch.autograd.grad(outputs[node.name][0, :, unit[0], unit[1]].sum(), x, retain_graph=True)
            expected, clipped = _expected(field, unit, size)
            checks.append(FieldCheck(f"rf at {unit[0]},{unit[1]}", expected, _support(grad),
                                     "rows and columns of the input where the gradient of this unit (all channels) is "
                                     "non-zero, in the linearised network (within the field where it reaches past "
                                     "the image)" + ("; the field is a bound, which the support must lie within"
                                                     if field.bound else ""), clipped, field.bound))
        layers.append(LayerResult(node.name, node.kind, node.side, tuple(checks)))
    return result(layers)


# --- latency (validate --latency) ---


@dataclass(frozen=True)
class LayerTiming:
    name: str
    kind: str
    predicted_s: float
    measured_s: float

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s else None


@dataclass(frozen=True)
class LatencyResult:
    model: str
    input: tuple
    batch: int
    dtype: str
    device: str  # where torch ran
    profile: str  # the device the roofline predicted for
    predicted_s: float
    measured_s: float  # the median of whole forward passes
    layers: tuple  # of LayerTiming
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s else None

    @property
    def ok(self) -> bool:
        return self.error is None


def _median(values) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def validate_latency_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu", profile=None,
                           runs: int = 5) -> LatencyResult:
    """Roofline time against torch's: the median of ``runs`` timed forward passes (eval, no gradients, after
    two warm-up passes), and per layer the median time between its forward hooks over ``runs`` more."""
    from . import devices, latency
    from .torch_backend import build_module

    settings = settings or Settings()
    torch = _torch()
    tdtype = torch_dtype(settings.dtype)
    device = resolve_device(device)
    profile = profile or devices.get(devices.LOCAL, devices.table())
    predicted = latency.roofline(graph, settings, profile)
    refuse_what_cannot_fit(graph, settings, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_module(graph).to(device=device, dtype=tdtype).eval()
        x = torch.randn(settings.batch, *graph.input_shape, dtype=tdtype, device=device)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            net.run(x, settings.include_side)
        sync()

    def result(layers=(), measured=0.0, error=None):
        return LatencyResult(graph.name, tuple(graph.input_shape), settings.batch, settings.dtype, device,
                             profile.key, predicted.time_s, measured, tuple(layers), error)

    try:
        for _ in range(2):
            forward()
        whole = []
        for _ in range(runs):
            start = time.perf_counter()
            forward()
            whole.append(time.perf_counter() - start)
        spent: dict[str, list[float]] = {}
        started: dict[str, float] = {}
        handles = []
        for name, _, _, module in net._steps:
            def before(m, a, name=name):
                sync()
                started[name] = time.perf_counter()

            def after(m, a, o, name=name):
                sync()
                spent.setdefault(name, []).append(time.perf_counter() - started[name])

            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        try:
            for _ in range(runs):
                forward()
        finally:
            for handle in handles:
                handle.remove()
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return result(error=f"torch failed: {str(exc).strip().splitlines()[0]}")
    layers = [LayerTiming(r.name, r.kind, r.time_s, _median(spent[r.name])) for r in predicted.layers
              if r.name in spent]
    return result(layers, _median(whole))


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation, ties given their mean rank."""
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        rank = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                rank[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return rank

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else float("nan")


def validate(model: str | Path | Graph, settings: Settings | None = None, *, memory: bool = False,
             rf: bool = False, **options) -> ModelResult:
    """Validate a zoo name, a YAML file or a Graph (options as for validate_graph); ``memory``: its
    training and inference memory instead (validate_memory_graph); ``rf``: its receptive fields."""
    settings = settings or Settings()
    graph = api.load(model, settings)
    if memory or rf:
        options.pop("convention_names", None)
        options.pop("seed", None) if rf else None
        return (validate_rf_graph if rf else validate_memory_graph)(graph, settings, **options)
    return validate_graph(graph, settings, **options)


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
    torch = _torch()
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
    return ValidationRun(tuple(results), device, torch.__version__)


def validate_one(model: str | Path | Graph, settings: Settings | None = None, *, device: str = "cpu",
                 **options) -> ValidationRun:
    """One model as a run; unlike validate_many, an error in the model's file is raised."""
    result = validate(model, settings, device=device, **options)
    return ValidationRun((result,), result.device, torch_version())


def require_torch():
    _torch()


def torch_version() -> str:
    return _torch().__version__
