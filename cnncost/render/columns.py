"""The lecture's table columns, as plain strings, shared by the terminal and Markdown tables."""

from __future__ import annotations

from ..conventions import CONVENTIONS
from ..errors import one_line
from ..report import LayerCost, Report
from ..units import scaled
from .rf import field_pair

HEADERS = ("Layer", "Type", "Cin", "Cout", "K", "S", "P", "H/W in", "H/W out",
           "Memory (KiB)", "Params (k)", "MACs (M)")
EXACT_HEADERS = HEADERS[:-2] + ("Params", "MACs")
RF_HEADERS = ("RF", "RF stride")
# share-of-total columns (--share), each shown after its figure
SHARE_HEADERS = {"Memory (KiB)": "% mem", "Params (k)": "% params", "Params": "% params", "MACs (M)": "% MACs",
                 "MACs": "% MACs"}
# a training step (--pass train): the backward's MACs for the input's gradient and the weights'
TRAIN_HEADERS = ("Grad in (M)", "Grad W (M)")
EXACT_TRAIN_HEADERS = ("Grad in", "Grad W")
NUMERIC = {"Cin", "Cout", "H/W in", "H/W out", "Memory (KiB)", "Params (k)", "MACs (M)", "Params", "MACs", "RF",
           "RF stride", *SHARE_HEADERS.values(), *TRAIN_HEADERS, *EXACT_TRAIN_HEADERS}
# the kinds' names as a folded row's type lists them ("conv+bn+relu")
SHORT_KINDS = {"batchnorm": "bn", "dropout": "drop", "stochastic_depth": "droppath"}


def _pair(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):  # a 1-D window (conv1d): one number
        return str(value)
    if len(value) == 4:  # conv padding: top, bottom, left, right
        t, b, l, r = value
        if t == b and l == r:
            value = (t, l)
        else:
            return ",".join(str(v) for v in value)
    if len(value) == 3:  # a 3-D window: time, height, width
        return str(value[0]) if len(set(value)) == 1 else "x".join(str(v) for v in value)
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _size(shape) -> str:
    if len(shape) == 4:  # a video map: T x H x W
        return "x".join(str(d) for d in shape[1:])
    if len(shape) != 3:
        return "-"
    return str(shape[1]) if shape[1] == shape[2] else f"{shape[1]}x{shape[2]}"


def _channels(shape) -> str:
    """The features of a map or vector (its first axis) or of tokens (L x C: the last); '-' for other ranks
    (attention's heads x L x E)."""
    if len(shape) in (1, 3, 4):  # a vector, a map, a video map (C x T x H x W)
        return str(shape[0])
    return str(shape[1]) if len(shape) == 2 else "-"


def _channels_in(layer: LayerCost) -> str:
    shapes = layer.input_shapes
    if len(shapes) == 1:
        return _channels(shapes[0])
    if layer.kind == "concat" and layer.args.get("dim", 1) == 1 and len(shapes[0]) in (1, 3):
        return str(sum(s[0] for s in shapes))  # joined along channels: its total input channels
    channels = [_channels(s) for s in shapes]
    return channels[0] if len(set(channels)) <= 1 else "+".join(channels)


def number(value: float, decimals: int) -> str:
    """value to decimals places, with thousands commas and no trailing zeros; a small value that is not
    zero gets the places its first significant digit needs, so it never reads 0."""
    return scaled(value, "", decimals)


def figures(layer, exact: bool) -> tuple[str, str, str]:
    memory = scaled(layer.memory_bytes, "KiB", 2)
    if exact:
        return memory, f"{layer.params:,}", f"{layer.macs:,}"
    return memory, scaled(layer.params, "k", 3), scaled(layer.macs, "M", 3)


def share(value: int, total: int, places: int | None = None) -> str:
    """value as a percentage of total: to ``places`` places, zeros kept so a column lines up (None: one place,
    trailing zeros dropped); a small non-zero share to its first digit."""
    if not total:
        return "-"
    percent = 100 * value / total
    if places is None or not percent:
        return number(percent, 1 if places is None else places)
    text = f"{percent:,.{places}f}"
    return text if text.strip("0.,") else number(percent, places)


def share_places(rows, totals, most: int = 4) -> dict[str, int]:
    """Per figure, the fewest places (1 to most) at which rows whose shares differ read differently."""
    places = {}
    for figure in ("memory_bytes", "params", "macs"):
        total = getattr(totals, figure)
        values = sorted({getattr(r, figure) for r in rows})
        chosen = 1
        while chosen < most and total:
            shown = {f"{100 * v / total:.{chosen}f}" for v in values}
            if len(shown) == len(values):
                break
            chosen += 1
        places[figure] = chosen
    return places


def kind_label(layer: LayerCost, folded=()) -> str:
    """The Type cell: the kind, its conv groups, the kinds folded into it, and whether it is a side output."""
    label = layer.kind
    groups = layer.args.get("groups", 1) if layer.kind in ("conv", "conv_transpose", "conv3d", "conv1d", "std_conv") \
        else 1
    if groups != 1:
        label += f" g={groups}"
    for member in folded:
        label += "+" + SHORT_KINDS.get(member.kind, member.kind)
    return label + (" (side)" if layer.side else "")


def row(layer: LayerCost, exact: bool, folded=()) -> list[str]:
    a = layer.args
    stride = a.get("stride")
    if stride is None and "kernel" in a:
        stride = a["kernel"]  # pooling's default stride
    sequence = layer.kind == "conv1d"  # C x L: channels first, the length as its size
    return [
        layer.name,
        kind_label(layer, folded),
        str(layer.input_shape[0]) if sequence else _channels_in(layer),
        str(layer.output_shape[0]) if sequence else _channels(layer.output_shape),
        _pair(a.get("kernel")),
        _pair(stride) if "kernel" in a else "",
        _pair(a.get("padding")) if "kernel" in a else "",
        str(layer.input_shape[1]) if sequence else _size(layer.input_shape),
        str(layer.output_shape[1]) if sequence else _size(layer.output_shape),
        *figures(layer, exact),
    ]


def headers(view) -> tuple:
    """The columns of the complete table: the lecture's, then the shares (--share) and fields (--rf)."""
    base: tuple[str, ...] = EXACT_HEADERS if view.exact else HEADERS
    if view.share:
        base = base[:-3] + tuple(x for h in base[-3:] for x in (h, SHARE_HEADERS[h]))
    base = base + RF_HEADERS if view.fields is not None else base
    if _backward_shown(view.report):
        base += EXACT_TRAIN_HEADERS if view.exact else TRAIN_HEADERS
    return base


def _backward_shown(report: Report) -> bool:
    return report.totals.backward_input_macs is not None


def _backward_cells(layer, exact: bool) -> list[str]:
    values = (layer.backward_input_macs, layer.backward_weight_macs)
    if exact:
        return [f"{v:,}" for v in values]
    return [number(v / 1e6, 3) for v in values]


def _with_shares(cells: list[str], layer, totals, places=None) -> list[str]:
    places = places or {}
    return cells[:-3] + [cells[-3], share(layer.memory_bytes, totals.memory_bytes, places.get("memory_bytes")),
                         cells[-2], share(layer.params, totals.params, places.get("params")),
                         cells[-1], share(layer.macs, totals.macs, places.get("macs"))]


def cells(layer: LayerCost, view) -> list[str]:
    """A row's cells, in the order of headers(view)."""
    folded = view.folded.get(layer.name, ()) if view.folded else ()
    cells = row(layer, view.exact, folded)
    if view.share:
        cells = _with_shares(cells, layer, view.report.totals, view.share_places)
    if view.fields is not None:
        row_field = view.fields.get(layer.name)
        f = row_field.field if row_field is not None else None
        cells += [field_pair(None if f is None else (f.h.size, f.w.size)),
                  field_pair(None if f is None else (f.h.stride, f.w.stride))]
    if _backward_shown(view.report):
        cells += _backward_cells(layer, view.exact)
    return cells


def totals_cells(view) -> list[str]:
    t = view.report.totals
    cells = totals_row(view.report, view.exact)
    if view.share:
        cells = _with_shares(cells, t, t, view.share_places)
    cells += ["", ""] if view.fields is not None else []
    return cells + (_backward_cells(t, view.exact) if _backward_shown(view.report) else [])


def totals_row(report: Report, exact: bool) -> list[str]:
    return ["total", "", "", "", "", "", "", "", "", *figures(report.totals, exact)]


def not_counted(report: Report) -> dict:
    """Kinds of this report that a peer tool's convention says it does not count, with their rows.

    cnncost's own conventions (lecture, torchvision) say what they count in their summary line."""
    convention = CONVENTIONS[report.convention]
    if convention.name in ("lecture", "torchvision"):
        return {}
    rows: dict = {}
    for layer in report.counted():
        if convention.rule(layer.kind).count is None:
            rows[layer.kind] = rows.get(layer.kind, 0) + 1
    return rows


def partial_line(missing: list[dict]) -> str:
    """What a partial import left out (Graph.unsupported), in one line."""
    count = sum(m["count"] for m in missing)
    listed = ", ".join(f"{m['op']} x{m['count']}" for m in missing)
    return (f"Incomplete: {count} operator{'s' if count != 1 else ''} the import could not map "
            f"{'are opaque rows' if count != 1 else 'is an opaque row'} counted as 0 ({listed}); every total is a "
            "lower bound.")


def footer(report: Report, notes=(), model_notes: bool = True) -> list[str]:
    """The lines under a table: totals, the convention, side outputs, the model's notes (unless
    model_notes is false) and the given notes."""
    t = report.totals
    missing = report.unsupported()
    lines = [
        f"{one_line(report.model)}: input {'x'.join(map(str, report.input))}, batch {report.batch}, {report.dtype}. "
        f"{'Totals, lower bounds: at least' if missing else 'Totals:'} {t.params:,} params, {t.buffers:,} buffers, "
        f"{t.macs:,} MACs, {t.flops:,} FLOPs, "
        f"{t.memory_bytes:,} bytes of activations.",
        f"Convention '{report.convention}': {CONVENTIONS[report.convention].summary}",
    ]
    uncounted = not_counted(report)
    if uncounted:
        lines.append(f"Not counted by {report.convention} (0 MACs): " + ", ".join(
            f"{kind} ({rows:,} row{'s' if rows > 1 else ''})" for kind, rows in uncounted.items()) + ".")
    if missing:
        lines.append(partial_line(missing))
    if any(l.side for l in report.layers):
        if report.include_side:
            lines.append("Side outputs (auxiliary heads) are included in the totals.")
        elif CONVENTIONS[report.convention].unrun_params:
            lines.append("Side outputs (auxiliary heads) are excluded from the totals, but for their parameters, "
                         f"which {report.convention} counts although they do not run.")
        else:
            lines.append("Side outputs (auxiliary heads) are excluded from the totals.")
    if report.training:
        lines.append(training_line(report))
    if model_notes:
        lines.extend(one_line(n) for n in report.notes)  # a note from a file stays one line
    lines.extend(notes)
    return lines


def training_line(report: Report) -> str:
    """The line under a training step's table: its totals, or that the convention's tool counts no backward."""
    from ..training import NOT_COUNTED

    t = report.totals
    frozen = f" Frozen (--freeze): {sum(1 for l in report.layers if l.frozen and l.params):,} layers with " \
             "parameters." if report.settings is not None and report.settings.freeze else ""
    backward, training = t.backward_macs, t.training_macs
    if backward is None or training is None:  # both None, or neither
        return f"Training step (--pass train): not counted: {NOT_COUNTED[report.convention]}.{frozen}"
    return (f"Training step (--pass train): backward {backward:,} MACs ({t.backward_input_macs:,} for "
            f"inputs' gradients, {t.backward_weight_macs:,} for weights'); forward + backward {training:,} "
            f"MACs, {2 * training:,} FLOPs ({training / t.macs:.2f}x the forward).{frozen} "
            "docs/training.md has the rules." if t.macs else "")
