"""Budgets: limits on a network's parameters, MACs, FLOPs and activation memory, for a CI gate.

    >>> from cnncost.budget import parse_count, parse_bytes
    >>> parse_count("5M", "--max-params"), parse_count("1.5k", "--max-macs")
    (5000000, 1500)
    >>> parse_bytes("64MiB", "--max-memory"), parse_bytes("64MB", "--max-memory")
    (67108864, 64000000)

Counts take k, M, G or T (powers of 1000). Sizes take B, KB, MB, GB, TB (powers
of 1000) or KiB, MiB, GiB, TiB (powers of 1024); a bare number is bytes. Case is
ignored, and ``_`` or ``,`` may group digits (``5_000_000``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import CnnCostError
from .report import Report

COUNT_UNITS = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "t": 10 ** 12}
BYTE_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
              "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
MAX_LIMIT = Decimal(10) ** 30
# digits grouped by _ anywhere or by , in threes (so that 1,5M is an error, not 15M), a fraction, an exponent
_AMOUNT = re.compile(r"^\s*(?P<number>(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9][0-9_]*)(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?"
                     r"|\.[0-9]+)\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)

# what each limit checks: (figure name in the report's totals, the words for it, whether it is bytes)
FIGURES = {
    "params": ("params", "params", False),
    "macs": ("macs", "MACs", False),
    "flops": ("flops", "FLOPs", False),
    "memory": ("memory_bytes", "activation memory", True),
    # --max-macs and --max-flops of a training step (--pass train): forward and backward
    "training_macs": ("training_macs", "training-step MACs (forward + backward)", False),
    "training_flops": ("training_flops", "training-step FLOPs (forward + backward)", False),
}
LIMITS = ("params", "macs", "flops", "memory")


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text):,} characters)"


def _parse(text: str, option: str, units: dict[str, int], example: str) -> int:
    if not isinstance(text, str):
        raise CnnCostError(f"{option} must be given as text such as {example}, got {text!r}")
    match = _AMOUNT.match(text)
    if match is None:
        if text.strip().startswith("-"):
            raise CnnCostError(f"{option} '{_short(text)}' is negative: a limit is 0 or more")
        raise CnnCostError(f"{option} '{_short(text)}' is not a number with an optional unit, e.g. {example}")
    unit = match["unit"].lower()
    if unit not in units:
        kind = "a size" if "b" in units else "a count"
        allowed = "B, KB, MB, GB, TB (x1000) or KiB, MiB, GiB, TiB (x1024)" if "b" in units else "k, M, G or T"
        raise CnnCostError(f"{option} '{_short(text)}': unknown unit '{match['unit']}' for {kind}; use {allowed}")
    try:
        number = Decimal(match["number"].replace("_", "").replace(",", ""))
        if number and number.adjusted() < -40:  # 1e-999999999 would round to 0: it is no whole number either
            raise CnnCostError(f"{option} '{_short(text)}' is not a whole number")
        value = number * units[unit]
    except InvalidOperation:
        raise CnnCostError(f"{option} '{_short(text)}' is not a number with an optional unit, e.g. {example}") from None
    if value > MAX_LIMIT:  # bounded work: 1e999999 would be a million-digit integer
        raise CnnCostError(f"{option} '{_short(text)}' is larger than any network's figure (at most 1e30)")
    if value != value.to_integral_value():
        shown = _short(f"{value.normalize():f}")
        unit_name = " bytes" if "b" in units else ""
        raise CnnCostError(f"{option} '{_short(text)}' is {shown}{unit_name}, not a whole number")
    return int(value)


def parse_count(text: str, option: str = "limit") -> int:
    """A count such as ``5M`` or ``600k`` (powers of 1000), as an integer."""
    return _parse(text, option, COUNT_UNITS, "5M or 600k")


def parse_bytes(text: str, option: str = "limit") -> int:
    """A size such as ``64MiB`` (powers of 1024) or ``64MB`` (powers of 1000), as bytes."""
    return _parse(text, option, BYTE_UNITS, "64MiB or 500MB")


@dataclass(frozen=True)
class Check:
    """One limit and how the report fares against it."""

    figure: str  # params, macs, flops or memory
    option: str  # the command-line option, --max-params
    value: int  # the report's figure
    limit: int
    limit_text: str  # as the user wrote it, 5M

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    @property
    def words(self) -> str:
        return FIGURES[self.figure][1]

    @property
    def unit(self) -> str:
        return " bytes" if FIGURES[self.figure][2] else ""

    def line(self, model: str) -> str:
        """One line: 'my_net.yaml: MACs: 700,000,000, over --max-macs 600M (600,000,000) by 16.7%'."""
        given = f"{self.option} {self.limit_text}"
        exact = f"{self.limit:,}{self.unit}"
        if exact.replace(",", "") != self.limit_text.replace(",", "").replace("_", ""):
            given += f" ({exact})"
        if self.ok:
            return f"{model}: {self.words}: {self.value:,}{self.unit}, within {given}"
        over = f"{(self.value - self.limit) / self.limit:.1%}" if self.limit else f"{self.value:,}{self.unit}"
        return f"{model}: {self.words}: {self.value:,}{self.unit}, over {given} by {over}"

    def to_dict(self) -> dict[str, Any]:
        return {"figure": self.figure, "option": self.option, "value": self.value, "limit": self.limit,
                "limit_text": self.limit_text, "ok": self.ok, "excess": max(0, self.value - self.limit)}


@dataclass(frozen=True)
class Budget:
    """A report checked against limits; ``ok`` when every figure is within its limit."""

    model: str  # as given: a zoo name, a file, or - for stdin
    report: Report
    checks: tuple  # of Check, in the order params, macs, flops, memory

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def exceeded(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of 'cnncost budget --format json' (docs/json.md)."""
        r = self.report
        return {"model": r.model, "file": self.model, "input": list(r.input), "batch": r.batch, "dtype": r.dtype,
                "convention": r.convention, "include_side": r.include_side, "ok": self.ok,
                "checks": [c.to_dict() for c in self.checks]}


def _training_figure(report: Report, figure: str) -> str:
    if report.totals.training_macs is None:
        from .training import NOT_COUNTED

        raise CnnCostError(f"--max-{figure} with --pass train: convention '{report.convention}' counts no "
                           f"backward ({NOT_COUNTED[report.convention]})",
                           hint="choose lecture, torchvision or flopcounter")
    return "training_" + figure


def check(report: Report, limits: dict[str, str], model: str | None = None) -> Budget:
    """Check a report against limits written as text: ``{"params": "5M", "memory": "64MiB"}``.

    Keys are params, macs, flops and memory (the activation memory of the
    report's batch and dtype, its totals' memory_bytes). At least one is needed.
    """
    if not isinstance(report, Report):
        raise CnnCostError(f"check needs a Report (from cnncost.analyze), got {type(report).__name__}")
    if not isinstance(limits, dict):
        raise CnnCostError(f"limits must be a mapping such as {{'params': '5M'}}, got {type(limits).__name__}")
    unknown = [k for k in limits if k not in LIMITS]
    if unknown:
        raise CnnCostError(f"unknown limit '{unknown[0]}'; choose from " + ", ".join(LIMITS))
    given = {k: v for k, v in limits.items() if v is not None}
    if not given:
        raise CnnCostError("give at least one limit: --max-params, --max-macs, --max-flops or --max-memory")
    checks = []
    for limit in LIMITS:
        if limit not in given:
            continue
        figure = limit
        if report.training and limit in ("macs", "flops"):  # a training step's: forward and backward
            figure = _training_figure(report, limit)
        attribute, _, is_bytes = FIGURES[figure]
        text = str(given[limit]) if isinstance(given[limit], int) and not isinstance(given[limit], bool) \
            else given[limit]
        option = f"--max-{limit}"
        amount = (parse_bytes if is_bytes else parse_count)(text, option)
        checks.append(Check(figure, option, getattr(report.totals, attribute), amount, text.strip()))
    return Budget(model if model is not None else report.model, report, tuple(checks))
