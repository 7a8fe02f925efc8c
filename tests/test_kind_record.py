"""A kind is one complete record: define() refuses a record missing a rule, naming kind and rule, and a kind
written in one place (its define() call) works in every analysis and validates in torch."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import cnncost  # noqa: E402
from cnncost import conventions, explain, kinds, latency, memory, rf, validate as checker  # noqa: E402
from cnncost import devices  # noqa: E402
from cnncost.kinds import KINDS  # noqa: E402
from tests.helpers import saved_bytes  # noqa: E402

# Softplus: one aten op (softplus), whose backward keeps its input (softplus_backward(grad, self, ...)).
RECORD = dict(shape=lambda a, ins: ins[0], build=lambda t, a, ins, out: t.nn.Softplus(),
              saved="activation input", rf="pointwise", latency="per_element", counts="activation",
              rf_stand_in="identity")


@pytest.fixture
def throwaway():
    kinds.define("throwaway_softplus", "activation", "log(1 + exp(x)), defined by a test", **RECORD)
    yield KINDS["throwaway_softplus"]
    del KINDS["throwaway_softplus"]


@pytest.mark.parametrize("rule", list(kinds.RULES))
def test_a_record_missing_a_rule_is_refused_naming_kind_and_rule(rule):
    with pytest.raises(ValueError, match=f"layer kind half_done has no '{rule}' rule"):
        kinds.define("half_done", "other", "a record without one rule", **{**RECORD, rule: None})
    assert "half_done" not in KINDS


@pytest.mark.parametrize("rule, where", [
    ("saved", "saved_rules.py has no saved-tensor rule 'no_such_rule'"),
    ("rf", "rf.py has no receptive-field rule 'no_such_rule'"),
    ("latency", "latency_rules.py has no rule 'no_such_rule'"),
    ("counts", "convention 'lecture' has no rule for it, nor for its family 'no_such_rule'"),
    ("rf_stand_in", "validate/rf.py has no stand-in 'no_such_rule'"),
])
def test_a_rule_name_that_an_analysis_lacks_is_refused(rule, where):
    with pytest.raises(ValueError, match=f"layer kind half_done: {where}"):
        kinds.define("half_done", "other", "a record naming a rule nobody has", **{**RECORD, rule: "no_such_rule"})
    assert "half_done" not in KINDS


def test_the_importing_of_cnncost_checks_every_analysis():
    # in a fresh process: 'import cnncost' alone registers each analysis's check (its per-kind rules), while the
    # analyses over them (memory.py, latency.py, and the model card) wait until first used, off every command's start
    code = ("import sys, cnncost, cnncost.kinds as k\n"
            "print(sorted(n for n, _ in k._CHECKS))\n"
            "print(sorted(m for m in ('cnncost.memory', 'cnncost.latency', 'cnncost.info', 'fractions') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == repr(["conventions", "latency", "memory", "receptive field", "training"])
    assert out[1] == "[]"
    # the lazily imported name still answers (the lecture's input)
    assert cnncost.model_info("alexnet").input == (3, 227, 227)


TEXT = """
input: [3, 8, 8]
layers:
  - conv: {name: c, out: 4, kernel: 3, padding: 1}
  - throwaway_softplus: {name: s}
  - conv: {name: d, out: 2, kernel: 1}
"""


def test_a_kind_defined_in_one_place_works_in_every_analysis(throwaway):
    graph = cnncost.load_text(TEXT)
    s = graph.node("s")
    assert s.output_shape == (4, 8, 8) and s.params == 0
    n, elements = 2, 4 * 8 * 8
    # every convention counts it by its family's rule: activations are counted 0 by the lecture, and once
    # per element as a module by none of the conventions (ptflops has rules only for named activations)
    for name in conventions.CONVENTIONS:
        report = cnncost.analyze_text(TEXT, convention=name, batch=n)
        row = {r.name: r for r in report.layers}["s"]
        assert row.macs == 0, name
    # memory: softplus keeps its input, the conv's output (which nothing else saves); d saves s's output
    first, _ = memory.saved_storages(graph, cnncost.Settings(batch=n))
    assert sum(first["s"].values()) == n * elements * 4
    # receptive field: pointwise, so the same as conv c's, 3x3
    fields = {f.name: f.field for f in rf.receptive_fields(graph)}
    assert fields["s"].h.size == fields["c"].h.size == 3
    # latency: one operation per element, reading and writing a map
    device = devices.table()["a100-40gb"]
    row = {r.name: r for r in latency.roofline(graph, cnncost.Settings(batch=n), device).layers}["s"]
    assert row.flops == n * elements and row.bytes_read == row.bytes_written == n * elements * 4
    # explain names the rule of each convention that counts it differently from torchvision (none here)
    assert all(d.kind != "throwaway_softplus" for c in explain.explain(graph).conventions for d in c.differences)


def test_a_kind_defined_in_one_place_validates_in_torch(throwaway):
    graph = cnncost.load_text(TEXT)
    for batch, dtype in ((1, "float32"), (3, "bfloat16")):
        settings = cnncost.Settings(batch=batch, dtype=dtype)
        result = checker.validate_graph(graph, settings)
        assert result.error is None and not result.mismatches, (batch, dtype)
    result = checker.validate_memory_graph(graph, cnncost.Settings(batch=2))
    assert result.error is None and not result.mismatches
    result = checker.validate_rf_graph(graph)
    assert result.error is None and not result.mismatches


def test_a_wrong_rule_on_the_throwaway_is_caught_by_torch(throwaway, monkeypatch):
    # the kind claiming to save its output, which d saves too: cnncost would count one map where torch keeps
    # two (the conv's output for softplus, softplus's output for d)
    monkeypatch.setitem(memory._SAVED, "throwaway_softplus", memory.SAVED_RULES["output"])
    result = checker.validate_memory_graph(cnncost.load_text(TEXT), cnncost.Settings(batch=2))
    wrong = {(layer, check.figure) for layer, check in result.mismatches}
    assert wrong == {("d", "saved_bytes"), ("total", "saved_activation_bytes")}


def test_in_place_activations_imported_from_torch_save_what_torch_saves():
    # CSPDarkNet's conv, batch norm, LeakyReLU(inplace=True), and an ELU(inplace=True): the importer records
    # inplace, and the saved activations equal the storages saved_tensors_hooks sees (parameters and the running
    # statistics, which are the model's state, left out)
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1, inplace=True),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ELU(inplace=True), nn.Conv2d(8, 4, 1))
    graph = cnncost.from_torch(model, input=(3, 16, 16))
    assert [n.args.get("inplace") for n in graph.nodes if n.kind in ("leaky_relu", "elu")] == [True, True]
    measured = saved_bytes(model.train(), torch.randn(2, 3, 16, 16))
    first, _ = memory.saved_storages(graph, cnncost.Settings(batch=2))
    assert sum(sum(mine.values()) for mine in first.values()) == measured
