"""Invariants that hold for every network in the zoo (new files are picked up automatically)."""

import pytest

import cnncost
from cnncost import zoo
from cnncost.engine import group_by_depth
from cnncost.graph import INPUT
from cnncost.report import FIGURES

MODELS = zoo.names()


@pytest.fixture(scope="module", params=MODELS)
def report(request):
    return cnncost.analyze(request.param)


def test_each_input_shape_is_its_producers_output(report):
    produced = {INPUT: report.input}
    for layer in report.layers:
        assert layer.input_shapes == tuple(produced[name] for name in layer.inputs), layer.name
        produced[layer.name] = layer.output_shape


def test_depth_subtotals_sum_to_totals(report):
    for depth in (1, 2):
        groups = group_by_depth(report, depth)
        for figure in FIGURES:
            assert sum(getattr(g, figure) for g in groups if not g.side) == getattr(report.totals, figure)


def test_names_are_unique(report):
    names = [l.name for l in report.layers]
    assert len(names) == len(set(names))


def test_every_zoo_file_has_a_description():
    for name in MODELS:
        assert cnncost.analyze(name).description, name
