"""The lecture's table columns, as plain strings, shared by the rich and Markdown tables."""

from __future__ import annotations

from ..conventions import CONVENTIONS
from ..report import LayerCost, Report
from .rf import field_pair

HEADERS = ("Layer", "Type", "Cin", "Cout", "K", "S", "P", "H/W in", "H/W out",
           "Memory (KB)", "Params (k)", "MACs (M)")
EXACT_HEADERS = HEADERS[:-2] + ("Params", "MACs")
NUMERIC = {"Cin", "Cout", "H/W in", "H/W out", "Memory (KB)", "Params (k)", "MACs (M)", "Params", "MACs", "RF",
           "RF stride"}


def _pair(value) -> str:
    if value is None:
        return ""
    if len(value) == 4:  # conv padding: top, bottom, left, right
        t, b, l, r = value
        if t == b and l == r:
            value = (t, l)
        else:
            return ",".join(str(v) for v in value)
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _size(shape) -> str:
    if len(shape) != 3:
        return "-"
    return str(shape[1]) if shape[1] == shape[2] else f"{shape[1]}x{shape[2]}"


def _channels_in(shapes) -> str:
    channels = [str(s[0]) for s in shapes]
    return channels[0] if len(set(channels)) <= 1 else "+".join(channels)


def number(value: float, decimals: int) -> str:
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def figures(layer, exact: bool) -> tuple[str, str, str]:
    memory = number(layer.memory_bytes / 1024, 2)
    if exact:
        return memory, f"{layer.params:,}", f"{layer.macs:,}"
    return memory, number(layer.params / 1e3, 3), number(layer.macs / 1e6, 3)


def row(layer: LayerCost, exact: bool) -> list[str]:
    a = layer.args
    stride = a.get("stride")
    if stride is None and "kernel" in a:
        stride = a["kernel"]  # pooling's default stride
    return [
        layer.name,
        layer.type + (" (side)" if layer.side else ""),
        _channels_in(layer.input_shapes),
        str(layer.output_shape[0]),
        _pair(a.get("kernel")),
        _pair(stride) if "kernel" in a else "",
        _pair(a.get("padding")) if "kernel" in a else "",
        _size(layer.input_shape),
        _size(layer.output_shape),
        *figures(layer, exact),
    ]


RF_HEADERS = ("RF", "RF stride")


def headers(view) -> tuple:
    base = EXACT_HEADERS if view.exact else HEADERS
    return base + RF_HEADERS if view.fields is not None else base


def cells(layer: LayerCost, view) -> list[str]:
    """A row's cells, with the receptive-field columns when the view has fields (table --rf)."""
    cells = row(layer, view.exact)
    if view.fields is not None:
        row_field = view.fields.get(layer.name)
        f = row_field.field if row_field is not None else None
        cells += [field_pair(None if f is None else (f.h.size, f.w.size)),
                  field_pair(None if f is None else (f.h.stride, f.w.stride))]
    return cells


def totals_cells(view) -> list[str]:
    return totals_row(view.report, view.exact) + (["", ""] if view.fields is not None else [])


def totals_row(report: Report, exact: bool) -> list[str]:
    return ["total", "", "", "", "", "", "", "", "", *figures(report.totals, exact)]


def footer(report: Report, notes=()) -> list[str]:
    t = report.totals
    lines = [
        f"{report.model}: input {'x'.join(map(str, report.input))}, batch {report.batch}, {report.dtype}. "
        f"Totals: {t.params:,} params, {t.buffers:,} buffers, {t.macs:,} MACs, {t.flops:,} FLOPs, "
        f"{t.memory_bytes:,} bytes of activations.",
        f"Convention '{report.convention}': {CONVENTIONS[report.convention].summary}",
    ]
    if any(l.side for l in report.layers):
        if report.include_side:
            lines.append("Side outputs (auxiliary heads) are included in the totals.")
        elif CONVENTIONS[report.convention].unrun_params:
            lines.append("Side outputs (auxiliary heads) are excluded from the totals, but for their parameters, "
                         f"which {report.convention} counts although they do not run.")
        else:
            lines.append("Side outputs (auxiliary heads) are excluded from the totals.")
    lines.extend(report.notes)
    lines.extend(notes)
    return lines
