"""Output formats, one registry: ``render(result, fmt)`` picks the writer from FORMATS.

A result is shown through its Shown (shown.py; one subclass per kind of result, beside its renderer in
cnncost/render/): its tables (Sections: headers, rows, totals), the notes under them, its JSON value and
its CSV records, each given once. A format's writer reads those, so it works for every result:
adding a format is one ``register(Format(...))`` and one writer; the CLI reads FORMATS for its --format
choices and for the format an -o FILE's extension names.

A Shown may write a format itself (a method ``write_<format>``) where its text for that format has a
layout of its own (the layer table's terminal grid, a Markdown table with escaped cells, ...); the
layouts that predate this registry are kept byte for byte that way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Callable

from .shown import Section, Shown, markdown_rows  # noqa: F401  (Section: importable from here too)


# --- the writers ---


def write_table(shown: Shown) -> str:
    """Each section as a box-drawn grid fitted to the width, then the notes, wrapped."""
    from .grid import draw, simple_grid, wrap_lines

    text = ""
    for s in shown.sections():
        grid = simple_grid(s.headers, right=set(s.right), wrap=s.wrap, stacked=s.stacked, title=s.title)
        for i, cells in enumerate(s.rows):
            grid.add_row(cells, style=s.styles[i] if s.styles else None)
        if s.total is not None:
            grid.add_section()
            grid.add_row(s.total, style="bold")
        text += draw(grid, shown.width, shown.color, s.drop, s.notes)
    return text + "".join(line + "\n" for line in wrap_lines(shown.notes(), shown.width))


def write_csv(shown: Shown) -> str:
    import csv  # only for this format

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = shown.records()
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_json(shown: Shown) -> str:
    from ..report import versioned
    from .text import dumps_by_line

    data = shown.data()
    return dumps_by_line(versioned(data)) if isinstance(data, dict) else dumps_by_line({"items": data})


def write_markdown(shown: Shown) -> str:
    """Each section as a Markdown table (no totals row) with its notes after a blank line; sections and the
    closing notes are separated by blank lines."""
    blocks = []
    for s in shown.sections():
        blocks.append(markdown_rows(s.headers, s.rows, s.right) + ([""] + s.notes if s.notes else []))
    if shown.notes():
        blocks.append(shown.notes())
    return "\n".join(line for i, block in enumerate(blocks) for line in ([""] if i else []) + block) + "\n"


@dataclass(frozen=True)
class Format:
    name: str
    write: Callable[[Shown], str]
    extensions: tuple[str, ...] = ()  # an -o FILE with one of these names this format
    escaped: bool = True  # control characters escaped before printing (errors.terminal_text); JSON keeps strings
    styled: bool = False  # bold and colour where stdout is a terminal


FORMATS: dict[str, Format] = {}


def register(format: Format) -> Format:
    FORMATS[format.name] = format
    return format


register(Format("table", write_table, styled=True))
register(Format("csv", write_csv, (".csv",)))
register(Format("json", write_json, (".json",), escaped=False))
register(Format("markdown", write_markdown, (".md", ".markdown")))


def format_of_file(path: str) -> str:
    """The format an -o FILE's extension names; the text table for any other."""
    import os

    suffix = os.path.splitext(path)[1].lower()
    return next((f.name for f in FORMATS.values() if suffix in f.extensions), "table")


# the Shown of each result type, by the type's name (modules move; names are unique in cnncost);
# its module is imported when a result of that type is first rendered
SHOWN = {
    "View": "cnncost.render.text:LayerTable",
    "Memory": "cnncost.render.memory:MemoryShown",
    "ReceptiveFields": "cnncost.render.rf:FieldsShown",
    "Latency": "cnncost.render.latency:LatencyShown",
    "Sweep": "cnncost.render.sweep:SweepShown",
    "Explanation": "cnncost.render.explain:ExplanationShown",
    "Comparison": "cnncost.render.comparison:ComparisonShown",
    "Budget": "cnncost.render.budget:BudgetShown",
    "ModelInfo": "cnncost.render.info:InfoShown",
    "ValidationRun": "cnncost.render.validation:ValidationShown",
}


def shown(result: Any, **options: Any) -> Shown:
    """The Shown of result (itself when it is one)."""
    if isinstance(result, Shown):
        return result
    import importlib

    where = SHOWN.get(type(result).__name__)
    if where is None:
        raise TypeError(f"no renderer for {type(result).__name__}")
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)(result, **options)


def render(result: Any, fmt: str, **options: Any) -> str:
    """The text of result in format fmt; options (width, color, exact, ...) go to its Shown."""
    from ..errors import CnnCostError

    s = shown(result, **options)
    if fmt not in FORMATS or (s.formats is not None and fmt not in s.formats):
        offered = [f for f in FORMATS if s.formats is None or f in s.formats]
        raise CnnCostError(f"format must be one of {', '.join(offered)}, got {fmt!r}")
    own = getattr(s, "write_" + fmt, None)
    return own() if own is not None else FORMATS[fmt].write(s)
