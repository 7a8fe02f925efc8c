"""The 'cnncost list' overview: one line per architecture."""

from __future__ import annotations

import csv
import io
import json

HEADERS = ("Model", "Input", "Params (M)", "MACs (G)", "Description")


def _cells(name, report):
    t = report.totals
    return [name, "x".join(map(str, report.input)), f"{t.params / 1e6:,.2f}", f"{t.macs / 1e9:,.3f}",
            report.description]


def render_list(rows, fmt: str, color: bool = False, width: int | None = None) -> str:
    if fmt == "json":
        return json.dumps([
            {"model": n, "input": list(r.input), "params": r.totals.params, "macs": r.totals.macs,
             "convention": r.convention, "description": r.description} for n, r in rows], indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(("model", "input", "params", "macs", "description"))
        for n, r in rows:
            w.writerow((n, "x".join(map(str, r.input)), r.totals.params, r.totals.macs, r.description))
        return out.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(HEADERS) + " |", "| :--- | :--- | ---: | ---: | :--- |"]
        lines += ["| " + " | ".join(_cells(n, r)) + " |" for n, r in rows]
        return "\n".join(lines) + "\n"
    from .grid import draw, simple_grid

    grid = simple_grid(HEADERS, right={"Params (M)", "MACs (G)"}, wrap={"Description": 16, "Model": 12},
                       stacked={"Params (M)": "Params\n(M)", "MACs (G)": "MACs\n(G)"})
    for n, r in rows:
        grid.add_row(_cells(n, r))
    return draw(grid, width, color, ("Input", "Description"),
                ["MACs under the lecture convention, at each model's default input, batch 1."])
