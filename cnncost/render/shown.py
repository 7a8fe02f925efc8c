"""What every renderer gives the format writers (formats.py): a result's tables as Sections, its notes, its
JSON value and CSV records, through one Shown subclass per kind of result. The renderers import this
module, and formats.py names them in its SHOWN table, so neither imports the other's dispatch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


@dataclass
class Section:
    """One table of a result: its headers, rows (strings as shown) and optional bold totals row, with how a
    terminal draws it: right-aligned columns, wrapping columns (narrowest width), two-line headers, the columns
    left out in this order where the terminal is too narrow, and the notes drawn under it."""

    title: str | None
    headers: Sequence[str]
    rows: list[list[str]]
    right: Iterable[str] = ()
    total: list[str] | None = None
    styles: list[str | None] | None = None  # per row: "dim", "bold", "bold red" or None
    wrap: dict[str, int] = field(default_factory=dict)
    stacked: dict[str, str] = field(default_factory=dict)
    drop: Sequence[str] = ()
    notes: list[str] = field(default_factory=list)


class Shown:
    """A result as it is shown. Subclasses give sections(), notes(), data() and records() from the result;
    the options (width, color, exact and a command's own) are the caller's."""

    formats: tuple[str, ...] | None = None  # the formats this result offers; None: every registered one

    def __init__(self, result: Any, *, width: int | None = None, color: bool = False, exact: bool = False,
                 **options: Any):
        self.result = result
        self.width = width
        self.color = color
        self.exact = exact
        self.options = options

    def sections(self) -> list[Section]:
        return []

    def notes(self) -> list[str]:
        """Lines under every table."""
        return []

    def data(self) -> Any:
        """The JSON value (an object gets schema_version as its first key)."""
        raise NotImplementedError(type(self).__name__ + ".data")

    def records(self) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
        """The CSV header and rows: exact figures, not the shown strings."""
        raise NotImplementedError(type(self).__name__ + ".records")


def markdown_rows(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[str] = ()) -> list[str]:
    """A Markdown table's lines: numbers (the right columns) right-aligned."""
    right = set(right)
    return (["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---:" if h in right else ":---" for h in headers) + " |"]
            + ["| " + " | ".join(r) + " |" for r in rows])
