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
    import torch

    with torch.device("meta"):  # keys and shapes only: no memory for the weights (vit_h_14 has 633M)
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
    # a video model's frames stay those of its published input (min_size is height and width), or are its
    # min_temporal_size where torchvision gives one (s3d: 14)
    c, *frames = PUBLISHED[name]["input"][:-2]
    frames = [PUBLISHED[name]["min_frames"]] if "min_frames" in PUBLISHED[name] else frames
    report = cnncost.analyze(name, input=(c, *frames, h, w), set=settings)
    assert all(d >= 1 for d in report.layers[-1].output_shape)


def _vit_macs(image, patch, layers, width, mlp, attention_products=True):
    """Hand arithmetic for a torchvision ViT: conv patch embedding, per block q/k/v and out projections and the
    MLP (and attention's Q K^T and A V), the head; L = the patches plus the class token."""
    patches = (image // patch) ** 2
    tokens = patches + 1
    block = tokens * width * 3 * width + tokens * width * width + 2 * tokens * width * mlp
    if attention_products:
        block += 2 * tokens * tokens * width
    return patches * width * 3 * patch * patch + layers * block + width * 1000


@pytest.mark.parametrize("name, patch, layers, width, mlp", [
    ("vit_b_16", 16, 12, 768, 3072), ("vit_b_32", 32, 12, 768, 3072), ("vit_l_16", 16, 24, 1024, 4096),
    ("vit_l_32", 32, 24, 1024, 4096), ("vit_h_14", 14, 32, 1280, 5120)])
def test_vit_gflops_count_attentions_two_products(name, patch, layers, width, mlp):
    # docs/conventions.md: torchvision's transformer figures are conv + linear + Q K^T and A V; without the two
    # products the figure would not round to the published one
    meta = PUBLISHED[name]
    image = meta["input"][1]
    printed = Decimal(meta["ops"])

    def rounded(macs):
        return (Decimal(macs) / Decimal(10**9)).quantize(printed, rounding=ROUND_HALF_UP)

    assert rounded(_vit_macs(image, patch, layers, width, mlp)) == printed
    assert rounded(_vit_macs(image, patch, layers, width, mlp, attention_products=False)) != printed
    report = cnncost.analyze(name, input=tuple(meta["input"]), convention="torchvision")
    assert report.totals.macs == _vit_macs(image, patch, layers, width, mlp)


def test_vit_h_14_at_224_is_torchvisions_swag_linear_model():
    # torchvision 0.28, ViT_H_14_Weights.IMAGENET1K_SWAG_LINEAR_V1.meta: num_params 632045800, _ops 167.295
    # (the 224 build: a position embedding of 16 x 16 + 1 tokens instead of 37 x 37 + 1)
    report = cnncost.analyze("vit_h_14", input=(3, 224, 224), convention="torchvision")
    assert report.totals.params == 632_045_800
    assert (Decimal(report.totals.macs) / Decimal(10**9)).quantize(Decimal("167.295"), ROUND_HALF_UP) == \
        Decimal("167.295")


def _maxvit_t_macs(attention_products=True):
    """Hand arithmetic for torchvision's maxvit_t at 224 (Tu et al. 2022, Table 1: C = 64, 128, 256, 512 with
    2, 2, 5, 2 blocks, P = 7, MBConv expansion 4, SE to C/4, MLP ratio 4): the convs and linear layers, and with
    attention_products each partition attention's Q K^T and A V (2 x T x 49 x C for T tokens of C channels)."""
    h = 112  # after the stem's stride-2 conv
    macs = h * h * 64 * 3 * 9 + h * h * 64 * 64 * 9  # the stem: 3x3 stride 2, then 3x3
    c_in = 64
    for c, blocks in zip((64, 128, 256, 512), (2, 2, 5, 2)):
        for i in range(blocks):
            width = c_in if i == 0 else c
            out = h // 2 if i == 0 else h  # the first block halves the map in its depthwise conv
            mid, squeeze = 4 * c, c // 4
            macs += h * h * width * mid + out * out * mid * 9  # conv_a (1x1, at the input size), conv_b (3x3 dw)
            macs += 2 * mid * squeeze + out * out * mid * c  # SE's two 1x1 convs on 1x1, conv_c
            if i == 0:
                macs += out * out * width * c  # the shortcut's 1x1 conv, after its average pool
            tokens = out * out
            attention = tokens * (3 * c * c + c * c + 2 * 4 * c * c)  # to_qkv, merge, the MLP
            if attention_products:
                attention += 2 * tokens * 49 * c
            macs += 2 * attention  # block and grid attention
            h = out
        c_in = c
    return macs + 512 * 512 + 512 * 1000  # the head: linear with tanh, then the classes (no bias)


def test_maxvit_t_gflops_count_attentions_two_products():
    # torchvision 0.28, MaxVit_T_Weights.IMAGENET1K_V1.meta["_ops"] = 5.558: conv + linear + Q K^T and A V, as for
    # the ViTs (docs/conventions.md); without the products the figure would be 5.381
    printed = Decimal(PUBLISHED["maxvit_t"]["ops"])

    def rounded(macs):
        return (Decimal(macs) / Decimal(10**9)).quantize(printed, rounding=ROUND_HALF_UP)

    assert rounded(_maxvit_t_macs()) == printed
    assert rounded(_maxvit_t_macs(attention_products=False)) == Decimal("5.381")
    assert cnncost.analyze("maxvit_t", convention="torchvision").totals.macs == _maxvit_t_macs()
