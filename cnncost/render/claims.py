"""Rendering 'cnncost check': claim results in, text out (table, csv, json, markdown)."""

from __future__ import annotations

import json

from ..claims import Result, computed_text, format_scaled
from ..errors import one_line
from ..report import SCHEMA_VERSION
from .shown import Section, Shown

HEADERS = ("Claim", "Published", "Computed", "Outcome")


def outcome_text(result: Result, explain: bool = False) -> str:
    c = result.claim
    if not result.ok:
        return f"FAIL: {result.outcome}"
    if result.outcome == "erratum":
        text = f"erratum (correct: {format_scaled(c.correct, c.unit)})"
        return f"{text}: {c.explanation}" if explain else text
    return result.outcome


def cells(result: Result, explain: bool = False) -> list[str]:
    return [result.claim.id, result.claim.printed, computed_text(result) or "-", outcome_text(result, explain)]


def summary(results: list[Result]) -> dict:
    failed = [r for r in results if not r.ok]
    return {
        "claims": len(results),
        "reproduce": sum(1 for r in results if r.ok and r.outcome == "reproduces"),
        "errata": sum(1 for r in results if r.ok and r.outcome == "erratum"),
        "failed": len(failed),
    }


def summary_line(results: list[Result]) -> str:
    s = summary(results)
    text = (f"{s['claims']} claim{'s' if s['claims'] != 1 else ''}: {s['reproduce']} reproduce, "
            f"{s['errata']} errata explained, {s['failed']} failed.")
    return text + ("" if s["failed"] else " Every published figure is reproduced or explained.")


def failures(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if not r.ok:
            c = r.claim
            # the problem may quote a model file's names: one line each (docs/security.md, F36)
            lines.append(f"{c.id} ({c.file}; {c.source}, {c.where}): {r.outcome}: {one_line(str(r.problem))}")
    return lines


def render_table(results: list[Result], explain: bool, color: bool, width: int | None = None) -> str:
    from .grid import draw, simple_grid, wrap_lines

    grid = simple_grid(HEADERS, wrap={"Claim": 12, "Published": 10, "Computed": 10, "Outcome": 12},
                       title="Published claims")
    for r in results:
        grid.add_row(cells(r, explain), style=None if r.ok else "bold red")
    text = draw(grid, width, color)
    for line in wrap_lines(failures(results), width):
        text += (f"\x1b[31m{line}\x1b[0m" if color else line) + "\n"
    return text + "".join(line + "\n" for line in wrap_lines([summary_line(results)], width))


def render_markdown(results: list[Result], explain: bool) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "| :--- | ---: | ---: | :--- |"]
    for r in results:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(r, explain)) + " |")
    lines.append("")
    lines.extend(f"- {line}" for line in failures(results))
    lines.append(summary_line(results))
    return "\n".join(lines) + "\n"


class Checked(Shown):
    """'cnncost check': the result is the list of claim results; option ``explain``: each erratum's
    explanation in its outcome."""

    def sections(self) -> list[Section]:
        explain = self.options.get("explain", False)
        return [Section("Published claims", HEADERS, [cells(r, explain) for r in self.result],
                        right={"Published", "Computed"}, styles=[None if r.ok else "bold red" for r in self.result],
                        wrap={"Claim": 12, "Published": 10, "Computed": 10, "Outcome": 12})]

    def notes(self) -> list[str]:
        return failures(self.result) + [summary_line(self.result)]

    def data(self) -> dict:
        return {"ok": all(r.ok for r in self.result), "summary": summary(self.result),
                "claims": [r.to_dict() for r in self.result]}

    def records(self):
        rows = []
        for r in self.result:
            c = r.claim
            rows.append((c.id, c.source, c.where, " ".join(c.models), c.printed, computed_text(r), c.expected,
                         r.outcome, str(r.ok).lower(), r.problem))
        return ("id", "source", "where", "models", "printed", "computed", "expected", "outcome", "ok", "problem"), rows

    def write_table(self) -> str:  # the failures in red, each numbers' column left-aligned
        return render_table(self.result, self.options.get("explain", False), self.color, self.width)

    def write_markdown(self) -> str:  # cells quote claims' text: a | escaped; failures as a list
        return render_markdown(self.result, self.options.get("explain", False))

    def write_json(self) -> str:
        return json.dumps({"schema_version": SCHEMA_VERSION, **self.data()}, indent=2, ensure_ascii=False) + "\n"
