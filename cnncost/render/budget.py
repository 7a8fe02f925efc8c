"""Rendering 'cnncost budget': a Budget in, text out (lines, csv, json, markdown)."""

from __future__ import annotations

from ..budget import Budget
from ..errors import one_line
from .shown import Section, Shown


def summary(budget: Budget) -> str:
    """The one line for a budget that holds: 'tiny.yaml: within budget: params 314 <= 5,000,000; ...'."""
    within = "; ".join(f"{c.words} {c.value:,}{c.unit} <= {c.limit:,}" for c in budget.checks)
    return f"{one_line(budget.model)}: within budget ({within})"


def render_lines(budget: Budget) -> str:
    """One line per exceeded limit, or one OK line."""
    if budget.ok:
        return summary(budget) + "\n"
    return "".join(c.line(one_line(budget.model)) + "\n" for c in budget.exceeded)


class BudgetShown(Shown):
    """A Budget: its terminal text is lines (one per exceeded limit, or one OK line), not a grid."""

    result: Budget

    def sections(self) -> list[Section]:
        b = self.result
        return [Section(None, ("Figure", "Value", "Limit", "Within"),
                        [[c.words, f"{c.value:,}{c.unit}", f"{c.limit_text} ({c.limit:,}{c.unit})",
                          "yes" if c.ok else "**no**"] for c in b.checks], right={"Value", "Limit"})]

    def notes(self) -> list[str]:
        return render_lines(self.result).rstrip("\n").split("\n")

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        b = self.result
        rows = []
        for c in b.checks:
            d = c.to_dict()
            rows.append((b.model, d["figure"], d["option"], d["value"], d["limit"], d["limit_text"],
                         str(d["ok"]).lower(), d["excess"]))
        return ("model", "figure", "option", "value", "limit", "limit_text", "ok", "excess"), rows

    def write_table(self) -> str:
        return render_lines(self.result)
