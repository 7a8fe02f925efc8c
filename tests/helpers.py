"""Small helpers shared by the tests: build one-layer networks from YAML text."""

from __future__ import annotations

import cnncost


def one_layer(item: str, input_shape=(3, 32, 32), convention="lecture", batch=1):
    """Analyse a network of one layer written as a YAML flow mapping; return its row."""
    shape = f"[{', '.join(map(str, input_shape))}]"
    text = f"input: {shape}\nlayers:\n  - {item}\n"
    report = cnncost.analyze_text(text, convention=convention, batch=batch)
    return report.layers[-1]


def network(text: str, **options):
    return cnncost.analyze_text(text, **options)
