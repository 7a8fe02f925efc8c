"""How each layer kind runs at inference, for the roofline (latency.py): its FLOPs, and whether it moves data.

Each kind's record (kinds.py, ``latency``) names a rule of LATENCY_RULES; a name this table lacks is refused
when the kind is defined, since ``import cnncost`` imports this module (latency.py, the analysis, is imported
when first used).
"""

from __future__ import annotations

from .graph import Node
from .kinds import register_check


class LatencyRule:
    """How a kind runs at inference: ``flops(node, batch)``, whether it moves data, and on which units.

    A plain class, not a dataclass: every command imports them.
    """

    __slots__ = ("flops", "moves", "matrix", "text")

    def __init__(self, flops, text: str, *, moves: bool = True, matrix: bool = False):
        self.flops, self.text, self.moves, self.matrix = flops, text, moves, matrix


# The rules a kind's record names (kinds.py, ``latency``).
LATENCY_RULES: dict[str, LatencyRule] = {
    # a multiply and an add per MAC, and the bias; on the matrix units
    "matrix": LatencyRule(lambda node, n: 2 * node.macs * n + node.bias_adds * n, "2 x MACs + bias adds",
                          matrix=True),
    "free": LatencyRule(lambda node, n: 0, "a view, or skipped in eval: moves nothing", moves=False),
    "copy": LatencyRule(lambda node, n: 0, "a copy: no arithmetic, reads its input and writes its output"),
    "batchnorm": LatencyRule(lambda node, n: 2 * node.output_elements * n,
                             "a scale and a shift per element (running statistics)"),
    "norm": LatencyRule(lambda node, n: 5 * node.output_elements * n, "mean, variance, normalise, scale, shift"),
    "lrn": LatencyRule(lambda node, n: 2 * node.macs * n, "square and sum over the window, per element"),
    "softmax": LatencyRule(lambda node, n: 3 * node.output_elements * n, "exp, sum, divide"),
    "per_element": LatencyRule(lambda node, n: node.output_elements * n, "one operation per element"),
    "macs": LatencyRule(lambda node, n: node.macs * n, "one operation per MAC (pooling's window, add, mul)"),
}
_LATENCY: dict[str, LatencyRule] = {}  # by kind, resolved once


def _check(kind) -> None:
    if kind.latency not in LATENCY_RULES:
        raise ValueError(f"layer kind {kind.name}: latency_rules.py has no rule '{kind.latency}' "
                         f"(its rules: {', '.join(LATENCY_RULES)})")
    _LATENCY[kind.name] = LATENCY_RULES[kind.latency]


register_check("latency", _check)


def flops_of(node: Node, n: int) -> int:
    """The floating-point operations of one row at inference, for the batch."""
    return _LATENCY[node.kind].flops(node, n)
