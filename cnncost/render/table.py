"""The layer table for a terminal: box-drawn (render/grid.py), fitted to the terminal's width.

On a terminal narrower than the whole table, it gives up, in this order, until
it fits (the first step that fits is used):

 1. headers go on two lines ("Memory" over "(KiB)");
 2. "H/W in" goes (it is the row before's "H/W out");
 3. "Cin" goes (likewise the row before's "Cout");
 4. K, S and P become one "K/S/P" column ("3/2/1");
 5. layer names wrap, down to 14 characters, breaking after a "." or "_" where they can;
 6. "Type" goes; 7. "K/S/P"; 8. "RF stride" (--rf); 9. "H/W out"; 10. "Cout";
 11. "% mem" (--share); 12. "Memory (KiB)"; 13. "% params"; 14. "RF".

The name, the parameters and the MACs (and "% MACs") always stay, and no number
is ever cut. Where even the last step does not fit, the table is printed whole
at its narrowest. With no width (output piped or to a file, or --wide), the
whole table is printed and nothing wraps.
"""

from __future__ import annotations

from . import columns
from .grid import Column, Grid, Layout, left_out_note, wrap_lines

NAME_WRAP = 14
STACKED = {"Memory (KiB)": "Memory\n(KiB)", "Params (k)": "Params\n(k)", "MACs (M)": "MACs\n(M)",
           "H/W in": "H/W\nin", "H/W out": "H/W\nout", "% mem": "%\nmem", "% params": "%\nparams",
           "% MACs": "%\nMACs", "RF stride": "RF\nstride", "Grad in (M)": "Grad in\n(M)", "Grad W (M)": "Grad W\n(M)"}
DECIMAL = {"Memory (KiB)", "Params (k)", "MACs (M)", "Params", "MACs", "% mem", "% params", "% MACs", "Grad in (M)",
           "Grad W (M)", "Grad in", "Grad W"}
KSP = "K/S/P"
# what goes, in order, after the headers are stacked (step 5, wrapping names, comes after "K/S/P" is made)
DROPS = ("H/W in", "Cin", "merge", "wrap", "Type", KSP, "RF stride", "H/W out", "Cout", "% mem", "Memory (KiB)",
         "% params", "RF")


def _column(header: str) -> Column:
    if header in DECIMAL:
        align = "decimal"
    elif header in columns.NUMERIC:
        align = "right"
    else:
        align = "left"
    return Column(header, align, NAME_WRAP if header == "Layer" else 0, STACKED.get(header))


def layouts(headers) -> list[Layout]:
    """The layouts of the stated order, widest first; headers ends with the merged K/S/P column."""
    index = {h: i for i, h in enumerate(headers)}
    shown = [h for h in headers if h != KSP]
    first = Layout(tuple(index[h] for h in shown))
    result = [first, Layout(first.columns, stacked=True)]  # the headers stacked, nothing dropped
    wrap = False
    for step in DROPS:
        if step == "merge":
            at = shown.index("K")
            shown = [h for h in shown if h not in ("K", "S", "P")]
            shown.insert(at, KSP)
        elif step == "wrap":
            wrap = True
        elif step in shown:
            shown.remove(step)
        else:
            continue
        result.append(Layout(tuple(index[h] for h in shown), stacked=True, wrap=wrap))
    return result


def render_table(view) -> str:
    report = view.report
    headers = list(columns.headers(view)) + [KSP]
    k = headers.index("K")
    grid = Grid([_column(h) for h in headers], title=report.model)
    for layer in view.rows:
        cells = columns.cells(layer, view)
        kernel = cells[k]
        cells.append(f"{kernel}/{cells[k + 1]}/{cells[k + 2]}" if kernel else "")
        grid.add_row(cells, "dim" if layer.side else None)
    grid.add_section()
    grid.add_row(columns.totals_cells(view) + [""], "bold")
    text = grid.render(layouts(headers), view.width, view.color)
    left_out = [h for h in grid.left_out if not (h in ("K", "S", "P") and KSP in grid.shown)]
    notes = [left_out_note(left_out)] if left_out else []
    footer = wrap_lines(notes + columns.footer(report, view.notes, view.model_notes), view.width)
    return text + "".join(line + "\n" for line in footer)
