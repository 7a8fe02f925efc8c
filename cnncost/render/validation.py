"""Rendering 'cnncost validate' results: a ValidationRun in, text out.

One model is shown row by row; several (--all) as one line per model. Either
way every difference is listed with both figures and how torch's was
obtained, and a summary line closes the output.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..errors import one_line
from ..validate.results import Check, ModelResult, ValidationRun
from .shown import Section, Shown

if TYPE_CHECKING:  # rich's progress bar is imported only where it is shown
    import rich.progress


def _value(value) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _cell(check: Check) -> str:
    """The checked figure; where torch disagrees, both."""
    return _value(check.cnncost) if check.ok else f"{_value(check.cnncost)} != torch {_value(check.torch)}"


def summary_line(run: ValidationRun) -> str:
    models = len(run.models)
    setting = ""
    if run.models:
        m = run.models[0]
        setting = f" ({m.dtype}, batch {m.batch})"
    text = (f"Validated {models} model{'s' if models != 1 else ''}, {run.layers:,} layers, "
            f"{run.figures:,} figures against torch {run.torch_version} on {run.device}{setting}: "
            f"{run.mismatches:,} mismatch{'es' if run.mismatches != 1 else ''}")
    if run.errors:
        text += f", {run.errors} model{'s' if run.errors != 1 else ''} failed to run"
    return text + "."


# The detail table shows these figures in columns, and counts the rest (window, and MACs and FLOPs under each
# convention) in one; CSV and JSON carry every check.
COLUMNS = ("shape", "memory_bytes", "params", "buffers", "raw macs", "bias adds")


def _columns(model: ModelResult) -> tuple:
    """The figures shown in columns: the usual ones, or (validate --memory) those of its first row."""
    if not model.layers or any(c.figure in COLUMNS for c in model.layers[0].checks):
        return COLUMNS
    return tuple(c.figure for c in model.layers[0].checks)


def figure_names(model: ModelResult) -> list[str]:
    return [*_columns(model), "other checks"]


def _differences(run: ValidationRun) -> list[list[str]]:
    rows = []
    for m in run.models:
        if m.error:
            rows.append([m.model, "", "error", "", "", m.error])
        for layer, check in m.mismatches:
            rows.append([m.model, layer, check.figure, _value(check.cnncost), _value(check.torch), check.basis])
    return rows


DIFF_HEADERS = ("Model", "Layer", "Figure", "cnncost", "torch", "torch's figure is")
MODEL_HEADERS = ("Model", "Input", "Layers", "Figures", "Mismatches", "Seconds", "Result")


def _model_cells(m: ModelResult) -> list[str]:
    result = "error" if m.error else ("ok" if m.ok else "MISMATCH")
    return [m.model, _value(m.input), f"{len(m.layers):,}", f"{m.figures:,}", f"{len(m.mismatches):,}",
            f"{m.seconds:.2f}", result]


def _layer_cells(layer, columns=COLUMNS) -> list[str]:
    by_figure = {c.figure: c for c in layer.checks}
    cells = [_cell(by_figure[f]) if f in by_figure else "" for f in columns]
    rest = [c for c in layer.checks if c.figure not in columns]
    wrong = [c.figure for c in rest if not c.ok]
    cells.append(f"{len(rest)} ok" if not wrong else f"{len(wrong)} of {len(rest)} differ: " + ", ".join(wrong))
    return [layer.name, layer.kind + (" (side)" if layer.side else ""), *cells]


def render_table(run: ValidationRun, detail: bool, color: bool = False, width: int | None = None) -> str:
    from .grid import draw, simple_grid, wrap_lines

    text = ""
    if detail:
        for m in run.models:
            grid = simple_grid(("Layer", "Type", *figure_names(m)), wrap={"Layer": 14, "other checks": 12},
                               stacked={"memory_bytes": "memory\nbytes", "other checks": "other\nchecks"},
                               title=f"{m.model}: cnncost vs torch")
            for layer in m.rows:
                grid.add_row(_layer_cells(layer, _columns(m)), style=None if layer.ok else "bold red")
            if m.layers:
                text += draw(grid, width, color, ("Type", "buffers", "bias adds", "raw macs", "other checks"))
    else:
        grid = simple_grid(MODEL_HEADERS, right={"Layers", "Figures", "Mismatches", "Seconds"}, wrap={"Model": 12},
                           title="cnncost vs torch")
        for m in run.models:
            grid.add_row(_model_cells(m), style=None if m.ok else "bold red")
        text += draw(grid, width, color, ("Seconds", "Input", "Figures"))
    differences = _differences(run)
    if differences:
        grid = simple_grid(DIFF_HEADERS, wrap={"Model": 10, "Layer": 14, "torch's figure is": 16, "cnncost": 10,
                                               "torch": 10}, title="Differences")
        for row in differences:
            grid.add_row(row)
        text += draw(grid, width, color)
    return text + "".join(line + "\n" for line in wrap_lines([summary_line(run)], width))


def render_markdown(run: ValidationRun, detail: bool) -> str:
    lines = []

    def table(headers, rows):
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("| " + " | ".join(":---" for _ in headers) + " |")
        lines.extend("| " + " | ".join(cells) + " |" for cells in rows)
        lines.append("")

    if detail:
        for m in run.models:
            if m.layers:
                lines.append(f"**{m.model}**: cnncost vs torch")
                lines.append("")
                table(("Layer", "Type", *figure_names(m)), [_layer_cells(l, _columns(m)) for l in m.rows])
    else:
        table(MODEL_HEADERS, [_model_cells(m) for m in run.models])
    differences = _differences(run)
    if differences:
        lines.append("**Differences**")
        lines.append("")
        table(DIFF_HEADERS, differences)
    lines.append(summary_line(run))
    return "\n".join(lines) + "\n"


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


def to_dict(run: ValidationRun) -> dict:
    return {
        "ok": run.ok,
        "torch": run.torch_version,
        "device": run.device,
        "summary": {"models": len(run.models), "layers": run.layers, "figures": run.figures,
                    "mismatches": run.mismatches, "errors": run.errors},
        "models": [
            {
                "model": m.model,
                "input": list(m.input),
                "batch": m.batch,
                "dtype": m.dtype,
                "device": m.device,
                "conventions": list(m.conventions),
                "seconds": round(m.seconds, 3),
                "ok": m.ok,
                "error": m.error,
                "layers": [
                    {
                        "name": l.name,
                        "kind": l.kind,
                        "side": l.side,
                        "ok": l.ok,
                        "checks": [{"figure": c.figure, "cnncost": _json_value(c.cnncost),
                                    "torch": _json_value(c.torch), "ok": c.ok, "basis": c.basis}
                                   for c in l.checks],
                    }
                    for l in m.rows
                ],
            }
            for m in run.models
        ],
    }


def records(run: ValidationRun):
    rows = []
    for m in run.models:
        if m.error:
            rows.append((m.model, "", "", "error", "", "", "false", m.error))
        for l in m.rows:
            for c in l.checks:
                rows.append((m.model, l.name, l.kind, c.figure, _value(c.cnncost).replace(",", ""),
                             _value(c.torch).replace(",", ""), str(c.ok).lower(), c.basis))
    return ("model", "layer", "kind", "figure", "cnncost", "torch", "ok", "basis"), rows


class ValidationShown(Shown):
    """A ValidationRun; option ``detail``: every row of every model (one model), or one line per model (--all)."""

    def sections(self) -> list[Section]:
        run = self.result
        if self.options["detail"]:
            sections = [Section(f"{m.model}: cnncost vs torch", ("Layer", "Type", *figure_names(m)),
                                [_layer_cells(layer, _columns(m)) for layer in m.rows]) for m in run.models if m.layers]
        else:
            sections = [Section("cnncost vs torch", MODEL_HEADERS, [_model_cells(m) for m in run.models],
                                right={"Layers", "Figures", "Mismatches", "Seconds"})]
        differences = _differences(run)
        if differences:
            sections.append(Section("Differences", DIFF_HEADERS, differences))
        return sections

    def notes(self) -> list[str]:
        return [summary_line(self.result)]

    def data(self) -> dict:
        return to_dict(self.result)

    def records(self):
        return records(self.result)

    def write_table(self) -> str:  # failing rows in red; a model's rows only where it has layers
        return render_table(self.result, self.options["detail"], self.color, self.width)

    def write_markdown(self) -> str:
        return render_markdown(self.result, self.options["detail"])

    def write_json(self) -> str:
        from ..report import versioned

        return json.dumps(versioned(to_dict(self.result)), indent=2) + "\n"


class Progress:
    """Progress over several models: a rich bar on a terminal's stderr, else one plain line per model."""

    def __init__(self, total: int):
        from rich.console import Console

        self.total = total
        self.console = Console(stderr=True, highlight=False)
        self.bar: rich.progress.Progress | None = None

    def __enter__(self):
        if self.console.is_terminal:
            from rich import progress

            self.bar = progress.Progress(progress.TextColumn("validating {task.description:<24}"),
                                         progress.BarColumn(), progress.MofNCompleteColumn(),
                                         progress.TimeElapsedColumn(), console=self.console, transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def start(self, model: str):
        if self.bar is not None:
            self.bar.update(self.task, description=model)

    def done(self, result: ModelResult):
        if self.bar is not None:
            self.bar.advance(self.task)
            return
        state = "error" if result.error else ("ok" if result.ok else f"{len(result.mismatches)} mismatches")
        self.console.print(f"validate: {one_line(result.model)}: {state} ({len(result.layers)} layers, "
                           f"{result.seconds:.1f} s)", markup=False, soft_wrap=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
