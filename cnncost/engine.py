"""Views of a graph: its rows and totals under settings. Pure integer arithmetic, no numpy."""

from __future__ import annotations

from typing import NamedTuple

from . import conventions
from .errors import CnnCostError
from .graph import Graph, Node, counted
from .kinds import KINDS
from .report import LayerCost, Report, Settings, Totals, make_layer_cost

# kept importable from here: several callers know them as engine's
from .report import DTYPE_ALIASES, DTYPE_BYTES, dtype_bytes  # noqa: F401


def view(graph: Graph, settings: Settings | None = None) -> Report:
    """The graph's rows and totals under ``settings``; MACs, FLOPs and memory are for the whole batch."""
    settings = settings or Settings()
    n, nbytes = settings.batch, settings.element_bytes
    convention = conventions.get(settings.convention)
    # per kind, once: the rule's counting function (None counts 0) and whether it allocates memory
    per_kind = {name: (convention.rule(name).count, not kind.inplace) for name, kind in KINDS.items()}
    if settings.pass_ == "train":  # a kind whose forward the tool counts otherwise in training (training.py)
        from . import training

        for name, kind in KINDS.items():
            forward = training.training_forward(convention.name, kind)
            if forward is not None:
                per_kind[name] = (forward.count, per_kind[name][1])
    backward, frozen = _backward(graph, settings)
    rows = []
    for node in graph.nodes:
        count, allocates = per_kind[node.kind]
        macs = 0 if count is None else count(node, n)
        out = node.output_shape
        memory = 0
        if allocates:
            memory = n * nbytes
            for d in out:
                memory *= d
        grads = backward.get(node.name, _NO_BACKWARD)
        rows.append(make_layer_cost(node, macs, 2 * macs, memory, grads[0], grads[1], node.name in frozen))
    return Report(
        model=graph.name,
        input=graph.input_shape,
        batch=n,
        dtype=settings.dtype,
        convention=convention.name,
        layers=tuple(rows),
        totals=totals(rows, settings.include_side, convention, unused_params(graph, convention)),
        include_side=settings.include_side,
        description=graph.description,
        notes=tuple(graph.notes),
        graph=graph,
        settings=settings,
    )


_NO_BACKWARD = (None, None)


def _backward(graph: Graph, settings: Settings) -> tuple[dict, set]:
    """A training pass's backward MACs per node (training.py) and the frozen layers; nothing for a forward pass."""
    if settings.pass_ != "train":
        if settings.freeze:
            raise CnnCostError("freezing layers changes a training pass: give --pass train (pass_='train') "
                               "with --freeze")
        return {}, set()
    from . import training
    from .training import check_trainable

    check_trainable(graph, settings)  # PyTorch refuses to train a batch norm that sees one value per channel
    frozen = training.frozen_layers(graph, settings.freeze)
    return training.backward_macs(graph, settings.convention, settings.batch, frozen,
                                    settings.include_side) or {}, frozen


def unused_params(graph: Graph, convention: conventions.Convention) -> int:
    """The parameters of modules that forward never runs (Graph.unused_params), as the convention counts them:
    by the tools that count every parameter of the module (the ones that count idle side outputs)."""
    return sum(graph.unused_params.values()) if convention.unrun_params else 0


def totals(rows, include_side: bool, convention: conventions.Convention | None = None, unused: int = 0) -> Totals:
    """Sums over the rows that run; parameters as the convention counts them (conventions.counts_params), and
    ``unused`` more (unused_params)."""
    sums = Totals.of(counted(rows, include_side))
    if unused or (convention is not None and (convention.unregistered or convention.left_out_params or
                                              (convention.unrun_params and not include_side))):
        params = counted_params(rows, include_side, convention) + unused
        if params != sums.params:
            sums = Totals(params, sums.buffers, sums.macs, sums.flops, sums.memory_bytes, sums.backward_input_macs,
                          sums.backward_weight_macs)
    return sums


def counted_params(rows, include_side: bool, convention: conventions.Convention | None = None) -> int:
    """The parameters a convention counts: of the rows that run, of idle side outputs if it counts those,
    and none of a kind its tool has no rule for."""
    convention = convention or conventions.get(conventions.DEFAULT)
    counts = convention.counts_params
    return sum(r.params - convention.left_out(r.kind, r.args, r.input_shapes) for r in rows
               if counts(r.kind, r.call, r.side, include_side))


class Sums(NamedTuple):
    """A graph's totals for one sample under one convention, and its MACs per kind."""

    params: int  # as the convention counts them (counted_params), without unused_params
    macs: int  # per sample
    output_elements: int  # of the counted layers that allocate their output (activation memory / dtype size)
    kinds: dict  # kind -> [counted layers of it, their MACs per sample], in order of first appearance


def sums(nodes, convention: conventions.Convention, include_side: bool, batch: int = 1) -> Sums:
    """The totals of the nodes that count at ``batch`` (output elements per sample): what sweep scales to each
    point and explain compares across conventions. A convention's count is the batch times a per-sample count,
    plus, for a few kinds, a count once per forward (Swin V2's position-bias MLP), so sweep reads two batches
    (tests/test_sweep.py checks it against engine.view)."""
    macs = elements = 0
    kinds: dict[str, list[int]] = {}
    for node in counted(nodes, include_side):
        count = convention.rule(node.kind)(node, batch)
        macs += count
        found = kinds.get(node.kind)
        if found is None:
            kinds[node.kind] = [1, count]
        else:
            found[0] += 1
            found[1] += count
        if not KINDS[node.kind].inplace:
            elements += node.output_elements
    return Sums(counted_params(nodes, include_side, convention), macs, elements, kinds)


def group_by_depth(report: Report, depth: int) -> list[LayerCost]:
    """Subtotals: layers merged by the first ``depth`` parts of their names."""
    if not isinstance(report, Report):
        raise CnnCostError(f"group_by_depth needs a Report (from cnncost.analyze), got {type(report).__name__}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise CnnCostError(f"depth must be an integer of at least 1, got {depth!r}")
    groups: dict[str, list[LayerCost]] = {}
    for layer in report.layers:
        key = ".".join(layer.name.split(".")[:depth])
        groups.setdefault(key, []).append(layer)
    merged = []
    for key, members in groups.items():
        if len(members) == 1 and members[0].name == key:
            merged.append(members[0])
            continue
        sums = Totals.of(counted(members, report.include_side))
        # a subtotal's node: the block's name, first input and last output, the counted members' parameters
        block = Node(key, "block", {}, (), members[0].input_shapes, members[-1].output_shape,
                     all(m.side for m in members), params=sums.params, buffers=sums.buffers)
        merged.append(LayerCost(block, sums.macs, sums.flops, sums.memory_bytes, sums.backward_input_macs,
                                sums.backward_weight_macs, all(m.frozen for m in members)))
    return merged
