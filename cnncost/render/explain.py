"""Rendering 'cnncost explain': an Explanation in, text out (table, CSV, JSON or Markdown)."""

from __future__ import annotations

from ..errors import one_line
from ..explain import ConventionTotals, Explanation
from .shown import Section, Shown


def _signed(value: int) -> str:
    return f"{value:+,}" if value else "0"


def _share(value: int, base: int) -> str:
    return f"{100 * value / base:+.2f}%" if base else ""


def _header(e: Explanation) -> str:
    side = ", side outputs included" if e.include_side else ""
    return (f"{one_line(e.model)}: input {'x'.join(map(str, e.input))}, batch {e.batch}{side}. "
            f"Every convention's totals, and what each counts beyond '{e.baseline}' (conv and linear MACs, "
            "bias excluded).")


def _summary_cells(e: Explanation, c: ConventionTotals) -> list[str]:
    base = e.of(e.baseline).macs
    return [c.convention, c.reproduces, f"{c.params:,}", f"{c.macs:,}", _signed(c.macs - base),
            _share(c.macs - base, base)]


SUMMARY_HEADERS = ("Convention", "Reproduces", "Params", "MACs", "vs baseline", "%")


DETAIL_HEADERS = ("Convention", "Kind", "Rows", "MACs vs baseline", "How it counts this kind")


def _detail_rows(e: Explanation) -> list[list[str]]:
    """Each kind that each convention counts differently from the baseline, with its rule."""
    rows = []
    for c in e.conventions:
        for d in c.differences:
            rows.append([c.convention, d.kind, f"{d.rows:,}", _signed(d.delta), d.rule])
        if c.side_params:
            rows.append([c.convention, "(params)", "", f"+{c.side_params:,} params",
                         "counts the parameters of side outputs (auxiliary heads) that do not run"])
        if c.uncounted_params:
            rows.append([c.convention, "(params)", "", f"-{c.uncounted_params:,} params",
                         "leaves out the parameters of modules it has no rule for"])
    return rows


BACKWARD_HEADERS = ("Convention", "Kind", "Rows", "Input grad MACs", "Weight grad MACs", "Input grad rule",
                    "Weight grad rule")


def _backward_rows(e: Explanation) -> list[list[str]]:
    return [[b.convention, b.kind, f"{b.rows:,}", f"{b.input_grad_macs:,}", f"{b.weight_grad_macs:,}", b.input_rule,
             b.weight_rule] for b in e.backward or ()]


def _backward_footer(e: Explanation) -> list[str]:
    if e.backward is None:
        return []
    return ["Backward (--pass train): kinds with no row count 0. Not counted: "
            + "; ".join(f"{name}: {why}" for name, why in (e.backward_not_counted or {}).items()) + "."]


def render_table(e: Explanation, color: bool = False, width: int | None = None) -> str:
    text = _render_table(e, color, width)
    if e.backward is not None:
        from .grid import draw, simple_grid

        grid = simple_grid(BACKWARD_HEADERS, right={"Rows", "Input grad MACs", "Weight grad MACs"},
                           wrap={"Input grad rule": 16, "Weight grad rule": 16, "Convention": 10, "Kind": 10},
                           stacked={"Input grad MACs": "Input grad\nMACs", "Weight grad MACs": "Weight grad\nMACs",
                                    "Input grad rule": "Input grad\nrule", "Weight grad rule": "Weight grad\nrule"},
                           title="A training step's backward, by convention and kind (--pass train)")
        for row in _backward_rows(e):
            grid.add_row(row)
        text += draw(grid, width, color, ("Rows",), _backward_footer(e))
    return text


def _render_table(e: Explanation, color: bool = False, width: int | None = None) -> str:
    from .grid import draw, simple_grid

    grid = simple_grid(SUMMARY_HEADERS, right=set(SUMMARY_HEADERS) - {"Convention", "Reproduces"},
                       wrap={"Reproduces": 10}, title=e.model)
    for c in e.conventions:
        grid.add_row(_summary_cells(e, c), style="bold" if c.convention == e.baseline else None)
    text = draw(grid, width, color, ("%", "Params", "Reproduces", "vs baseline"), [_header(e)])
    details = _detail_rows(e)
    if details:
        grid = simple_grid(DETAIL_HEADERS, right={"Rows", "MACs vs baseline"},
                           wrap={"How it counts this kind": 10, "Kind": 8},
                           stacked={"MACs vs baseline": "MACs vs\nbaseline",
                                    "How it counts this kind": "How it counts\nthis kind"},
                           title=f"What each convention counts differently from '{e.baseline}'")
        previous = None
        for row in details:
            if previous is not None and row[0] != previous:
                grid.add_section()
            grid.add_row([""] + row[1:] if row[0] == previous else row)
            previous = row[0]
        text += draw(grid, width, color, ("Rows",))
    return text


def render_markdown(e: Explanation) -> str:
    lines = ["| " + " | ".join(SUMMARY_HEADERS) + " |",
             "| :--- | :--- | ---: | ---: | ---: | ---: |"]
    lines += ["| " + " | ".join(_summary_cells(e, c)) + " |" for c in e.conventions]
    lines += ["", _header(e), ""]
    details = _detail_rows(e)
    if details:
        lines += ["| " + " | ".join(DETAIL_HEADERS) + " |", "| :--- | :--- | ---: | ---: | :--- |"]
        lines += ["| " + " | ".join(row) + " |" for row in details]
    if e.backward is not None:
        lines += ["", "| " + " | ".join(BACKWARD_HEADERS) + " |", "| :--- | :--- | ---: | ---: | ---: | :--- | :--- |"]
        lines += ["| " + " | ".join(row) + " |" for row in _backward_rows(e)]
        lines += ["", *_backward_footer(e)]
    return "\n".join(lines) + "\n"


class ExplanationShown(Shown):
    result: Explanation

    def sections(self) -> list[Section]:
        e = self.result
        sections = [Section(e.model, SUMMARY_HEADERS, [_summary_cells(e, c) for c in e.conventions],
                            right=set(SUMMARY_HEADERS) - {"Convention", "Reproduces"}, notes=[_header(e)])]
        details = _detail_rows(e)
        if details:
            sections.append(Section(f"What each convention counts differently from '{e.baseline}'", DETAIL_HEADERS,
                                    details, right={"Rows", "MACs vs baseline"}))
        if e.backward is not None:
            sections.append(Section("A training step's backward, by convention and kind (--pass train)",
                                    BACKWARD_HEADERS, _backward_rows(e),
                                    right={"Rows", "Input grad MACs", "Weight grad MACs"}, notes=_backward_footer(e)))
        return sections

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        e = self.result
        base = e.of(e.baseline).macs
        rows = []
        for c in e.conventions:
            rows.append((c.convention, "total", "", c.macs, base, c.macs - base, c.reproduces))
            rows += [(c.convention, d.kind, d.rows, d.macs, d.baseline_macs, d.delta, d.rule) for d in c.differences]
        return ("convention", "kind", "rows", "macs", "baseline_macs", "delta", "rule"), rows

    def write_table(self) -> str:  # the detail table's conventions as sections, each named once
        return render_table(self.result, self.color, self.width)

    def write_markdown(self) -> str:
        return render_markdown(self.result)
