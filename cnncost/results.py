"""What every analysis's result shares in Python: a one-line repr, its text table, HTML for a notebook,
its JSON as a dict, and a pandas DataFrame of its rows.

    >>> import cnncost
    >>> m = cnncost.analyze_memory("alexnet", batch=8)
    >>> m
    <Memory alexnet: training, batch 8, float32, sgd; 21 layers, peak 506.7 MiB>
    >>> max(len(line) for line in m.table(width=80).splitlines())
    80

Each result class (Report, Memory, ReceptiveFields, Latency, Sweep, Explanation) subclasses Result and
is described once in DESCRIPTIONS below: how to render it (the CLI's renderer), its one-line summary, its
HTML table and its DataFrame rows. Nothing here imports pandas until to_pandas() is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from .errors import CnnCostError



class Display(NamedTuple):
    title: str
    headers: tuple
    rows: list  # of lists of str, as the terminal shows them
    total: list | None
    notes: list
    numeric: tuple  # the right-aligned columns


class Description(NamedTuple):
    summary: Callable[[Any], str]  # the repr's text after the class name
    render: Callable[..., str]  # (result, fmt, width, exact) -> the CLI's text
    display: Callable[[Any], Display]
    rows: Callable[[Any], list]  # of dicts: the DataFrame's rows
    totals: Callable[[Any], dict]  # the figures the rows add up to (DataFrame.attrs["totals"])


class Result:
    """The shared face of a result; the subclass is a frozen dataclass of plain data."""

    def _description(self) -> Description:
        return DESCRIPTIONS[type(self).__name__]()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._description().summary(self)}>"

    def __str__(self) -> str:
        return self.table()

    def table(self, format: str = "table", *, width: int | None = None, exact: bool = False) -> str:
        """The result as the command prints it: format table (plain text, no colour), csv, json or markdown;
        width fits the table to that many columns as on a terminal (None: whole, as in a file); exact
        shows integers (bytes, counts) instead of KiB/MiB/GiB and k/M/G."""
        _check_format(format, width, exact)
        return self._description().render(self, format, width, exact)

    def _repr_html_(self) -> str:
        from .render.html import html_table

        d = self._description().display(self)
        return html_table(d.title, d.headers, d.rows, total=d.total, notes=d.notes, numeric=d.numeric)

    def to_pandas(self):
        """A pandas DataFrame of the rows (one per layer, point or convention), with the JSON's exact figures;
        ``.attrs["totals"]`` holds the totals the rows add up to. Needs pandas: pip install 'cnncost[pandas]'."""
        try:
            import pandas
        except ImportError:
            raise CnnCostError("to_pandas() needs pandas", hint="pip install 'cnncost[pandas]'") from None
        description = self._description()
        frame = pandas.DataFrame(description.rows(self))
        frame.attrs["totals"] = description.totals(self)
        return frame


def _check_format(format, width, exact) -> None:
    from .render.formats import FORMATS

    if format not in FORMATS:
        raise CnnCostError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise CnnCostError(f"width must be a positive integer or None, got {width!r}")
    if not isinstance(exact, bool):
        raise CnnCostError(f"exact must be True or False, got {exact!r}")


def _displayed(result) -> Display:
    """The HTML table's parts, from the result's Shown (render/): its first table and every note."""
    from .render.formats import shown

    s = shown(result)
    section = s.sections()[0]
    return Display(section.title or "", tuple(section.headers), section.rows, section.total, section.notes + s.notes(),
                   tuple(section.right))


def _shape(shape) -> str:
    return "x".join(map(str, shape))


# --- receptive fields: the one result that had no class of its own ---


@dataclass(frozen=True, repr=False)
class ReceptiveFields(Result):
    """Every layer's receptive field (rf.LayerField rows), as 'cnncost rf' shows them."""

    model: str
    layers: tuple  # of rf.LayerField
    local: bool = False  # the conventional field: global statistics left out (rf --local)

    def to_dict(self) -> dict:
        return {"model": self.model, "local": self.local, "layers": [r.to_dict() for r in self.layers]}

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str):
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)


# --- the descriptions ---


def _report() -> Description:
    from .render.rows import layer_view
    from .units import count, size

    def summary(r):
        t = r.totals
        return (f"{r.model}: input {_shape(r.input)}, batch {r.batch}, {r.dtype}, {r.convention}; "
                f"{len(r.layers):,} layers, {count(t.params)} params, {count(t.macs)} MACs, "
                f"{size(t.memory_bytes)} of activations")

    def render(r, fmt, width, exact):
        return r.table(fmt, width=width, exact=exact)

    def display(r):
        return _displayed(layer_view(r))

    def rows(r):
        from .report import layer_to_dict

        return [{**layer_to_dict(l), "counted": r.include_side or not l.side} for l in r.layers]

    def totals(r):
        from dataclasses import asdict

        return asdict(r.totals)

    return Description(summary, render, display, rows, totals)


def _memory() -> Description:
    from .render.formats import render as render_result
    from .units import size

    def summary(m):
        return (f"{m.model}: {'training' if m.mode == 'train' else 'inference'}, batch {m.batch}, {m.dtype}"
                + (f", {m.optimizer}" if m.mode == "train" else "") + f"; {len(m.layers):,} layers, "
                f"peak {size(m.peak_bytes)}")

    def render(m, fmt, width, exact):
        return render_result(m, fmt, width=width, exact=exact)

    display = _displayed

    def rows(m):
        return m.to_dict()["layers"]

    def totals(m):
        return m.to_dict()["totals"]

    return Description(summary, render, display, rows, totals)


def _fields() -> Description:
    from .render import rf as rendering
    from .render.formats import render as render_result

    def summary(f):
        local = [r for r in f.layers if r.field is not None and not r.side and (r.field.h.stride or r.field.w.stride)]
        field = "" if not local else (f", the last local field "
                                      f"{rendering.field_pair((local[-1].field.h.size, local[-1].field.w.size))} "
                                      f"at {local[-1].name}")
        return f"{f.model}: {len(f.layers):,} layers" + (" (local)" if f.local else "") + field

    def render(f, fmt, width, exact):
        return render_result(f, fmt, width=width)

    display = _displayed

    def rows(f):
        return [r.to_dict() for r in f.layers]

    def totals(f):
        return {}

    return Description(summary, render, display, rows, totals)


def _latency() -> Description:
    from .render.formats import render as render_result
    from .units import duration

    def summary(lat):
        return (f"{lat.model} on {lat.device}: batch {lat.batch}, {lat.dtype}; {len(lat.layers):,} layers, "
                f"roofline {duration(lat.time_s)}")

    def render(lat, fmt, width, exact):
        return render_result(lat, fmt, width=width, exact=exact)

    display = _displayed

    def rows(lat):
        return lat.to_dict()["layers"]

    def totals(lat):
        return lat.to_dict()["total"]

    return Description(summary, render, display, rows, totals)


def _sweep() -> Description:
    from .render.formats import render as render_result

    def summary(s):
        axes = ", ".join(f"{a.name} ({len(a.values)})" for a in s.axes)
        failed = sum(1 for p in s.points if p.error)
        return f"{s.model}: {len(s.points):,} points over {axes}" + (f"; {failed} failed" if failed else "")

    def render(s, fmt, width, exact):
        return render_result(s, fmt, width=width, exact=exact)

    display = _displayed

    def rows(s):
        return s.to_dict()["points"]

    def totals(s):
        return {}

    return Description(summary, render, display, rows, totals)


def _explanation() -> Description:
    from .render import explain as rendering
    from .render.formats import render as render_result

    def summary(e):
        macs = sorted(c.macs for c in e.conventions)
        return (f"{e.model}: {len(e.conventions)} conventions, MACs from {macs[0]:,} to {macs[-1]:,}, "
                f"baseline {e.baseline}")

    def render(e, fmt, width, exact):
        return render_result(e, fmt, width=width)

    def display(e):
        return Display(e.model, rendering.SUMMARY_HEADERS, [rendering._summary_cells(e, c) for c in e.conventions],
                       None, [rendering._header(e)] + [" · ".join(row) for row in rendering._detail_rows(e)],
                       ("Params", "MACs", "vs baseline", "%"))

    def rows(e):
        return [{k: v for k, v in c.items() if k != "differences"} for c in e.to_dict()["conventions"]]

    def totals(e):
        return {}

    return Description(summary, render, display, rows, totals)


DESCRIPTIONS: dict[str, Callable[[], Description]] = {
    "Report": _report, "Memory": _memory, "ReceptiveFields": _fields, "Latency": _latency, "Sweep": _sweep,
    "Explanation": _explanation,
}
