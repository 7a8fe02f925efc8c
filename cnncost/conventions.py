"""Named counting conventions: which work counts as MACs, and which outputs as memory.

docs/conventions.md states each in full; the one-line summaries here are
printed under every table so no figure is ever read without its rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CnnCostError, did_you_mean


@dataclass(frozen=True)
class Convention:
    name: str
    counted: frozenset  # kind categories whose MACs count (see kinds.py)
    summary: str


CONVENTIONS = {
    c.name: c
    for c in (
        Convention(
            "lecture",
            frozenset({"conv", "linear", "pool"}),
            "MACs: conv Cout*H'*W'*(Cin/groups)*Kh*Kw, linear in*out, pooling C*H'*W'*Kh*Kw; "
            "bias, norms, activations and element-wise ops count 0. FLOPs = 2*MACs. "
            "Memory: each layer's output, except in-place ones (activations, dropout, batch norm). "
            "KB = 1024 bytes.",
        ),
        Convention(
            "torchvision",
            frozenset({"conv", "linear"}),
            "MACs: conv and linear only, bias excluded (torchvision's published GFLOPS are these MACs). "
            "FLOPs = 2*MACs. Memory as in the lecture convention.",
        ),
    )
}
DEFAULT = "lecture"


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise CnnCostError(
            f"unknown convention '{name}'",
            hint=did_you_mean(name, CONVENTIONS) or "choose from " + ", ".join(CONVENTIONS),
        ) from None
