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


def render_list(rows, fmt: str, color: bool = False) -> str:
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
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for h in HEADERS:
        table.add_column(h, justify="right" if "(" in h else "left", no_wrap=h != "Description")
    for n, r in rows:
        table.add_row(*_cells(n, r))
    out = io.StringIO()
    Console(file=out, force_terminal=color, no_color=not color, width=160).print(table)
    out.write("MACs under the lecture convention, at each model's default input, batch 1.\n")
    return out.getvalue()
