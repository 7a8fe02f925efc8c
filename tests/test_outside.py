"""Outside models (timm, segmentation-models-pytorch, torchvision's transformers), which nobody on this project
wrote: what cnncost's import counts against what torch and the peer tools measured on them: sum(numel), the MACs of
every tool, the parameters of thop, torchinfo and torchscan, and the saved activations.

tools/measure_outside.py ran, in a venv with those libraries (CI has none of them): ``measure`` (sum of numel,
FlopCounterMode, fvcore, ptflops with both backends, torchinfo, thop, torchscan, and saved_tensors_hooks at batch 2
in training mode; tests/data/outside_measured.tsv, its provenance in its header) and ``import`` (cnncost.from_torch
on the same modules at the same input; the YAML it wrote, gzipped, in tests/data/outside_imports/, and each
model's outcome in outcomes.tsv). This compares the stored imports' figures with the measured ones. Which figures
agree is listed in tests/data/outside_exact.tsv, so that a change either way is seen; docs/import.md gives the
rate and the list.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import cnncost
from cnncost import memory

DATA = Path(__file__).parent / "data"
MACS_TOOLS = ("flopcounter", "fvcore", "ptflops", "ptflops-aten", "thop", "torchinfo", "torchscan")
# the tools whose parameter count is not sum(numel): thop's is that of the modules it has a rule for; torchinfo's and
# torchscan's are equal to it on every model here, and checked all the same
PARAMS_TOOLS = ("thop", "torchinfo", "torchscan")
FIGURES = ("params", *MACS_TOOLS, *(f"{tool} params" for tool in PARAMS_TOOLS), "saved_bytes_train_batch2")


def _measured() -> dict:
    rows: dict = {}
    for line in (DATA / "outside_measured.tsv").read_text().splitlines():
        if line.startswith("#") or line.startswith("model\t") or not line.strip():
            continue
        model, convention, params, macs, _ = line.split("\t")
        rows.setdefault(model, {})[convention] = (params, macs)
    return rows


def _outcomes() -> dict:
    lines = (DATA / "outside_imports" / "outcomes.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[0]: line.split("\t")[1] for line in lines}


def _expected_exact() -> set:
    lines = (DATA / "outside_exact.tsv").read_text().splitlines()
    return {tuple(line.split("\t")[:2]) for line in lines if line and not line.startswith(("#", "model\t"))}


MEASURED = _measured()
OUTCOMES = _outcomes()
IMPORTED = sorted(m for m, outcome in OUTCOMES.items() if outcome == "imported" and m in MEASURED)


def cnncost_figures(model: str) -> dict:
    """What cnncost counts for the stored import, figure by figure, as the measured rows name them."""
    text = gzip.decompress((DATA / "outside_imports" / f"{model}.yaml.gz").read_bytes()).decode()
    graph = cnncost.load_text(text, name=model)
    figures = {}
    for convention in MACS_TOOLS:
        totals = cnncost.analyze(graph, convention=convention).totals
        figures[convention] = totals.macs
        if convention == "flopcounter":
            figures["params"] = totals.params
        if convention in PARAMS_TOOLS:
            figures[f"{convention} params"] = totals.params
    settings = cnncost.Settings(batch=2)
    trained = memory.analyze_memory(graph, settings, device_kind="cpu")
    figures["saved_bytes_train_batch2"] = trained.saved_activation_bytes
    return figures


def measured_figures(model: str) -> dict:
    rows = MEASURED[model]
    return {"params": rows["numel"][0], **{c: rows[c][1] for c in MACS_TOOLS},
            **{f"{c} params": rows[c][0] for c in PARAMS_TOOLS},
            "saved_bytes_train_batch2": rows["saved_bytes_train_batch2"][1]}


def test_the_stored_data_covers_the_models_and_libraries():
    libraries = {m.split("_")[0] if m.startswith(("smp_", "tv_")) else "timm" for m in MEASURED}
    assert {"timm", "smp"} <= libraries  # the measuring run did not reach torchvision's transformers
    assert set(MEASURED) <= set(OUTCOMES) and len(OUTCOMES) == 118


@pytest.mark.parametrize("model", IMPORTED)
def test_an_imported_outside_model_counts_what_torch_and_the_tools_measured(model):
    ours, theirs = cnncost_figures(model), measured_figures(model)
    exact = {figure for figure in FIGURES if theirs[figure] != "NA" and ours[figure] == int(theirs[figure])}
    expected = {figure for m, figure in _expected_exact() if m == model}
    assert exact == expected, {f: (ours[f], theirs[f]) for f in FIGURES}
