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

_DATA = yaml.safe_load((Path(cnncost.__file__).parent / "data" / "published" / "torchvision.yaml").read_text())
PUBLISHED = _DATA["models"]
SEGMENTATION = _DATA["segmentation"]  # their figures count the auxiliary classifier, which runs in eval
IN_ZOO = [name for name in PUBLISHED if name in zoo.names()]
SEGMENTATION_IN_ZOO = [name for name in SEGMENTATION if name in zoo.names()]


def _state_dicts() -> dict:
    """tests/data/torchvision_state_dicts.tsv: per model, {key: shape} of torchvision's own module."""
    models: dict = {}
    for line in (Path(__file__).parent / "data" / "torchvision_state_dicts.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            model, key, shape = line.split("\t")
            models.setdefault(model, {})[key] = tuple(int(d) for d in shape.split("x")) if shape else ()
    return models


STATE_DICTS = _state_dicts()


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


@pytest.mark.parametrize("name", SEGMENTATION_IN_ZOO)
def test_segmentation_parameters_and_macs_equal_torchvision(name):
    meta = SEGMENTATION[name]
    report = cnncost.analyze(name, input=tuple(meta["input"]), convention="torchvision")
    assert report.totals.params == meta["num_params"]
    printed = Decimal(meta["ops"])
    assert (Decimal(report.totals.macs) / Decimal(10**9)).quantize(printed, rounding=ROUND_HALF_UP) == printed


def test_every_torchvision_model_of_the_issue_is_in_the_zoo():
    missing = sorted((set(PUBLISHED) | set(SEGMENTATION)) - set(zoo.names()))
    assert not missing, f"torchvision models without a zoo file: {missing}"


@pytest.mark.parametrize("name", sorted(STATE_DICTS))
def test_state_dict_keys_and_shapes_equal_torchvisions(name):
    # so that torchvision's pretrained weights load into cnncost's module with load_state_dict(strict=True)
    pytest.importorskip("torch")
    meta = PUBLISHED.get(name) or SEGMENTATION[name]
    # torchvision drops GoogLeNet's auxiliary heads when it loads the published weights (the reference too)
    settings = {"aux_logits": False} if name == "googlenet" else {}
    net = cnncost.to_torch(cnncost.load(name, input=tuple(meta["input"]), set=settings))
    ours = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    expected = STATE_DICTS[name]
    missing = sorted(set(expected) - set(ours))
    extra = sorted(set(ours) - set(expected))
    wrong = sorted(k for k in set(ours) & set(expected) if ours[k] != expected[k])
    assert not (missing or extra or wrong), (
        f"{len(missing)} missing, e.g. {missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}; "
        f"{len(wrong)} of other shapes, e.g. {[(k, ours[k], expected[k]) for k in wrong[:3]]}")


@pytest.mark.parametrize("name", IN_ZOO)
def test_runs_at_torchvision_min_size(name):
    # torchvision's metadata gives the smallest input each model accepts in eval mode ("min_size"),
    # where auxiliary heads do not run (inception_v3's needs 17x17 maps, more than 75x75 gives)
    h, w = PUBLISHED[name]["min_size"]
    settings = {"aux_logits": False} if "aux_logits" in cnncost.load(name).params else {}
    report = cnncost.analyze(name, input=(3, h, w), set=settings)
    assert all(d >= 1 for d in report.layers[-1].output_shape)
