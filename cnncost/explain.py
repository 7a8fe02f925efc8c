"""Why the counting tools disagree: every convention's totals for one graph, and per kind what each adds.

Every convention is a table of rules over the same graph (conventions.py), so
the difference between two totals is a sum, per layer kind, of the
difference between two rules. This module computes those sums against the
``torchvision`` figure (conv and linear MACs, bias excluded, which every
tool counts the same way). Plain data; render/explain.py makes text of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .results import Result
from . import conventions, training
from .engine import counted_params, sums, unused_params
from .graph import Graph
from .kinds import KINDS
from .report import Settings


@dataclass(frozen=True)
class KindDifference:
    """What one convention counts for one layer kind, next to the baseline convention."""

    kind: str
    rows: int  # rows of this kind that the totals count
    macs: int  # this convention's MACs for them
    baseline_macs: int  # the baseline's
    rule: str  # this convention's rule, in words

    @property
    def delta(self) -> int:
        return self.macs - self.baseline_macs


@dataclass(frozen=True)
class ConventionTotals:
    convention: str
    reproduces: str
    figure: str
    params: int
    macs: int
    differences: tuple  # of KindDifference where the MACs differ from the baseline's, largest first
    side_params: int = 0  # parameters of side outputs that do not run, counted by this convention
    uncounted_params: int = 0  # parameters of kinds this convention's tool has no rule for, left out

    @property
    def flops(self) -> int:
        return 2 * self.macs


@dataclass(frozen=True)
class KindBackward:
    """A training step's backward for one layer kind under one convention (--pass train)."""

    convention: str
    kind: str
    rows: int
    input_grad_macs: int
    weight_grad_macs: int
    input_rule: str
    weight_rule: str


@dataclass(frozen=True, repr=False)  # the repr is one line (results.Result)
class Explanation(Result):
    model: str
    input: tuple
    batch: int
    include_side: bool
    baseline: str
    conventions: tuple  # of ConventionTotals, in the registry's order
    backward: tuple | None = None  # of KindBackward (--pass train): kinds with backward work, by convention
    backward_not_counted: dict | None = None  # convention -> why its tool counts no backward

    def of(self, name: str) -> ConventionTotals:
        return next(c for c in self.conventions if c.convention == name)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input": list(self.input),
            "batch": self.batch,
            "include_side": self.include_side,
            "baseline": self.baseline,
            "conventions": [
                {**{k: v for k, v in asdict(c).items() if k != "differences"}, "flops": c.flops,
                 "vs_baseline": c.macs - self.of(self.baseline).macs,
                 "differences": [{**asdict(d), "delta": d.delta} for d in c.differences]}
                for c in self.conventions
            ],
            **({} if self.backward is None else {
                "backward": [asdict(b) for b in self.backward], "backward_not_counted": self.backward_not_counted}),
        }


def explain(graph: Graph, settings: Settings | None = None) -> Explanation:
    """Every convention's totals for ``graph`` under ``settings``, and what each counts beyond the baseline."""
    settings = settings or Settings()
    n = settings.batch
    counted = graph.counted(settings.include_side)
    baseline = conventions.get(conventions.BASELINE)
    base = sums(graph.nodes, baseline, settings.include_side, n).kinds  # per kind: [rows, MACs at the batch]
    results = []
    for convention in conventions.CONVENTIONS.values():
        totals = sums(graph.nodes, convention, settings.include_side, n)
        differences = [KindDifference(kind, rows, macs, base[kind][1], convention.rule(kind).text)
                       for kind, (rows, macs) in totals.kinds.items() if macs != base[kind][1]]
        differences.sort(key=lambda d: -abs(d.delta))
        params, total = totals.params, totals.macs
        side_params = params - counted_params(counted, settings.include_side, convention)
        params += unused_params(graph, convention)
        uncounted = sum(node.params if convention.is_unregistered(node.kind, node.call)
                        else convention.left_out(node.kind, node.args, node.input_shapes) for node in counted)
        results.append(ConventionTotals(convention.name, convention.reproduces, convention.figure, params, total,
                                        tuple(differences), side_params, uncounted))
    backward = _backward(graph, settings, counted) if settings.pass_ == "train" else None
    return Explanation(graph.name, tuple(graph.input_shape), n, settings.include_side, baseline.name,
                       tuple(results), backward, dict(training.NOT_COUNTED) if backward is not None else None)


def _backward(graph: Graph, settings: Settings, counted) -> tuple:
    """Per convention that counts a backward pass, per kind: both gradients' MACs and the rules."""
    from .training import check_trainable

    check_trainable(graph, settings)
    frozen = training.frozen_layers(graph, settings.freeze)
    rows = []
    for name in training.BACKWARD:
        per_node = training.backward_macs(graph, name, settings.batch, frozen, settings.include_side)
        assert per_node is not None  # a convention of BACKWARD counts a backward
        by_kind: dict[str, list] = {}
        for node in counted:
            by_kind.setdefault(node.kind, []).append(per_node[node.name])
        for kind, pairs in by_kind.items():
            grads = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
            if any(grads):
                rule = training.rules_for(name, KINDS[kind])
                rows.append(KindBackward(name, kind, len(pairs), *grads, rule.input_grad.text, rule.weight_grad.text))
    return tuple(rows)
