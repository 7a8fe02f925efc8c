"""A Report as 'cnncost table' shows it, for the Python API (``report.table()``, ``str(report)``)."""

from __future__ import annotations

from ..errors import CnnCostError, terminal_text
from ..report import Report
from .formats import FORMATS

SORTS = ("macs", "params", "memory")


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise CnnCostError(f"{name} must be True or False, got {value!r}")
    return value


def _count(name: str, value, least: int) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise CnnCostError(f"{name} must be an integer of at least {least}, or None, got {value!r}")
    return value


def render_report(report: Report, format: str = "table", *, depth: int | None = None, exact: bool = False,
                  rf: bool = False, fold: bool = False, share: bool = False, sort: str | None = None,
                  top: int | None = None, notes: bool = True, width: int | None = None) -> str:
    """The text of ``cnncost table`` for this report: the same rows, columns and notes as the command with
    --depth, --exact, --rf, --fold, --share, --sort, --top and --no-notes; ``width`` fits the table to that
    many columns as on a terminal (None: the whole table, as in a file). Never coloured."""
    from .formats import render
    from .rows import layer_view

    if format not in FORMATS:
        raise CnnCostError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if sort is not None and sort not in SORTS:
        raise CnnCostError(f"sort must be one of {', '.join(SORTS)}, or None, got {sort!r}")
    depth, top, width = _count("depth", depth, 1), _count("top", top, 1), _count("width", width, 1)
    exact, rf, fold, share, notes = (_flag(n, v) for n, v in (("exact", exact), ("rf", rf), ("fold", fold),
                                                               ("share", share), ("notes", notes)))
    errata = _errata(report) if notes and format in ("table", "markdown") else ()
    fields = None
    if rf:
        if report.graph is None:
            raise CnnCostError("rf needs the report's graph: analyse the model with cnncost.analyze")
        from ..rf import receptive_fields

        fields = {row.name: row for row in receptive_fields(report.graph)}
        if depth:  # a group's field is its last layer's, as the command shows it
            for row in report.layers:
                fields[".".join(row.name.split(".")[:depth])] = fields[row.name]
    view = layer_view(report, depth=depth, fold=fold, sort=sort, top=top, share=share, notes=errata,
                      model_notes=notes, exact=exact, color=False, width=width, fields=fields)
    text = render(view, format)
    return terminal_text(text) if FORMATS[format].escaped else text  # printed, it must not drive the terminal


def _errata(report: Report) -> tuple:
    """The claims registry's errata about the report's model, as the command prints them under the table."""
    from .. import claims

    source = report.graph.source if report.graph is not None and report.graph.source else report.model
    try:
        return tuple(claims.errata_notes(source, report))
    except CnnCostError:  # a broken registry is 'cnncost check''s to report, not the table's
        return ()
