"""Plain-text formats: CSV, JSON and Markdown (no rich needed)."""

from __future__ import annotations

import csv
import io
import json

from ..report import layer_to_dict
from . import columns

CSV_FIELDS = ("name", "type", "input_shape", "output_shape", "params", "buffers", "macs", "flops",
              "memory_bytes", "side")


def render_json(view) -> str:
    data = view.report.to_dict()
    if view.rows is not None and len(view.rows) != len(view.report.layers):  # --depth subtotals
        data["layers"] = [layer_to_dict(r) for r in view.rows]
    return json.dumps(data, indent=2) + "\n"


def render_csv(view) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in view.rows:
        writer.writerow([r.name, r.type, "x".join(map(str, r.input_shape)), "x".join(map(str, r.output_shape)),
                         r.params, r.buffers, r.macs, r.flops, r.memory_bytes, str(r.side).lower()])
    return out.getvalue()


def render_markdown(view) -> str:
    headers = columns.EXACT_HEADERS if view.exact else columns.HEADERS
    align = ["---:" if h in columns.NUMERIC else ":---" for h in headers]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for r in view.rows:
        lines.append("| " + " | ".join(columns.row(r, view.exact)) + " |")
    lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in columns.totals_row(view.report, view.exact)) + " |")
    lines.append("")
    lines.extend(columns.footer(view.report, view.notes))
    return "\n".join(lines) + "\n"
