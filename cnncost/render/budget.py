"""Rendering 'cnncost budget': a Budget in, text out (lines, csv, json, markdown)."""

from __future__ import annotations

import io

from ..budget import Budget
from ..errors import one_line


def summary(budget: Budget) -> str:
    """The one line for a budget that holds: 'tiny.yaml: within budget: params 314 <= 5,000,000; ...'."""
    within = "; ".join(f"{c.words} {c.value:,}{c.unit} <= {c.limit:,}" for c in budget.checks)
    return f"{one_line(budget.model)}: within budget ({within})"


def render_lines(budget: Budget) -> str:
    """One line per exceeded limit, or one OK line."""
    if budget.ok:
        return summary(budget) + "\n"
    return "".join(c.line(one_line(budget.model)) + "\n" for c in budget.exceeded)


def render_csv(budget: Budget) -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("model", "figure", "option", "value", "limit", "limit_text", "ok", "excess"))
    for c in budget.checks:
        d = c.to_dict()
        writer.writerow((budget.model, d["figure"], d["option"], d["value"], d["limit"], d["limit_text"],
                         str(d["ok"]).lower(), d["excess"]))
    return out.getvalue()


def render_markdown(budget: Budget) -> str:
    lines = ["| Figure | Value | Limit | Within |", "| :--- | ---: | ---: | :--- |"]
    for c in budget.checks:
        lines.append(f"| {c.words} | {c.value:,}{c.unit} | {c.limit_text} ({c.limit:,}{c.unit}) | "
                     f"{'yes' if c.ok else '**no**'} |")
    lines.append("")
    lines.append(render_lines(budget).rstrip("\n"))
    return "\n".join(lines) + "\n"


def render_budget(budget: Budget, fmt: str) -> str:
    if fmt == "json":
        from ..report import versioned
        from .text import dumps_by_line

        return dumps_by_line(versioned(budget.to_dict()))
    if fmt == "csv":
        return render_csv(budget)
    if fmt == "markdown":
        return render_markdown(budget)
    return render_lines(budget)
