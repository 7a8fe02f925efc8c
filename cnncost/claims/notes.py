"""The registry's notes under 'cnncost table' and 'cnncost compare': the claims about what the user is
looking at, printed for the same settings."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..errors import CnnCostError
from ..report import Report, Settings
from .evaluation import Evaluator, Result, _identity, computed_text
from .schema import Claim, load
from .text import format_scaled


def note(result: Result) -> str:
    """One line for under a table: what was printed, what the network gives, and why they differ."""
    c = result.claim
    computed = computed_text(result) if result.computed is not None else "nothing"
    where = f"{c.source}, {c.where}: {c.what} printed \"{c.printed}\"; the network gives {computed}"
    if c.expected == "erratum":
        text = f"Erratum: {where}; correct: {format_scaled(c.correct, c.unit)}. {c.explanation}"
    else:
        text = f"Reproduced: {where}. {c.note}"
    if not result.ok:
        text += f" [cnncost check fails here: {result.outcome}: {result.problem}]"
    return text.strip()


CLAIM_SETTINGS = Settings()  # claims are figures printed for one sample in float32


def _printed_for(claim: Claim, reports: Mapping[str, Report], settings: Settings, evaluator: Evaluator) -> bool:
    """Whether a claim is about what the user is looking at: the same set, input, batch and dtype.

    ``reports`` maps each compared model's identity to the user's report of it. A MACs or FLOPs
    claim counted under another convention must come out the same under the user's.
    """
    if (settings.batch, settings.dtype) != (CLAIM_SETTINGS.batch, CLAIM_SETTINGS.dtype):
        return False
    try:
        for target in (claim.target, claim.versus_target):
            if not target:
                continue
            if dict(target.get("set") or {}) != settings.set:
                return False
            if target["quantity"] in ("macs", "flops") and target.get("convention") != settings.convention:
                mine = {**target, "convention": settings.convention}
                if evaluator.quantity(mine, claim.networks) != evaluator.quantity(target, claim.networks):
                    return False
            report = reports.get(_identity(target["model"])) if target.get("model") else None
            if report is not None and tuple(evaluator.report(target, claim.networks).input) != tuple(report.input):
                return False
    except CnnCostError:
        pass  # evaluate() reports it
    return True


def errata_notes(model: str, report: Report, *, model_files: Mapping[str, str | Path] | None = None) -> list[str]:
    """Notes for 'cnncost table': the registry's errata about this model, printed for what the report shows."""
    me = _identity(model)
    evaluator = Evaluator(model_files)
    notes = []
    for c in load():
        if c.expected != "erratum" or not c.target.get("model") or _identity(c.target["model"]) != me:
            continue
        assert report.settings is not None  # a report of analyze(), which holds its settings
        if _printed_for(c, {me: report}, report.settings, evaluator):
            notes.append(note(evaluator.evaluate(c)))
    return notes


def notes_for_comparison(comparison, settings: Settings) -> list[str]:
    """Notes for 'cnncost compare': the claims about these models' stems, and ratios between them."""
    compared = {_identity(e.label): e.report for e in comparison.entries}
    evaluator = Evaluator()
    chosen = []
    for c in load():
        models = [_identity(m) for m in c.models]
        if not models or not all(m in compared for m in models):
            continue
        stems = [t.get("slice") or {} for t in (c.target, c.versus_target) if t]
        if not any("until_resolution" in s or "until" in s for s in stems):
            continue
        if (c.expected == "erratum" or c.note) and _printed_for(c, compared, settings, evaluator):
            chosen.append(c)
    return [note(evaluator.evaluate(c)) for c in chosen]
