"""Rendering 'cnncost sweep': one row per point, in every format."""

from __future__ import annotations

import io

from ..errors import one_line
from ..sweep import Sweep
from ..units import count, duration, size

HEADINGS = {"params": "Params", "macs": "MACs", "flops": "FLOPs", "memory_bytes": "Memory",
            "peak_bytes": "Training peak", "latency_s": "Latency", "backward_macs": "Backward MACs",
            "training_macs": "Training MACs", "training_flops": "Training FLOPs"}
FORMS = {"params": count, "macs": count, "flops": count, "memory_bytes": size, "peak_bytes": size,
         "latency_s": duration, "backward_macs": count,
         "training_macs": count, "training_flops": count}


def _value(v) -> str:
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def rows(s: Sweep, exact: bool = False) -> list[list[str]]:
    out = []
    errors = any(q.error for q in s.points)  # once: per point, it made 100,000 points take hours (F33)
    for p in s.points:
        cells = [_value(v) for v in p.values] + [FORMS[f](getattr(p, f), exact) for f in s.figures]
        out.append(cells + ([one_line(p.error or "")] if errors else []))
    return out


def headers(s: Sweep) -> list[str]:
    return [a.name for a in s.axes] + [HEADINGS[f] for f in s.figures] + (
        ["Error"] if any(p.error for p in s.points) else [])


def render_sweep(s: Sweep, fmt: str, color: bool = False, width: int | None = None, exact: bool = False) -> str:
    if fmt == "json":
        from ..report import versioned
        from .text import dumps_by_line

        return dumps_by_line(versioned(s.to_dict()))
    if fmt == "csv":
        import csv

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([a.name for a in s.axes] + list(s.figures) + ["error"])
        for p in s.points:
            writer.writerow([_value(v) for v in p.values] + ["" if getattr(p, f) is None else getattr(p, f)
                                                             for f in s.figures] + [p.error or ""])
        return out.getvalue()
    if fmt == "markdown":
        head = headers(s)
        lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows(s, exact)]
        return "\n".join(lines) + "\n"
    from .grid import draw, simple_grid

    axes = [a.name for a in s.axes]
    head = headers(s)
    # figures and axis values never wrap; the error text may
    grid = simple_grid(head, right=set(head) - set(axes) - {"Error"},
                       wrap={"Error": 12}, title=f"{s.model}: {len(s.points):,} points",
                       stacked={"Training peak": "Training\npeak"})
    for r in rows(s, exact):
        grid.add_row(r)
    # left out in this order where the terminal is too narrow: FLOPs (2 x MACs), the error text, activation
    # memory (training peak and latency, when asked for, stay), then params
    return draw(grid, width, color, ("FLOPs", "Error", "Memory", "Params"))
