"""A result as a styled HTML table, for a notebook's display (``_repr_html_``).

Cells are the strings the terminal table shows (the units of cnncost/units.py);
every text is escaped. Long results show their first and last rows, with a line
saying how many are left out (the notebook would otherwise hold thousands of rows).
"""

from __future__ import annotations

from html import escape
from typing import Sequence

MAX_ROWS = 60  # rows shown; beyond this the first and last halves, and a line for the rest

STYLE = ("border-collapse:collapse;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;"
         "margin:0")
CELL = "padding:2px 8px;border-bottom:1px solid #ddd;white-space:nowrap"


def html_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], *, total: Sequence[str] | None = None,
               notes: Sequence[str] = (), numeric: Sequence[str] = ()) -> str:
    """A <div> holding a caption, the table (numeric columns right-aligned), an optional bold total row and
    the notes as paragraphs."""
    right = {i for i, h in enumerate(headers) if h in set(numeric)}

    def row_html(cells, tag="td", style=""):
        parts = []
        for i, cell in enumerate(cells):
            align = "right" if i in right else "left"
            parts.append(f'<{tag} style="{CELL};text-align:{align}{style}">{escape(str(cell))}</{tag}>')
        return "<tr>" + "".join(parts) + "</tr>"

    shown: list[Sequence[str] | None] = list(rows)  # None: the gap
    gap = None
    if len(shown) > MAX_ROWS:
        half = MAX_ROWS // 2
        gap = len(shown) - 2 * half
        shown = shown[:half] + [None] + shown[-half:]
    body = []
    for cells in shown:
        if cells is None:
            body.append(f'<tr><td colspan="{len(headers)}" style="{CELL};text-align:center;color:#888">'
                        f"… {gap:,} more rows (.to_pandas() or .table() has every row) …</td></tr>")
        else:
            body.append(row_html(cells))
    if total is not None:
        body.append(row_html(total, style=";font-weight:bold;border-top:2px solid #888"))
    head = row_html(headers, "th", ";border-bottom:2px solid #888")
    paragraphs = "".join(f'<p style="margin:4px 0;font-size:12px">{escape(n)}</p>' for n in notes if n)
    return (f'<div class="cnncost"><table style="{STYLE}"><caption style="text-align:left;font-weight:bold;'
            f'padding:4px 0">{escape(title)}</caption><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
            f"{paragraphs}</div>")
