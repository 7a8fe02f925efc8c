"""Published claims: figures as a lecture, a paper or torchvision printed them, checked against the networks.

schema.py reads and checks the registry (cnncost/data/claims/, docs/claims.md); evaluation.py computes
each claim's figure and its outcome (`cnncost check`); text.py writes a figure in its claim's printed unit;
notes.py picks the notes under 'cnncost table' and 'cnncost compare'. The names are importable from here.
"""

from .evaluation import Evaluator, Result, _identity, about, computed_text, depth, evaluate, settings_of
from .notes import CLAIM_SETTINGS, errata_notes, note, notes_for_comparison
from .schema import (CLAIM_KEYS, DATA, FIGURE_QUANTITIES, FILE_KEYS, FORMS, OUTCOMES, QUANTITIES, QUANTITY_WORDS,
                     REGISTRY, TARGET_KEYS, UNITS, Claim, Precision, describe, load, merge_target, parse_claim)
from .text import computed_text_of, format_scaled, scaled

__all__ = [
    "CLAIM_KEYS", "CLAIM_SETTINGS", "DATA", "FIGURE_QUANTITIES", "FILE_KEYS", "FORMS", "OUTCOMES", "QUANTITIES",
    "QUANTITY_WORDS", "REGISTRY", "TARGET_KEYS", "UNITS", "Claim", "Evaluator", "Precision", "Result", "_identity",
    "about", "computed_text", "computed_text_of", "depth", "describe", "errata_notes", "evaluate",
    "format_scaled", "load", "merge_target", "note", "notes_for_comparison", "parse_claim", "scaled",
    "settings_of",
]
