"""Which figures of each imported outside model equal what torch and the tools measured: tests/data/outside_exact.tsv.

    python tools/outside_exact.py        # after tools/measure_outside.py measure and import; needs cnncost only

Each row is a figure where cnncost's count of the stored import equals the measured one; the test
(tests/test_outside.py) recomputes every figure against the measured rows and fails when the set changes.
It also prints the import rate and each model's figures, for docs/import.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_outside import FIGURES, IMPORTED, MEASURED, OUTCOMES, cnncost_figures, measured_figures  # noqa: E402


def main() -> int:
    lines = ["# Figures of the imported outside models that equal the measured ones (tools/outside_exact.py);",
             "# figures: params (sum of numel), MACs under flopcounter, fvcore, ptflops, ptflops-aten, thop,",
             "# torchinfo and torchscan, the parameters thop, torchinfo and torchscan print ('thop params', ...),",
             "# and saved_bytes_train_batch2 (saved_tensors_hooks at batch 2 in training mode, on the CPU)",
             "model\tfigure"]
    table = ["| model | outcome | " + " | ".join(FIGURES) + " |", "|---|---|" + "---|" * len(FIGURES)]
    measured = [m for m in OUTCOMES if m in MEASURED]
    for model in measured:
        if model not in IMPORTED:
            table.append(f"| {model} | {OUTCOMES[model]} |" + " |" * len(FIGURES))
            continue
        ours, theirs = cnncost_figures(model), measured_figures(model)
        cells = []
        for figure in FIGURES:
            same = theirs[figure] != "NA" and ours[figure] == int(theirs[figure])
            if same:
                lines.append(f"{model}\t{figure}")
            cells.append("exact" if same else f"{ours[figure]:,} vs {theirs[figure]}")
        table.append(f"| {model} | imported | " + " | ".join(cells) + " |")
    (ROOT / "tests" / "data" / "outside_exact.tsv").write_text("\n".join(lines) + "\n")
    print(f"{len(IMPORTED)} of {len(measured)} measured models import without --partial")
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
