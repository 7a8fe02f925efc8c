"""Every peer convention against what the peer tools themselves printed.

tests/data/peer_totals.tsv holds the totals that ptflops, fvcore, thop,
torchinfo, torchscan and torch's FlopCounterMode printed for torchvision's own
models, and tests/data/peer_modules.tsv what they printed for single modules
and functions; tools/measure_peers.py measured both (its header gives the
versions and calls). Neither file was written by cnncost.
"""

from pathlib import Path

import pytest
import yaml

import cnncost
from cnncost import conventions
from cnncost.kinds import KINDS

DATA = Path(__file__).parent / "data"
_TORCHVISION = yaml.safe_load((Path(cnncost.__file__).parent / "data" / "published" / "torchvision.yaml").read_text())
PUBLISHED = {**_TORCHVISION["models"], **_TORCHVISION["segmentation"]}


def read_tsv(name):
    lines = [l for l in (DATA / name).read_text().splitlines() if l and not l.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


PEER_TOTALS = read_tsv("peer_totals.tsv")
PEER_MODULES = read_tsv("peer_modules.tsv")

# The zoo's settings that give torchvision's module structure, where the default differs:
# torchvision's AlexNet has an AdaptiveAvgPool2d((6, 6)) (the lecture's form does not), and
# torchvision drops GoogLeNet's auxiliary heads when it loads the published weights, which is
# how the tools were run (and what torchvision's num_params counts).
TORCHVISION_FORM = {"alexnet": {"adaptive_pool": True}, "googlenet": {"aux_logits": False}}


@pytest.fixture(scope="module")
def graphs():
    cache = {}

    def graph(model):
        if model not in cache:
            cache[model] = cnncost.load(model, input=tuple(PUBLISHED[model]["input"]),
                                        set=TORCHVISION_FORM.get(model, {}))
        return cache[model]

    return graph


def test_the_table_covers_every_torchvision_model_and_every_peer_convention():
    pairs = {(r["model"], r["convention"]) for r in PEER_TOTALS}
    peers = set(conventions.CONVENTIONS) - {"lecture", "torchvision"}
    assert set(PUBLISHED) <= set(cnncost.zoo.names())
    assert len(PUBLISHED) == 68 + 5 + 4 + 1 + 6 + 6  # CNN, ViT, video, MaxViT and Swin classification, and segmentation
    assert pairs == {(m, c) for m in PUBLISHED for c in peers}


@pytest.mark.parametrize("row", PEER_TOTALS, ids=[f"{r['model']}-{r['convention']}" for r in PEER_TOTALS])
def test_peer_convention_reproduces_the_tools_printed_total(graphs, row):
    totals = cnncost.engine.view(graphs(row["model"]), cnncost.Settings(convention=row["convention"])).totals
    assert (totals.params, totals.macs) == (int(row["params"]), int(row["macs"]))


# Each measured case of peer_modules.tsv as a one-layer network on the same 8x12x12 input.
MODULE_CASES = {
    "conv3x3_bias": "conv: {out: 16, kernel: 3, padding: 1}",
    "conv3x3_nobias": "conv: {out: 16, kernel: 3, padding: 1, bias: false}",
    "dwconv3x3_nobias": "dwconv: {kernel: 3, padding: 1, bias: false}",
    "linear_bias": ["flatten: {call: function}", "linear: {out: 10}"],
    "bn_affine": "batchnorm",
    "bn_noaffine": "batchnorm: {affine: false}",
    "relu_module": "relu",
    "relu_function": "relu: {call: function}",
    "relu6_module": "relu6",
    "silu_module": "silu",
    "gelu_module": "gelu",
    "gelu_function": "gelu: {call: function}",
    "hardswish_module": "hardswish",
    "hardsigmoid_module": "hardsigmoid",
    "sigmoid_module": "sigmoid",
    "maxpool_int3": "maxpool: {kernel: 3, stride: 2}",
    "maxpool_function": "maxpool: {kernel: 3, stride: 2, call: function}",
    "avgpool_int3": "avgpool: {kernel: 3, stride: 1, padding: 1}",
    "avgpool_function": "avgpool: {kernel: 3, stride: 1, padding: 1, call: function}",
    "adaptiveavgpool_1": "adaptive_avgpool: {output: 1}",
    "adaptiveavgpool_5": "adaptive_avgpool: {output: 5}",
    "adaptiveavgpool_function_1": "adaptive_avgpool: {output: 1, call: function}",
    "mean_hw": "global_avgpool: {call: mean}",
    "lrn_module": "lrn: {size: 5}",
    "dropout_module": "dropout",
    # x + x.flip(1) and friends: the flip counts 0 in every tool (case flip_only), so x with itself
    "add_operator": "add: {input: [input, input]}",
    "add_function": "add: {input: [input, input], call: function}",
    "mul_operator": "mul: {input: [input, input]}",
    "cat_function": "concat: {input: [input, input]}",
    "flip_only": "identity",
    "groupnorm_affine": "groupnorm: {groups: 4}",
    "groupnorm_noaffine": "groupnorm: {groups: 4, affine: false}",
    "groupnorm_function": "groupnorm: {groups: 4, affine: false, call: function}",  # F.group_norm has no weight
    # ConvNeXt's forms: nn.LayerNorm and nn.Linear on a channels-last view, torchvision's LayerNorm2d
    "layernorm_channels_nhwc": "layernorm",
    "layernorm_noaffine_nhwc": "layernorm: {affine: false}",
    "layernorm2d_torchvision": "layernorm: {call: subclass}",
    "layernorm_function_nhwc": "layernorm: {affine: false, call: function}",
    "layernorm_vector": ["flatten: {call: function}", "layernorm"],
    "linear_channels_nhwc_contiguous": "linear: {out: 16, per_position: true}",
    "layer_scale": "layer_scale",
    "mish_module": "mish",
    "pad_zero_module": "pad: {padding: [3, 0, 1, 2]}",
    "pad_reflect_module": "pad: {padding: [3, 0, 1, 2], mode: reflect}",
    "pad_replicate_module": "pad: {padding: [3, 0, 1, 2], mode: replicate}",
    "pad_function": "pad: {padding: [3, 0, 1, 2], call: function}",
    "crop_slice": "center_crop: {size: [8, 10]}",
    "convtranspose2x2_s2_bias": "conv_transpose: {out: 4, kernel: 2, stride: 2}",
    "convtranspose2x2_s2_nobias": "conv_transpose: {out: 4, kernel: 2, stride: 2, bias: false}",
    "convtranspose3x3_s2_p1_op1": "conv_transpose: {out: 16, kernel: 3, stride: 2, padding: 1, output_padding: 1}",
    "convtranspose4x4_g4_nobias": "conv_transpose: {out: 8, kernel: 4, stride: 2, padding: 1, groups: 4, bias: false}",
    "upsample_nearest_scale2": "upsample: {scale: 2}",
    "upsample_nearest_size": "upsample: {size: [20, 30]}",
    "upsample_bilinear_scale2": "upsample: {scale: 2, mode: bilinear}",
    "upsample_bilinear_size_aligned": "upsample: {size: [20, 30], mode: bilinear, align_corners: true}",
    "interpolate_nearest_function": "upsample: {scale: 2, call: function}",
    "interpolate_bilinear_function": "upsample: {size: [20, 30], mode: bilinear, call: function}",
}
# Cases a cnncost network cannot tell apart from another, and why.
NOT_EXPRESSIBLE = {
    # a square kernel is one value, (3, 3); torchscan's figure depends on whether the PyTorch code wrote
    # 3 or (3, 3), and the convention follows torchvision, which writes ints (the *_int3 cases)
    "maxpool_tuple3", "avgpool_tuple3",
    # nn.Linear on a channels-last view that is not contiguous: torch runs aten.mm and adds the bias
    # apart, so ptflops' aten backend leaves the bias out; cnncost follows ConvNeXt, whose Linear gets the
    # contiguous output of its LayerNorm (case linear_channels_nhwc_contiguous)
    "linear_channels_nhwc",
    # nn.LayerNorm over C, H and W at once: cnncost's layernorm normalises over the channels
    "layernorm_chw",
}


def test_every_measured_module_case_is_mapped_or_said_why_not():
    assert {r["case"] for r in PEER_MODULES} == set(MODULE_CASES) | NOT_EXPRESSIBLE


@pytest.mark.parametrize("row", [r for r in PEER_MODULES if r["case"] in MODULE_CASES],
                         ids=[f"{r['case']}-{r['convention']}" for r in PEER_MODULES if r["case"] in MODULE_CASES])
def test_peer_convention_reproduces_the_tool_on_one_module(row):
    items = MODULE_CASES[row["case"]]
    items = items if isinstance(items, list) else [items]
    text = "input: [8, 12, 12]\nlayers:\n" + "".join(f"  - {item}\n" for item in items)
    totals = cnncost.analyze_text(text, convention=row["convention"]).totals
    assert (totals.params, totals.macs) == (int(row["params"]), int(row["macs"]))


def test_torchscan_counts_a_square_kernel_as_written_by_torchvision():
    # MaxPool2d(3, stride=2) on 8x12x12: 8x5x5 outputs, k = 3 (the int), so 2 comparisons each
    rows = {r["case"]: r for r in PEER_MODULES if r["convention"] == "torchscan"}
    assert int(rows["maxpool_int3"]["macs"]) == 8 * 5 * 5 * (3 - 1)
    assert int(rows["maxpool_tuple3"]["macs"]) == 8 * 5 * 5 * (3 * 3 - 1)  # what a (3, 3) kernel would give


def test_every_convention_states_a_rule_for_every_family_and_names_only_real_kinds():
    for convention in conventions.CONVENTIONS.values():
        assert set(conventions.FAMILIES) <= set(convention.rules), convention.name
        assert set(convention.rules) <= set(conventions.FAMILIES) | set(KINDS), convention.name
        for kind in KINDS:
            assert convention.rule(kind).text, (convention.name, kind)


def test_lecture_and_torchvision_are_as_they_were():
    # the lecture counts pooling window elements, torchvision only conv and linear (docs/conventions.md)
    text = ("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3, padding: 1}\n  - batchnorm\n  - relu\n"
            "  - maxpool: {kernel: 2}\n  - flatten\n  - linear: {out: 5}\n")
    conv, pool, fc = 4 * 8 * 8 * 3 * 9, 4 * 4 * 4 * 4, 64 * 5
    assert cnncost.analyze_text(text).totals.macs == conv + pool + fc
    assert cnncost.analyze_text(text, convention="torchvision").totals.macs == conv + fc


def test_params_of_an_idle_auxiliary_head_follow_the_tool():
    # inception_v3 keeps its AuxLogits head; in eval it does not run. thop counts only modules that ran.
    graph = cnncost.load("inception_v3")
    aux = sum(n.params for n in graph.nodes if n.side)
    main = sum(n.params for n in graph.nodes if not n.side)
    assert aux == 27_161_264 - 23_834_568  # torchvision's num_params minus what thop printed
    for name, convention in conventions.CONVENTIONS.items():
        params = cnncost.engine.view(graph, cnncost.Settings(convention=name)).totals.params
        assert params == (main + aux if convention.unrun_params else main), name


# Models that between them run every counting rule the zoo uses: adaptive pooling (alexnet), lrn (alexnet_paper),
# bilinear resizing (lraspp_mobilenet_v3_large), side outputs (googlenet), attention (vit_b_32), 3-D maps (r3d_18,
# s3d), gates (mobilenet_v3_small), upsampling (unet).
BATCH_MODELS = ["alexnet", "alexnet_paper", "lraspp_mobilenet_v3_large", "googlenet", "vit_b_32", "r3d_18", "s3d",
                "mobilenet_v3_small", "unet", "densenet121"]


@pytest.mark.parametrize("convention", list(conventions.CONVENTIONS))
def test_every_count_is_a_whole_number_that_grows_with_the_batch(convention):
    # every peer tool counts a batch of n samples as n times one sample (each sample runs the same modules),
    # and counts whole operations: a rule that divides by the batch, or divides where it should floor, shows
    # here (the peer files above hold batch-1 counts only, where n * x == x / n)
    for model in BATCH_MODELS:
        one, three = (cnncost.analyze(model, batch=b, convention=convention, include_side=True) for b in (1, 3))
        for a, b in zip(one.layers, three.layers):
            assert type(a.macs) is int and type(b.macs) is int, (model, a.name, a.macs, b.macs)
            assert b.macs == 3 * a.macs, (model, a.name, a.macs, b.macs)


# ptflops 0.7.5 (pytorch backend) with torch 2.13.0+cpu, measured 2026-12-08 in the outside-model environment:
# get_model_complexity_info(Case(bias).eval(), (16, 8), as_strings=False, print_per_layer_stat=False,
# backend="pytorch"), where Case.forward(x) = self.m(x, x, x, need_weights=False)[0] and
# self.m = nn.MultiheadAttention(8, 2, bias=bias, batch_first=True). It printed (params, macs):
PTFLOPS_MHA = {False: (256, 8960), True: (288, 9344)}


@pytest.mark.parametrize("bias", [False, True])
def test_ptflops_counts_attention_projection_biases_only_where_there_are_some(bias):
    text = f"input: [16, 8]\nlayers:\n  - multihead_attention: {{name: att, heads: 2, bias: {str(bias).lower()}}}\n"
    row = cnncost.analyze_text(text, convention="ptflops").layers[0]
    assert (row.params, row.macs) == PTFLOPS_MHA[bias]


# ptflops 0.7.5 (backend="aten") and fvcore 0.1.5 FlopCountAnalysis(...).total(), torch 2.13.0+cpu, measured
# 2026-12-08 under torch.no_grad() (as tools/measure_peers.py runs every tool), x = (1, 16, 8):
# Case.forward(x) = self.m(x, k, v, need_weights=False)[0] with self.m = nn.MultiheadAttention(8, 2, bias=bias,
# batch_first=True), and k, v = x, x (self-attention) or F.relu(x), F.relu(x) (separate key and value). In eval,
# self-attention with biases runs torch's fused kernel (nothing counted); without biases it does not.
# (separate, bias): (ptflops-aten, fvcore)
MHA_UNFUSED = {(False, False): (4096, 4096), (False, True): (0, 0), (True, False): (4096, 4096),
               (True, True): (4608, 4096)}


@pytest.mark.parametrize("separate, bias", list(MHA_UNFUSED))
def test_attention_counts_zero_only_where_torch_runs_it_fused(separate, bias):
    b = str(bias).lower()
    if separate:
        layers = ["relu: {name: k, input: input}", "relu: {name: v, input: input}",
                  f"multihead_attention: {{name: att, heads: 2, bias: {b}, input: [input, k, v]}}"]
    else:
        layers = [f"multihead_attention: {{name: att, heads: 2, bias: {b}}}"]
    text = "input: [16, 8]\nlayers:\n" + "".join(f"  - {l}\n" for l in layers)
    got = tuple(cnncost.analyze_text(text, convention=c).totals.macs for c in ("ptflops-aten", "fvcore"))
    assert got == MHA_UNFUSED[separate, bias]


# torchscan 0.2.0 crawl_module(Case(m).eval(), (8, 12, 12))["totals"]["macs"]["value"], torch 2.13.0+cpu, under
# torch.no_grad(), measured 2026-12-08; Case.forward(x) = self.m(x): a non-square window (the zoo has none)
TORCHSCAN_NON_SQUARE = {"maxpool": 960, "avgpool": 1344}


@pytest.mark.parametrize("kind", list(TORCHSCAN_NON_SQUARE))
def test_torchscan_counts_a_non_square_pooling_window_by_its_area(kind):
    # 8 x 6 x 4 = 192 outputs; 960 = 192 * (2*3 - 1) and 1344 = 192 * (2*3 + 1)
    text = f"input: [8, 12, 12]\nlayers:\n  - {kind}: {{name: p, kernel: [2, 3]}}\n"
    assert cnncost.analyze_text(text, convention="torchscan").totals.macs == TORCHSCAN_NON_SQUARE[kind]
