"""The figures against torch: the graph built as a torch module (torch_backend.py) and run forward once.

Per row, torch's tensors and modules give the quantities every counting rule reads (each kind's record in
kinds.py says how they are measured). Those are compared with the graph's, and then every convention's rule is
applied to torch's quantities and compared with that convention's report row, paired by name. One forward
pass serves every convention. What is compared, and on what basis, is docs/validation.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

from .. import conventions
from ..engine import view
from ..errors import CnnCostError
from ..graph import Graph, Node, Quantities
from ..kinds import KINDS, Measure
from ..report import Report, Settings
from .base import _torch, refuse_what_cannot_fit, register, resolve_device, torch_dtype
from .results import TOTAL, Check, LayerResult, ModelResult


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

    from ..torch_backend import build_module

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
    counted = graph.counted(include_side)
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


@register("figures", ("convention_names", "seed"))
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
