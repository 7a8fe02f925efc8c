"""The 'cnncost list' overview: one line per architecture."""

from __future__ import annotations

import json

from .shown import Section, Shown, markdown_rows

HEADERS = ("Model", "Input", "Params (M)", "MACs (G)", "Description")


def _cells(name, report):
    t = report.totals
    return [name, "x".join(map(str, report.input)), f"{t.params / 1e6:,.2f}", f"{t.macs / 1e9:,.3f}",
            report.description]


class ZooList(Shown):
    """'cnncost list': the result is a list of (name, Report) pairs."""

    def sections(self) -> list[Section]:
        return [Section(None, HEADERS, [_cells(n, r) for n, r in self.result], right={"Params (M)", "MACs (G)"},
                        wrap={"Description": 16, "Model": 12},
                        stacked={"Params (M)": "Params\n(M)", "MACs (G)": "MACs\n(G)"}, drop=("Input", "Description"),
                        notes=["MACs under the lecture convention, at each model's default input, batch 1."])]

    def data(self) -> list:
        return [{"model": n, "input": list(r.input), "params": r.totals.params, "macs": r.totals.macs,
                 "convention": r.convention, "description": r.description} for n, r in self.result]

    def records(self):
        return (("model", "input", "params", "macs", "description"),
                [(n, "x".join(map(str, r.input)), r.totals.params, r.totals.macs, r.description)
                 for n, r in self.result])

    def write_json(self) -> str:
        return json.dumps(self.data(), indent=2) + "\n"

    def write_markdown(self) -> str:  # the table's note is about the terminal's figures only
        return "\n".join(markdown_rows(HEADERS, [_cells(n, r) for n, r in self.result],
                                        {"Params (M)", "MACs (G)"})) + "\n"
