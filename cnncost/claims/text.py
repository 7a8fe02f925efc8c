"""A claim's figures as written: in its printed unit, one digit finer than printed."""

from __future__ import annotations

from decimal import Decimal, localcontext

from .schema import UNITS, Claim


def scaled(value, unit: str):
    if isinstance(value, tuple):
        return value
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(value) / UNITS[unit]


def _suffix(unit: str) -> str:
    return f" {unit}" if unit.endswith("B") and len(unit) == 2 else unit


def format_scaled(value, unit: str, digits: int | None = None) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if digits is None:
        text = f"{value:,}" if value == value.to_integral_value() else f"{value.normalize():,f}"
    else:
        text = f"{value:,.{digits}f}"
    return text + _suffix(unit)


def computed_text_of(claim: Claim, computed) -> str:
    """The computed figure in the printed unit, one digit finer than printed (exact integers too)."""
    if isinstance(computed, tuple):
        return "x".join(map(str, computed))
    value = scaled(computed, claim.unit)
    p = claim.precision
    if p.mode == "decimals":
        digits = p.digits + 1
    elif p.mode == "significant":
        digits = max(0, p.digits - value.adjusted())
    elif p.mode == "exact" and value == value.to_integral_value():
        digits = 0
    else:
        digits = 3 if abs(value) < 10 else 2
    text = format_scaled(value, claim.unit, digits)
    integral = computed == computed.to_integral_value()
    if integral and UNITS[claim.unit] != 1 and claim.unit != "%":
        text = f"{int(computed):,} ({text})" if p.mode != "exact" else text
    return text
