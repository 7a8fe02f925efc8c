"""Slices of a report (a network's stem, a block, chosen layers) and side-by-side comparisons.

A slice is a run of a report's rows: from the input to a cut (the first
output at or below a resolution, or a named layer), one layer or scope, or
any of these narrowed to some layer kinds. Its totals are sums over its
rows, with the report's rule for side outputs. Everything here is plain data;
the renderers in cnncost/render/comparison.py turn it into text.

    >>> import cnncost.compare as cc
    >>> c = cc.compare(["vgg16", "googlenet"])
    >>> c.entries[1].stem.last.name
    'maxpool2'
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import api
from .errors import CnnCostError, did_you_mean
from .graph import Graph
from .kinds import KINDS
from .report import FIGURES, LayerCost, Report, Settings, Totals

TRAINING_FIGURES = ("backward_macs", "training_macs")  # compared in a training step (--pass train)

DEFAULT_RESOLUTION = 28
SLICE_KEYS = ("layer", "layers", "from", "until", "until_resolution", "kinds", "categories", "match", "exclude")


@dataclass(frozen=True)
class Slice:
    model: str
    description: str  # says which rows, e.g. "input to pool3, the first output at or below 28x28"
    rows: tuple  # of LayerCost, the counted ones, in execution order
    totals: Totals

    @property
    def last(self) -> LayerCost | None:
        return self.rows[-1] if self.rows else None


def _counted(report: Report) -> list[LayerCost]:
    return [l for l in report.layers if report.include_side or not l.side]


def _in_scope(name: str, scope: str) -> bool:
    return name == scope or name.startswith(scope + ".")


def scopes(report: Report) -> list[str]:
    """Every layer name and every scope (dot-separated prefix) of a report, in order."""
    seen: dict[str, None] = {}
    for layer in report.layers:
        parts = layer.name.split(".")
        for i in range(1, len(parts) + 1):
            seen.setdefault(".".join(parts[:i]), None)
    return list(seen)


def _last_index(rows: Sequence[LayerCost], scope: str, report: Report) -> int:
    hits = [i for i, row in enumerate(rows) if _in_scope(row.name, scope)]
    if not hits:
        raise CnnCostError(f"{report.model} has no layer or scope named '{scope}'",
                           hint=did_you_mean(scope, scopes(report)) or "see 'cnncost table " + report.model + "'")
    return hits[-1]


def _first_index(rows: Sequence[LayerCost], scope: str, report: Report) -> int:
    _last_index(rows, scope, report)  # the same error for an unknown name
    return next(i for i, row in enumerate(rows) if _in_scope(row.name, scope))


def first_at_or_below(rows: Sequence[LayerCost], resolution: int) -> int | None:
    """Index of the first row whose output is a map of at most resolution x resolution."""
    for i, row in enumerate(rows):
        shape = row.output_shape
        if len(shape) == 3 and shape[1] <= resolution and shape[2] <= resolution:
            return i
    return None


def whole(report: Report) -> Slice:
    return Slice(report.model, "whole network", tuple(_counted(report)), report.totals)


def until_resolution(report: Report, resolution: int = DEFAULT_RESOLUTION) -> Slice:
    """From the input up to and including the first layer whose output is at or below resolution."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise CnnCostError(f"the stem's resolution must be a positive integer, got {resolution!r}")
    rows = _counted(report)
    index = first_at_or_below(rows, resolution)
    if index is None:
        raise CnnCostError(f"no layer of {report.model} outputs a map of {resolution}x{resolution} or less "
                           f"(input {'x'.join(map(str, report.input))})")
    cut = rows[index]
    return _slice(report, rows[: index + 1],
                  f"input to {cut.name}, the first output at or below {resolution}x{resolution}")


def until_layer(report: Report, name: str) -> Slice:
    """From the input up to and including a layer, or the last layer of a scope."""
    rows = _counted(report)
    index = _last_index(rows, name, report)
    return _slice(report, rows[: index + 1], f"input to {rows[index].name}")


def _slice(report: Report, rows, description: str) -> Slice:
    return Slice(report.model, description, tuple(rows), Totals.of(rows))


def select(report: Report, spec: Mapping[str, Any] | None) -> Slice:
    """A slice described by a mapping (the claims registry's `slice:`; docs/claims.md).

    layer: NAME / layers: [NAMES]   those layers or scopes
    until: NAME                     from the input (or `from: NAME`) to NAME
    until_resolution: N             from the input to the first output at or below NxN
    kinds: [KINDS] / categories: [CATEGORIES] / match: [GLOBS]   keep only such rows
    exclude: [GLOBS]                drop rows whose names match
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SLICE_KEYS))
    if unknown:
        raise CnnCostError(f"unknown slice key '{unknown[0]}'",
                           hint=did_you_mean(unknown[0], SLICE_KEYS) or "choose from " + ", ".join(SLICE_KEYS))
    ways = [k for k in ("layer", "layers", "until", "until_resolution") if k in spec]
    if len(ways) > 1:
        raise CnnCostError(f"a slice takes one of layer, layers, until and until_resolution, not {' and '.join(ways)}")
    if "from" in spec and not ways:
        raise CnnCostError("a slice's 'from' needs 'until' or 'until_resolution'")
    rows = _counted(report)
    parts = []
    if "layer" in spec or "layers" in spec:
        names = [spec["layer"]] if "layer" in spec else list(spec["layers"])
        for name in names:
            _last_index(rows, str(name), report)  # an unknown name is an error
        rows = [r for r in rows if any(_in_scope(r.name, str(n)) for n in names)]
        parts.append(", ".join(map(str, names)))
    elif "until" in spec or "until_resolution" in spec:
        start = _first_index(rows, str(spec["from"]), report) if "from" in spec else 0
        if "until" in spec:
            cut = until_layer(report, str(spec["until"]))
        else:
            cut = until_resolution(report, spec["until_resolution"])
        rows = rows[start: len(cut.rows)]
        parts.append((f"{spec['from']} to " if "from" in spec else "input to ") + cut.rows[-1].name)
    else:
        parts.append("whole network")
    if "kinds" in spec:
        kinds = [str(k) for k in spec["kinds"]]
        for kind in kinds:
            if kind not in KINDS:
                raise CnnCostError(f"unknown layer kind '{kind}' in a slice", hint=did_you_mean(kind, KINDS))
        rows = [r for r in rows if r.kind in kinds]
        parts.append("kinds " + ", ".join(kinds))
    if "categories" in spec:
        categories = [str(c) for c in spec["categories"]]
        rows = [r for r in rows if KINDS[r.kind].category in categories]
        parts.append("categories " + ", ".join(categories))
    if "match" in spec:
        patterns = [str(p) for p in spec["match"]]
        rows = [r for r in rows if any(fnmatch.fnmatchcase(r.name, p) for p in patterns)]
        parts.append("names " + ", ".join(patterns))
    if "exclude" in spec:
        patterns = [str(p) for p in spec["exclude"]]
        rows = [r for r in rows if not any(fnmatch.fnmatchcase(r.name, p) for p in patterns)]
        parts.append("without " + ", ".join(patterns))
    if not rows:
        raise CnnCostError(f"the slice {spec} of {report.model} has no rows")
    if not ways and len(parts) == 1:
        return whole(report)
    return _slice(report, rows, "; ".join(parts))


@dataclass(frozen=True)
class Entry:
    """One model of a comparison: its report, the whole network and its stem.

    ``stem`` is None when no output of the model is at or below the cut's resolution (a CIFAR network asked
    for a stem to 4x4, a segmentation network that keeps 65x65 maps); ``stem_absent`` says why.
    """

    label: str  # the name it was asked for by
    report: Report
    whole: Slice
    stem: Slice | None
    stem_absent: str = ""


@dataclass(frozen=True)
class Comparison:
    entries: tuple  # of Entry
    baseline: int  # index into entries: ratios are figure / baseline's figure
    cut: str  # the stem rule, e.g. "first output at or below 28x28"
    convention: str
    notes: tuple = field(default_factory=tuple)  # errata and explanations from the claims registry

    def ratio(self, entry: Entry, part: str, figure: str) -> float | None:
        """entry's figure over the baseline's, for part 'whole' or 'stem'; None when the baseline's is 0, or
        either has no such part."""
        mine, theirs = getattr(entry, part), getattr(self.entries[self.baseline], part)
        if mine is None or theirs is None:
            return None
        base, value = getattr(theirs.totals, figure), getattr(mine.totals, figure)
        return value / base if base and value is not None else None

    @property
    def training(self) -> bool:
        """A training step's comparison (--pass train) under a convention that counts the backward."""
        report = self.entries[0].report
        return report.training and report.totals.training_macs is not None

    @property
    def stem_note(self) -> str:
        """One line on the models without a stem, and why; empty when every model has one."""
        absent = [e for e in self.entries if e.stem is None]
        if not absent:
            return ""
        why = ", ".join(f"{e.label}'s {e.stem_absent}" for e in absent)
        line = f"No stem part for {', '.join(e.label for e in absent)}: the stem ends at the {self.cut}, and {why}."
        if len(absent) == len(self.entries):
            line += " Only the whole networks are compared."
        return line

    def to_dict(self) -> dict[str, Any]:
        def part(s: Slice | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {"description": s.description, "last_layer": s.last.name if s.last else None,
                    "output_shape": list(s.last.output_shape) if s.last else None,
                    "layers": len(s.rows), **{f: getattr(s.totals, f) for f in FIGURES},
                    **(s.totals.training_dict() if self.training else {})}

        figures = FIGURES + (TRAINING_FIGURES if self.training else ())

        return {
            "baseline": self.entries[self.baseline].label,
            "stem": self.cut,
            "convention": self.convention,
            "pass": "train" if self.entries[0].report.training else "forward",
            "models": [
                {"model": e.label, "name": e.report.model, "input": list(e.report.input), "batch": e.report.batch,
                 "dtype": e.report.dtype, "whole": part(e.whole), "stem": part(e.stem),
                 "stem_absent": e.stem_absent or None,
                 "ratios": {p: {f: self.ratio(e, p, f) for f in figures} for p in ("whole", "stem")}}
                for e in self.entries
            ],
            "stem_note": self.stem_note or None,
            "notes": list(self.notes),
        }


def compare(
    models: Sequence[str | Graph],
    settings: Settings | None = None,
    *,
    until_resolution: int | None = None,
    until: str | None = None,
    baseline: str | None = None,
    notes: bool = True,
) -> Comparison:
    """Models side by side, whole and from the input to a cut (28x28 unless told otherwise).

    ``settings`` apply to every model. ``until`` names a layer or scope; every
    model must have it. ``baseline`` is the model the ratios divide by
    (default: the last). ``notes`` adds the claims registry's notes about
    these models' stems, where they were printed for these settings.
    A model with no output at or below the cut's resolution has no stem
    (its Entry's ``stem`` is None); ``Comparison.stem_note`` says why.
    """
    settings = Settings.of(settings)
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
        raise CnnCostError(f"models must be a list of zoo names, files or graphs, got {type(models).__name__}")
    if len(models) < 2:
        raise CnnCostError("compare needs two or more models")
    if until_resolution is not None and (isinstance(until_resolution, bool) or
                                         not isinstance(until_resolution, int) or until_resolution < 1):
        raise CnnCostError(f"until_resolution must be a positive integer, got {until_resolution!r}")
    if until is not None and until_resolution is not None:
        raise CnnCostError("give --until or --until-resolution, not both")
    resolution = DEFAULT_RESOLUTION if until is None and until_resolution is None else until_resolution
    entries = []
    for model in models:
        report = api.analyze(model, settings)
        label = model.name if isinstance(model, Graph) else str(model)
        if until is not None:
            entries.append(Entry(label, report, whole(report), until_layer(report, until)))
            continue
        assert resolution is not None  # no --until: the resolution given, or the default
        rows = _counted(report)
        if first_at_or_below(rows, resolution) is None:
            entries.append(Entry(label, report, whole(report), None, _why_no_stem(report, rows, resolution)))
        else:
            entries.append(Entry(label, report, whole(report), until_resolution_slice(report, resolution)))
    labels = [e.label for e in entries]
    if baseline is None:
        base = len(entries) - 1
    elif baseline in labels:
        base = labels.index(baseline)
    else:
        raise CnnCostError(f"the baseline '{baseline}' is not one of the models compared",
                           hint=did_you_mean(baseline, labels) or "choose from " + ", ".join(labels))
    cut = f"up to {until}" if until is not None else f"first output at or below {resolution}x{resolution}"
    comparison = Comparison(tuple(entries), base, cut, settings.convention)
    if notes:
        from . import claims  # the registry imports this module

        found = claims.notes_for_comparison(comparison, settings)
        comparison = Comparison(comparison.entries, base, cut, comparison.convention, tuple(found))
    return comparison


until_resolution_slice = until_resolution  # the name compare() uses, where its argument shadows it


def _why_no_stem(report: Report, rows, resolution: int) -> str:
    """'smallest map is 65x65 at input 3x520x520': why a model has no stem at this resolution."""
    maps = [r.output_shape for r in rows if len(r.output_shape) == 3]
    where = f"at input {'x'.join(map(str, report.input))}"
    if not maps:
        return f"output has no feature maps {where}"
    smallest = min(maps, key=lambda s: s[1] * s[2])
    return f"smallest map is {smallest[1]}x{smallest[2]} {where}"
