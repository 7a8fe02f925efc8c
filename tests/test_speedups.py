"""The shortcuts taken for speed (docs/performance.md) change no result.

No timings here: a slowdown is seen in benchmarks/run.py, not in the tests.
"""

import gc
import math

import pytest

import cnncost
from cnncost import CnnCostError
from cnncost import expr
from cnncost.graph import Node, make_node
from cnncost.report import LayerCost, make_layer_cost


def names_of(text):
    return [layer.name for layer in cnncost.analyze_text(text).layers]


def test_automatic_names_skip_a_name_the_user_took():
    # relu, then the user's relu_3; the next free names are relu_2, then relu_4 (relu_3 is taken)
    text = """
input: [3, 8, 8]
layers:
  - relu
  - relu: {name: relu_3}
  - relu
  - relu
  - relu
"""
    assert names_of(text) == ["relu", "relu_3", "relu_2", "relu_4", "relu_5"]


def test_automatic_names_are_per_scope():
    text = """
input: [3, 8, 8]
layers:
  - relu
  - sequence: {name: a, layers: [relu, relu]}
  - relu
"""
    assert names_of(text) == ["relu", "a.relu", "a.relu_2", "relu_2"]


def test_groups_checked_once_still_claim_their_names():
    # a.b.relu makes 'a' and 'a.b' groups; a.b.relu_2 finds 'a.b' known and skips the check
    head = "input: [3, 8, 8]\nlayers:\n  - sequence: {name: a, layers: [{sequence: {name: b, layers: [relu, relu]}}]}\n"
    assert names_of(head) == ["a.b.relu", "a.b.relu_2"]
    with pytest.raises(CnnCostError, match="'a' already names a group"):
        cnncost.analyze_text(head + "  - relu: {name: a}\n")
    with pytest.raises(CnnCostError, match="'a.b' already names a group"):
        cnncost.analyze_text(head + "  - sequence: {name: a, layers: [{relu: {name: b}}]}\n")


def test_reused_expression_values_keep_their_type():
    assert expr.evaluate("x", {"x": True}) is True
    assert type(expr.evaluate("x", {"x": 1})) is int  # 1 == True, but it is not True
    assert type(expr.evaluate("x * 2", {"x": 1.0})) is float
    assert expr.evaluate("x * 2", {"x": 1}) == 2 and type(expr.evaluate("x * 2", {"x": 1})) is int


def test_reused_expression_values_tell_minus_zero_from_zero():
    assert math.copysign(1, expr.evaluate("x * 1", {"x": 0.0})) == 1
    assert math.copysign(1, expr.evaluate("x * 1", {"x": -0.0})) == -1


def test_a_list_value_is_not_shared_between_evaluations():
    first = expr.evaluate("[x, x]", {"x": 1})
    first.append(99)
    assert expr.evaluate("[x, x]", {"x": 1}) == [1, 1]
    values = [1, 2]
    assert expr.evaluate("x", {"x": values}) is values


def test_an_edited_file_is_read_again(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: [3, 8, 8]\nlayers: [relu]\n")
    assert len(cnncost.analyze(path).layers) == 1
    path.write_text("input: [3, 8, 8]\nlayers: [relu, relu]\n")
    assert len(cnncost.analyze(path).layers) == 2


def test_analysing_twice_gives_the_same_report():
    first = cnncost.analyze("resnet152").to_dict()
    assert cnncost.analyze("resnet152").to_dict() == first


def test_fast_constructors_build_what_the_dataclasses_build():
    node = (("a.conv", "conv", {"out": 8}, ("input",), ((3, 8, 8),), (8, 8, 8), False, 4))
    assert make_node(*node) == Node(*node)
    cost = (Node(*node), 13824, 27648, 2048, 6912, 3456, False)
    assert make_layer_cost(*cost) == LayerCost(*cost)
    assert make_layer_cost(*cost[:4]) == LayerCost(*cost[:4])  # defaults filled by the real __init__


def test_the_garbage_collector_is_back_on_after_an_analysis():
    assert gc.isenabled()
    cnncost.analyze("alexnet")
    assert gc.isenabled()
    gc.disable()
    try:
        cnncost.analyze("alexnet")
        assert not gc.isenabled()  # the caller's choice is kept
    finally:
        gc.enable()


def test_a_kinds_quantities_skip_only_rules_that_give_nothing():
    from cnncost.kinds import KINDS

    for model in ("googlenet", "efficientnet_b0", "shufflenet_v2_x1_0", "resnet20_cifar"):
        for node in cnncost.load(model).nodes:
            kind, a, ins, out = KINDS[node.kind], node.args, node.input_shapes, node.output_shape
            every_rule = (kind.params(a, ins, out), kind.buffers(a, ins, out), kind.macs(a, ins, out),
                          kind.bias_adds(a, ins, out), kind.window(a, ins, out))
            assert (node.params, node.buffers, node.macs, node.bias_adds, node.window) == every_rule, node.name


def test_a_view_counts_what_each_rule_says():
    from cnncost import conventions
    from cnncost.engine import view

    graph = cnncost.load("mobilenet_v3_small")
    for name, convention in conventions.CONVENTIONS.items():
        report = view(graph, cnncost.Settings(convention=name, batch=3))
        assert [r.macs for r in report.layers] == [convention.rule(n.kind)(n, 3) for n in graph.nodes], name


def test_adaptive_windows_in_closed_form_equal_the_sum_over_torchs_windows():
    from cnncost.kinds import adaptive_windows, longest_adaptive_window

    for size in range(1, 90):
        for out in range(1, 90):
            # PyTorch's window i: [floor(i*size/out), ceil((i+1)*size/out))
            extents = [-(-((i + 1) * size) // out) - (i * size) // out for i in range(out)]
            assert adaptive_windows(size, out) == sum(extents), (size, out)
            assert longest_adaptive_window(size, out) == max(extents), (size, out)
    assert adaptive_windows(13, 6) == 6 * 3  # every window of 13 -> 6 spans 3: [0,3) [2,5) [4,7) ...


def test_a_huge_adaptive_output_costs_no_loop():
    text = "input: [3, 8, 8]\nlayers:\n  - adaptive_avgpool: {output: 1000000000}\n"
    # windows of 8 -> 10**9: 8 + 10**9 - gcd(8, 10**9) = 10**9 positions per axis, each 1 wide
    report = cnncost.analyze_text(text)
    assert report.layers[0].output_shape == (3, 10**9, 10**9)
