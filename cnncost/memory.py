"""Training and inference memory from the graph: what autograd saves, and what it takes to fit.

Training: each layer's weights, gradients and optimizer state, and the
activations PyTorch's autograd saves for the backward pass, exactly as it
saves them: each saved tensor is a storage, and a storage that several layers
save (a ReLU's output that the next conv saves too, a view of a tensor)
counts once, for the first layer that saves it. Inference: the peak of live
activations when each tensor is freed after its last reader and PyTorch's
in-place activations reuse their input. Then, per device of the device table
(cnncost/data/devices.yaml): does it fit, the largest batch that fits, and
how many devices a layer-wise split needs.

Each kind's record (kinds.py) names its rule from SAVED_RULES in
saved_rules.py, or gives one of its own; a name that table lacks is refused
when the kind is defined.
``cnncost validate --memory`` checks every rule against
``torch.autograd.graph.saved_tensors_hooks`` and tensor lifetimes in torch
(docs/memory.md). Plain data; render/memory.py makes text of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Callable

from .errors import CnnCostError, did_you_mean
from .results import Result
from .graph import INPUT, Graph, Node, fast_constructor
from .kinds import KINDS
from .report import Settings
from .training import check_trainable  # noqa: F401  (kept importable from here)
# the rules, checked for every kind at 'import cnncost'; the names kept importable from here
from .saved_rules import (_SAVED, INDEX_BYTES, MASK_BYTES, OUTPUT, SAVED_RULES, Context, _input,  # noqa: F401
                          _new, saved_rule)

if TYPE_CHECKING:  # for the annotation; analyze_memory imports parallel.py where it uses it
    from .parallel import Parallel

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}  # copies of the weights it keeps
MODES = ("train", "infer")
DEVICE_KINDS = ("cpu", "cuda")
MAX_BATCH = 10 ** 9  # what "largest batch" may answer at most


# A tensor's layout, as far as the saved-tensor rules need it: contiguous; "rows", strided but with the last
# axis dense (a slice, a permute that keeps the last axis); "sample", each sample contiguous but the batch
# axis's stride larger (a channel slice at batch > 1: a reshape of each sample is a view, anything else reads it
# as "rows"); "strided" (the last axis moved); "transposed", a contiguous tensor's last two axes swapped
# (k.transpose(-2, -1)), strided but for matmul, which folds its batch axes as a view; "swapped", the first two
# axes swapped in memory (the output of the CPU's fused attention); "swapped_inner", the second and third (a fused
# attention's output with the batch folded into windows, per sample (W, heads, L, E)).
CONTIGUOUS, ROWS, STRIDED, SAMPLE = "contiguous", "rows", "strided", "sample"


def _is_view(node: Node, mode: str, layout: str = CONTIGUOUS) -> bool:
    view = KINDS[node.kind].view
    if view == "if contiguous":  # a reshape: torch's view where the strides allow, else a copy
        return layout in (CONTIGUOUS, SAMPLE) or unit_axes_only(node)
    return view is True or (callable(view) and view(node, mode))


def unit_axes_only(node: Node) -> bool:
    """A reshape that only adds or drops axes of size 1 (a squeeze): a view whatever the strides."""
    return [d for d in node.input_shapes[0] if d != 1] == [d for d in node.output_shape if d != 1]


def _layout(node: Node, first: str, batch: int) -> str:
    """A row's output layout, from its kind's ``layout`` and its first input's."""
    layout = KINDS[node.kind].layout
    if layout == "fresh":
        return CONTIGUOUS
    if layout == "kept":
        return first
    return layout(node, first, batch)


def _layouts(nodes, batch: int):
    """Each row, and the layout of each of its inputs, in order; the network input is contiguous."""
    layouts = {INPUT: CONTIGUOUS}
    for node in nodes:
        inputs = tuple(layouts[i] for i in node.inputs)
        layouts[node.name] = _layout(node, inputs[0], batch)
        yield node, inputs


# --- the figures ---


@dataclass(frozen=True)
class LayerMemory:
    name: str
    kind: str
    side: bool
    weights_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    buffer_bytes: int
    saved_bytes: int  # storages this layer is the first to save for backward (train)
    transient_bytes: int  # its backward working set: the gradients of its output and of its inputs (train)
    live_bytes: int  # live activations while it runs (infer)


_LAYER_FIELDS = tuple(LayerMemory.__dataclass_fields__)
_layer_values = attrgetter(*_LAYER_FIELDS)  # a row as a dict without dataclasses.asdict's deep copies
make_layer_memory = fast_constructor(LayerMemory)


@dataclass(frozen=True)
class DeviceFit:
    device: str
    name: str
    memory_bytes: int
    fits: bool
    max_batch: int | None  # None: not even one sample fits
    devices_needed: int | None  # train: a layer-wise split; None when one layer alone does not fit


@dataclass(frozen=True, repr=False)  # the repr is one line (results.Result)
class Memory(Result):
    model: str
    input: tuple
    batch: int
    dtype: str
    mode: str
    optimizer: str
    amp: bool
    device_kind: str  # whose saved-tensor rules: cpu or cuda
    include_side: bool
    layers: tuple  # of LayerMemory, the rows that run
    weights_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    buffer_bytes: int
    saved_activation_bytes: int
    transient_bytes: int  # the largest backward working set (train)
    peak_activation_bytes: int  # infer: the peak of live activations
    peak_bytes: int
    devices: tuple = ()  # of DeviceFit
    frozen: tuple = ()  # the layers --freeze names
    checkpointing: Checkpointing | None = None  # --checkpoint
    parallel: Parallel | None = None  # --gpus N: per device

    def to_dict(self) -> dict:
        """The JSON contract of 'cnncost memory --format json' (docs/json.md)."""
        return {
            "model": self.model, "input": list(self.input), "batch": self.batch, "dtype": self.dtype,
            "mode": self.mode, "optimizer": self.optimizer, "amp": self.amp, "device_kind": self.device_kind,
            "include_side": self.include_side,
            "layers": [dict(zip(_LAYER_FIELDS, _layer_values(layer))) for layer in self.layers],
            "totals": {"weights_bytes": self.weights_bytes, "gradient_bytes": self.gradient_bytes,
                       "optimizer_bytes": self.optimizer_bytes, "buffer_bytes": self.buffer_bytes,
                       "saved_activation_bytes": self.saved_activation_bytes,
                       "transient_bytes": self.transient_bytes,
                       "peak_activation_bytes": self.peak_activation_bytes, "peak_bytes": self.peak_bytes},
            "devices": [asdict(d) for d in self.devices],
            "frozen": list(self.frozen),
            "checkpointing": asdict(self.checkpointing) if self.checkpointing else None,
            "parallel": self.parallel.to_dict() if self.parallel else None,
            "fits": {d.device: d.fits for d in self.devices},
            "max_batch": {d.device: d.max_batch for d in self.devices},
        }


def check_optimizer(name: str) -> str:
    if name not in OPTIMIZER_STATES:
        raise CnnCostError(f"unknown optimizer '{name}'", hint=did_you_mean(name, OPTIMIZER_STATES)
                           or "choose from " + ", ".join(OPTIMIZER_STATES))
    return name


def frozen_layers(graph: Graph, settings: Settings) -> set[str]:
    """The layers --freeze names (training.py): their parameters get no gradient and no optimizer state."""
    if not settings.freeze:
        return set()
    from .training import frozen_layers

    return frozen_layers(graph, settings.freeze)


def saved_storages(graph: Graph, settings: Settings, device: str = "cpu", skip=frozenset()) -> tuple[dict, dict]:
    """What a training forward pass keeps for backward: per node, {storage: bytes} it is first to save.

    Also returns each node's output storage, a key shared by views of one tensor. Nodes in ``skip`` (run
    inside an activation checkpoint) save nothing.
    """
    nodes = graph.counted(settings.include_side)
    frozen = frozen_layers(graph, settings)
    n, b = settings.batch, settings.element_bytes
    storage = {INPUT: (INPUT, math.prod(graph.input_shape) * n * b)}  # name -> (storage key, bytes)
    needs_grad = {INPUT: False}
    seen: set = set()
    first: dict[str, dict] = {}
    for node, contiguous in _layouts(nodes, n):
        grads = tuple(needs_grad[i] for i in node.inputs)
        trainable = bool(node.params) and node.name not in frozen
        needs_grad[node.name] = trainable or any(grads)
        if _is_view(node, "train", contiguous[0]):
            storage[node.name] = storage[node.inputs[0]]
        else:
            storage[node.name] = (node.name, node.output_elements * n * b)
        mine: dict[str | tuple, int] = {}  # storage key: a node's name, or (name, "saved", number)
        first[node.name] = mine
        if node.name in skip:
            continue
        ctx = Context(n, b, device, grads, trainable, contiguous)
        for number, item in enumerate(saved_rule(node.kind)(node, ctx)):
            key: str | tuple
            if item[0] == "input":
                key, nbytes = storage[node.inputs[item[1]]]
            elif item[0] == "output":
                key, nbytes = storage[node.name]
            else:
                key, nbytes = (node.name, "saved", number), item[1]
            if key not in seen:
                seen.add(key)
                mine[key] = nbytes
    return first, storage




def _inference_storages(graph: Graph, include_side: bool, batch: int = 1) -> tuple[list, dict, set]:
    """At inference: the nodes that run, each one's storage (its own, or the one it is a view of or
    overwrites in place), and the activations that run in place.

    An activation whose torch module can run in place does so when nothing reads its input (or any view
    of that input) after it, as torchvision's inplace=True ReLUs do; the network input is left alone.
    """
    nodes = graph.counted(include_side)
    last_read = {}  # name -> the last position that reads it
    for position, node in enumerate(nodes):
        for i in node.inputs:
            last_read[i] = position
    base = {INPUT: INPUT}
    storage_last_read = {INPUT: last_read.get(INPUT, -1)}  # storage -> the last position reading any alias
    inplace = set()
    for position, (node, contiguous) in enumerate(_layouts(nodes, batch)):
        source = base[node.inputs[0]]
        mine = last_read.get(node.name, -1)
        view = _is_view(node, "infer", contiguous[0])
        if view or (KINDS[node.kind].inplace_saves is not None and source != INPUT
                    and storage_last_read[source] <= position):
            if not view:
                inplace.add(node.name)
            base[node.name] = source
            storage_last_read[source] = max(storage_last_read[source], mine)
        else:
            base[node.name] = node.name
            storage_last_read[node.name] = mine
    return nodes, base, inplace


def inplace_nodes(graph: Graph, include_side: bool, batch: int = 1) -> set[str]:
    """The activations that run in place at inference (see _inference_storages)."""
    return _inference_storages(graph, include_side, batch)[2]


def live_activations(graph: Graph, settings: Settings) -> dict[str, int]:
    """Inference: the bytes of live activations while each node runs: its output, and every tensor still
    to be read or never read (the network's outputs), each freed after its last reader."""
    nodes, base, _ = _inference_storages(graph, settings.include_side, settings.batch)
    n, b = settings.batch, settings.element_bytes
    size = {INPUT: math.prod(graph.input_shape) * n * b}
    size.update((node.name, node.output_elements * n * b) for node in nodes if base[node.name] == node.name)
    last_reader = {}
    for position, node in enumerate(nodes):
        for i in node.inputs:
            last_reader[base[i]] = position
    live = {INPUT: size[INPUT]}
    total = size[INPUT]
    during = {}
    for position, node in enumerate(nodes):
        key = base[node.name]
        if key not in live:
            live[key] = size[key]
            total += size[key]
        during[node.name] = total
        for read in {base[i] for i in node.inputs}:
            if last_reader[read] == position and read != key:
                total -= live.pop(read)
    return during


def analyze_memory(graph: Graph, settings: Settings | None = None, *, mode: str = "train",
                   optimizer: str = "sgd", amp: bool = False, device_kind: str | None = None,
                   devices: tuple = (), checkpoint: int | str | None = None, gpus: int = 1,
                   parallel: str | None = None) -> Memory:
    """Training (or inference) memory of ``graph`` under ``settings`` (batch, dtype, side outputs, and
    ``settings.freeze``: frozen layers).

    ``devices`` (devices.Device) get a fit each. ``device_kind`` picks the saved-tensor rules (cpu or
    cuda); by default the first device's, else CUDA's. ``checkpoint``: activation checkpointing, N segments
    or a regular expression naming blocks (checkpoint_segments). ``gpus`` devices with ``parallel`` data or
    model: the figures are one device's (parallel.py), the batch the whole step's.
    """
    from . import parallel as several

    if device_kind is None:
        device_kind = devices[0].saves_as if devices else "cuda"
    settings = settings or Settings()
    if mode not in MODES:
        raise CnnCostError(f"unknown mode '{mode}'", hint=did_you_mean(mode, MODES) or "choose from train, infer")
    check_optimizer(optimizer)
    if device_kind not in DEVICE_KINDS:
        raise CnnCostError(f"unknown device kind '{device_kind}'")
    several.check(gpus, parallel, settings.batch)
    if (checkpoint is not None or settings.freeze) and mode != "train":
        raise CnnCostError("--checkpoint and --freeze change what training keeps: give them with --mode train")
    share = None
    if gpus > 1 and parallel == "model":
        whole = graph
        graph, received, cross = several.model_split(graph, gpus)
        if settings.freeze:  # a name must match a layer of the model, not only of the split
            frozen_layers(whole, settings)
        share = several.Parallel(gpus, "model", settings.batch, 0, 0, cross)
    scale = gpus if parallel == "data" else 1  # data parallel: the figures are per device, at batch / N

    def totals(s: Settings, kind: str) -> Memory:
        per_device = s.replace(batch=s.batch // scale) if scale > 1 else s
        m = _totals(graph, per_device, mode, optimizer, amp, kind, checkpoint)
        if share is None and scale == 1:
            return m
        if parallel == "data":
            buckets = m.gradient_bytes  # DDP: a flat copy of every trainable gradient
            info = several.Parallel(gpus, "data", per_device.batch, buckets, 0, ())
            return Memory(**{**_fields(m), "batch": s.batch, "peak_bytes": m.peak_bytes + buckets, "parallel": info})
        assert share is not None  # model parallel: made above
        info = replace(share, received_bytes=received * s.batch * s.element_bytes)
        return Memory(**{**_fields(m), "parallel": info})

    if mode == "train":
        check_trainable(graph, settings.replace(batch=settings.batch // scale))
    memory = totals(settings, device_kind)
    peaks: dict = {}  # (device kind, batch) -> peak bytes, shared by the devices

    def peak(kind: str, batch: int) -> int:
        if (kind, batch) not in peaks:
            if (kind, batch) == (device_kind, settings.batch):
                peaks[kind, batch] = memory.peak_bytes
            else:
                peaks[kind, batch] = totals(settings.replace(batch=batch), kind).peak_bytes
        return peaks[kind, batch]

    fits = tuple(fit(graph, settings, mode, optimizer, amp, device, memory, peak, totals, scale)
                 for device in devices)
    return memory if not fits else Memory(**{**_fields(memory), "devices": fits})


def _fields(memory: Memory) -> dict:
    return {f: getattr(memory, f) for f in Memory.__dataclass_fields__}


def checkpoint_segments(graph: Graph, settings: Settings, checkpoint) -> list[list[Node]]:
    r"""The runs of layers recomputed in backward (activation checkpointing), in order.

    An int N splits the running layers as ``torch.utils.checkpoint.checkpoint_sequential(layers, N)`` does:
    N - 1 segments of len // N layers are checkpointed and the rest runs as usual. A regular expression
    checkpoints blocks: consecutive layers whose names re.match it with the same matched text (``layer1\.0``
    for every layer of that block) are one segment.
    """
    if checkpoint is None:
        return []
    nodes = graph.counted(settings.include_side)
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        if not 1 <= checkpoint <= len(nodes):
            raise CnnCostError(f"--checkpoint {checkpoint}: the segments must number from 1 to the {len(nodes):,} "
                               "layers")
        size = len(nodes) // checkpoint
        return [nodes[k * size:(k + 1) * size] for k in range(checkpoint - 1)]
    from .training import check_patterns

    pattern = re.compile(check_patterns(checkpoint, "checkpoint")[0])
    segments, last = [], None
    for node in nodes:
        match = pattern.match(node.name)
        key = match.group(0) if match else None
        if key is not None and key == last:
            segments[-1].append(node)
        elif key is not None:
            segments.append([node])
        last = key
    if not segments:
        raise CnnCostError(f"--checkpoint {checkpoint!r} matches no layer of {graph.name}",
                           hint="a pattern is matched from the start of a layer's name (re.match)")
    return segments


def segment_inputs(segment: list[Node]) -> list[str]:
    """The tensors a checkpointed segment reads from outside it: what the checkpoint keeps for its rerun."""
    inside = {n.name for n in segment}
    return list(dict.fromkeys(i for n in segment for i in n.inputs if i not in inside))


@dataclass(frozen=True)
class Checkpointing:
    segments: int
    layers: int  # layers recomputed in backward
    recompute_macs: int  # the extra forward MACs, under the settings' convention
    recompute_bytes: int  # the largest segment's saved tensors, alive again while it is recomputed
    saved_without_bytes: int  # saved activations with no checkpointing, for comparison


def _totals(graph, settings, mode, optimizer, amp, device_kind, checkpoint=None) -> Memory:
    nodes = graph.counted(settings.include_side)
    b = settings.element_bytes
    weight_b = 4 + b if amp else b  # amp: fp32 master weights and their low-precision working copies
    state_b = 4 if amp else b
    states = OPTIMIZER_STATES[optimizer]
    train = mode == "train"
    frozen = frozen_layers(graph, settings) if train else set()
    segments = checkpoint_segments(graph, settings, checkpoint) if train else []
    skip = {n.name for segment in segments for n in segment}
    saved, storage = saved_storages(graph, settings, device_kind, skip) if train else ({}, {})
    ckpt = None
    if segments:
        saved, ckpt = _checkpointed(graph, settings, device_kind, segments, saved, storage)
    live = live_activations(graph, settings) if not train else {}
    n = settings.batch
    needs_grad = {INPUT: False}
    rows = []
    for node in nodes:
        grads = [needs_grad[i] for i in node.inputs]
        trainable = bool(node.params) and node.name not in frozen
        needs_grad[node.name] = trainable or any(grads)
        trained = node.params if trainable else 0
        transient = 0
        if train and needs_grad[node.name]:
            input_grads = sum(math.prod(s) for s, g in zip(node.input_shapes, grads) if g)
            transient = (node.output_elements + input_grads) * n * b
        rows.append(make_layer_memory(  # LayerMemory's fields, in order
            node.name, node.kind, node.side,
            node.params * weight_b,  # weights
            trained * state_b if train else 0,  # gradients
            trained * state_b * states if train else 0,  # optimizer state
            node.buffers * (4 if amp else b),
            sum(saved.get(node.name, {}).values()),
            transient,
            live.get(node.name, 0)))
    # modules forward never runs (Graph.unused_params) still sit on the device, in float32 under amp (autocast
    # copies only what runs); they get no gradient, so no optimizer state either
    weights = sum(r.weights_bytes for r in rows) + sum(graph.unused_params.values()) * (4 if amp else b)
    grads = sum(r.gradient_bytes for r in rows)
    opt = sum(r.optimizer_bytes for r in rows)
    buffers = sum(r.buffer_bytes for r in rows)
    saved_total = sum(r.saved_bytes for r in rows)
    transient = max((r.transient_bytes for r in rows), default=0)
    peak_live = max((r.live_bytes for r in rows), default=0)
    recompute = ckpt.recompute_bytes if ckpt else 0
    peak = weights + buffers + (grads + opt + saved_total + recompute + transient if train else peak_live)
    return Memory(graph.name, tuple(graph.input_shape), n, settings.dtype, mode, optimizer, amp, device_kind,
                  settings.include_side, tuple(rows), weights, grads, opt, buffers, saved_total, transient,
                  peak_live, peak, frozen=tuple(sorted(frozen)), checkpointing=ckpt)


def _checkpointed(graph, settings, device_kind, segments, saved, storage) -> tuple[dict, Checkpointing]:
    """What checkpointing keeps: the saves of the layers outside the segments, and each segment's inputs
    (the checkpoint keeps them to rerun it), each storage once, attributed to the segment's first layer."""
    from .conventions import get

    kept = {key for mine in saved.values() for key in mine}
    saved = {name: dict(mine) for name, mine in saved.items()}
    for segment in segments:
        mine = saved[segment[0].name]
        for name in segment_inputs(segment):
            key, nbytes = storage[name]
            if key not in kept:
                kept.add(key)
                mine[key] = nbytes
    unchecked = saved_storages(graph, settings, device_kind)[0]
    largest = 0
    for segment in segments:  # while a segment is rerun, its layers' saves are alive again
        again = sum(nbytes for n in segment for key, nbytes in unchecked[n.name].items() if key not in kept)
        largest = max(largest, again)
    rule = get(settings.convention).rule
    macs = sum(rule(n.kind)(n, settings.batch) for segment in segments for n in segment)
    without = sum(sum(m.values()) for m in unchecked.values())
    return saved, Checkpointing(len(segments), sum(map(len, segments)), macs, largest, without)


def fit(graph, settings, mode, optimizer, amp, device, at: Memory, peak: Callable, totals: Callable,
        scale: int = 1) -> DeviceFit:
    """Whether ``device`` holds the network at these settings, the largest batch it holds, and (training)
    how many such devices a split into consecutive layers needs. ``peak(kind, batch)`` gives peak bytes and
    ``totals(settings, kind)`` the Memory; with data parallel (``scale`` devices) batches are whole steps'
    and go in multiples of ``scale``."""
    capacity, kind = device.memory_bytes, device.saves_as
    mine = at if kind == at.device_kind else totals(settings, kind)
    if scale > 1:  # the per-device batch decides: the largest is scale x one device's
        one_device = lambda k, b: peak(k, b * scale)  # noqa: E731
        largest = _largest_batch(one_device, kind, capacity)
        return DeviceFit(device.key, device.name, capacity, mine.peak_bytes <= capacity,
                         None if largest is None else min(MAX_BATCH, largest * scale),
                         _layer_split(mine, capacity) if mode == "train" else None)
    largest = _largest_batch(peak, kind, capacity)
    needed = _layer_split(mine, capacity) if mode == "train" else (1 if mine.peak_bytes <= capacity else None)
    return DeviceFit(device.key, device.name, capacity, mine.peak_bytes <= capacity, largest, needed)


def _largest_batch(peak: Callable, kind: str, capacity: int) -> int | None:
    # every figure is affine in the batch (a per-sample part, and a constant one: weights, batch norm's
    # statistics), so two batch sizes give the line; the answer is checked against the exact figure
    one, two = peak(kind, 1), peak(kind, 2)
    per_sample, fixed = two - one, 2 * one - two
    if one > capacity:
        largest = None
    elif per_sample <= 0:
        largest = MAX_BATCH
    else:
        largest = min(MAX_BATCH, (capacity - fixed) // per_sample)
        while largest > 1 and peak(kind, largest) > capacity:
            largest -= 1
    return largest


def _layer_split(memory: Memory, capacity: int) -> int | None:
    """Devices needed when consecutive layers share a device: each holds its layers' weights, gradients,
    optimizer state, buffers and saved activations, and its largest backward working set. Filling each
    device in order before starting the next is optimal for consecutive groups."""
    devices, used, transient = 1, 0, 0
    for r in memory.layers:
        need = r.weights_bytes + r.gradient_bytes + r.optimizer_bytes + r.buffer_bytes + r.saved_bytes
        if need + r.transient_bytes > capacity:
            return None
        if used + need + max(transient, r.transient_bytes) > capacity:
            devices, used, transient = devices + 1, 0, 0
        used += need
        transient = max(transient, r.transient_bytes)
    return devices
