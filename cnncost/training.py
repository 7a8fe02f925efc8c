"""A training step's cost: the backward pass's MACs per layer, frozen layers, and what needs a gradient.

The backward pass of a layer does up to two pieces of work: the gradient of its
input (only where the input needs one: never for the network input, nor
anywhere upstream of the first trainable layer, as autograd does) and the
gradient of its weights (only where they are trainable). How a convention
counts each is a rule per kind, in one table per convention that counts
backward; a convention whose tool never counts a backward pass says so in
NOT_COUNTED. The tables are keyed as the conventions' own are: by kind, else by the family a kind's record
names (``counts``), with every family stated. Each kind is checked when defined (kinds.register_check): a
kind with no backward rule under a convention is an error that names the kind and the convention.
docs/training.md states every rule; tests/test_training.py proves them against
FlopCounterMode over a real ``loss.backward()``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .conventions import CONVENTIONS, FAMILIES, Rule
from .errors import CnnCostError
from .graph import INPUT, Graph
from .kinds import KINDS, register_check
from .kinds_tensor import fused_in_training

if TYPE_CHECKING:
    from .report import Settings

PASSES = ("forward", "train")

# --- the rules ---


def _forward_macs(q, n):
    return q.macs * n


def _grouped_weight(q, n):
    # FlopCounterMode's convolution_backward formula for the weight's gradient runs conv_flop_count on the
    # transposed shapes (x.T, grad_out.T): its "batch" is the input channels and its "in channels" the batch,
    # so the groups drop out: the forward's MACs x groups
    return q.macs * _groups(q) * n


def _groups(q) -> int:
    if q.kind == "dwconv":
        return q.input_shapes[0][0]
    return q.args.get("groups", 1)


def _per_output(q, n):
    return q.output_elements * n


TRANSPOSED = Rule(_forward_macs, "the forward's MACs: the output's gradient through the transposed operator")
WEIGHT_AS_FORWARD = Rule(_forward_macs, "the forward's MACs: the input correlated with the output's gradient")
NO_WEIGHTS = Rule(None, "0: no parameters")
POOL_SPREAD = Rule(_forward_macs, "the forward's count: each output's gradient spread over its window")
MAX_SCATTER = Rule(_per_output, "one per output element: each output's gradient added at its window's maximum")
FLOPCOUNTER_GROUPED = Rule(_grouped_weight, "the forward's MACs x groups: FlopCounterMode's convolution_backward "
                                            "formula ignores groups for the weight's gradient (a quirk)")
FLOPCOUNTER_WEIGHT = Rule(_forward_macs, "the forward's MACs (aten.mm: grad_out.T @ input)")
FLOPCOUNTER_INPUT_MM = Rule(_forward_macs, "the forward's MACs (aten.mm: grad_out @ weight)")
FLOPCOUNTER_INPUT_CONV = Rule(_forward_macs, "the forward's MACs (convolution_backward, the transposed "
                                             "convolution)")
NOT_REGISTERED = Rule(None, "0: FlopCounterMode has no formula for its backward ops")
NOT_IN_CONVENTION = Rule(None, "0: not counted by this convention (its forward counts 0 too)")


@dataclass(frozen=True)
class Backward:
    """One kind's backward under one convention: the input's gradient and the weights' gradient."""

    input_grad: Rule
    weight_grad: Rule
    # the forward's count in training, where the tool sees another forward than at inference; None: the same
    forward: Rule | None = None


_CONV = Backward(TRANSPOSED, WEIGHT_AS_FORWARD)
_NOTHING = Backward(NOT_IN_CONVENTION, NOT_IN_CONVENTION)
_FLOPCOUNTER_CONV = Backward(FLOPCOUNTER_INPUT_CONV, FLOPCOUNTER_GROUPED)


def _every_family(**rules: Backward) -> dict[str, Backward]:
    """A convention's backward rules: those given (by kind, or by a family of conventions.py), and every other
    family stated as counted 0, as its forward is."""
    return {**{family: _NOTHING for family in FAMILIES}, **rules}


def _twice_forward(q, n):
    return 2 * q.macs * n


def _mha_attention(q) -> int:
    (lq, e), s = q.input_shapes[0], q.input_shapes[-1][0]
    return 2 * lq * s * e  # Q K^T and the weights times V


def _mha_input(q, n):
    # the projections' input gradients (as their forward) and the attention's (twice its forward)
    return (q.macs - _mha_attention(q) + 2 * _mha_attention(q)) * n


def _mha_weight(q, n):
    return (q.macs - _mha_attention(q)) * n


def _mha_projections_only(q, n):
    return (q.macs - _mha_attention(q)) * n


def _math_path_twice(q, n):
    return 0 if fused_in_training(q) else 2 * q.macs * n


# the tensor ops' products (kinds_tensor.py): both operands' gradients, each a product of the forward's size
_PRODUCT = Backward(Rule(_twice_forward, "twice the forward's MACs: grad_out @ b^T and a^T @ grad_out"), NO_WEIGHTS)
_ATTENTION = Backward(Rule(_twice_forward, "twice the forward's MACs: dQ and dK from dS, dV and dP from grad_out"),
                      NO_WEIGHTS)
_MHA = Backward(Rule(_mha_input, "the projections' forward MACs and twice the attention's"),
                Rule(_mha_weight, "the projections' forward MACs (their weights' gradients)"))

# Keyed like the conventions' own tables: a kind's name, else the family its record names (``counts``).
BACKWARD: dict[str, dict[str, Backward]] = {
    "lecture": _every_family(conv=_CONV, linear=_CONV, pool=Backward(POOL_SPREAD, NO_WEIGHTS),
                             maxpool=Backward(MAX_SCATTER, NO_WEIGHTS), matmul=_PRODUCT, attention=_ATTENTION,
                             multihead_attention=_MHA),
    "torchvision": _every_family(conv=_CONV, linear=_CONV, matmul=_PRODUCT, attention=_ATTENTION,
                                 multihead_attention=_MHA),
    # measured with FlopCounterMode over loss.backward() (torch 2.13, CPU): bmm's two products; the CPU's fused
    # attention on (N, heads, L, E) has no formula, forward or backward; MultiheadAttention in training runs
    # its projections as linear ops (counted, input and weight gradients) and the fused attention (not)
    "flopcounter": _every_family(conv=_FLOPCOUNTER_CONV, linear=Backward(FLOPCOUNTER_INPUT_MM, FLOPCOUNTER_WEIGHT),
                                 pool=Backward(NOT_REGISTERED, NO_WEIGHTS), matmul=_PRODUCT,
                                 attention=Backward(Rule(_math_path_twice, "0 on (N, heads, L, E), the fused kernel; "
                                                         "twice the forward's MACs on the math path"), NO_WEIGHTS),
                                 multihead_attention=Backward(
                                     Rule(_mha_projections_only, "the projections' forward MACs (mm); the fused "
                                                                 "attention has no formula"),
                                     Rule(_mha_weight, "the projections' forward MACs (mm)"),
                                     forward=Rule(_mha_projections_only, "the projections' MACs: in training "
                                                  "nn.MultiheadAttention leaves its fused inference kernel and "
                                                  "runs them as mm and addmm (counted), its attention as the "
                                                  "CPU's flash kernel (no formula)"))),
}


def _partition_products(q) -> int:
    from .conventions_maxvit import _products

    return _products(q)


# MaxViT's partition attention (kinds_maxvit.py): its four linear layers as linear layers, and its two einsums
# (bmm) as products, each with both operands' gradients; the bias table's gradient is a scatter (no MACs)
_PARTITION_ATTENTION = Backward(
    Rule(lambda q, n: (q.macs + _partition_products(q)) * n,
         "the linear layers' forward MACs and twice the einsums' (Q K^T, weights x V)"),
    Rule(lambda q, n: (q.macs - _partition_products(q)) * n, "the linear layers' forward MACs"))
for _name in ("lecture", "torchvision", "flopcounter"):
    BACKWARD[_name]["partition_attention"] = _PARTITION_ATTENTION


def _swin_input(q, n):
    # dX of qkv and proj (as their forward), and both operands' gradients of Q K^T and A V (twice their forward)
    from .kinds_swin import _swa_parts

    parts = _swa_parts(q.args, q.input_shapes[0])
    return (parts["qkv"] + parts["proj"] + 2 * parts["products"]) * n


def _swin_weight(q, n):
    # qkv's and proj's weight gradients (as their forward); V2's CPB MLP: both linears' weight gradients (as
    # their forward) and the hidden layer's gradient through the second (its input is a buffer: none further)
    from .kinds_swin import CPB_HIDDEN, _bias_table, _swa_parts, cpb_macs

    parts = _swa_parts(q.args, q.input_shapes[0])
    cpb = cpb_macs(q.args) + _bias_table(q.args) * CPB_HIDDEN * q.args["heads"] if q.args["version"] == 2 else 0
    return (parts["qkv"] + parts["proj"]) * n + cpb


# Swin's shifted-window attention (kinds_swin.py): linears, batched products and (V2) the CPB MLP, all mm/bmm
_SWIN = Backward(Rule(_swin_input, "qkv's and proj's forward MACs, twice Q K^T's and A V's"),
                 Rule(_swin_weight, "qkv's and proj's forward MACs; V2: the CPB MLP's forward MACs and its hidden "
                                    "layer's gradient, (2Wh-1)(2Ww-1) x 512 x heads, once per batch"))
for _table in ("lecture", "torchvision", "flopcounter"):
    BACKWARD[_table]["shifted_window_attention"] = _SWIN

# conventions whose tool counts no backward pass: why
NOT_COUNTED: dict[str, str] = {
    "ptflops": "ptflops 0.7.5 counts one forward pass (module hooks and patched functions); it counts no backward",
    "ptflops-aten": "ptflops 0.7.5's aten backend counts the ops of one forward pass; it counts no backward",
    "fvcore": "fvcore 0.1.5 counts a traced forward pass (torch.jit); it counts no backward",
    "thop": "thop 0.1.1 counts with forward hooks; it counts no backward",
    "torchinfo": "torchinfo 1.8 counts with forward hooks; it counts no backward",
    "torchscan": "torchscan 0.2 counts with forward hooks; it counts no backward",
}


def rules_for(convention: str, kind) -> Backward:
    """A kind's backward rules under a convention that counts backward: its own entry, else its family's."""
    table = BACKWARD[convention]
    found = table.get(kind.name) or table.get(kind.counts)
    if found is None:
        raise ValueError(f"layer kind {kind.name}: convention '{convention}' has no backward rule (input gradient, "
                         f"weight gradient) for it, nor for its family '{kind.counts}' (cnncost/training.py)")
    return found


def _check_conventions() -> None:
    """Every convention has backward rules or says its tool counts none."""
    for name in CONVENTIONS:
        if (name in BACKWARD) == (name in NOT_COUNTED):
            raise RuntimeError(f"convention '{name}' needs backward rules in cnncost/training.py (BACKWARD), or "
                               "a line in NOT_COUNTED saying its tool counts no backward")


def _check(kind) -> None:
    for name in BACKWARD:
        rules_for(name, kind)


_check_conventions()
register_check("training", _check)  # every kind now, and each one defined later


def training_forward(convention: str, kind) -> Rule | None:
    """How the convention counts the kind's forward in training, where that differs from inference; else None."""
    return rules_for(convention, kind).forward if convention in BACKWARD else None


def check_trainable(graph: Graph, settings: Settings):
    """Batch norm in training needs more than one value per channel, or PyTorch refuses to run it. An ONNX file
    whose batch norms were folded into its convs has lost what training saves for them."""
    folded = "Batch norms folded into convolutions:"  # importers/builder.py FOLDED_BATCHNORM (importing it loads them)
    if any(note.startswith(folded) for note in graph.notes):
        raise CnnCostError("the ONNX file's batch norms were folded into its convolutions (see its note), so "
                           "training memory would leave them out", hint="export it with torch.onnx.export(..., "
                           "do_constant_folding=False), which keeps them, or import the module itself with "
                           "cnncost.from_torch; --mode infer is exact")
    for node in graph.nodes:
        if node.side and not settings.include_side:
            continue
        if node.kind == "batchnorm" and settings.batch * math.prod(node.input_shapes[0][1:]) == 1:
            raise CnnCostError(f"batch norm '{node.name}' sees one value per channel at batch {settings.batch}, "
                               "which PyTorch cannot train", layer=node.name, hint="use a batch of 2 or more")


def counts_backward(convention: str) -> bool:
    return convention in BACKWARD


# --- what needs a gradient ---


def check_pass(value) -> str:
    if value not in PASSES:
        raise CnnCostError(f"pass must be forward or train, got {str(value)[:40]!r}")
    return value


def check_patterns(patterns, what: str = "freeze") -> tuple:
    """Regular expressions given as a list of str, each compiled once to check it."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    if not isinstance(patterns, (tuple, list)) or not all(isinstance(p, str) for p in patterns):
        raise CnnCostError(f"{what} must be a list of regular expressions (str), got {patterns!r}"[:200])
    for p in patterns:
        if len(p) > 1000:
            raise CnnCostError(f"{what} pattern is {len(p):,} characters long; at most 1,000")
        try:
            re.compile(p)
        except re.error as exc:
            raise CnnCostError(f"{what} pattern {p!r} is not a regular expression: {exc}") from None
    return tuple(patterns)


def matched(graph: Graph, patterns, what: str = "--freeze") -> set[str]:
    """The names of the layers that re.match one of the patterns; a pattern that matches none is an error."""
    found: set[str] = set()
    for p in patterns:
        compiled = re.compile(p)
        hits = {n.name for n in graph.nodes if compiled.match(n.name)}
        if not hits:
            raise CnnCostError(f"{what} {p!r} matches no layer of {graph.name}",
                               hint="patterns are matched from the start of a layer's name (re.match); "
                                    "see 'cnncost table' for the names")
        found |= hits
    return found


def frozen_layers(graph: Graph, patterns) -> set[str]:
    """The layers with parameters whose names match a freeze pattern."""
    return {name for name in matched(graph, patterns)} if patterns else set()


def losses(graph: Graph, include_side: bool) -> set[str]:
    """The outputs a training loss reads: the network's output, and with side outputs the side heads' (the
    side rows nothing reads)."""
    outputs = {graph.output}
    if include_side:
        read = {i for n in graph.nodes for i in n.inputs}
        outputs |= {n.name for n in graph.nodes if n.side and n.name not in read}
    return outputs


def reaching_loss(graph: Graph, include_side: bool) -> set[str]:
    """The layers the loss depends on: the only ones a backward pass reaches. A branch whose output no loss
    reads (FCN's auxiliary head, run as an ordinary branch) has no backward, as autograd does."""
    producers = {n.name: n.inputs for n in graph.nodes}
    reached, stack = set(), list(losses(graph, include_side))
    while stack:
        name = stack.pop()
        if name in reached or name not in producers:
            continue
        reached.add(name)
        stack.extend(producers[name])
    return reached


def gradient_flow(graph: Graph, frozen=frozenset()) -> dict[str, tuple[bool, tuple]]:
    """Per node: whether its own parameters are trained, and per input whether that input needs a gradient.

    A tensor needs a gradient when some layer before it has trainable parameters, as autograd decides.
    """
    needs = {INPUT: False}
    flow = {}
    for node in graph.nodes:
        grads = tuple(needs[i] for i in node.inputs)
        trainable = bool(node.params) and node.name not in frozen
        needs[node.name] = trainable or any(grads)
        flow[node.name] = (trainable, grads)
    return flow


def backward_macs(graph: Graph, convention: str, batch: int, frozen=frozenset(),
                  include_side: bool = False) -> dict[str, tuple[int, int]] | None:
    """Per node, (input-gradient MACs, weight-gradient MACs) for the whole batch; None where the convention's
    tool counts no backward. A layer the loss does not depend on has none."""
    table = BACKWARD.get(convention)
    if table is None:
        return None
    flow = gradient_flow(graph, frozen)
    reached = reaching_loss(graph, include_side)
    result = {}
    for node in graph.nodes:
        trainable, grads = flow[node.name]
        if node.name not in reached:
            result[node.name] = (0, 0)
            continue
        rules = rules_for(convention, KINDS[node.kind])
        result[node.name] = (rules.input_grad(node, batch) if any(grads) else 0,
                             rules.weight_grad(node, batch) if trainable else 0)
    return result
