"""Rendering 'cnncost compare': a Comparison in, text out (table, csv, json, markdown)."""

from __future__ import annotations

import json

from ..compare import Comparison, Entry, Slice
from ..conventions import CONVENTIONS
from ..errors import one_line
from ..report import versioned
from ..units import count
from .shown import Section, Shown

PARTS = (("stem", "Stem"), ("whole", "Whole network"))
HEADERS = ("Model", "Input", "Last layer", "Output", "Layers", "Memory (MiB)", "Params", "MACs", "FLOPs",
           "Memory ×", "Params ×", "MACs ×")
NUMERIC = set(HEADERS) - {"Model", "Input", "Last layer", "Output"} | {"Train MACs", "Train MACs ×"}


def _human(value: int | None, exact: bool) -> str:
    """Four significant digits in k, M or G: 124.7k, 1.735M, 9.341G (cnncost/units.py); "-" for None."""
    return count(value, exact)


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def cells(comparison: Comparison, entry: Entry, part: str, exact: bool) -> list[str]:
    s: Slice = getattr(entry, part)
    t = s.totals
    memory = f"{t.memory_bytes:,}" if exact else f"{t.memory_bytes / 2 ** 20:,.2f}"
    return [
        entry.label + (" (baseline)" if comparison.entries[comparison.baseline] is entry else ""),
        _shape(entry.report.input),
        s.last.name if s.last else "",
        _shape(s.last.output_shape) if s.last else "",
        f"{len(s.rows):,}",
        memory,
        _human(t.params, exact),
        _human(t.macs, exact),
        _human(t.flops, exact),
        *(_ratio(comparison.ratio(entry, part, f)) for f in ("memory_bytes", "params", "macs")),
        *((_human(t.training_macs, exact), _ratio(comparison.ratio(entry, part, "training_macs")))
          if comparison.training else ()),
    ]


def shown_entries(comparison: Comparison, part: str) -> list[Entry]:
    """The models that have this part: a model without a stem has no row in the stem table."""
    return [e for e in comparison.entries if getattr(e, part) is not None]


TRAINING_HEADERS = ("Train MACs", "Train MACs ×")  # --pass train: forward + backward


def headers(exact: bool, training: bool = False) -> tuple:
    return tuple("Memory (bytes)" if exact and h == "Memory (MiB)" else h for h in HEADERS) + (
        TRAINING_HEADERS if training else ())


def titles(comparison: Comparison) -> dict[str, str]:
    return {"stem": f"Stem: input to the {comparison.cut}", "whole": "Whole network"}


def footer(comparison: Comparison) -> list[str]:
    base = comparison.entries[comparison.baseline].label
    first = comparison.entries[0].report
    lines = [comparison.stem_note] if comparison.stem_note else []
    lines += [
        f"Ratios: each model's figure over {base}'s (FLOPs = 2 x MACs, so their ratios are the MACs ratios). "
        f"Batch {first.batch}, {first.dtype}; MiB = 1024 x 1024 bytes.",
        f"Convention '{comparison.convention}': {CONVENTIONS[comparison.convention].summary}",
    ]
    if first.training:
        from .columns import training_line

        lines += [f"{e.label}: {training_line(e.report)}" for e in comparison.entries]
    if comparison.notes:
        lines.append("")
        lines.append("Published figures about these stems (cnncost check; docs/errata.md):")
        lines.extend(f"- {one_line(n)}" for n in comparison.notes)
    return lines


# on a narrow terminal: headers on two lines, text wrapped, then these columns left out in turn
DROPS = ("FLOPs", "Output", "Input", "Layers", "Last layer", "Memory ×", "Params ×")
STACKED = {"Last layer": "Last\nlayer", "Memory (MiB)": "Memory\n(MiB)", "Memory (bytes)": "Memory\n(bytes)",
           "Memory ×": "Memory\n×", "Params ×": "Params\n×", "MACs ×": "MACs\n×"}


def render_markdown(comparison: Comparison, exact: bool) -> str:
    lines = []
    for part, _ in PARTS:
        shown = shown_entries(comparison, part)
        if not shown:
            continue
        hs = headers(exact, comparison.training)
        lines.append(f"**{titles(comparison)[part]}**")
        lines.append("")
        lines.append("| " + " | ".join(hs) + " |")
        lines.append("| " + " | ".join("---:" if h in NUMERIC or h == "Memory (bytes)" else ":---" for h in hs) + " |")
        for entry in shown:
            lines.append("| " + " | ".join(cells(comparison, entry, part, exact)) + " |")
        lines.append("")
    lines.extend(footer(comparison))
    return "\n".join(lines) + "\n"


class ComparisonShown(Shown):
    result: Comparison

    def sections(self) -> list[Section]:
        comparison, exact = self.result, self.exact
        sections = []
        for part, _ in PARTS:
            shown = shown_entries(comparison, part)
            if not shown:
                continue
            hs = headers(exact, comparison.training)
            sections.append(Section(titles(comparison)[part], hs,
                                    [cells(comparison, entry, part, exact) for entry in shown],
                                    right={h for h in hs if h in NUMERIC or h == "Memory (bytes)"},
                                    wrap={"Model": 12, "Last layer": 12}, stacked=STACKED, drop=DROPS))
        return sections

    def notes(self) -> list[str]:
        return footer(self.result)

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        comparison = self.result
        figures = ("memory_bytes", "params", "macs", "flops") + (
            ("backward_macs", "training_macs") if comparison.training else ())
        rows = []
        for part, _ in PARTS:
            for entry in shown_entries(comparison, part):
                s: Slice = getattr(entry, part)
                ratios = [comparison.ratio(entry, part, f) for f in figures]
                rows.append((entry.label, part, _shape(entry.report.input), s.last.name if s.last else "",
                             _shape(s.last.output_shape) if s.last else "", len(s.rows),
                             *(getattr(s.totals, f) for f in figures),
                             *("" if r is None else repr(r) for r in ratios)))
        return ("model", "part", "input", "last_layer", "output_shape", "layers", *figures,
                *(f"{f}_ratio" for f in figures)), rows

    def write_json(self) -> str:
        return json.dumps(versioned(self.data()), indent=2) + "\n"

    def write_markdown(self) -> str:  # each part's title in bold above its table
        return render_markdown(self.result, self.exact)


