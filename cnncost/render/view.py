"""The layer table's result: a Report and the rows to show, with the table's options (render/rows.py makes
it, render/text.py's LayerTable shows it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..report import LayerCost, Report


@dataclass(frozen=True)
class View:
    report: Report
    rows: list[LayerCost]  # what to show: every layer, or subtotals with --depth
    exact: bool = False  # integers instead of k/M units in the table
    color: bool = False
    notes: tuple = field(default_factory=tuple)  # errata and explanations shown under the table
    grouped: bool = False  # rows are --depth subtotals, not the report's layers
    fields: dict | None = None  # receptive fields by row name (table --rf), rf.LayerField
    share: bool = False  # share-of-total columns (% of memory, params, MACs)
    share_places: dict | None = None  # their decimal places per figure, enough to tell the rows apart
    folded: dict | None = None  # in-place rows folded into a shown row, by its name (--fold)
    width: int | None = None  # the terminal's columns to fit; None: the whole table, nothing wrapped
    model_notes: bool = True  # the model's own notes under the table (--no-notes: off)
    reshaped: bool = False  # rows folded, sorted or cut (--fold, --sort, --top): JSON lists the rows shown
