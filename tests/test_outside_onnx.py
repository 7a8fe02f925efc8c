"""Outside models through ONNX: the imports tools/onnx_round_trip.py stored (each model exported by torch's
TorchScript exporter, batch norms kept, and by its default dynamo exporter, which folds them), against what torch
measured on the same modules at the same input (tests/data/outside_measured.tsv, tools/measure_outside.py).

TorchScript, batch norms kept: parameters equal sum(p.numel()), MACs under flopcounter equal FlopCounterMode, and
the bytes training saves at batch 2 equal saved_tensors_hooks. Dynamo: its optimizer folds batch norms into the conv
before them and drops biases that are zero (docs/import.md), so the file holds fewer parameters than the model;
MACs under flopcounter (which counts neither) are compared."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import cnncost
from cnncost import memory

from .test_outside import MEASURED

DATA = Path(__file__).parent / "data"
STORE = DATA / "outside_onnx"


def _outcomes() -> dict:
    lines = (STORE / "outcomes.tsv").read_text().splitlines()[1:]
    return {tuple(line.split("\t")[:2]): line.split("\t")[2] for line in lines}


OUTCOMES = _outcomes()


def _graph(model, exporter):
    text = gzip.decompress((STORE / f"{model}.{exporter}.yaml.gz").read_bytes()).decode()
    return cnncost.load_text(text, name=model)


def test_every_chosen_model_imports_through_both_exporters():
    assert len({m for m, _ in OUTCOMES}) >= 6
    assert {outcome for outcome in OUTCOMES.values()} == {"imported"}, OUTCOMES
    assert all(m in MEASURED for m, _ in OUTCOMES)


# models whose classifier has an nn.Dropout (timm's drop_rate 0.2): an eval-mode export has no Dropout node, so
# the mask torch saves for it in training is not in the file, and the import's saved bytes are that much lower
DROPOUT = {"ghostnet_100", "rexnet_100"}



@pytest.mark.parametrize("model", sorted({m for m, e in OUTCOMES if e == "torchscript"}))
def test_torchscript_export_counts_what_torch_measured(model):
    graph = _graph(model, "torchscript")
    report = cnncost.analyze(graph, convention="flopcounter")
    saved = memory.analyze_memory(graph, cnncost.Settings(batch=2), device_kind="cpu").saved_activation_bytes
    rows = MEASURED[model]
    assert (report.totals.params, report.totals.macs) == (int(rows["numel"][0]), int(rows["flopcounter"][1]))
    measured_saved = int(rows["saved_bytes_train_batch2"][1])
    if model in DROPOUT:
        assert 0 < measured_saved - saved <= 2 * 1280 * 8  # at most the mask and the dropped features, 1280 each
    else:
        assert saved == measured_saved


@pytest.mark.parametrize("model", sorted({m for m, e in OUTCOMES if e == "dynamo"}))
def test_dynamo_export_counts_torchs_macs(model):
    """MACs under flopcounter, which counts no batch norm and no bias, equal FlopCounterMode's. The parameters
    are fewer than the model's: the exporter's optimizer folds each batch norm that follows a conv into it, and
    drops the biases that are still zero at initialisation (an Add of zeros); neither is in the file."""
    report = cnncost.analyze(_graph(model, "dynamo"), convention="flopcounter")
    rows = MEASURED[model]
    assert report.totals.macs == int(rows["flopcounter"][1])
    assert report.totals.params < int(rows["numel"][0])
