"""Rendering 'cnncost info': a ModelInfo in, text or JSON out."""

from __future__ import annotations

from ..errors import one_line
from ..info import ModelInfo
from .shown import Shown
from .text import wrap_at_spaces


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _fit(lines: list[str], width: int | None) -> list[str]:
    """Each line wrapped at spaces to width, its continuation indented under its text: after a label
    ('File:        '), a parameter's name and default, or a list item's indent."""
    import re

    if width is None:  # nothing to wrap
        return lines

    def hang(line: str) -> int:
        label = re.match(r"[A-Z][^:]{0,20}:\s+|  \S+\s{2,}\S+\s{2,}", line)
        n = len(label.group(0)) if label else 4 if line.startswith("  ") else 0
        return 4 if n > width // 2 else n

    return wrap_at_spaces(lines, width, hang)


def render_text(info: ModelInfo, width: int | None = None) -> str:
    t = info.report.totals
    lines = [one_line(f"{info.model}: {info.description}" if info.description else info.model), ""]
    lines.append(f"File:        {info.source}" + (f" (extends {info.extends})" if info.extends else ""))
    for i, reference in enumerate(info.references or ("-",)):
        lines.append(("References:  " if i == 0 else " " * 13) + reference)
    lines.append(f"Input:       {'x'.join(map(str, info.input))} (per sample; --input CxHxW changes it)")
    lines.append(f"At defaults: {len(info.report.layers):,} layers, {t.params:,} params, {t.macs:,} MACs, "
                 f"{t.memory_bytes:,} bytes of activations (batch 1, float32, convention "
                 f"'{info.report.convention}')")
    lines.append("")
    if info.parameters:
        lines.append("Parameters (--set NAME=VALUE):")
        rows = []
        for p in info.parameters:
            default = _value(p.default)
            if p.value != p.default:
                default += f" (= {_value(p.value)})"
            about = []
            if p.choices is not None:
                about.append("one of " + ", ".join(_value(c) for c in p.choices))
            if p.doc:
                about.append(p.doc)
            rows.append((p.name, default, "; ".join(about)))
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        for name, shown, described in rows:
            lines.append(f"  {name:<{widths[0]}}  {shown:<{widths[1]}}  {described}".rstrip())
    else:
        lines.append("Parameters: none")
    if info.claims:
        from ..claims import computed_text

        lines.append("")
        lines.append(f"Published figures ({len(info.claims)}; cnncost check {info.model} for the table):")
        for r in info.claims:
            c = r.claim
            computed = computed_text(r) if r.computed is not None else "nothing"
            outcome = r.outcome if r.ok else f"{r.outcome} (cnncost check fails here)"
            lines.append(f"  {c.source}, {c.where}: {c.what} printed \"{c.printed}\"; the network gives {computed}: "
                         f"{outcome}")
    if info.accuracy:
        a = info.accuracy
        lines.append("")
        five = f", top-5 {a['top5']}%" if a.get("top5") is not None else ""
        lines.append(f"ImageNet accuracy: top-1 {a['top1']}%{five} ({a.get('source') or a.get('kind')})")
        if a.get("v2"):
            v2 = a["v2"]
            lines.append(f"  later weights {v2.get('weights')}: top-1 {v2.get('top1')}%, top-5 {v2.get('top5')}%")
    if info.notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"  {one_line(n)}" for n in info.notes)
    return "\n".join(_fit(lines, width)) + "\n"


class InfoShown(Shown):
    """A ModelInfo: prose and lists, not a table, so it offers the text and JSON only."""

    formats = ("table", "json")

    def data(self) -> dict:
        return self.result.to_dict()

    def write_table(self) -> str:
        return render_text(self.result, self.width)

    def write_json(self) -> str:
        import json

        from ..report import versioned

        return json.dumps(versioned(self.data()), indent=2, ensure_ascii=False) + "\n"
