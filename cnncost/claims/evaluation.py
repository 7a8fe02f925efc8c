"""The claims evaluated against the networks: each figure computed, and whether it reproduces the printed
one or is the erratum the registry expects. `cnncost check` fails when an outcome is not the expected one,
so a change to a zoo file that moves a published figure is caught."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import api, conventions, zoo
from ..engine import view
from ..errors import CnnCostError
from ..expand import load_graph
from ..graph import Graph
from ..kinds import KINDS
from ..report import Report, Settings
from ..slices import select
from .schema import FIGURE_QUANTITIES, Claim, load, merge_target
from .text import computed_text_of, format_scaled, scaled


@dataclass(frozen=True)
class Result:
    claim: Claim
    computed: Any  # in the quantity's own unit (a Decimal), or a shape; None on error
    outcome: str  # reproduces | erratum | the way it went wrong
    ok: bool  # the outcome is the expected one
    problem: str = ""  # why not, in a sentence
    explained: bool | None = None  # erratum with explained_by: does the printed figure come out there?
    explained_computed: Any = None

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "id": c.id, "source": c.source, "where": c.where, "file": c.file, "target": _jsonable(c.target),
            "form": c.form, "versus": _jsonable(c.versus_target) if c.versus is not None else None,
            "printed": c.printed, "value": _jsonable(c.value), "unit": c.unit, "precision": str(c.precision),
            "counted_as": c.counted_as, "expected": c.expected,
            "correct": _jsonable(c.correct), "explanation": c.explanation or None,
            "explained_by": _jsonable(c.explained_target) if c.explained_by is not None else None,
            "computed": _jsonable(self.computed), "computed_text": computed_text(self),
            "outcome": self.outcome, "ok": self.ok, "problem": self.problem or None,
            "explained": self.explained, "note": c.note or None,
        }


def _jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def settings_of(target: Mapping) -> Settings:
    """The settings a claim's figure was printed for: its own, at batch 1 in float32."""
    return Settings(convention=target.get("convention", conventions.DEFAULT),
                    include_side=bool(target.get("include_side", False)), set=dict(target.get("set") or {}),
                    input=tuple(target["input"]) if target.get("input") else None)


class Evaluator:
    """Evaluates claims, expanding each (model, set, input) once and viewing it under each convention.

    ``model_files`` maps zoo names to other YAML files: claims about those
    models are evaluated against the files instead (to see which published
    figures an edit moves).
    """

    def __init__(self, model_files: Mapping[str, str | Path] | None = None):
        self.model_files = {k: Path(v) for k, v in (model_files or {}).items()}
        self._graphs: dict[str, Graph] = {}
        self._reports: dict[tuple, Report] = {}

    def report(self, target: Mapping, networks: Mapping[str, str]) -> Report:
        settings = settings_of(target)
        if target.get("network") is not None:
            source = ("network", networks[target["network"]])
        else:
            model = target["model"]
            source = ("file", str(self.model_files.get(model) or zoo.path_of(model)))
        graph_key = json.dumps([source, _jsonable(settings.set), settings.input], sort_keys=True, default=str)
        graph = self._graphs.get(graph_key)
        if graph is None:
            if source[0] == "network":
                graph = load_graph(target["network"], text=source[1], overrides=settings.set,
                                   input_shape=settings.input)
            else:
                graph = api.load(source[1], settings)
            self._graphs[graph_key] = graph
        key = (graph_key, settings.convention, settings.include_side)
        if key not in self._reports:
            self._reports[key] = view(graph, settings)
        return self._reports[key]

    def quantity(self, target: Mapping, networks: Mapping[str, str]):
        report = self.report(target, networks)
        part = select(report, target.get("slice"))
        quantity = target["quantity"]
        rows = part.rows
        if quantity in FIGURE_QUANTITIES:
            return Decimal(getattr(part.totals, quantity))
        if quantity == "weights":  # conv and linear weights, without biases
            return Decimal(sum(r.params - (r.output_shape[0] if r.args.get("bias") else 0) for r in rows
                               if KINDS[r.kind].category in ("conv", "linear")))
        if quantity == "count":
            return Decimal(len(rows))
        if quantity == "elements":
            return Decimal(sum(math.prod(r.output_shape) for r in rows))
        if quantity == "output_shape":
            return tuple(rows[-1].output_shape)
        if quantity == "depth":
            return Decimal(depth(report, rows, target.get("counting") or ("conv", "linear")))
        raise AssertionError(quantity)

    def figure(self, claim: Claim, target: Mapping, versus_changes: Mapping | None):
        value = self.quantity(target, claim.networks)
        if claim.form == "value":
            return value
        assert versus_changes is not None  # a ratio or a reduction has a versus (the registry's schema)
        versus = merge_target(target, versus_changes)
        other = self.quantity(versus, claim.networks)
        if other == 0:
            raise CnnCostError(f"the 'versus' figure of claim '{claim.id}' is 0")
        with localcontext() as ctx:
            ctx.prec = 40
            ratio = value / other
            return ratio if claim.form == "ratio" else 1 - ratio

    def evaluate(self, claim: Claim) -> Result:
        try:
            computed = self.figure(claim, claim.target, claim.versus)
            explained = explained_value = None
            explained_target = claim.explained_target  # None where the claim has no explained_by
            if explained_target is not None:
                explained_value = self.figure(claim, explained_target, claim.explained_versus)
                explained = claim.precision.matches(scaled(explained_value, claim.unit), claim.value)
        except CnnCostError as exc:
            return Result(claim, None, "error", False, str(exc))
        value = scaled(computed, claim.unit)
        matches_printed = claim.precision.matches(value, claim.value)
        if claim.expected == "reproduces":
            if matches_printed:
                return Result(claim, computed, "reproduces", True)
            return Result(claim, computed, "does not reproduce", False,
                          f"computed {computed_text_of(claim, computed)}, printed {claim.printed}")
        if matches_printed:
            return Result(claim, computed, "erratum now matches", False,
                          f"computed {computed_text_of(claim, computed)} now matches the printed {claim.printed}: "
                          "the figure moved", explained, explained_value)
        precision = claim.correct_precision or claim.precision
        if not precision.matches(value, claim.correct):
            return Result(claim, computed, "erratum moved", False,
                          f"computed {computed_text_of(claim, computed)}, but the registry's correct value is "
                          f"{format_scaled(claim.correct, claim.unit)}", explained, explained_value)
        if explained is False:
            return Result(claim, computed, "explanation fails", False,
                          f"explained_by gives {computed_text_of(claim, explained_value)}, not the printed "
                          f"{claim.printed}", explained, explained_value)
        return Result(claim, computed, "erratum", True, "", explained, explained_value)


def depth(report: Report, rows, counting) -> int:
    """The most layers of the `counting` categories on one path from the input to any row of `rows`."""
    counting = set(counting)
    chosen = {r.name for r in rows}
    longest: dict[str, int] = {}
    best = 0
    for layer in report.layers:
        if layer.side and not report.include_side:
            continue
        before = max((longest.get(i, 0) for i in layer.inputs), default=0)
        longest[layer.name] = before + (1 if KINDS[layer.kind].category in counting else 0)
        if layer.name in chosen:
            best = max(best, longest[layer.name])
    return best


def computed_text(result: Result) -> str:
    return "" if result.computed is None else computed_text_of(result.claim, result.computed)


def evaluate(claims: Iterable[Claim] | None = None, *, model_files: Mapping[str, str | Path] | None = None
             ) -> list[Result]:
    evaluator = Evaluator(model_files)
    return [evaluator.evaluate(c) for c in (load() if claims is None else claims)]


def about(claims: Iterable[Claim], models: Iterable[str]) -> list[Claim]:
    """The claims about any of these zoo models (by name, or by the file a name resolves to)."""
    wanted = {_identity(m) for m in models}
    return [c for c in claims if any(_identity(m) in wanted for m in c.models)]


def _identity(model: str) -> str:
    try:
        return str(zoo.path_of(model).resolve())
    except CnnCostError:
        return str(model)
