"""Slices of a report: a run of its rows (a network's stem, a block, chosen layers) and their totals.

A slice is a run of a report's rows: from the input to a cut (the first output at or below a resolution, or
a named layer), one layer or scope, or any of these narrowed to some layer kinds. Its totals are sums over
its rows, with the report's rule for side outputs. A slice written as a mapping (the claims registry's
``slice:``; docs/claims.md) is read in two steps: ``parse_slice`` checks the mapping alone and gives a
SliceSpec, ``apply_slice`` finds its rows in one report. compare.py and the claims' evaluation use both.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .errors import CnnCostError, did_you_mean
from .kinds import KINDS
from .report import LayerCost, Report, Totals

DEFAULT_RESOLUTION = 28
SLICE_KEYS = ("layer", "layers", "from", "until", "until_resolution", "kinds", "categories", "match", "exclude")
CUTS = ("layer", "layers", "until", "until_resolution")  # the keys that choose the run of rows; one at most


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
    return report.counted()


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


@dataclass(frozen=True)
class SliceSpec:
    """A slice's mapping, checked without a report: which run of rows, then which rows of it to keep."""

    shown: str  # the mapping as written, for the error of a slice with no rows
    cut: str | None = None  # which of CUTS chooses the run of rows; None: the whole network
    layers: tuple[str, ...] | None = None  # layer / layers: those layers or scopes
    start: str | None = None  # from: where a cut's run starts (the input when None)
    until: str | None = None  # until: the cut's last layer or scope
    until_resolution: Any = None  # until_resolution: checked by until_resolution(), as the CLI's option is
    kinds: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    match: tuple[str, ...] | None = None  # globs over names: keep those matching
    exclude: tuple[str, ...] | None = None  # globs over names: drop those matching


def _string_at(spec: Mapping[str, Any], key: str) -> str | None:
    return str(spec[key]) if key in spec else None


def _strings_at(spec: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    return tuple(str(v) for v in spec[key]) if key in spec else None


def parse_slice(spec: Mapping[str, Any] | None) -> SliceSpec:
    """Check a slice's mapping: its keys, one way of choosing rows at most, and its layer kinds.

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
    ways = [k for k in CUTS if k in spec]
    if len(ways) > 1:
        raise CnnCostError(f"a slice takes one of layer, layers, until and until_resolution, not {' and '.join(ways)}")
    if "from" in spec and not ways:
        raise CnnCostError("a slice's 'from' needs 'until' or 'until_resolution'")
    kinds = _strings_at(spec, "kinds")
    for kind in kinds or ():
        if kind not in KINDS:
            raise CnnCostError(f"unknown layer kind '{kind}' in a slice", hint=did_you_mean(kind, KINDS))
    return SliceSpec(
        shown=str(spec), cut=ways[0] if ways else None,
        layers=(str(spec["layer"]),) if "layer" in spec else _strings_at(spec, "layers"),
        start=_string_at(spec, "from"), until=_string_at(spec, "until"),
        until_resolution=spec.get("until_resolution"), kinds=kinds, categories=_strings_at(spec, "categories"),
        match=_strings_at(spec, "match"), exclude=_strings_at(spec, "exclude"))


def _run(report: Report, spec: SliceSpec) -> tuple[list[LayerCost], str]:
    """The run of counted rows the spec chooses, and its description."""
    rows = _counted(report)
    if spec.cut in ("layer", "layers"):
        assert spec.layers is not None
        for name in spec.layers:
            _last_index(rows, name, report)  # an unknown name is an error
        return [r for r in rows if any(_in_scope(r.name, n) for n in spec.layers)], ", ".join(spec.layers)
    if spec.cut is None:
        return rows, "whole network"
    start = _first_index(rows, spec.start, report) if spec.start is not None else 0
    cut = until_layer(report, spec.until) if spec.until is not None else until_resolution(report,
                                                                                          spec.until_resolution)
    return rows[start: len(cut.rows)], (f"{spec.start} to " if spec.start is not None else "input to ") + \
        cut.rows[-1].name


# The filters a spec may narrow its run with, in this order: (field, keeps(row, values), description).
FILTERS: tuple[tuple[str, Callable[[LayerCost, tuple[str, ...]], bool], str], ...] = (
    ("kinds", lambda r, kinds: r.kind in kinds, "kinds "),
    ("categories", lambda r, categories: KINDS[r.kind].category in categories, "categories "),
    ("match", lambda r, globs: any(fnmatch.fnmatchcase(r.name, p) for p in globs), "names "),
    ("exclude", lambda r, globs: not any(fnmatch.fnmatchcase(r.name, p) for p in globs), "without "),
)


def apply_slice(report: Report, spec: SliceSpec) -> Slice:
    """The rows of ``report`` that a parsed slice chooses, with their totals."""
    rows, part = _run(report, spec)
    parts = [part]
    for name, keeps, words in FILTERS:
        values = getattr(spec, name)
        if values is not None:
            rows = [r for r in rows if keeps(r, values)]
            parts.append(words + ", ".join(values))
    if not rows:
        raise CnnCostError(f"the slice {spec.shown} of {report.model} has no rows")
    if spec.cut is None and len(parts) == 1:
        return whole(report)
    return _slice(report, rows, "; ".join(parts))


def select(report: Report, spec: Mapping[str, Any] | None) -> Slice:
    """A slice described by a mapping (the claims registry's `slice:`; docs/claims.md): parse_slice's
    checks, then apply_slice's rows."""
    return apply_slice(report, parse_slice(spec))
