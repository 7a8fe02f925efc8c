"""A training step's MACs (--pass train, --freeze): hand arithmetic, and FlopCounterMode over a real backward.

Every zoo model runs once per batch size under torch.utils.flop_counter.FlopCounterMode: one forward in train
mode and ``out.sum().backward()``. Under the flopcounter convention cnncost's training_macs must equal its count
(FLOPs / 2); under torchvision, the same count with FlopCounterMode's grouped-convolution weight-gradient formula
corrected (a second counter with a custom mapping, nested in the same pass).
"""

import json
import os

import pytest
from click.testing import CliRunner

import cnncost
from cnncost import training, zoo
from cnncost.cli import main
from cnncost.errors import CnnCostError
from cnncost.kinds import KINDS

# --- hand arithmetic ---

SMALL = """
input: [3, 8, 8]
layers:
  - conv: {name: c1, out: 4, kernel: 3, padding: 1}
  - relu
  - dwconv: {name: dw, kernel: 3, padding: 1}
  - maxpool: {name: pool, kernel: 2}
  - flatten
  - linear: {name: fc, out: 10}
"""
C1 = 4 * 8 * 8 * 3 * 3 * 3  # 6,912: out x H' x W' x Cin x kh x kw
DW = 4 * 8 * 8 * 1 * 3 * 3  # 2,304: one filter per channel
POOL = 4 * 4 * 4 * 2 * 2  # 256 (lecture: one per window element); its outputs: 4 * 4 * 4 = 64
FC = 64 * 10  # 640


@pytest.mark.parametrize("convention, input_grads, weight_grads", [
    # c1 reads the network input: no input gradient; the pool's input gradient is one add per output (lecture)
    ("lecture", {"c1": 0, "dw": DW, "pool": 64, "fc": FC}, {"c1": C1, "dw": DW, "pool": 0, "fc": FC}),
    ("torchvision", {"c1": 0, "dw": DW, "pool": 0, "fc": FC}, {"c1": C1, "dw": DW, "pool": 0, "fc": FC}),
    # FlopCounterMode's weight gradient of a grouped conv is the forward x groups: 4 groups for the depthwise
    ("flopcounter", {"c1": 0, "dw": DW, "pool": 0, "fc": FC}, {"c1": C1, "dw": DW * 4, "pool": 0, "fc": FC}),
])
@pytest.mark.parametrize("batch", [1, 3])
def test_backward_rules_by_hand(convention, input_grads, weight_grads, batch):
    report = cnncost.analyze_text(SMALL, convention=convention, batch=batch, pass_="train")
    rows = {r.name: r for r in report.layers}
    for name in input_grads:
        assert (rows[name].backward_input_macs, rows[name].backward_weight_macs) == (
            batch * input_grads[name], batch * weight_grads[name]), name
    backward = batch * (sum(input_grads.values()) + sum(weight_grads.values()))
    t = report.totals
    assert t.backward_macs == backward
    assert t.training_macs == t.macs + backward
    data = report.to_dict()
    assert data["pass"] == "train"
    assert data["totals"]["backward_macs"] == backward
    assert data["totals"]["training_macs"] == t.macs + backward
    assert data["totals"]["training_flops"] == 2 * (t.macs + backward)


def test_freezing_stops_gradients_upstream_of_the_first_trainable_layer():
    # c1 and dw frozen: no weight gradients there, and no input gradient until fc's input (which needs none
    # either: nothing before it trains), so only fc's weight gradient is left
    report = cnncost.analyze_text(SMALL, convention="torchvision", pass_="train", freeze=["c1", "dw"])
    assert report.totals.backward_macs == FC
    # c1 alone frozen: dw trains, so its input needs no gradient (c1's output does not) but fc's does
    report = cnncost.analyze_text(SMALL, convention="torchvision", pass_="train", freeze=["c1"])
    assert report.totals.backward_macs == DW + 2 * FC
    assert [r.name for r in report.layers if r.frozen] == ["c1"]


def test_a_convention_whose_tool_counts_no_backward_says_so():
    report = cnncost.analyze_text(SMALL, convention="fvcore", pass_="train")
    assert report.totals.backward_macs is None and report.totals.training_macs is None
    data = report.to_dict()
    assert data["totals"]["training_macs"] is None
    assert "counts no backward" in data["backward_not_counted"]
    assert "not counted: fvcore" in report.table()


def test_every_convention_has_backward_rules_or_says_it_counts_none():
    assert set(training.BACKWARD) | set(training.NOT_COUNTED) == set(cnncost.conventions.CONVENTIONS)
    assert set(training.BACKWARD) & set(training.NOT_COUNTED) == set()
    for table in training.BACKWARD.values():  # every family stated, as in the conventions' own tables
        assert set(table) >= set(cnncost.conventions.FAMILIES)


def test_a_kind_whose_family_has_no_backward_rule_is_refused_naming_it(monkeypatch):
    monkeypatch.delitem(training.BACKWARD["torchvision"], "activation")
    with pytest.raises(ValueError, match="layer kind relu: convention 'torchvision' has no backward rule"):
        training._check(KINDS["relu"])
    monkeypatch.setitem(training.NOT_COUNTED, "lecture", "pretend")
    with pytest.raises(RuntimeError, match="convention 'lecture' needs backward rules"):
        training._check_conventions()


def test_the_cli_table_shows_both_gradients_and_json_names_them():
    result = CliRunner().invoke(main, ["table", "-", "--pass", "train", "--exact", "--convention", "flopcounter"],
                                input=SMALL)
    assert result.exit_code == 0, result.output
    assert "Grad in" in result.output and "Grad W" in result.output
    assert f"{DW * 4:,}" in result.output
    result = CliRunner().invoke(main, ["table", "-", "--pass", "train", "--format", "json"], input=SMALL)
    fc = [l for l in json.loads(result.output)["layers"] if l["name"] == "fc"][0]
    assert (fc["backward_input_macs"], fc["backward_weight_macs"], fc["frozen"]) == (FC, FC, False)


@pytest.mark.parametrize("args, message", [
    (["--freeze", "c1"], "--freeze changes a training step: give it with --pass train"),
    (["--pass", "train", "--freeze", "nothing_here"], "--freeze 'nothing_here' matches no layer"),
    (["--pass", "train", "--freeze", "c1("], "freeze pattern 'c1(' is not a regular expression"),
    (["--pass", "sideways"], "'sideways' is not one of 'forward', 'train'"),
])
def test_bad_training_options_are_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(main, ["table", "-", *args], input=SMALL)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_budget_and_sweep_take_the_training_step():
    within = CliRunner().invoke(main, ["budget", "-", "--pass", "train", "--max-macs",
                                       str(C1 + DW + POOL + FC + C1 + 64 + 2 * DW + 2 * FC)], input=SMALL)
    assert within.exit_code == 0, within.output
    over = CliRunner().invoke(main, ["budget", "-", "--pass", "train", "--max-macs",
                                     str(C1 + DW + POOL + FC + C1 + 64 + 2 * DW + 2 * FC - 1)], input=SMALL)
    assert over.exit_code == 1 and "training-step MACs" in over.output


def test_sweep_and_compare_carry_the_training_step():
    forward = C1 + DW + POOL + FC
    backward = C1 + 64 + 2 * DW + 2 * FC  # lecture: c1's weights; the pool's scatter; dw's and fc's both
    result = CliRunner().invoke(main, ["sweep", "-", "--batch", "1,2", "--pass", "train", "--format", "json"],
                                input=SMALL)
    points = json.loads(result.output)["points"]
    assert [(p["backward_macs"], p["training_macs"]) for p in points] == [
        (backward, forward + backward), (2 * backward, 2 * (forward + backward))]
    result = CliRunner().invoke(main, ["compare", "alexnet", "alexnet_paper", "--pass", "train", "--convention",
                                       "torchvision", "--format", "json"])
    whole = {m["model"]: m["whole"] for m in json.loads(result.output)["models"]}
    # alexnet's conv1 reads the image: its input gradient, 72,855,552 MACs (64 x 56 x 56 x 3 x 11 x 11), is the
    # only forward MACs not repeated twice
    assert whole["alexnet"]["training_macs"] == 3 * whole["alexnet"]["macs"] - 64 * 56 * 56 * 3 * 11 * 11


def test_a_batch_norm_that_cannot_train_is_refused_in_a_training_step():
    text = "input: [4, 1, 1]\nlayers:\n  - conv: {out: 4, kernel: 1}\n  - batchnorm: {name: bn}\n"
    with pytest.raises(CnnCostError, match="one value per channel"):
        cnncost.analyze_text(text, pass_="train")
    assert cnncost.analyze_text(text, pass_="train", batch=2).totals.backward_macs == 2 * 4 * 4


# --- against FlopCounterMode ---

torch = pytest.importorskip("torch")


def grouped_weight_gradients(extra: list):
    """FlopCounterMode's own convolution_backward formula, noting in ``extra`` what it overcounts.

    torch counts the weight's gradient as conv_flop_count(x.T, grad_out.T, grad_weight.T): Cin plays the batch
    and the batch the input channels. That is right for groups = 1; for groups g it pairs every input channel
    with every output channel, Cout x Cin x kh x kw x H' x W' x N FLOP pairs, g times the true
    Cout x (Cin/g) x kh x kw x H' x W' x N (which is the forward's). The overcount, the weight part x (g - 1)/g,
    is noted per call; the count returned is torch's own, so the counter's total stays FlopCounterMode's.
    """
    from torch.utils.flop_counter import conv_backward_flop, conv_flop_count

    def t(shape):
        return [shape[1], shape[0], *shape[2:]]

    def counted(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding,
                groups, output_mask, out_shape, **kwargs):
        if output_mask[1] and groups > 1:
            if transposed:
                weight = conv_flop_count(t(grad_out_shape), t(x_shape), t(out_shape[1]), transposed=False)
            else:
                weight = conv_flop_count(t(x_shape), t(grad_out_shape), t(out_shape[1]), transposed=False)
            extra.append(weight - weight // groups)
        return conv_backward_flop.__wrapped__(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation,
                                              transposed, output_padding, groups, output_mask, out_shape)

    return {torch.ops.aten.convolution_backward: counted}


def torch_training_macs(graph, batch, frozen=()):
    """(FlopCounterMode's MACs, and those with the grouped weight gradient corrected) for one forward in train
    mode and out.sum().backward(). FlopCounterMode needs only shapes, and autograd decides which gradients it
    computes as on any device, so the network runs on the meta device: no arithmetic, no weights."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnncost.torch_backend import build_module

    with torch.device("meta"):
        net = build_module(graph).train()
    for name in frozen:
        for p in net.own(name):
            p.requires_grad_(False)
    x = torch.empty(batch, *graph.input_shape, device="meta")
    extra = []
    with FlopCounterMode(display=False, custom_mapping=grouped_weight_gradients(extra)) as counter:
        net(x).sum().backward()
    flops = counter.get_total_flops()
    return flops // 2, (flops - sum(extra)) // 2


def one_value_per_channel(exc) -> bool:
    return "value per channel" in str(exc)


def test_every_zoo_models_training_macs_equal_flopcounter_over_a_real_backward():
    # one pass over the zoo, both conventions' counts from one backward per model: at batch 3 in CI (about 50 s
    # of CPU on the meta device); at batch 1 and 3 with CNNCOST_TEST_TRAINING_ZOO=both (docs/training.md)
    batches = (1, 3) if os.environ.get("CNNCOST_TEST_TRAINING_ZOO") == "both" else (3,)
    wrong = []
    for name in zoo.names():
        graph = cnncost.load(name)
        for batch in batches:
            try:
                ours = [cnncost.analyze(graph, convention=c, batch=batch, pass_="train").totals.training_macs
                        for c in ("flopcounter", "torchvision")]
            except CnnCostError as exc:  # a batch norm on one value per channel: torch refuses it too
                assert one_value_per_channel(exc), (name, batch, exc)
                with pytest.raises(ValueError, match="more than 1 value per channel"):
                    torch_training_macs(graph, batch)
                continue
            theirs = list(torch_training_macs(graph, batch))
            if any(n.kind == "multihead_attention" for n in graph.nodes):
                # on the meta device attention takes the math path (bmm, counted) where the CPU runs its flash
                # kernel (no formula), so FlopCounterMode's count here is not the CPU's: the flopcounter figure of
                # these models is checked on the CPU below. The torchvision convention counts every product, as
                # torch does here.
                ours, theirs = ours[1:], theirs[1:]
            if ours != theirs:
                wrong.append((name, batch, ours, theirs))
    assert wrong == []


def test_a_vits_training_macs_equal_flopcounter_over_a_real_backward_on_the_cpu():
    # nn.MultiheadAttention in training leaves its fused inference kernel: its projections run as mm and addmm,
    # which FlopCounterMode counts, and its attention as the CPU's flash kernel, which it does not. Real tensors
    # (not the meta device, whose attention is the math path), at a small input: 2 x 2 patches and the class token
    from torch.utils.flop_counter import FlopCounterMode

    graph = cnncost.load("vit_b_32", input=(3, 64, 64))
    torch.manual_seed(0)
    net = cnncost.to_torch(graph).train()
    with FlopCounterMode(display=False) as counter:
        net(torch.randn(3, 3, 64, 64)).sum().backward()
    totals = cnncost.analyze(graph, convention="flopcounter", batch=3, pass_="train").totals
    assert totals.training_macs == counter.get_total_flops() // 2
    # the forward alone: inference's count leaves out the projections (the fused kernel), training's has them
    inference = cnncost.analyze(graph, convention="flopcounter", batch=3).totals.macs
    assert totals.macs - inference == 12 * 3 * 5 * 4 * 768 * 768  # 12 blocks, batch 3, 5 tokens, q k v and out


FROZEN = [
    ("resnet18", ["conv1", "bn1", r"layer1\."]),  # the stem and the first stage
    ("mobilenet_v2", [r"stem\.", r"stage[1-3]\."]),  # depthwise stages: FlopCounterMode's grouped rule
    ("densenet121", ["conv0", "norm0", r"denseblock1\.", r"transition1\."]),  # concatenations
    ("convnext_tiny", [r"stem\.", r"stage1\.", r"stage2\.0\.gamma"]),  # layer scale frozen alone
    ("googlenet", [r"inception3a\.branch2"]),  # one branch of a module: its input still needs a gradient
]


@pytest.mark.parametrize("model, patterns", FROZEN, ids=[m for m, _ in FROZEN])
def test_frozen_layers_against_flopcounter(model, patterns):
    graph = cnncost.load(model)
    frozen = training.frozen_layers(graph, patterns)
    for batch in (1, 3):
        ours = [cnncost.analyze(graph, convention=c, batch=batch, pass_="train", freeze=patterns).totals.training_macs
                for c in ("flopcounter", "torchvision")]
        assert ours == list(torch_training_macs(graph, batch, frozen)), (model, batch)
    unfrozen = cnncost.analyze(graph, convention="torchvision", batch=3, pass_="train").totals.training_macs
    assert ours[1] < unfrozen  # freezing saves work
