"""Import an ONNX file as cnncost layers, statically: nothing runs, and no weight is read.

The graph is walked once, in its order. Each value is one of:
- ``Const``: known before anything runs (an initializer, a Constant, or shape
  arithmetic over them and over activations' shapes), evaluated here
  (tensors.py);
- ``Act``: an activation, the output of a cnncost row (or the input), with
  its full ONNX shape;
- ``Pending``: an activation that is not a row by itself, the middle of a
  pattern that exporters spell in several operators (a channel shuffle is a
  Reshape, a Transpose and a Reshape; a SiLU a Sigmoid and a Mul; torch's
  local response norm a dozen operators). It becomes a row where the pattern
  completes, or where something else reads it.

Each operator with a cnncost kind becomes a row (the mapping table is in
docs/import.md). An operator that cannot be mapped is collected, and the
import fails once, listing every one with its node name and count.
Shapes come from cnncost's own rules (Builder.add); where the file carries
inferred shapes (value_info), they are compared with cnncost's, and a
disagreement is an error.
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections import Counter
from typing import Any, Mapping

from ..errors import CnnCostError, Location
from ..graph import INPUT
from . import lowering
from . import onnx_proto as proto
from .builder import FOLDED_BATCHNORM, Builder, ImportedGraph, Row, TooManyLayers
from .values import UNKNOWN, Act, Opaque, Pending, Reshaped, Shuffled, Sliced, Unmappable, dims_text as _dims
from .tensors import (Const, axis_of, broadcast_dims, concat, divide, elementwise, gather, power, reshape_dims,
                      sized, slice_, slice_ranges, transpose)

FLOAT_TYPES = (proto.FLOAT, proto.DOUBLE, proto.FLOAT16, proto.BFLOAT16)
# what torch.nn's modules call their parameters and buffers: the module's path names the row
_MODULE_PARAMETERS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked", "in_proj_weight",
                      "in_proj_bias"}


class SigmoidOf(Pending):
    """Sigmoid(x): a sigmoid row, unless a Mul(x, Sigmoid(x)) makes it a SiLU."""

    def __init__(self, node, src: Act):
        super().__init__(node)
        self.src, self.shape = src, src.shape

    def make(self, imp):
        return imp.row("sigmoid", {}, [self.src], self.node)


class Lrn(Pending):
    """Part of torch's local response norm, exported as x*x, a window average over channels (a 3-D AveragePool
    of a 5-D view), then *alpha, +k, **beta, and x divided by that: one lrn row, at the Div.

    The stages: squared, 5d (viewed as N x 1 x C x H x W), padded, pooled, averaged (back to the map's shape),
    scaled, shifted, powered."""

    def __init__(self, node, src: Act, shape, stage="squared", **found):
        super().__init__(node)
        self.src, self.shape, self.stage = src, tuple(shape), stage
        self.found = found  # size, alpha, k, beta as they are met

    def step(self, stage=None, shape=None, **more) -> "Lrn":
        return Lrn(self.node, self.src, shape or self.shape, stage or self.stage, **{**self.found, **more})

    def reshaped(self, shape) -> "Lrn":
        """A view of it (Reshape, Squeeze, Unsqueeze): the stage moves on where the view is the one torch takes."""
        shape = tuple(shape)
        if self.stage == "squared" and len(shape) == 5:
            return self.step("5d", shape)
        if self.stage == "pooled" and shape == self.src.shape:
            return self.step("averaged", shape)
        return self.step(shape=shape)

    def make(self, imp):
        if self.stage == "squared" and self.shape == self.src.shape:  # just x * x
            return imp.row("mul", {}, [self.src, self.src], self.node, call="operator")
        raise Unmappable("computes part of a local response normalisation that does not end in x / (...)")


class GroupNormed(Pending):
    """torch's exporter's group norm: Reshape(x, [N, G, -1]), InstanceNormalization with unit scale and zero
    bias, Reshape back to x's shape, then Mul by the weight and Add the bias (each per channel). ``stage``:
    normed (still (N, G, L)), back (x's shape), scaled (the Mul seen)."""

    def __init__(self, node, src: Act, groups: int, eps: float, shape, stage="normed"):
        super().__init__(node)
        self.src, self.groups, self.eps, self.shape, self.stage = src, groups, eps, tuple(shape), stage

    def make(self, imp):
        if self.stage == "back":
            return imp.row("groupnorm", {"groups": self.groups, "eps": self.eps, "affine": False}, [self.src],
                           self.node)
        raise Unmappable("a group norm (InstanceNormalization between reshapes) that is not reshaped back to its "
                         "input's shape" if self.stage == "normed" else "a group norm scaled but not shifted")


class ErfOf(Pending):
    """GELU as the TorchScript exporter writes it before opset 20: x * 0.5 * (1 + erf(x / sqrt(2))), in any of
    its orders. ``stage``: divided (x / sqrt 2), erf, plus_one, times_x, and halved where one half comes first.
    Where the pattern does not complete, each step is the row it stands for: ``step`` (kind, args) of ``inputs``."""

    def __init__(self, node, src: Act, stage, shape, inputs, step):
        super().__init__(node)
        self.src, self.stage, self.shape = src, stage, tuple(shape)
        self.inputs, self.step = inputs, step

    def make(self, imp):
        return imp.row(*self.step, [imp.plain(v, self.node, nhwc_ok=True) for v in self.inputs], self.node)


class BatchMoved(Pending):
    """``src`` transposed with the batch axis not first (timm's qkv.permute(2, 0, 3, 1, 4)): followed to a pick
    along its first axis (unbind(0): a Split and Squeezes, or Slices, or a Gather), which puts the batch first
    again."""

    def __init__(self, node, src: Act, perm):
        super().__init__(node)
        self.src, self.perm = src, list(perm)
        self.shape = tuple(src.shape[p] for p in perm)
        self.moved: Act | None = None  # the permute row with the batch first and the picked axis second

    def make(self, imp):
        raise Unmappable(f"transposes {_dims(self.src.shape)} by {self.perm}, which moves the batch axis; cnncost "
                         "follows such a tensor only to a pick along its first axis (unbind(0))")

    def pick(self, imp, index, node, keep_axis):
        axis, rest = self.perm[0], self.perm[1:]
        if rest[0] != 0:
            raise Unmappable(f"picks along the first axis of {_dims(self.src.shape)} transposed by {self.perm}, "
                             "which leaves the batch axis not first")
        if self.moved is None:
            step = lowering.permutation([0, axis, *rest[1:]], self.src.shape)
            self.moved = self.src if step is None else imp.row(*step, [self.src], self.node)
        lowered = lowering.part(self.moved.shape, 1, index, index + 1)  # None: an axis of 1, the part is all of it
        part = self.moved if lowered is None else imp.row(*lowered, [self.moved], node)
        picked = Reshaped(node, part, part.shape[:1] + part.shape[2:])
        return Picked(node, picked) if keep_axis else picked


class Picked(Pending):
    """One piece of a BatchMoved along its first axis, that axis still there (a Split's output, a Slice): the
    piece itself once a Squeeze or Reshape drops it."""

    def __init__(self, node, inner: Reshaped):
        super().__init__(node)
        self.inner, self.shape = inner, (1,) + inner.shape

    def make(self, imp):
        raise Unmappable("a piece of a tensor whose batch axis is not first, read before its first axis is dropped")


class Folded(Pending):
    """``src`` viewed with its first ``k`` axes (the batch's among them) merged into one and then transposed
    (the dynamo exporter's k.transpose(-2, -1) of (B, H, L, d), done on (B * H, L, d)): a permute of ``src``
    once a Reshape unmerges them."""

    def __init__(self, node, src: Act, k: int, perm, shape):
        super().__init__(node)
        self.src, self.k, self.perm, self.shape = src, k, list(perm), tuple(shape)

    def make(self, imp):
        raise Unmappable(f"views {_dims(self.src.shape)} with its batch axis merged into the next "
                         f"({_dims(self.shape)}), and does not view it back")

    def unfold(self, target):
        """(lead, order): ``target`` unmerges the first axis into ``lead`` (the batch first), so the whole is src
        viewed as lead + the rest, permuted by ``order``; None where it does not."""
        target, m = tuple(target), len(target) - (len(self.shape) - 1)
        lead = target[:m]
        if m < 1 or target[m:] != self.shape[1:] or math.prod(lead) != self.shape[0] or lead[0] != self.src.shape[0]:
            return None
        return lead, list(range(m)) + [m - 1 + p for p in self.perm[1:]]


class Unshuffled(Pending):
    """How both of torch's exporters write F.pixel_unshuffle(x, r): x viewed as (N, C, H/r, r, W/r, r), transposed
    by (0, 1, 3, 5, 2, 4), then viewed as (N, C r r, H/r, W/r): a pixel_unshuffle row at that last Reshape, else
    the view and the permute it is."""

    def __init__(self, node, view: Reshaped, factor: int, shape):
        super().__init__(node)
        self.view, self.factor, self.shape = view, factor, tuple(shape)

    def make(self, imp):
        return imp.row("permute", {"dims": [0, 1, 3, 5, 2, 4]}, [imp.plain(self.view, self.node)], self.node)

    def target(self) -> tuple:
        n, c, h, w = self.view.src.shape
        return (n, c * self.factor ** 2, h // self.factor, w // self.factor)


class Attending(Pending):
    """F.scaled_dot_product_attention as both exporters write it: k's last two axes swapped (``keys``), q and
    that each times sqrt(scale) (``scaled``), their MatMul (``scores``), a Softmax over the last axis
    (``weights``), then a MatMul with v: an attention row there. Each stage is the rows it stands for where
    something else reads it: ``step`` (kind, args) of ``inputs``."""

    def __init__(self, node, stage, shape, inputs, step, **found):
        super().__init__(node)
        self.stage, self.shape, self.inputs, self.step = stage, tuple(shape), inputs, step
        self.found = found  # q, k (Acts) and the factor each was scaled by, as they are met

    def make(self, imp):
        return imp.row(*self.step, [imp.plain(v, self.node) for v in self.inputs], self.node)


def _scaled_by(value):
    """(what, factor) where ``value`` is a pending product with a number: an attention's scaled q or k^T."""
    if isinstance(value, Attending) and value.stage == "scaled":
        return value.found["of"], value.found["factor"]
    if isinstance(value, ErfOf) and value.stage == "halved":  # x * 0.5, waiting to see whether a GELU follows
        return value.src, 0.5
    return None, None


def _merged_axes(view: Reshaped) -> int | None:
    """k where the view merges the first k axes of its source (k >= 2) and keeps the rest."""
    src = view.src.shape
    for k in range(2, len(src)):
        if view.shape == (math.prod(src[:k]),) + src[k:]:
            return k
    return None


def _nchw(shape) -> tuple:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _is_all(const, value) -> bool:
    return const.values is not None and all(float(v) == value for v in const.values)


def _is(const, value, tolerance=1e-6) -> bool:
    values = const.known() if const.size <= 4 else None
    if not values:
        return False
    return all(abs(float(v) - value) <= tolerance * max(1.0, abs(value)) for v in values)


def short_float(value: float) -> float:
    """A float32 attribute (1e-05 stored as 9.99999974737e-06) as the shortest decimal that is the same float32."""
    packed = struct.pack("<f", value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


class OnnxImporter:
    def __init__(self, model: proto.Model, path: str, input_shape: tuple | None = None):
        self.model, self.path = model, path
        graph = model.graph
        self.values: dict = {}
        self.refused: list = []  # (op_type, node name, reason)
        self.consumers = Counter(i for n in graph.nodes for i in n.inputs if i)
        for o in graph.outputs:
            self.consumers[o.name] += 1
        data = self._bind_inputs(graph, input_shape)
        self.data_input, self.overridden = data, input_shape is not None
        self.builder = Builder(self.values[data].shape[1:], path)
        self.row_of_node: dict = {}  # for the Add after a MatMul
        self.walked: set = set()
        self.inferred: dict | None = None  # value_info from onnx's shape inference, where the file has none of its own
        self.permuted: dict = {}  # id(row) -> the permute row of its channels-last view
        self.says_kinds = any(i.input_kind for i in graph.value_info.values())  # torch's dynamo exporter's files

    # --- inputs and initializers ---

    def _bind_inputs(self, graph, input_shape) -> str:
        folder = os.path.dirname(os.path.abspath(self.path))
        for name, tensor in graph.initializers.items():
            if tensor.external:
                proto.load_external(tensor, folder)
            self.values[name] = self._const_of(tensor, name)
        data = None
        for info in graph.inputs:
            if info.name in graph.initializers:
                continue
            if data is None:
                data = info.name
                continue
            # another input that is no initializer: a weight, when the file was saved without them
            if info.dims is None or not all(isinstance(d, int) for d in info.dims):
                raise CnnCostError(f"the model has a second input '{info.name}' of unknown shape; cnncost "
                                   "imports networks of one input", location=Location(self.path))
            self.values[info.name] = Const(None, info.dims, info.elem_type in FLOAT_TYPES, name=info.name)
        if data is None:
            raise CnnCostError("the model has no input", location=Location(self.path))
        info = next(i for i in graph.inputs if i.name == data)
        dims = list(info.dims or [])
        if len(dims) < 2:
            raise CnnCostError(f"the input '{data}' has {len(dims)} dimensions; cnncost needs a batch and at "
                               "least one more (N x C x H x W for an image)", location=Location(self.path))
        batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else 1
        if input_shape is not None:
            if len(input_shape) != len(dims) - 1:
                raise CnnCostError(f"--input {_dims(input_shape)} does not fit the model's input "
                                   f"'{data}' of {len(dims) - 1} dimensions per sample", location=Location(self.path))
            dims = [batch, *input_shape]
        for i, d in enumerate(dims[1:], 1):
            if not isinstance(d, int) or d < 1:
                raise CnnCostError(f"dimension {i} of the input '{data}' is {d!r}, not a number: give the input "
                                   f"size with --input (input=... in Python)", location=Location(self.path))
        self.values[data] = Act(INPUT, [batch, *dims[1:]])
        return data

    @staticmethod
    def _const_of(tensor: proto.Tensor, name=None) -> Const:
        values = tensor.values()
        is_float = tensor.data_type in FLOAT_TYPES
        if values is not None and tensor.data_type == proto.BOOL:
            values = [bool(v) for v in values]
        return Const(values, tensor.dims, is_float, name=name)

    # --- the walk ---

    def run(self, partial=False) -> ImportedGraph:
        graph = self.model.graph
        self.check_one_writer(graph)
        self.run_nodes(graph.nodes)
        unknown = [n for n in _all_nodes(graph.nodes) if n not in self.walked and (
            n.domain not in ("", "ai.onnx") or not (hasattr(self, "op_" + n.op_type) or n.op_type in CONST_OPS))]
        self.refused += [(n.op_type, n.name or n.op_type, None) for n in unknown]  # inside a subgraph
        if self.refused and (not partial or unknown):
            self.fail_unmappable(self.refused)
        outputs = []
        for info in graph.outputs:
            value = self.values.get(info.name)
            try:
                outputs.append(self.plain(value, None))
            except Unmappable as exc:
                self.fail_unmappable(self.refused + [("output", info.name, str(exc))])
        if not outputs:
            raise CnnCostError("the model has no output", location=Location(self.path))
        self.check_value_info()
        name = os.path.splitext(os.path.basename(self.path))[0]
        producer = self.model.producer.strip() or "an unnamed producer"
        header = [f"Imported from {os.path.basename(self.path)} by 'cnncost import' ({producer}, opset "
                  f"{self.model.opsets.get('', self.model.opsets.get('ai.onnx', '?'))}).",
                  "Layer names are the ONNX node names, or their weights' names, made legal; docs/import.md."]
        return self.builder.graph(outputs[0].row, name, header, f"{name}, imported from ONNX", self.folded_note())

    def folded_note(self) -> list[str]:
        """A PyTorch export without BatchNormalization whose convs have biases under exporter-made names
        (onnx::Conv_14, where a module's would be conv1.bias beside conv1.weight): the exporter folded each
        eval-mode batch norm into the conv before it. Inference costs are the folded network's; training ones
        would miss the norms (memory.py refuses them, by this note)."""
        nodes = list(_all_nodes(self.model.graph.nodes))
        if not self.model.producer.lower().startswith("pytorch") or any(
                n.op_type == "BatchNormalization" for n in nodes):
            return []
        folded = [n for n in nodes if n.op_type == "Conv" and len(n.inputs) > 2 and n.inputs[2] and not (
            n.inputs[1].endswith(".weight") and n.inputs[2] == n.inputs[1][:-len("weight")] + "bias")]
        if not folded:
            return []
        return [f"{FOLDED_BATCHNORM} {len(folded)} of its convolutions have biases under names the exporter made "
                f"(such as {folded[0].inputs[2]}) and the file has no BatchNormalization: PyTorch's exporter folds "
                "an eval-mode batch norm into the conv before it. Inference costs are the folded network's; training "
                "memory would miss the batch norms, and is refused."]

    def check_one_writer(self, graph):
        """ONNX allows one writer per tensor name; a file with two would be read as whichever came last."""
        made = set(graph.initializers) | {i.name for i in graph.inputs}
        for node in graph.nodes:
            for name in node.outputs:
                if name in made:
                    raise CnnCostError(f"node '{node.name or node.op_type}' writes '{name}', which the graph already "
                                       "has (an input, an initializer or another node's output): an ONNX tensor has "
                                       "one writer", location=Location(self.path))
                if name:
                    made.add(name)

    def fail_unmappable(self, found):
        by_op: dict = {}
        for op, name, reason in found:
            by_op.setdefault(op, []).append((name, reason))
        parts = []
        for op, items in by_op.items():
            shown = ", ".join(f"'{n}'" + (f" ({r})" if r else "") for n, r in items[:3])
            more = f", and {len(items) - 3} more" if len(items) > 3 else ""
            parts.append(f"{op} x{len(items)}: {shown}{more}")
        total = sum(len(v) for v in by_op.values())
        raise CnnCostError(f"{total} operator{'s' if total != 1 else ''} cnncost cannot map: " + "; ".join(parts),
                           location=Location(self.path), hint="docs/import.md lists what maps to what; 'cnncost "
                           "import --partial' imports the rest, its totals lower bounds")

    def run_nodes(self, nodes):
        for node in nodes:
            ins = [self.values.get(i) if i else None for i in node.inputs]
            if any(i is UNKNOWN for i in ins):
                outs = [UNKNOWN] * len(node.outputs)
            else:
                missing = [n for n, v in zip(node.inputs, ins) if n and v is None]
                if missing:
                    raise CnnCostError(f"node '{node.name}' reads '{missing[0]}', which nothing before it makes "
                                       "(the graph is not in order)", location=Location(self.path))
                self.walked.add(node)
                try:
                    outs = self.evaluate(node, ins)
                except Unmappable as exc:
                    outs = self.refuse(node, ins, str(exc))
            for name, value in zip(node.outputs, outs):
                if name:
                    self.values[name] = value

    def refuse(self, node, ins, why) -> list:
        """Note the refusal, and go on with the shapes the file gives its outputs (value_info), so that one pass
        lists every operator cnncost cannot map, and --partial has a row of that shape."""
        infos = self.model.graph.value_info
        outs: list = []  # per output: an Opaque, or UNKNOWN where its shape is not known
        unknown = []
        for name in node.outputs:
            info = infos.get(name) or next((o for o in self.model.graph.outputs if o.name == name), None)
            dims = info.dims if info is not None else None
            if dims is None and self.inferred is not None:
                info = self.inferred.get(name)
                dims = info.dims if info is not None else None
            if dims and all(isinstance(d, int) and d > 0 for d in dims[1:]):
                shape = (self.values[self.data_input].shape[0], *dims[1:])
                outs.append(Opaque(node, [i for i in ins if isinstance(i, (Act, Pending))], shape, node.op_type,
                                   held=0, batch=shape[0]))
            else:
                outs.append(UNKNOWN)
                unknown.append(name)
        if why and unknown and any(self.consumers[n] for n in unknown):  # (no handler at all: the name alone)
            why += "; the file gives no shape for its output, so what reads it is not checked"
        self.refused.append((node.op_type, node.name or node.op_type, why))
        return outs

    def opaque_row(self, args, acts, node) -> Act:
        act = self.row("opaque", args, acts, node, call="function")
        return act

    def evaluate(self, node, ins) -> list:
        if node.domain not in ("", "ai.onnx"):
            raise Unmappable(f"an operator of the domain '{node.domain}', not ONNX's own")
        if node.op_type in CONST_OPS and all(i is None or isinstance(i, Const) for i in ins):
            try:
                return CONST_OPS[node.op_type](self, node, ins)
            except (ValueError, IndexError, ZeroDivisionError, TypeError, OverflowError, KeyError) as exc:
                raise Unmappable(f"cannot compute it statically: {exc}") from None
        handler = getattr(self, "op_" + node.op_type, None)
        if handler is None:
            raise Unmappable("")  # no kind for it: the refusal lists its name alone
        try:
            out = handler(node, ins)
        except TooManyLayers:
            raise
        except CnnCostError as exc:
            raise Unmappable(exc.message) from None
        except ValueError as exc:  # a constant it needs is not known
            raise Unmappable(str(exc)) from None
        except (KeyError, IndexError, TypeError, ZeroDivisionError, OverflowError) as exc:  # a damaged node
            raise Unmappable(f"the node is malformed ({type(exc).__name__}: {exc})") from None
        return out if isinstance(out, list) else [out]

    # --- helpers for the handlers ---

    def plain(self, value, node, nhwc_ok=False) -> Act:
        """An activation as a row's input: a pending pattern becomes its row here."""
        if isinstance(value, Pending):
            value = value.materialize(self)
        if isinstance(value, Act):
            if value.nhwc and not nhwc_ok:
                return self.channels_last(value, node)
            return value
        if isinstance(value, Const):
            raise Unmappable("reads a constant where cnncost needs an activation")
        raise Unmappable("reads nothing cnncost knows")

    def channels_last(self, value: Act, node) -> Act:
        """A channels-last view (Transpose 0,2,3,1) read by something that does not read it as a map's channels:
        a permute row of its own, one per row viewed."""
        done = self.permuted.get(id(value.row))
        if done is None:
            n, h, w, c = value.shape
            done = self.row("permute", {"dims": [0, 2, 3, 1]}, [Act(value.row, (n, c, h, w))], node)
            self.permuted[id(value.row)] = done
        return done

    def learnable(self, const: Const) -> bool:
        """Whether a tensor an operator reads is a parameter of the model: as torch's dynamo exporter says
        (value_info metadata: PARAMETER or BUFFER); in a file that does not say, a named initializer (a module's
        path, as the TorchScript exporter keeps them, for buffers too) is one, an exporter-made constant is not."""
        if const.name is None:
            return False
        info = self.model.graph.value_info.get(const.name)
        if self.says_kinds:
            return info is not None and info.input_kind == "PARAMETER"
        return not const.name.startswith(("onnx::", "/"))  # (an Identity of a deduplicated initializer keeps
        # the parameter's name)

    def row(self, kind, args, inputs: list, node, call=None, wanted=None) -> Act:
        nhwc = inputs[0].nhwc
        row = self.builder.add(kind, args, [a.row for a in inputs], wanted or self.wanted(node, kind),
                               _origin(node), call)
        shape = (inputs[0].shape[0],) + row.shape
        if nhwc:
            shape = (shape[0], *shape[2:], shape[1])
        return Act(row, shape, nhwc)

    def wanted(self, node, kind) -> str:
        """A row's name: its weight's module path (``layer1.0.conv1.weight`` -> ``layer1.0.conv1``), else its
        node's name with the scopes torch writes collapsed (``/layer1/layer1.0/relu/Relu`` -> ``layer1.0.relu``)."""
        if node is None:
            return kind
        for name in node.inputs:
            value = self.values.get(name)
            if isinstance(value, Const) and value.name and "." in value.name and not value.name.startswith(
                    ("onnx::", "/")):
                path, attribute = value.name.rsplit(".", 1)
                # a module's weight names the module; a parameter of its own (ConvNeXt's layer_scale) is the row
                return path if attribute in _MODULE_PARAMETERS else value.name
        parts = [p for p in node.name.split("/") if p]
        if len(parts) > 1:
            scope: list = []
            for part in parts[:-1]:
                if scope and part.startswith(scope[-1] + "."):
                    scope[-1] = part
                else:
                    scope.append(part)
            return ".".join(scope)
        if not parts or re.fullmatch(re.escape(node.op_type) + r"(_\d+)?", parts[0]):
            return kind  # an exporter's default name (/Flatten, Conv_12): the kind, numbered by the builder
        return parts[0]

    def const(self, value, what: str) -> Const:
        if not isinstance(value, Const):
            raise Unmappable(f"its {what} is computed from activations, not known statically")
        return value

    # --- convolution and linear ---

    def op_Conv(self, node, ins):
        x = self.plain(ins[0], node)
        w = self.const(ins[1], "weight")
        a = node.attrs
        if len(x.shape) == 5 and len(w.dims) == 5:
            return self._conv3d(node, ins, x, w)
        if len(x.shape) != 4 or len(w.dims) != 4:
            raise Unmappable(f"a {len(x.shape) - 2}-D convolution; cnncost's are 2-D, or 3-D on a video clip")
        bias = len(ins) > 2 and ins[2] is not None
        kernel = list(a.get("kernel_shape") or w.dims[2:])
        if kernel != list(w.dims[2:]):  # costed from the attribute, the parameters would not be the file's
            raise Unmappable(f"its kernel_shape {kernel} disagrees with its weight's {list(w.dims[2:])}")
        if w.dims[1] * a.get("group", 1) != x.shape[1]:
            raise Unmappable(f"its weight of {w.dims[1]} input channels per group, in {a.get('group', 1)} groups, "
                             f"does not read the input's {x.shape[1]}")
        stride = list(a.get("strides", [1, 1]))
        dilation = list(a.get("dilations", [1, 1]))
        groups = a.get("group", 1)
        padding = self._padding(a, "Conv")
        if w.matrix is not None and kernel == [1, 1] and stride == [1, 1] and groups == 1 and padding == [0, 0, 0, 0]:
            # a linear layer's 2-D weight, unsqueezed and run as a 1x1 conv (cnncost's own export of a linear on
            # each position, as ConvNeXt's): a linear per position
            return self.row("linear", {"out": w.dims[0], "bias": bias, "per_position": True}, [x], node)
        cin = x.shape[1]
        args = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation, "bias": bias}
        if groups > 1 and groups == cin and w.dims[0] % cin == 0:
            return self.row("dwconv", {**args, "multiplier": w.dims[0] // cin}, [x], node)
        return self.row("conv", {"out": w.dims[0], **args, "groups": groups}, [x], node)

    def _conv3d(self, node, ins, x, w):
        """A 3-D Conv on a video clip (N, C, T, H, W): cnncost's conv3d, padded alike on both sides of each axis."""
        a = node.attrs
        kernel = list(a.get("kernel_shape") or w.dims[2:])
        groups = a.get("group", 1)
        if kernel != list(w.dims[2:]):
            raise Unmappable(f"its kernel_shape {kernel} disagrees with its weight's {list(w.dims[2:])}")
        if w.dims[1] * groups != x.shape[1]:
            raise Unmappable(f"its weight of {w.dims[1]} input channels per group, in {groups} groups, does not read "
                             f"the input's {x.shape[1]}")
        return self.row("conv3d", {"out": w.dims[0], "kernel": kernel, "stride": list(a.get("strides", [1, 1, 1])),
                                   "padding": self._padding_3d(a, "Conv"),
                                   "dilation": list(a.get("dilations", [1, 1, 1])), "groups": groups,
                                   "bias": len(ins) > 2 and ins[2] is not None}, [x], node)

    @staticmethod
    def _padding_3d(a, op) -> list:
        auto = a.get("auto_pad", "NOTSET")
        if auto == "VALID":
            return [0, 0, 0]
        if auto != "NOTSET":
            raise Unmappable(f"a 3-D {op} with auto_pad {auto}; cnncost's 3-D layers take a number of zeros per axis")
        pads = list(a.get("pads", [0] * 6))
        if len(pads) != 6 or pads[:3] != pads[3:]:  # ONNX: the begins of T, H, W, then their ends
            raise Unmappable(f"3-D {op} pads {pads} are not the same on both sides of each axis")
        return pads[:3]

    def _padding(self, a, op):
        auto = a.get("auto_pad", "NOTSET")
        if auto == "SAME_UPPER":
            return "same"
        if auto == "SAME_LOWER":
            raise Unmappable("auto_pad SAME_LOWER puts the odd padding first; cnncost's 'same' puts it last")
        if auto == "VALID":
            return 0
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise Unmappable(f"{op} pads {pads} are not 2-D")
        top, left, bottom, right = pads  # ONNX: all the begins, then all the ends
        return [top, bottom, left, right]

    def op_ConvTranspose(self, node, ins):
        x = self.plain(ins[0], node)
        w = self.const(ins[1], "weight")
        a = node.attrs
        if len(x.shape) != 4:
            raise Unmappable("a transposed convolution that is not 2-D")
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or "output_shape" in a:
            raise Unmappable("a transposed convolution sized by auto_pad or output_shape")
        top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
        if top != bottom or left != right:
            raise Unmappable(f"asymmetric pads {a.get('pads')}")
        groups = a.get("group", 1)
        if len(w.dims) != 4 or list(a.get("kernel_shape") or w.dims[2:]) != list(w.dims[2:]):
            raise Unmappable(f"its kernel_shape {a.get('kernel_shape')} disagrees with its weight's {list(w.dims[2:])}")
        if w.dims[0] != x.shape[1]:  # a transposed convolution's weight is Cin x Cout/groups x kH x kW
            raise Unmappable(f"its weight reads {w.dims[0]} channels, the input has {x.shape[1]}")
        return self.row("conv_transpose", {
            "out": w.dims[1] * groups, "kernel": list(a.get("kernel_shape") or w.dims[2:]),
            "stride": list(a.get("strides", [1, 1])), "padding": [top, left],
            "output_padding": list(a.get("output_padding", [0, 0])), "dilation": list(a.get("dilations", [1, 1])),
            "groups": groups, "bias": len(ins) > 2 and ins[2] is not None}, [x], node)

    def op_Gemm(self, node, ins):
        x = self.plain(ins[0], node)
        w = self.const(ins[1], "weight")
        a = node.attrs
        if a.get("transA", 0) or len(x.shape) != 2 or len(w.dims) != 2:
            raise Unmappable("a matrix product that is not a linear layer on a vector")
        out = w.dims[0] if a.get("transB", 0) else w.dims[1]
        bias = len(ins) > 2 and ins[2] is not None
        return self.row("linear", {"out": out, "bias": bias}, [x], node)

    def op_MatMul(self, node, ins):
        a, b = ins
        q, q_factor = _scaled_by(a)
        keys, k_factor = _scaled_by(b)
        if isinstance(q, Act) and isinstance(keys, Attending) and keys.stage == "keys" and q_factor == k_factor and \
                keys.done is None and len(q.shape) == len(keys.shape) and q.shape[:-2] == keys.shape[:-2]:
            shape = q.shape[:-1] + keys.shape[-1:]
            return Attending(node, "scores", shape, [a, b], ("matmul", {}), q=q, k=keys.found["k"],
                             scale=q_factor * k_factor)
        if isinstance(a, Attending) and a.stage == "weights" and a.done is None and isinstance(b, (Act, Reshaped)):
            v = self.plain(b, node)
            q, k = a.found["q"], a.found["k"]
            if v.shape[:-2] == q.shape[:-2] and v.shape[-2] == k.shape[-2]:
                scale = a.found["scale"]
                scale = None if abs(scale * math.sqrt(q.shape[-1]) - 1) < 1e-5 else short_float(scale)
                return self.row("attention", {} if scale is None else {"scale": scale}, [q, k, v], node,
                                call="function")
        if not isinstance(a, Const) and not isinstance(b, Const):  # two activations: q @ k^T, attn @ v
            return self.row("matmul", {}, [self.plain(a, node), self.plain(b, node)], node)
        if not isinstance(b, Const) or len(b.dims) != 2:
            raise Unmappable("a product with a weight that is not a matrix on the right")
        x = self.plain(a, node, nhwc_ok=True)
        if x.nhwc:
            act = self.row("linear", {"out": b.dims[1], "bias": False, "per_position": True}, [x], node)
        elif len(x.shape) in (2, 3):  # a vector, or tokens (N, L, C)
            act = self.row("linear", {"out": b.dims[1], "bias": False}, [x], node)
        else:
            raise Unmappable(f"a matrix product on a {_dims(x.shape)} tensor; cnncost's linear layer reads a vector, "
                             "tokens (N, L, C) or a channels-last map")
        self.row_of_node[node.outputs[0]] = act.row
        return act

    def op_Einsum(self, node, ins):
        equation = node.attrs["equation"]
        equation = equation.decode() if isinstance(equation, bytes) else equation
        return self.row("einsum", {"equation": equation.replace(" ", "")}, [self.plain(v, node) for v in ins], node)

    # --- pooling ---

    def _pool(self, node, ins, kind):
        x = self.plain(ins[0], node)
        a = node.attrs
        kernel = list(a["kernel_shape"])
        if len(kernel) == 3 and len(x.shape) == 5:  # a video clip's (N, C, T, H, W)
            args = {"kernel": kernel, "stride": list(a.get("strides", [1, 1, 1])),
                    "padding": self._padding_3d(a, node.op_type), "ceil_mode": bool(a.get("ceil_mode", 0))}
            if kind == "maxpool":
                args["dilation"] = list(a.get("dilations", [1, 1, 1]))
                if len(node.outputs) > 1 and node.outputs[1]:
                    raise Unmappable("max pooling that also returns indices")
            else:
                args["count_include_pad"] = bool(a.get("count_include_pad", 0))
            return self.row(kind + "3d", args, [x], node)
        if len(kernel) != 2:
            raise Unmappable(f"a {len(kernel)}-D pooling")
        padding = self._padding(a, node.op_type)
        if isinstance(padding, list):
            top, bottom, left, right = padding
            if top != bottom or left != right:
                raise Unmappable(f"asymmetric pooling pads {a.get('pads')}")
            padding = [top, left]
        args = {"kernel": kernel, "stride": list(a.get("strides", [1, 1])), "padding": padding,
                "ceil_mode": bool(a.get("ceil_mode", 0))}
        if kind == "maxpool":
            args["dilation"] = list(a.get("dilations", [1, 1]))
            if len(node.outputs) > 1 and node.outputs[1]:
                raise Unmappable("max pooling that also returns indices")
        else:
            args["count_include_pad"] = bool(a.get("count_include_pad", 0))
        return self.row(kind, args, [x], node)

    def op_MaxPool(self, node, ins):
        return self._pool(node, ins, "maxpool")

    def op_AveragePool(self, node, ins):
        if isinstance(ins[0], Lrn) and ins[0].stage == "padded":
            return ins[0].step("pooled", _pool_shape(ins[0].shape, node.attrs), size=node.attrs["kernel_shape"][0])
        return self._pool(node, ins, "avgpool")

    def op_GlobalAveragePool(self, node, ins):
        x = self.plain(ins[0], node)
        return self.row("global_avgpool3d" if len(x.shape) == 5 else "global_avgpool", {}, [x], node)

    def op_GlobalMaxPool(self, node, ins):
        x = self.plain(ins[0], node)
        if len(x.shape) != 4:
            raise Unmappable("a global max pool that is not over a 2-D map")
        return self.row("maxpool", {"kernel": list(x.shape[2:])}, [x], node)

    def op_ReduceMean(self, node, ins):
        x = self.plain(ins[0], node)
        axes = self._axes(node, ins)
        if axes is None or sorted(axis_of(i, len(x.shape)) for i in axes) != [2, 3] or len(x.shape) != 4:
            return self._reduce(node, ins, "mean")
        pooled = self.row("global_avgpool", {}, [x], node, call="mean")
        if node.attrs.get("keepdims", 1):
            return pooled
        return Reshaped(node, pooled, pooled.shape[:2])

    def _axes(self, node, ins):
        axes = node.attrs.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = self.const(ins[1], "axes").ints()
        return axes

    def _reduce(self, node, ins, op):
        x = self.plain(ins[0], node)
        axes = self._axes(node, ins)
        if not axes:
            if node.attrs.get("noop_with_empty_axes", 0):
                return x
            axes = None  # every axis
        return self.row(*lowering.reduction(op, axes, x.shape, bool(node.attrs.get("keepdims", 1))), [x], node)

    def op_ReduceSum(self, node, ins):
        return self._reduce(node, ins, "sum")

    def op_ReduceMax(self, node, ins):
        return self._reduce(node, ins, "amax")

    def op_ReduceMin(self, node, ins):
        return self._reduce(node, ins, "amin")

    def op_ReduceL2(self, node, ins):
        return self._reduce(node, ins, "norm")

    # --- normalisation ---

    def op_BatchNormalization(self, node, ins):
        if len(node.outputs) > 1 and any(node.outputs[1:]):
            raise Unmappable("batch norm in training mode (it returns running statistics)")
        x = self.plain(ins[0], node)
        if len(x.shape) not in (2, 4, 5):  # a vector, a map, a video clip
            raise Unmappable(f"batch norm over a {_dims(x.shape)} tensor")
        return self.row("batchnorm", {"eps": short_float(node.attrs.get("epsilon", 1e-5))}, [x], node)

    def op_LayerNormalization(self, node, ins):
        x = self.plain(ins[0], node, nhwc_ok=True)
        axis = axis_of(node.attrs.get("axis", -1), len(x.shape))
        if axis != len(x.shape) - 1 or not (x.nhwc or len(x.shape) in (2, 3)):
            raise Unmappable(f"layer norm over axes {axis}.. of {_dims(x.shape)}; cnncost's is over the channels "
                             "at each position (a channels-last map), over each token (N, L, C) or over a vector")
        # a module's weight (and bias): a constant scale of ones is torch's elementwise_affine=False
        affine = len(ins) > 1 and isinstance(ins[1], Const) and self.learnable(ins[1])
        args = {"eps": short_float(node.attrs.get("epsilon", 1e-5)), "affine": affine}
        if affine and not (len(ins) > 2 and isinstance(ins[2], Const) and self.learnable(ins[2])):
            args["bias"] = False  # nn.LayerNorm(C, bias=False), timm's LayerNormNoBias
        return self.row("layernorm", args, [x], node)

    def op_GroupNormalization(self, node, ins):
        x = self.plain(ins[0], node)
        return self.row("groupnorm", {"groups": node.attrs["num_groups"],
                                      "eps": short_float(node.attrs.get("epsilon", 1e-5))}, [x], node)

    def op_InstanceNormalization(self, node, ins):
        x, scale, bias = ins
        if isinstance(x, Reshaped) and len(x.shape) == 3 and len(x.src.shape) == 4 and \
                x.src.shape[1] % x.shape[1] == 0 and isinstance(scale, Const) and isinstance(bias, Const) and \
                scale.size == bias.size == x.shape[1] and _is_all(scale, 1.0) and _is_all(bias, 0.0):
            return GroupNormed(node, x.src, x.shape[1], short_float(node.attrs.get("epsilon", 1e-5)), x.shape)
        scale, bias = self.const(scale, "scale"), self.const(bias, "bias")
        eps = short_float(node.attrs.get("epsilon", 1e-5))
        x = self.plain(x, node)
        if scale.name and bias.name and scale.name.endswith(".weight") and bias.name == scale.name[:-6] + "bias":
            return self.row("instancenorm", {"eps": eps, "affine": True}, [x], node)  # a module's weight and bias
        if scale.size == bias.size == x.shape[1] and _is_all(scale, 1.0) and _is_all(bias, 0.0):
            return self.row("instancenorm", {"eps": eps}, [x], node)  # torch's affine=False: ones and zeros
        raise Unmappable("an instance norm whose scale and bias are neither a module's weight and bias nor ones "
                         "and zeros")

    def op_Erf(self, node, ins):
        x = ins[0]
        if isinstance(x, ErfOf) and x.stage == "divided":
            return ErfOf(node, x.src, "erf", x.shape, [x], ("unary", {"op": "erf"}))
        return self._unary("unary", node, ins, op="erf")

    def op_LRN(self, node, ins):
        a = node.attrs
        return self.row("lrn", {"size": a["size"], "alpha": short_float(a.get("alpha", 1e-4)),
                                "beta": short_float(a.get("beta", 0.75)), "k": short_float(a.get("bias", 1.0))},
                        [self.plain(ins[0], node)], node)

    # --- activations ---

    def _unary(self, kind, node, ins, **args):
        return self.row(kind, args, [self.plain(ins[0], node, nhwc_ok=True)], node)

    def op_Relu(self, node, ins):
        return self._unary("relu", node, ins)

    def op_Tanh(self, node, ins):
        return self._unary("tanh", node, ins)

    def op_HardSwish(self, node, ins):
        return self._unary("hardswish", node, ins)

    def op_Mish(self, node, ins):
        return self._unary("mish", node, ins)

    def op_Gelu(self, node, ins):
        return self._unary("gelu", node, ins)

    def op_Softmax(self, node, ins):
        scores = ins[0]
        if isinstance(scores, Attending) and scores.stage == "scores" and scores.done is None and \
                node.attrs.get("axis", -1) in (-1, len(scores.shape) - 1):
            return Attending(node, "weights", scores.shape, [scores], ("softmax", {"dim": len(scores.shape) - 1}),
                             **scores.found)
        x = self.plain(ins[0], node)
        opset = self.model.opsets.get("", self.model.opsets.get("ai.onnx", 13))
        axis = axis_of(node.attrs.get("axis", -1 if opset >= 13 else 1), len(x.shape))
        if opset < 13 and axis != len(x.shape) - 1:  # before opset 13: over all the axes from axis on, flattened
            raise Unmappable(f"a softmax over axes {axis}.. of {_dims(x.shape)} together (opset {opset})")
        return self.row(*lowering.softmax(x.shape, axis), [x], node)

    @staticmethod
    def _unary_op(op):
        def handler(self, node, ins):
            return self._unary("unary", node, ins, op=op)
        return handler

    op_Neg, op_Abs, op_Exp, op_Log = _unary_op("neg"), _unary_op("abs"), _unary_op("exp"), _unary_op("log")
    op_Sqrt, op_Reciprocal = _unary_op("sqrt"), _unary_op("reciprocal")
    op_Sin, op_Cos = _unary_op("sin"), _unary_op("cos")

    def op_Elu(self, node, ins):
        return self._unary("elu", node, ins, alpha=short_float(node.attrs.get("alpha", 1.0)))

    def op_LeakyRelu(self, node, ins):
        return self._unary("leaky_relu", node, ins, slope=short_float(node.attrs.get("alpha", 0.01)))

    def op_HardSigmoid(self, node, ins):
        alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
        if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
            raise Unmappable(f"hard sigmoid with alpha {alpha:g} and beta {beta:g}; cnncost's (torch's) is "
                             "alpha 1/6, beta 1/2")
        return self._unary("hardsigmoid", node, ins)

    def op_Sigmoid(self, node, ins):
        x = self.plain(ins[0], node, nhwc_ok=True)
        return SigmoidOf(node, x)

    def op_Clip(self, node, ins):
        low = node.attrs.get("min")
        high = node.attrs.get("max")
        if len(ins) > 1 and ins[1] is not None:
            low = self.const(ins[1], "minimum").scalar()
        if len(ins) > 2 and ins[2] is not None:
            high = self.const(ins[2], "maximum").scalar()
        if low == 0 and high == 6:
            return self._unary("relu6", node, ins)
        if low == 0 and (high is None or high == math.inf):
            return self._unary("relu", node, ins)
        if high is None or high == math.inf:  # clamp_min(x, v)
            return self._unary("scalar", node, ins, op="maximum", value=_number(low))
        if low is None or low == -math.inf:
            return self._unary("scalar", node, ins, op="minimum", value=_number(high))
        raise Unmappable(f"a clip to [{low}, {high}]; cnncost has ReLU (0, inf) and ReLU6 (0, 6)")

    def op_Dropout(self, node, ins):
        p = node.attrs.get("ratio", 0.5)
        if len(ins) > 1 and ins[1] is not None:
            p = self.const(ins[1], "ratio").scalar()
        return self._unary("dropout", node, ins, p=short_float(p))

    def op_Identity(self, node, ins):
        if isinstance(ins[0], Pending):
            return ins[0]
        return self._unary("identity", node, ins)

    def op_Cast(self, node, ins):
        return ins[0]  # an element type cnncost's counts do not depend on

    # --- element-wise ---

    def op_Add(self, node, ins):
        a, b = ins
        if isinstance(b, Const) and not isinstance(a, Const):
            a, b = b, a
        if isinstance(a, Const):
            if isinstance(b, Lrn) and b.stage == "scaled":
                return b.step("shifted", k=short_float(a.scalar()))
            if isinstance(b, GroupNormed) and b.stage == "scaled" and a.size == b.shape[1] and b.done is None:
                return self.row("groupnorm", {"groups": b.groups, "eps": b.eps}, [b.src], node)
            if isinstance(b, GroupNormed) and b.stage == "unit" and a.size == 1 and _is(a, 0.0) and b.done is None:
                return self.row("groupnorm", {"groups": b.groups, "eps": b.eps, "affine": False}, [b.src], node)
            if isinstance(b, ErfOf) and b.stage == "erf" and _is(a, 1.0):
                return ErfOf(node, b.src, "plus_one", b.shape, [b], ("scalar", {"op": "add", "value": 1.0}))
            biased = self._bias(node, a, b)
            if biased is not None:
                return biased
        return self.arith("add", node, ins)

    def _bias(self, node, bias: Const, value):
        """Add(MatMul(x, W), b): the linear layer's bias (None: it is not one)."""
        x = self.plain(value, node, nhwc_ok=True)
        row = x.row
        if not (isinstance(row, Row) and row.kind == "linear" and not row.args.get("bias")):
            return None
        features = row.shape[0] if row.args.get("per_position") else row.shape[-1]
        if (self._made_by_matmul(node.inputs, row) and bias.size == features and
                self.consumers[self._matmul_output(node.inputs, row)] == 1):
            self.builder.change(row, bias=True)
            return x
        return None

    def arith(self, op, node, ins):
        """``a op b`` that is no step of a pattern (lowering.py): an activation with a number (scalar), with a
        tensor of the model (param, learnable when it is a parameter), or with another activation."""
        a, b = ins
        if isinstance(a, Const) or isinstance(b, Const):
            number_first = isinstance(a, Const)
            c, value = (a, b) if number_first else (b, a)
            learnable = self.learnable(c)
            if c.size == 1 and not learnable:
                x = self.plain(value, node, nhwc_ok=True)
                return self.row(*lowering.with_number(op, _number(c.scalar()), number_first), [x], node)
            if op not in ("add", "sub", "mul", "div"):
                raise Unmappable(f"the {op} of an activation and a tensor of {_dims(c.dims)}")
            x = self.plain(value, node, nhwc_ok=True)
            dims, shape = tuple(c.dims), x.shape
            if x.nhwc:  # a channels-last view's N x H x W x C axes as its row's N x C x H x W, as from_torch does
                full = (1,) * (len(shape) - len(dims)) + dims if len(dims) <= len(shape) else dims
                dims, shape = _nchw(full), _nchw(shape)
            return self.row(*lowering.with_tensor(op, dims, shape, number_first, learnable), [x], node)
        x, y = self.plain(a, node, nhwc_ok=True), self.plain(b, node, nhwc_ok=True)
        if x.nhwc != y.nhwc or (x.nhwc and x.shape != y.shape):
            x, y = self.plain(x, node), self.plain(y, node)  # the channels-last view as a permute row
        return self.row(*lowering.with_activation(op, x.shape, y.shape), [x, y], node)

    def op_Sub(self, node, ins):
        return self.arith("sub", node, ins)

    def op_Max(self, node, ins):
        if len(ins) != 2:
            raise Unmappable(f"the maximum of {len(ins)} tensors")
        return self.arith("maximum", node, ins)

    def op_Min(self, node, ins):
        if len(ins) != 2:
            raise Unmappable(f"the minimum of {len(ins)} tensors")
        return self.arith("minimum", node, ins)

    def _made_by_matmul(self, names, row) -> bool:
        return any(self.row_of_node.get(n) is row for n in names)

    def _matmul_output(self, names, row) -> str:
        return next(n for n in names if self.row_of_node.get(n) is row)

    def op_Mul(self, node, ins):
        a, b = ins
        if isinstance(b, Const) and not isinstance(a, Const):
            a, b = b, a
        if isinstance(a, Const):
            if isinstance(b, Lrn) and b.stage == "averaged":
                return b.step("scaled", alpha=short_float(a.scalar()))
            if isinstance(b, GroupNormed) and b.stage == "back" and a.size == 1 and _is(a, 1.0):
                return GroupNormed(node, b.src, b.groups, b.eps, b.shape, "unit")  # affine=False: times 1, plus 0
            if isinstance(b, GroupNormed) and b.stage == "back" and a.size == b.shape[1] and a.dims[-2:] == (1, 1):
                return GroupNormed(node, b.src, b.groups, b.eps, b.shape, "scaled")
            if isinstance(b, ErfOf) and b.stage == "times_x" and _is(a, 0.5):
                return self.row("gelu", {}, [b.src], node)  # (x * (1 + erf)) * 0.5
            if isinstance(b, (Act, Reshaped)) and _is(a, 0.5) and a.size == 1:
                x = self.plain(b, node, nhwc_ok=True)  # (a view of tokens: its row, which the Div reads too)
                if not x.nhwc:  # x * 0.5, if (1 + erf(x / sqrt 2)) follows
                    return ErfOf(node, x, "halved", x.shape, [x], ("scalar", {"op": "mul", "value": 0.5}))
            if isinstance(b, Attending) and b.stage == "keys" and a.size == 1 and b.done is None:
                factor = _number(a.scalar())
                return Attending(node, "scaled", b.shape, [b], ("scalar", {"op": "mul", "value": factor}), of=b,
                                 factor=factor)
            if isinstance(b, (Act, Reshaped)) and len(b.shape) >= 3 and a.size == 1 and not self.learnable(a):
                q = self.plain(b, node)
                if not q.nhwc:
                    factor = _number(a.scalar())
                    return Attending(node, "scaled", q.shape, [q], ("scalar", {"op": "mul", "value": factor}),
                                     of=q, factor=factor)
            x = self.plain(b, node, nhwc_ok=True)
            if a.name is not None and not x.nhwc and a.size == x.shape[1] and len(x.shape) == 4 and \
                    a.dims[-2:] == (1, 1) and self.learnable(a):
                return self.row("layer_scale", {}, [x], node)  # a learnt scale per channel: x * gamma
            return self.arith("mul", node, ins)
        if isinstance(b, SigmoidOf) and isinstance(a, Act) and b.src is a and b.done is None:
            a, b = b, a
        if isinstance(a, SigmoidOf) and a.done is None and b is a.src:
            return self.row("silu", {}, [self.plain(b, node, nhwc_ok=True)], a.node)  # x * sigmoid(x)
        if isinstance(b, ErfOf) and b.stage == "plus_one":
            a, b = b, a
        if isinstance(a, ErfOf) and a.stage == "plus_one":
            if isinstance(b, (Reshaped, Attending)):
                b = self.plain(b, node)
            if b is a.src:  # x * (1 + erf(x / sqrt 2)), halved next
                return ErfOf(node, a.src, "times_x", a.shape, [a, b], ("mul", {}))
            if isinstance(b, ErfOf) and b.stage == "halved" and b.src is a.src:
                return self.row("gelu", {}, [a.src], node)  # (x * 0.5) * (1 + erf(x / sqrt 2))
        if a is b and isinstance(a, Act) and not a.nhwc:
            return Lrn(node, a, a.shape)  # x * x: a mul row, unless a local response norm follows
        return self.arith("mul", node, ins)

    def op_Div(self, node, ins):
        x, d = ins
        if isinstance(d, Const) and d.size == 1 and _is(d, math.sqrt(2), 1e-4):
            if isinstance(x, (Reshaped, Attending)):
                x = self.plain(x, node)  # a view of tokens: its row, which the Mul by 0.5 reads too
            src = x.src if isinstance(x, ErfOf) and x.stage == "halved" else x
            if isinstance(src, Act) and not src.nhwc:
                return ErfOf(node, src, "divided", src.shape, [x], ("scalar", {"op": "div",
                                                                             "value": _number(d.scalar())}))
        if isinstance(d, Lrn) and d.stage == "powered" and isinstance(x, Act) and x is d.src:
            f = d.found
            return self.row("lrn", {"size": f["size"], "alpha": f["alpha"], "beta": f["beta"], "k": f["k"]},
                            [x], d.node)
        return self.arith("div", node, ins)

    def op_Pow(self, node, ins):
        x, e = ins
        if isinstance(x, Lrn) and x.stage == "shifted" and isinstance(e, Const):
            return x.step("powered", beta=short_float(e.scalar()))
        return self.arith("pow", node, ins)

    def op_Concat(self, node, ins):
        xs = [self.plain(v, node) for v in ins]
        lowered = lowering.concatenation([x.shape for x in xs], axis_of(node.attrs["axis"], len(xs[0].shape)))
        if len(xs) == 1:
            return xs[0]
        return self.row(*lowered, xs, node)

    def op_Split(self, node, ins):
        x = ins[0]
        axis = axis_of(node.attrs.get("axis", 0), len(x.shape))
        sizes = node.attrs.get("split")
        if sizes is None and len(ins) > 1 and ins[1] is not None:
            sizes = self.const(ins[1], "split sizes").ints()
        parts = len(node.outputs)
        if isinstance(x, BatchMoved) and axis == 0 and parts == x.shape[0] and (sizes is None or set(sizes) == {1}):
            return [x.pick(self, i, node, keep_axis=True) if name else None for i, name in enumerate(node.outputs)]
        x = self.plain(x, node)
        if sizes is None:  # equal parts, the last smaller where they do not divide (opset 18's num_outputs)
            size = -(-x.shape[axis] // parts)
            sizes = [size] * (parts - 1) + [x.shape[axis] - size * (parts - 1)]
        lowered = lowering.split(x.shape, axis, sizes)
        return [(x if step is None else self.row(*step, [x], node)) if name else None
                for step, name in zip(lowered, node.outputs)]

    # --- shapes ---

    def op_Shape(self, node, ins):
        shape = ins[0].shape if not isinstance(ins[0], Const) else ins[0].dims
        if shape is None:
            raise Unmappable("the shape of something cnncost does not know")
        start, end = node.attrs.get("start", 0), node.attrs.get("end")
        dims = list(shape)[start:end]
        return Const(dims, (len(dims),))

    def op_Size(self, node, ins):
        return Const([math.prod(ins[0].shape)], ())

    def op_Flatten(self, node, ins):
        x = ins[0]
        axis = axis_of(node.attrs.get("axis", 1), len(x.shape))
        src = x.src if isinstance(x, Reshaped) else self.plain(x, node)
        target = (math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))
        return src if target == src.shape else Reshaped(node, src, target)

    def op_Reshape(self, node, ins):
        x = ins[0]
        target = reshape_dims(x.shape, self.const(ins[1], "target shape").ints(), bool(node.attrs.get("allowzero")))
        if isinstance(x, Lrn):
            return x.reshaped(target)
        if isinstance(x, GroupNormed) and x.stage == "normed" and target == x.src.shape:
            return GroupNormed(node, x.src, x.groups, x.eps, target, "back")
        if isinstance(x, Shuffled):
            if target == x.src.shape:
                return self.row("channel_shuffle", {"groups": x.groups}, [x.src], node)
            return Reshaped(node, self.plain(x, node), target)  # not back to the map: its rows, then the view
        if isinstance(x, Picked) and target == x.inner.shape:
            return x.inner
        if isinstance(x, Attending) and x.stage == "keys" and x.done is None and len(target) >= 3 and \
                target[0] == x.shape[0] and target[-2:] == x.shape[-2:]:  # k^T viewed with other leading axes
            k = self.plain(Reshaped(node, x.found["k"], (*target[:-2], target[-1], target[-2])), node)
            return Attending(node, "keys", target, [k], ("transpose", {"dim0": len(target) - 2,
                                                                       "dim1": len(target) - 1}), k=k)
        if isinstance(x, Unshuffled) and target == x.target() and x.done is None:
            return self.row("pixel_unshuffle", {"factor": x.factor}, [x.view.src], node)
        if isinstance(x, Folded) and x.unfold(target) is not None:
            lead, order = x.unfold(target)
            viewed = self.plain(Reshaped(node, x.src, lead + x.src.shape[x.k:]), node)
            step = lowering.permutation(order, viewed.shape)
            if step is None:
                return viewed
            if step == ("transpose", {"dim0": len(target) - 2, "dim1": len(target) - 1}):
                return Attending(node, "keys", target, [viewed], step, k=viewed)
            return self.row(*step, [viewed], node)
        src = x.src if isinstance(x, Reshaped) else self.plain(x, node)
        if target == src.shape:
            return src
        return Reshaped(node, src, target)

    def op_Squeeze(self, node, ins):
        x = ins[0]
        axes = node.attrs.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = self.const(ins[1], "axes").ints()
        rank = len(x.shape)
        drop = {axis_of(a, rank) for a in axes} if axes is not None else {i for i, d in enumerate(x.shape) if d == 1}
        target = tuple(d for i, d in enumerate(x.shape) if i not in drop)
        if isinstance(x, Lrn):
            return x.reshaped(target)
        if isinstance(x, Picked) and target == x.inner.shape:
            return x.inner
        src = x.src if isinstance(x, Reshaped) else self.plain(x, node)
        return src if target == src.shape else Reshaped(node, src, target)

    def op_Unsqueeze(self, node, ins):
        x = ins[0]
        axes = node.attrs.get("axes")
        if axes is None:
            axes = self.const(ins[1], "axes").ints()
        target = _unsqueezed(x.shape, axes)
        if isinstance(x, Lrn):
            return x.reshaped(target)
        src = x.src if isinstance(x, Reshaped) else self.plain(x, node)
        return src if target == src.shape else Reshaped(node, src, target)

    def op_Transpose(self, node, ins):
        x = ins[0]
        perm = list(node.attrs.get("perm") or range(len(x.shape)))[::1]
        if isinstance(x, Reshaped) and len(x.shape) == 5 and perm == [0, 2, 1, 3, 4]:
            src = x.src
            n, g, per, h, w = x.shape
            if len(src.shape) == 4 and src.shape == (n, g * per, h, w):
                return Shuffled(node, src, g, (n, per, g, h, w))
        if isinstance(x, Reshaped) and len(x.shape) == 4 and perm in ([0, 2, 3, 1], [0, 3, 1, 2]):
            x = self.plain(x, node, nhwc_ok=True)  # a map made by a view (tokens to N x C x H x W): its row
        if isinstance(x, Act) and len(x.shape) == 4:
            if perm == [0, 2, 3, 1] and not x.nhwc:
                return Act(x.row, (x.shape[0], x.shape[2], x.shape[3], x.shape[1]), nhwc=True)
            if perm == [0, 3, 1, 2] and x.nhwc:
                return Act(x.row, (x.shape[0], x.shape[3], x.shape[1], x.shape[2]))
        if perm == list(range(len(x.shape))):
            return x
        if isinstance(x, Reshaped) and perm == [0, 1, 3, 5, 2, 4] and len(x.src.shape) == 4 and len(x.shape) == 6 \
                and x.shape[3] == x.shape[5] and x.shape == (*x.src.shape[:2], x.src.shape[2] // x.shape[3],
                                                             x.shape[3], x.src.shape[3] // x.shape[3], x.shape[3]):
            return Unshuffled(node, x, x.shape[3], [x.shape[p] for p in perm])
        if isinstance(x, Reshaped) and x.shape[0] != x.src.shape[0] and perm[0] == 0 and (merged := _merged_axes(x)):
            return Folded(node, x.src, merged, perm, [x.shape[p] for p in perm])
        x = self.plain(x, node, nhwc_ok=True)
        if perm[0] != 0 and not x.nhwc:
            return BatchMoved(node, x, perm)
        if x.nhwc:  # a permute of the row the channels-last view stands for
            perm = [(0, 2, 3, 1)[p] for p in perm]
            x = Act(x.row, (x.shape[0], x.shape[3], x.shape[1], x.shape[2]))
        step = lowering.permutation(perm, x.shape)
        if step is None:  # the identity (returned above already)
            return x
        if len(x.shape) >= 3 and step == ("transpose", {"dim0": len(x.shape) - 2, "dim1": len(x.shape) - 1}):
            return Attending(node, "keys", [x.shape[p] for p in perm], [x], step, k=x)  # k^T, if q @ k^T follows
        return self.row(*step, [x], node)

    def op_DepthToSpace(self, node, ins):
        # CRD is torch's pixel_shuffle; DCR (the default, TensorFlow's) takes the channels in another order,
        # a permutation that changes no figure cnncost computes
        return self.row("pixel_shuffle", {"factor": node.attrs["blocksize"]}, [self.plain(ins[0], node)], node)

    def op_SpaceToDepth(self, node, ins):
        # its channels come block offset first, torch's pixel_unshuffle's channel first: the same figures
        return self.row("pixel_unshuffle", {"factor": node.attrs["blocksize"]}, [self.plain(ins[0], node)], node)

    def op_Gather(self, node, ins):
        """x[:, i] (a class token): a slice of one, and the axis dropped where the index is a scalar. The dynamo
        exporter's as_strided of a contiguous tensor, a Gather of every index in order from the tensor flattened
        whole, is a reshape to the indices' shape."""
        index = self.const(ins[1], "indices")
        flat = ins[0]
        if isinstance(flat, Reshaped) and len(flat.shape) == 1 and node.attrs.get("axis", 0) == 0 and \
                index.dims and index.dims[0] == flat.src.shape[0] and index.values is not None and \
                index.size == flat.shape[0] and index.ints() == list(range(index.size)):  # (at most 64 KiB)
            return flat.src if index.dims == flat.src.shape else Reshaped(node, flat.src, index.dims)
        if isinstance(flat, BatchMoved) and index.size == 1 and \
                axis_of(node.attrs.get("axis", 0), len(flat.shape)) == 0:
            return flat.pick(self, index.ints()[0] % flat.shape[0], node, keep_axis=bool(index.dims))
        x = self.plain(ins[0], node)
        axis = axis_of(node.attrs.get("axis", 0), len(x.shape))
        if index.size != 1:
            raise Unmappable(f"gathers {index.size} indices along axis {axis}")
        i = index.ints()[0] % x.shape[axis]
        step = lowering.part(x.shape, axis, i, i + 1)
        taken = x if step is None else self.row(*step, [x], node)
        if index.dims:
            return taken
        return Reshaped(node, taken, taken.shape[:axis] + taken.shape[axis + 1:])

    def op_Slice(self, node, ins):
        x = ins[0]
        if "starts" in node.attrs:  # opset < 10
            starts, ends, axes, steps = node.attrs["starts"], node.attrs["ends"], node.attrs.get("axes"), None
        else:
            starts, ends = self.const(ins[1], "starts").ints(), self.const(ins[2], "ends").ints()
            axes = self.const(ins[3], "axes").ints() if len(ins) > 3 and ins[3] is not None else None
            steps = self.const(ins[4], "steps").ints() if len(ins) > 4 and ins[4] is not None else None
        shape = x.shape
        ranges = slice_ranges(shape, starts, ends, axes, steps)
        changed = [i for i, (r, n) in enumerate(zip(ranges, shape)) if r != range(n)]
        if not changed:
            return x
        if isinstance(x, BatchMoved) and changed == [0] and len(ranges[0]) == 1:
            return x.pick(self, ranges[0].start, node, keep_axis=True)
        if len(shape) == 4 and all(i in (2, 3) for i in changed) and not (isinstance(x, Act) and x.nhwc):
            base = x.src if isinstance(x, Sliced) else self.plain(x, node)
            previous = x.ranges if isinstance(x, Sliced) else [range(n) for n in base.shape[2:]]
            return Sliced(node, base, [p[r.start:r.stop:r.step] for p, r in zip(previous, ranges[2:])])
        act = self.plain(x, node)
        for axis in changed:
            r = ranges[axis]
            step = lowering.part(act.shape, axis, r.start, r.stop, r.step)  # not None: the axis changes
            act = act if step is None else self.row(*step, [act], node)
        return act

    def op_Pad(self, node, ins):
        x = ins[0]
        a = node.attrs
        pads = a.get("pads")
        if pads is None:
            pads = self.const(ins[1], "pads").ints()
        value = a.get("value", 0.0)
        if len(ins) > 2 and ins[2] is not None:
            value = self.const(ins[2], "value").scalar()
        if len(ins) > 3 and ins[3] is not None:
            raise Unmappable("padding only some axes (the axes input)")
        mode = a.get("mode", "constant")
        rank = len(x.shape)
        begin, end = pads[:rank], pads[rank:]
        if isinstance(x, Lrn) and x.stage == "5d":
            return x.step("padded", tuple(d + b + e for d, b, e in zip(x.shape, begin, end)))
        if isinstance(x, Sliced) and x.subsample_stride() and begin == [0] * rank and end[0] == 0 and \
                end[2:] == [0, 0] and mode == "constant" and value == 0:
            return self.row("subsample_pad", {"out": x.shape[1] + end[1], "stride": x.subsample_stride()},
                            [x.src], x.node)
        x = self.plain(x, node)
        if rank != 4 or begin[:2] != [0, 0] or end[:2] != [0, 0]:
            raise Unmappable(f"pads {pads} of a {_dims(x.shape)} tensor; cnncost pads the height and width")
        if min(pads) < 0:
            raise Unmappable(f"negative pads {pads} (a crop)")
        modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}
        if mode not in modes:
            raise Unmappable(f"pad mode {mode}")
        args: dict[str, Any] = {"padding": [begin[2], end[2], begin[3], end[3]], "mode": modes[mode]}
        if mode == "constant":
            args["value"] = short_float(value) if isinstance(value, float) else value
        return self.row("pad", args, [x], node)

    def op_Resize(self, node, ins):
        x = self.plain(ins[0], node)
        a = node.attrs
        scales = sizes = None
        if len(ins) == 2:  # opset 10: X, scales
            scales = self.const(ins[1], "scales").known()
        else:
            if len(ins) > 2 and ins[2] is not None and self.const(ins[2], "scales").size:
                scales = ins[2].known()
            if len(ins) > 3 and ins[3] is not None:
                sizes = self.const(ins[3], "sizes").ints()
        return self._resize(node, x, a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel"),
                            scales, sizes)

    def op_Upsample(self, node, ins):
        x = self.plain(ins[0], node)
        scales = node.attrs.get("scales") or self.const(ins[1], "scales").known()
        return self._resize(node, x, node.attrs.get("mode", "nearest"), "asymmetric", scales, None)

    def _resize(self, node, x, mode, transform, scales, sizes):
        if len(x.shape) != 4:
            raise Unmappable("a resize that is not of a 2-D map")
        modes = {"nearest": "nearest", "linear": "bilinear", "bilinear": "bilinear"}
        if mode not in modes:
            raise Unmappable(f"resize mode {mode}; cnncost has nearest and bilinear")
        args: dict[str, Any] = {"mode": modes[mode]}
        if args["mode"] == "bilinear":
            args["align_corners"] = transform == "align_corners"
        if sizes is not None and len(sizes) == 4:
            if sizes[:2] != list(x.shape[:2]):
                raise Unmappable("a resize of the batch or channels")
            args["size"] = sizes[2:]
        elif scales is not None and len(scales) == 4:
            if scales[:2] != [1, 1]:
                raise Unmappable("a resize of the batch or channels")
            args["scale"] = [short_float(s) for s in scales[2:]]
        else:
            raise Unmappable("a resize with neither scales nor sizes for all four axes")
        return self.row("upsample", args, [x], node)

    def op_If(self, node, ins):
        condition = self.const(ins[0], "condition").scalar()
        branch = node.attrs["then_branch" if condition else "else_branch"]
        for name, tensor in branch.initializers.items():
            self.values[name] = self._const_of(tensor, name)
        self.run_nodes(branch.nodes)
        return [self.values.get(o.name, UNKNOWN) for o in branch.outputs]

    # --- the file's shapes ---

    def check_value_info(self):
        if self.overridden:
            return  # the file's shapes are for its own input size
        graph = self.model.graph
        wrong = []
        for info in list(graph.value_info.values()) + list(graph.outputs):
            value = self.values.get(info.name)
            if info.dims is None or not isinstance(value, (Act, Pending)) or value.shape is None:
                continue
            mine = value.shape
            if len(info.dims) != len(mine) or any(isinstance(d, int) and d > 0 and d != m and i > 0
                                                   for i, (d, m) in enumerate(zip(info.dims, mine))):
                wrong.append(f"'{info.name}': {_dims(info.dims)} in the file, {_dims(mine)} by cnncost")
        if wrong:
            raise CnnCostError(f"{len(wrong)} shape{'s' if len(wrong) > 1 else ''} in the file's value_info "
                               "disagree with cnncost's: " + "; ".join(wrong[:5]) +
                               (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else ""),
                               location=Location(self.path))


def _number(value):
    """A constant as a scalar row's value: a float32 as its shortest decimal, an integer as it is."""
    if isinstance(value, bool):
        return int(value)
    return short_float(value) if isinstance(value, float) else value


def _origin(node) -> str:
    if node is None:
        return "the network's output"
    return f"{node.op_type} node '{node.name}'" if node.name else f"a {node.op_type} node"


def _unsqueezed(shape, axes) -> tuple:
    rank = len(shape) + len(axes)
    axes = sorted(axis_of(a, rank) for a in axes)
    out, rest = [], iter(shape)
    for i in range(rank):
        out.append(1 if i in axes else next(rest))
    return tuple(out)


def _pool_shape(shape, a) -> tuple:
    kernel, strides_ = a["kernel_shape"], a.get("strides", [1] * len(a["kernel_shape"]))
    pads = a.get("pads", [0] * 2 * len(kernel))
    spatial = [(n + pads[i] + pads[i + len(kernel)] - k) // s + 1
               for i, (n, k, s) in enumerate(zip(shape[2:], kernel, strides_))]
    return tuple(shape[:2]) + tuple(spatial)


def _all_nodes(nodes):
    for node in nodes:
        yield node
        for value in node.attrs.values():
            graphs = value if isinstance(value, list) else [value]
            for g in graphs:
                if isinstance(g, proto.GraphProto):
                    yield from _all_nodes(g.nodes)


# --- operators on constants ---


def _c_constant(imp, node, ins):
    a = node.attrs
    if "value" in a:
        return [imp._const_of(a["value"])]
    for key, is_float in (("value_float", True), ("value_int", False)):
        if key in a:
            return [Const([a[key]], (), is_float)]
    for key, is_float in (("value_floats", True), ("value_ints", False)):
        if key in a:
            return [Const(list(a[key]), (len(a[key]),), is_float)]
    raise ValueError("a Constant of a kind cnncost does not read")


def _c_shape(imp, node, ins):
    return [imp.op_Shape(node, ins)]


def _c_identity(imp, node, ins):
    c = ins[0]
    out = node.outputs[0]
    name = out if ("." in out and not out.startswith(("onnx::", "/"))) else c.name
    return [Const(c.values, c.dims, c.is_float, name=name, matrix=c.matrix)]


def _c_cast(imp, node, ins):
    c = ins[0]
    to_float = node.attrs["to"] in FLOAT_TYPES
    values = None if c.values is None else [float(v) if to_float else (bool(v) if node.attrs["to"] == proto.BOOL
                                                                       else int(v)) for v in c.values]
    return [Const(values, c.dims, to_float, name=c.name, matrix=c.matrix)]


def _c_unsqueeze(imp, node, ins):
    c = ins[0]
    axes = node.attrs.get("axes")
    if axes is None:
        axes = ins[1].ints()
    dims = _unsqueezed(c.dims, axes)
    matrix = c.matrix if c.matrix is not None else (c.dims if len(c.dims) == 2 and c.name else None)
    return [Const(c.values, dims, c.is_float, name=c.name, matrix=matrix)]


def _c_squeeze(imp, node, ins):
    c = ins[0]
    axes = node.attrs.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = ins[1].ints()
    rank = len(c.dims)
    drop = {axis_of(a, rank) for a in axes} if axes is not None else {i for i, d in enumerate(c.dims) if d == 1}
    return [Const(c.values, tuple(d for i, d in enumerate(c.dims) if i not in drop), c.is_float, name=c.name)]


def _c_reshape(imp, node, ins):
    c = ins[0]
    dims = reshape_dims(c.dims, ins[1].ints(), bool(node.attrs.get("allowzero")))
    return [Const(c.values, dims, c.is_float, name=c.name)]


def _c_concat(imp, node, ins):
    return [concat([i for i in ins if i is not None], node.attrs["axis"])]


def _c_gather(imp, node, ins):
    return [gather(ins[0], ins[1], node.attrs.get("axis", 0))]


def _c_slice(imp, node, ins):
    c = ins[0]
    if "starts" in node.attrs:
        starts, ends, axes, steps = node.attrs["starts"], node.attrs["ends"], node.attrs.get("axes"), None
    else:
        starts, ends = ins[1].ints(), ins[2].ints()
        axes = ins[3].ints() if len(ins) > 3 and ins[3] is not None else None
        steps = ins[4].ints() if len(ins) > 4 and ins[4] is not None else None
    return [slice_(c, slice_ranges(c.dims, starts, ends, axes, steps))]


def _c_transpose(imp, node, ins):
    c = ins[0]
    if c.values is None:  # a weight (nn.Linear's, transposed for a MatMul): its dims are all cnncost needs
        perm = node.attrs.get("perm") or list(range(len(c.dims)))[::-1]
        return [Const(None, [c.dims[p] for p in perm], c.is_float, name=c.name)]
    return [transpose(c, node.attrs.get("perm"))]


def _c_constant_of_shape(imp, node, ins):
    dims = sized(ins[0].ints())
    value = node.attrs.get("value")
    fill = imp._const_of(value).known()[0] if value is not None else 0.0
    return [Const([fill] * math.prod(dims), dims, value is None or value.data_type in FLOAT_TYPES)]


def _c_range(imp, node, ins):
    start, limit, delta = (i.scalar() for i in ins)
    count = max(math.ceil((limit - start) / delta), 0)
    sized([count])
    return [Const([start + i * delta for i in range(count)], (count,), any(i.is_float for i in ins))]


def _binary(fn, is_float=None):
    def op(imp, node, ins):
        return [elementwise(fn, ins[0], ins[1], is_float)]
    return op


def _c_div(imp, node, ins):
    floating = ins[0].is_float or ins[1].is_float
    return [elementwise(lambda x, y: divide(x, y, floating), ins[0], ins[1])]


def _c_where(imp, node, ins):
    cond, x, y = ins
    dims = broadcast_dims(broadcast_dims(cond.dims, x.dims), y.dims)
    pick = elementwise(lambda c, v: (c, v), cond, x)
    both = elementwise(lambda cv, w: cv[1] if cv[0] else w, pick, y)
    return [Const(both.values, dims, x.is_float or y.is_float)]


def _c_clip(imp, node, ins):
    """Clip on constants: the shape arithmetic of TF-"same" padding (timm's Conv2dSame: max((ceil(i / s) - 1) * s
    + (k - 1) * d + 1 - i, 0)), which the TorchScript exporter writes as a Clip with no upper bound."""
    c = ins[0]
    bounds = [ins[i].known()[0] if len(ins) > i and ins[i] is not None else None for i in (1, 2)]
    low = bounds[0] if bounds[0] is not None else node.attrs.get("min")
    high = bounds[1] if bounds[1] is not None else node.attrs.get("max")
    values = [v if low is None or v >= low else low for v in c.known()]
    values = [v if high is None or v <= high else high for v in values]
    return [Const(values, c.dims, c.is_float)]


def _unary_const(fn, is_float=None):
    def op(imp, node, ins):
        c = ins[0]
        return [Const([fn(v) for v in c.known()], c.dims, c.is_float if is_float is None else is_float)]
    return op


def _c_expand(imp, node, ins):
    c, shape = ins
    dims = sized(broadcast_dims(c.dims, shape.ints()))
    return [elementwise(lambda x, _: x, c, Const([0] * math.prod(dims), dims))]


def _c_reduce_prod(imp, node, ins):
    c = ins[0]
    if node.attrs.get("axes") is not None or (len(ins) > 1 and ins[1] is not None) or len(c.dims) > 1:
        raise ValueError("a product over chosen axes")
    out = math.prod(c.known())
    return [Const([out], (1,) if node.attrs.get("keepdims", 1) else (), c.is_float)]


CONST_OPS = {
    "Constant": _c_constant, "Shape": _c_shape, "Identity": _c_identity, "Cast": _c_cast,
    "Unsqueeze": _c_unsqueeze, "Squeeze": _c_squeeze, "Reshape": _c_reshape, "Concat": _c_concat,
    "Gather": _c_gather, "Slice": _c_slice, "Transpose": _c_transpose, "ConstantOfShape": _c_constant_of_shape,
    "Range": _c_range, "Add": _binary(lambda x, y: x + y), "Sub": _binary(lambda x, y: x - y),
    "Mul": _binary(lambda x, y: x * y), "Div": _c_div, "Pow": _binary(power),
    "Min": _binary(min), "Max": _binary(max), "Mod": _binary(lambda x, y: x % y),
    "Equal": _binary(lambda x, y: x == y, False), "Less": _binary(lambda x, y: x < y, False),
    "Greater": _binary(lambda x, y: x > y, False), "And": _binary(lambda x, y: bool(x and y), False),
    "Or": _binary(lambda x, y: bool(x or y), False), "Not": _unary_const(lambda x: not x, False),
    "Neg": _unary_const(lambda x: -x), "Abs": _unary_const(abs), "Floor": _unary_const(math.floor, False),
    "Ceil": _unary_const(math.ceil, False), "Sqrt": _unary_const(math.sqrt, True), "Where": _c_where,
    "Expand": _c_expand, "ReduceProd": _c_reduce_prod, "Clip": _c_clip,
    "If": lambda imp, node, ins: imp.op_If(node, ins),
}


_LAST_READ: list = []  # [(file identity, Model)]: a sweep imports one file at each of its sizes


def _read(path: str):
    """proto.read, kept for the next call while the file is the same (device, inode, size, mtime)."""
    try:
        st = os.stat(path)
        identity = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        identity = None
    if identity is not None and _LAST_READ and _LAST_READ[0][0] == identity:
        return _LAST_READ[0][1]
    model = proto.read(path)
    _LAST_READ[:] = [(identity, model)] if identity is not None else []
    return model


def load_onnx(path, input_shape: tuple | None = None, overrides: Mapping[str, Any] | None = None,
              partial: bool = False) -> ImportedGraph:
    """The network in an ONNX file, as a cnncost graph (``input_shape``: per sample, instead of the file's)."""
    path = os.fspath(path)
    if overrides:
        raise CnnCostError(f"--set {next(iter(overrides))}: an ONNX model has no parameters to set",
                           location=Location(path))
    model = _read(path)
    if model.functions:
        raise CnnCostError("the model defines its own functions (ONNX local functions), which cnncost does not "
                           "read", location=Location(path))
    importer = OnnxImporter(model, path, input_shape)
    try:
        return importer.run(partial)
    except CnnCostError:
        if not importer.refused or input_shape is not None or not any(
                n not in model.graph.value_info for n in _refused_outputs(importer)):
            raise
        inferred = _inferred_shapes(path)  # the file gives no shape past a refused operator: ask onnx for them
        if inferred is None:
            raise
    importer = OnnxImporter(proto.read(path), path, input_shape)
    importer.inferred = inferred
    return importer.run(partial)


def _refused_outputs(importer) -> list:
    names = {name for _, name, _ in importer.refused}
    return [o for n in _all_nodes(importer.model.graph.nodes) if (n.name or n.op_type) in names for o in n.outputs]


def _inferred_shapes(path) -> dict | None:
    """value_info as onnx.shape_inference gives it, where the onnx package is installed: shapes past an operator
    cnncost cannot map, for a complete list of refusals and for --partial's opaque rows."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None
    try:
        inferred = shape_inference.infer_shapes(onnx.load(path, load_external_data=False))
    except Exception:  # noqa: BLE001  (onnx cannot infer them either: the refusal stands as it is)
        return None
    return proto.parse(inferred.SerializeToString()).graph.value_info

