"""Plain-text formats: CSV, JSON and Markdown (no rich needed)."""

from __future__ import annotations

import json

from ..report import layer_to_dict
from . import columns
from .shown import Section, Shown, markdown_rows

CSV_FIELDS = ("name", "type", "input_shape", "output_shape", "params", "buffers", "macs", "flops",
              "memory_bytes", "side")


def layer_data(view) -> dict:
    """The JSON of the layer table: the report's, with the rows shown and their extra columns."""
    data = view.report.to_dict()
    if view.grouped or view.reshaped:  # --depth subtotals (even where every group is one layer); --fold, --sort, --top
        data["layers"] = [layer_to_dict(r) for r in view.rows]
    if view.folded:  # a shown row's figures include these layers' (--fold)
        for layer in data["layers"]:
            if layer["name"] in view.folded:
                layer["folded"] = [r.name for r in view.folded[layer["name"]]]
    if view.fields is not None:  # table --rf
        for layer in data["layers"]:
            field = view.fields.get(layer["name"])
            d = field.to_dict() if field is not None else {}
            for key in ("receptive_field", "effective_stride", "effective_padding"):
                layer[key] = d.get(key)
    return data


def dumps_by_line(data: dict) -> str:
    """JSON with one top-level key, and one list item, per line.

    Easy to read and to diff, and several times faster than indent=2, which makes
    Python fall back from its C encoder to the pure-Python one.
    """
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):  # records, such as layers
            items = ",\n".join("    " + json.dumps(item) for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def layer_records(view):
    """The CSV of the layer table: exact figures per row shown, then the totals row."""
    rf = view.fields is not None
    backward = view.report.totals.backward_input_macs is not None  # --pass train, where the convention counts it
    header = CSV_FIELDS + (("rf_h", "rf_w", "rf_stride_h", "rf_stride_w") if rf else ()) + (
        ("backward_input_macs", "backward_weight_macs") if backward else ())
    rows = []
    for r in view.rows:
        cells = [r.name, r.kind, "x".join(map(str, r.input_shape)), "x".join(map(str, r.output_shape)),
                 r.params, r.buffers, r.macs, r.flops, r.memory_bytes, str(r.side).lower()]
        if rf:
            field = view.fields.get(r.name)
            d = field.to_dict() if field is not None else {"receptive_field": None, "effective_stride": None}
            cells += [*(d["receptive_field"] or ("", "")), *(d["effective_stride"] or ("", ""))]
        if backward:
            cells += [r.backward_input_macs, r.backward_weight_macs]
        rows.append(cells)
    # the last row is the report's totals (side outputs as the report counts them), name and type "total"
    t = view.report.totals
    # a partial import's totals are lower bounds: the type column says so
    kind = "total (lower bound)" if view.report.unsupported() else "total"
    rows.append(["total", kind, "x".join(map(str, view.report.input)), "", t.params, t.buffers, t.macs,
                 t.flops, t.memory_bytes, ""] + (["", "", "", ""] if rf else [])
                + ([t.backward_input_macs, t.backward_weight_macs] if backward else []))
    return header, rows


class LayerTable(Shown):
    """A render.View: the layer table of 'cnncost table' (and Report.table())."""

    def __init__(self, view, **options):
        super().__init__(view, width=view.width, color=view.color, exact=view.exact, **options)

    def sections(self) -> list[Section]:
        view = self.result
        headers = columns.headers(view)
        return [Section(view.report.model, headers, [columns.cells(r, view) for r in view.rows],
                        right=[h for h in headers if h in columns.NUMERIC], total=columns.totals_cells(view),
                        styles=["dim" if r.side else None for r in view.rows])]

    def notes(self) -> list[str]:
        return columns.footer(self.result.report, self.result.notes, self.result.model_notes)

    def data(self) -> dict:
        return layer_data(self.result)

    def records(self):
        return layer_records(self.result)

    def write_table(self) -> str:  # columns merged (K/S/P) and left out in the stated order
        from .table import render_table

        return render_table(self.result)

    def write_json(self) -> str:  # the report's JSON carries its schema_version
        return dumps_by_line(self.data())

    def write_markdown(self) -> str:  # with the totals row, in bold
        view = self.result
        section = self.sections()[0]
        lines = markdown_rows(section.headers, section.rows, section.right)
        lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in columns.totals_cells(view)) + " |")
        lines.append("")
        lines.extend(columns.footer(view.report, view.notes))
        return "\n".join(lines) + "\n"


def wrap_at_spaces(lines: list[str], width: int | None, hang_of) -> list[str]:
    """Each line longer than width wrapped at spaces, never inside a word; hang_of(line) gives the indent of
    its continuation lines."""
    if width is None:
        return lines
    import textwrap

    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        for hang, cut_words in ((hang_of(line), False), (4, False), (4, True)):
            # a word too long for the continuation's column moves left; one too long for any line is cut
            wrapped = textwrap.wrap(line, width, subsequent_indent=" " * hang, break_long_words=cut_words,
                                    break_on_hyphens=False) or [""]
            if max(map(len, wrapped)) <= width:
                break
        out.extend(wrapped)
    return out
