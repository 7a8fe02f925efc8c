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
import torch

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
         "layernorm_token_subclass": "subclass", "groupnorm_subclass": "subclass", "std_conv_gain": "subclass",
         "std_conv_plain": "subclass"}
# the pools hold no weights: the row that runs as a subclass
POOL_CALLS = {"maxpool_same_subclass": "subclass", "avgpool_same_subclass": "subclass"}


def test_every_case_was_measured_by_every_tool():
    assert set(MEASURED) == set(subclass_cases.CASES) == set(CALLS) | set(POOL_CALLS)
    assert all(len(tools) == 7 for tools in MEASURED.values())


# cnncost's pad kind takes finite values only: MaxPool2dSame's -inf padding is imported with --partial, as an opaque
# row of the shape torch gives, which no convention counts; the pool after it is still checked
PARTIAL = {"maxpool_same_subclass"}


@pytest.mark.parametrize("case", sorted(subclass_cases.CASES))
def test_a_subclass_counts_what_each_tool_printed(case):
    graph = cnncost.from_torch(subclass_cases.build(case), input=subclass_cases.SHAPE, name=case,
                               partial=case in PARTIAL)
    if case in POOL_CALLS:
        assert [node.call for node in graph.nodes if node.kind.endswith("pool")] == [POOL_CALLS[case]]
    else:
        assert [node.call for node in graph.nodes if node.params] == [CALLS[case]]
    for convention, figures in MEASURED[case].items():
        totals = cnncost.analyze(graph, convention=convention).totals
        assert (totals.params, totals.macs) == figures, convention


def _peer_rows(name: str, case: str) -> dict:
    lines = [line.split("\t") for line in (DATA / name).read_text().splitlines() if not line.startswith("#")]
    return {convention: (int(params), int(macs)) for row_case, convention, params, macs in lines[1:]
            if row_case == case}


class _LayerScale(torch.nn.Module):
    """A block's own parameter gamma, applied as timm's blocks do (x.mul(gamma.reshape(1, -1, 1, 1))) or as
    torchvision's CNBlock does (x * gamma, gamma of shape C x 1 x 1)."""

    def __init__(self, method: bool):
        super().__init__()
        self.method = method
        self.gamma = torch.nn.Parameter(torch.full((8,) if method else (8, 1, 1), 1e-6))

    def forward(self, x):
        return x.mul(self.gamma.reshape(1, -1, 1, 1)) if self.method else x * self.gamma


@pytest.mark.parametrize("method, file, case", [(True, "peer_ops.tsv", "param_mul_reshape"),
                                                (False, "peer_modules.tsv", "layer_scale")])
def test_a_layer_scale_counts_as_the_tools_saw_the_call(method, file, case):
    # ptflops patches Tensor.mul (1 per element) but not the * operator: timm's layer scale counts, torchvision's not
    graph = cnncost.from_torch(_LayerScale(method), input=subclass_cases.SHAPE, name=case)
    assert [node.kind for node in graph.nodes] == ["layer_scale"]
    for convention, figures in _peer_rows(file, case).items():
        totals = cnncost.analyze(graph, convention=convention).totals
        assert (totals.params, totals.macs) == figures, convention
