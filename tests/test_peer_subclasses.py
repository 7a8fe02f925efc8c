"""Subclasses of torch.nn's layers, written as timm and segmentation-models-pytorch write theirs
(tests/subclass_cases.py): from_torch records how each runs, and every convention counts what its tool printed for
the same module (tests/data/peer_subclasses.tsv, written by tools/measure_peers.py --only subclasses).

A leaf subclass (no child modules) is hooked as the module by torchinfo (which reads its parameters' names and
'Conv' in its class name) and torchscan (isinstance), and missed by thop and ptflops (exact type); a subclass with
children (BatchNormAct2d) is missed by all four, and thop leaves the parameters of every module it missed out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cnncost
from tests import subclass_cases

DATA = Path(__file__).parent / "data"


def _measured() -> dict:
    lines = [line for line in (DATA / "peer_subclasses.tsv").read_text().splitlines() if not line.startswith("#")]
    rows: dict = {}
    for line in lines[1:]:
        case, convention, params, macs = line.split("\t")
        rows.setdefault(case, {})[convention] = (int(params), int(macs))
    return rows


MEASURED = _measured()
# how each case's weighted row runs: a leaf subclass, or a function inside a subclass with children
CALLS = {"linear_functional_subclass": "subclass", "conv_same_subclass": "subclass", "conv_same_depthwise": "subclass",
         "conv_kept_forward": "subclass", "batchnorm_act_subclass": "function", "conv_static_same": "function",
         "layernorm_token_subclass": "subclass", "groupnorm_subclass": "subclass"}


def test_every_case_was_measured_by_every_tool():
    assert set(MEASURED) == set(subclass_cases.CASES) == set(CALLS)
    assert all(len(tools) == 7 for tools in MEASURED.values())


@pytest.mark.parametrize("case", sorted(subclass_cases.CASES))
def test_a_subclass_counts_what_each_tool_printed(case):
    graph = cnncost.from_torch(subclass_cases.build(case), input=subclass_cases.SHAPE, name=case)
    weighted = [node for node in graph.nodes if node.params]
    assert [node.call for node in weighted] == [CALLS[case]]
    for convention, figures in MEASURED[case].items():
        totals = cnncost.analyze(graph, convention=convention).totals
        assert (totals.params, totals.macs) == figures, convention
