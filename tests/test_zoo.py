"""Every zoo model that torchvision ships, against torchvision's published weight metadata.

The figures are in cnncost/data/published/torchvision.yaml, copied from torchvision
0.29.1's source (each model's weights `meta`: "num_params" and "_ops", the GMACs of
conv and linear layers that its docs print as "GFLOPS"). Files added to architectures/
are picked up here without editing any list.
"""

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

import cnncost
from cnncost import zoo

PUBLISHED = yaml.safe_load(
    (Path(cnncost.__file__).parent / "data" / "published" / "torchvision.yaml").read_text())["models"]
IN_ZOO = [name for name in PUBLISHED if name in zoo.names()]


@pytest.mark.parametrize("name", IN_ZOO)
def test_parameters_equal_torchvision_num_params(name):
    meta = PUBLISHED[name]
    # inception_v3's builder keeps its auxiliary head, and num_params counts it
    include_side = meta.get("params_include_side", False)
    report = cnncost.analyze(name, input=tuple(meta["input"]), include_side=include_side)
    assert report.totals.params == meta["num_params"]


@pytest.mark.parametrize("name", IN_ZOO)
def test_macs_equal_torchvision_gflops_to_every_printed_digit(name):
    meta = PUBLISHED[name]
    report = cnncost.analyze(name, input=tuple(meta["input"]), convention="torchvision")
    printed = Decimal(meta["ops"])
    gmacs = Decimal(report.totals.macs) / Decimal(10**9)
    assert gmacs.quantize(printed, rounding=ROUND_HALF_UP) == printed


def test_every_torchvision_model_of_the_issue_is_in_the_zoo():
    missing = sorted(set(PUBLISHED) - set(zoo.names()))
    assert not missing, f"torchvision models without a zoo file: {missing}"


@pytest.mark.parametrize("name", IN_ZOO)
def test_runs_at_torchvision_min_size(name):
    # torchvision's metadata gives the smallest input each model accepts in eval mode ("min_size"),
    # where auxiliary heads do not run (inception_v3's needs 17x17 maps, more than 75x75 gives)
    h, w = PUBLISHED[name]["min_size"]
    settings = {"aux_logits": False} if "aux_logits" in cnncost.load(name).params else {}
    report = cnncost.analyze(name, input=(3, h, w), set=settings)
    assert all(d >= 1 for d in report.layers[-1].output_shape)
