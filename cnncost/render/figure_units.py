"""Units for pictures (graph labels, plot axes): IEC for memory, SI for counts.

The same system as the tables' (i25's cnncost/units.py: size() and count() give the same text); kept here
until that module is on main, then these become imports of it.
"""

from __future__ import annotations

BYTE_UNITS = (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024))
COUNT_UNITS = (("T", 10 ** 12), ("G", 10 ** 9), ("M", 10 ** 6), ("k", 10 ** 3))


def _significant(value: float, digits: int = 4) -> str:
    decimals = digits - 1 - sum(abs(value) >= bound for bound in (10, 100, 1000))
    return f"{value:,.{max(decimals, 0)}f}"


def size(nbytes) -> str:
    """'1.500 KiB', '97.66 MiB', '512 B'."""
    for unit, scale in BYTE_UNITS:
        if abs(nbytes) >= scale:
            return f"{_significant(nbytes / scale)} {unit}"
    return f"{int(nbytes):,} B"


def count(value) -> str:
    """'61.10M', '1.200G', '999'."""
    for unit, scale in COUNT_UNITS:
        if abs(value) >= scale:
            return f"{_significant(value / scale)}{unit}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def axis_unit(largest: float, kind: str) -> tuple[str, float]:
    """The unit an axis whose largest value is ``largest`` reads in, and its scale: ('M', 1e6), ('MiB', 2**20).
    kind: 'count' (SI) or 'bytes' (IEC)."""
    units = COUNT_UNITS if kind == "count" else BYTE_UNITS
    for unit, scale in units:
        if abs(largest) >= scale:
            return unit, scale
    return ("" if kind == "count" else "B"), 1
