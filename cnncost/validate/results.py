"""What a torch check returns: per row, each figure as cnncost computed it and as torch showed it.

Plain dataclasses, without torch; render/validation.py writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOTAL = "total"  # the name of the pseudo-row that checks the totals


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
