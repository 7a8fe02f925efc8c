"""Models side by side: each whole, and its stem (the slice from the input to a cut; slices.py).

Everything here is plain data; the renderers in cnncost/render/comparison.py turn it into text, and the
claims registry adds its notes about the models compared.

    >>> import cnncost.compare as cc
    >>> c = cc.compare(["vgg16", "googlenet"])
    >>> c.entries[1].stem.last.name
    'maxpool2'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from . import api, claims
from .errors import CnnCostError, did_you_mean
from .graph import Graph
from .report import FIGURES, Report, Settings
# the slices compare() cuts, kept importable from here
from .slices import (DEFAULT_RESOLUTION, SLICE_KEYS, Slice, SliceSpec, _counted, apply_slice,  # noqa: F401
                     first_at_or_below, parse_slice, scopes, select, until_layer, until_resolution, whole)

TRAINING_FIGURES = ("backward_macs", "training_macs")  # compared in a training step (--pass train)


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
    _check_arguments(models, until_resolution, until)
    resolution = DEFAULT_RESOLUTION if until is None and until_resolution is None else until_resolution
    entries = [_entry(model, api.analyze(model, settings), until, resolution) for model in models]
    base = _baseline_index([e.label for e in entries], baseline)
    cut = f"up to {until}" if until is not None else f"first output at or below {resolution}x{resolution}"
    comparison = Comparison(tuple(entries), base, cut, settings.convention)
    if notes:
        found = claims.notes_for_comparison(comparison, settings)
        comparison = Comparison(comparison.entries, base, cut, comparison.convention, tuple(found))
    return comparison


def _check_arguments(models, until_resolution, until) -> None:
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
        raise CnnCostError(f"models must be a list of zoo names, files or graphs, got {type(models).__name__}")
    if len(models) < 2:
        raise CnnCostError("compare needs two or more models")
    if until_resolution is not None and (isinstance(until_resolution, bool) or
                                         not isinstance(until_resolution, int) or until_resolution < 1):
        raise CnnCostError(f"until_resolution must be a positive integer, got {until_resolution!r}")
    if until is not None and until_resolution is not None:
        raise CnnCostError("give --until or --until-resolution, not both")


def _entry(model: str | Graph, report: Report, until: str | None, resolution: int | None) -> Entry:
    """One model's entry: whole, and its stem up to the named layer, or to the resolution where it has one."""
    label = model.name if isinstance(model, Graph) else str(model)
    if until is not None:
        return Entry(label, report, whole(report), until_layer(report, until))
    assert resolution is not None  # no --until: the resolution given, or the default
    rows = _counted(report)
    if first_at_or_below(rows, resolution) is None:
        return Entry(label, report, whole(report), None, _why_no_stem(report, rows, resolution))
    return Entry(label, report, whole(report), until_resolution(report, resolution))


def _baseline_index(labels: list[str], baseline: str | None) -> int:
    """The index of the model the ratios divide by: the one named, else the last."""
    if baseline is None:
        return len(labels) - 1
    if baseline in labels:
        return labels.index(baseline)
    raise CnnCostError(f"the baseline '{baseline}' is not one of the models compared",
                       hint=did_you_mean(baseline, labels) or "choose from " + ", ".join(labels))


def _why_no_stem(report: Report, rows, resolution: int) -> str:
    """'smallest map is 65x65 at input 3x520x520': why a model has no stem at this resolution."""
    maps = [r.output_shape for r in rows if len(r.output_shape) == 3]
    where = f"at input {'x'.join(map(str, report.input))}"
    if not maps:
        return f"output has no feature maps {where}"
    smallest = min(maps, key=lambda s: s[1] * s[2])
    return f"smallest map is {smallest[1]}x{smallest[2]} {where}"
