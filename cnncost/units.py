"""One unit system for every renderer: the tables, the HTML, the plots.

- Memory in IEC binary units: B, KiB, MiB, GiB, TiB (powers of 1024).
- Counts (params, MACs, FLOPs) in SI prefixes: k, M, G, T (powers of 1000).
- Times in s, ms, µs, ns.

Readable forms keep four significant digits (``97.66 MiB``, ``61.10M``, ``1.234 ms``), so rows that
differ are told apart; ``exact=True`` gives integers (bytes, counts) as ``--exact`` does. JSON and CSV
keep exact integers and never use this module.

    >>> size(1536), size(512), size(3 * 2 ** 30), size(1536, exact=True)
    ('1.500 KiB', '512 B', '3.000 GiB', '1,536 B')
    >>> count(61_100_840), count(999), count(61_100_840, exact=True)
    ('61.10M', '999', '61,100,840')
    >>> duration(0.0012345), duration(2.5e-5), duration(0)
    ('1.234 ms', '25.00 µs', '0 s')
    >>> scaled(1536, "KiB"), scaled(61_100_840, "M", 3)
    ('1.5', '61.101')
"""

from __future__ import annotations

BYTE_UNITS = (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024))
COUNT_UNITS = (("T", 10 ** 12), ("G", 10 ** 9), ("M", 10 ** 6), ("k", 10 ** 3))
TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))
SCALES = {**dict(BYTE_UNITS), **dict(COUNT_UNITS), "B": 1, "": 1}
DIGITS = 4  # significant digits of a readable figure


def _significant(value: float) -> str:
    """value to DIGITS significant digits, keeping trailing zeros so a column's figures line up."""
    magnitude = abs(value)
    decimals = DIGITS - 1
    for bound in (10, 100, 1000):
        if magnitude >= bound:
            decimals -= 1
    text = f"{value:,.{max(decimals, 0)}f}"
    return text


def size(nbytes: int | float | None, exact: bool = False) -> str:
    """Bytes in the largest IEC unit that is at least 1: '1.500 KiB', '97.66 MiB', '512 B'."""
    if nbytes is None:
        return "-"
    if exact:
        return f"{int(nbytes):,} B"
    for unit, scale in BYTE_UNITS:
        if abs(nbytes) >= scale:
            return f"{_significant(nbytes / scale)} {unit}"
    return f"{int(nbytes):,} B"


def count(value: int | float | None, exact: bool = False) -> str:
    """A count with an SI prefix: '61.10M', '1.200G', '999'."""
    if value is None:
        return "-"
    if exact or not isinstance(value, (int, float)):
        return f"{value:,}"
    for unit, scale in COUNT_UNITS:
        if abs(value) >= scale:
            return f"{_significant(value / scale)}{unit}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def duration(seconds: float | None, exact: bool = False) -> str:
    """A time in s, ms, µs or ns: '1.234 ms'; exact: seconds with every digit Python keeps."""
    if seconds is None:
        return "-"
    if exact:
        return f"{seconds!r} s"
    if not seconds:
        return "0 s"
    for unit, scale in TIME_UNITS:
        if abs(seconds) >= scale:
            return f"{_significant(seconds / scale)} {unit}"
    return f"{_significant(seconds / 1e-9)} ns"


def scaled(value: int | float, unit: str, decimals: int = 2) -> str:
    """value in one fixed unit, for a column whose header names it ('Memory (KiB)'): up to decimals
    places, commas, no trailing zeros; a small value that is not zero keeps its first significant digit."""
    value = value / SCALES[unit]
    if not value:
        return "0"
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.lstrip("-") == "0":
        while text.strip("-0.") == "" and decimals < 40:
            decimals += 1
            text = f"{value:.{decimals}f}"
        text = text.rstrip("0")
    return text
