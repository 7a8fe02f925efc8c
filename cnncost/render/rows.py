"""Which rows a layer table shows: every layer, subtotals (--depth), in-place layers folded (--fold), the
costliest first (--sort) and the first N (--top). The CLI's 'table' and the Python API build views here."""

from __future__ import annotations

from dataclasses import replace

from ..errors import CnnCostError
from ..graph import counted
from ..kinds import KINDS
from ..report import FIGURES, LayerCost, Report, make_layer_cost

SORT_KEYS = {"macs": "macs", "params": "params", "memory": "memory_bytes"}
SORT_WORDS = {"macs": "MACs", "params": "parameters", "memory": "activation memory"}


def fold_inplace(rows) -> tuple[list[LayerCost], dict[str, tuple[LayerCost, ...]]]:
    """Each in-place row (activation, dropout, batch norm: kinds that allocate no output) merged into the
    row just before it when that row is its one input: the merged row keeps the producer's name, kind and
    input, takes the last output, and sums the figures. Also: by shown row, the rows folded into it."""
    shown: list[LayerCost] = []
    folded: dict[str, tuple[LayerCost, ...]] = {}
    last = None  # the name of the layer whose output the last shown row ends with
    for r in rows:
        kind = KINDS.get(r.kind)
        if (shown and kind is not None and kind.inplace and len(r.inputs) == 1 and r.inputs[0] == last
                and r.side == shown[-1].side):
            p = shown[-1]
            # the producer's node with the folded row's output and its parameters added
            node = replace(p.node, output_shape=r.output_shape, params=p.params + r.params,
                           buffers=p.buffers + r.buffers)
            shown[-1] = make_layer_cost(node, p.macs + r.macs, p.flops + r.flops, p.memory_bytes + r.memory_bytes,
                                        *_backward_sums(p, r), p.frozen and r.frozen)
            folded[p.name] = folded.get(p.name, ()) + (r,)
        else:
            shown.append(r)
        last = r.name
    return shown, folded


def _backward_sums(p: LayerCost, r: LayerCost) -> tuple:
    p_inputs, r_inputs = p.backward_input_macs, r.backward_input_macs
    p_weights, r_weights = p.backward_weight_macs, r.backward_weight_macs
    if p_inputs is None or r_inputs is None or p_weights is None or r_weights is None:  # a forward pass: none has
        return None, None
    return p_inputs + r_inputs, p_weights + r_weights


def rank(rows, key: str) -> list[LayerCost]:
    """The rows by one figure, largest first; equal ones in network order."""
    if key not in SORT_KEYS:
        raise CnnCostError(f"cannot sort by '{key}': choose from {', '.join(SORT_KEYS)}")
    field = SORT_KEYS[key]
    return sorted(rows, key=lambda r: -getattr(r, field))


def _percent(part: int, whole: int) -> str:
    from .columns import share

    return share(part, whole) + "%" if whole else "none"


def layer_view(report: Report, *, depth: int | None = None, fold: bool = False, sort: str | None = None,
               top: int | None = None, share: bool = False, notes=(), model_notes: bool = True,
               exact: bool = False, color: bool = False, width: int | None = None, fields=None):
    """The View of a report that the 'table' command shows with these options.

    top without sort ranks by MACs; sort or top add the share columns. notes go under the table
    after the lines that say what the options did.
    """
    from .view import View
    from ..engine import group_by_depth

    if top is not None and top < 1:
        raise CnnCostError(f"--top must be at least 1, got {top}")
    rows = group_by_depth(report, depth) if depth else list(report.layers)
    lines = []
    folded = None
    if fold:
        count = len(rows)
        rows, folded = fold_inplace(rows)
        lines.append(f"Folded (--fold): {count - len(rows):,} in-place rows (activations, dropout, batch norm) "
                     "are shown in the row of the layer they follow, their figures added to it; its type lists "
                     "them (conv+bn+relu).")
    if top is not None and sort is None:
        sort = "macs"
    if sort is not None:
        rows = rank(rows, sort)
        share = True
    if top is not None and top < len(rows):
        assert sort is not None  # top without sort ranks by MACs (above)
        every = len(rows)
        rows = rows[:top]
        t = report.totals
        sums = {f: sum(getattr(r, f) for r in counted(rows, report.include_side)) for f in FIGURES}
        lines.append(f"The {top:,} of {every:,} rows with the most {SORT_WORDS[sort]} (--top {top}): "
                     f"{_percent(sums['macs'], t.macs)} of the MACs, {_percent(sums['params'], t.params)} of the "
                     f"parameters, {_percent(sums['memory_bytes'], t.memory_bytes)} of the activation memory. "
                     "The total row is the whole network's.")
    elif sort is not None:
        lines.append(f"Sorted by {SORT_WORDS[sort]}, the largest first (--sort {sort}).")
    from .columns import share_places

    places = share_places(rows, report.totals) if share else None
    return View(report, rows, exact=exact, color=color, notes=tuple(lines) + tuple(notes), grouped=depth is not None,
                fields=fields, share=share, share_places=places, folded=folded, width=width, model_notes=model_notes,
                reshaped=bool(fold or sort or top))
