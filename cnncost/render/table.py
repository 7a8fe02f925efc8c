"""The rich terminal table."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from . import columns


def render_rich(view) -> str:
    report = view.report
    headers = columns.headers(view)
    table = Table(title=f"{report.model}", show_footer=False, header_style="bold")
    for header in headers:
        table.add_column(header, justify="right" if header in columns.NUMERIC else "left", no_wrap=True)
    for layer in view.rows:
        table.add_row(*columns.cells(layer, view), style="dim" if layer.side else None)
    table.add_section()
    table.add_row(*columns.totals_cells(view), style="bold")
    out = io.StringIO()
    console = Console(file=out, force_terminal=view.color, no_color=not view.color, width=200,
                      highlight=False)
    console.print(table)
    for line in columns.footer(report, view.notes):
        console.print(line, soft_wrap=True, markup=False)
    return out.getvalue()
