"""Rendering 'cnncost sweep': one row per point, in every format."""

from __future__ import annotations

from ..errors import one_line
from ..sweep import Sweep
from ..units import count, duration, size
from .shown import Section, Shown

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


class SweepShown(Shown):
    result: Sweep

    def sections(self) -> list[Section]:
        s = self.result
        axes = [a.name for a in s.axes]
        head = headers(s)
        # figures and axis values never wrap; the error text may. Left out in this order where the terminal is
        # too narrow: FLOPs (2 x MACs), the error text, activation memory (training peak and latency, when asked
        # for, stay), then params
        return [Section(f"{s.model}: {len(s.points):,} points", head, rows(s, self.exact),
                        right=set(head) - set(axes) - {"Error"}, wrap={"Error": 12},
                        stacked={"Training peak": "Training\npeak"}, drop=("FLOPs", "Error", "Memory", "Params"))]

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        s = self.result
        return ([a.name for a in s.axes] + list(s.figures) + ["error"],
                [[_value(v) for v in p.values] + ["" if getattr(p, f) is None else getattr(p, f) for f in s.figures]
                 + [p.error or ""] for p in s.points])

    def write_markdown(self) -> str:  # every column's alignment left to the reader
        section = self.sections()[0]
        lines = ["| " + " | ".join(section.headers) + " |", "| " + " | ".join("---" for _ in section.headers) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in section.rows]
        return "\n".join(lines) + "\n"
