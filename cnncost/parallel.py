"""Training on several devices: what one device of N holds (memory --gpus N --parallel data|model).

Data parallel (PyTorch's DistributedDataParallel): every device holds the whole
model and trains on batch / N samples; DDP also keeps its gradient buckets, a
flat copy of every trainable gradient that the all-reduce runs on (its default,
gradient_as_bucket_view=False). So a device's figure is one device's at the
per-device batch, plus those buckets.

Model parallel (AlexNet's two-GPU split, Krizhevsky et al. 2012, Section 3.2):
every device holds 1/N of each layer's filters and of each activation. A grouped
convolution with N groups (alexnet_paper's conv2, conv4, conv5) reads only its
own device's maps; a full convolution or linear layer (conv3, fc6 to fc8: the
cross-connections) reads the other devices' maps too, so each device gathers
its whole input: its own part, and (N - 1)/N received. The split is written as
a per-device graph (every layer's channels / N, and a gather before each
cross-connected layer) whose memory is worked out by memory.py like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import CnnCostError
from .graph import INPUT, Graph, Node

PARALLEL = ("data", "model")
# kinds the channel split models: per-channel work, and convolutions and linear layers
SPLITTABLE = {"conv", "linear", "relu", "lrn", "maxpool", "avgpool", "dropout", "flatten"}


@dataclass(frozen=True)
class Parallel:
    gpus: int
    parallel: str  # data | model
    per_device_batch: int
    bucket_bytes: int  # data: DDP's gradient buckets
    received_bytes: int  # model: the other devices' maps gathered by cross-connected layers, per device
    cross_connected: tuple  # model: the layers that gather every device's maps

    def to_dict(self) -> dict:
        return {"gpus": self.gpus, "parallel": self.parallel, "per_device_batch": self.per_device_batch,
                "bucket_bytes": self.bucket_bytes, "received_bytes": self.received_bytes,
                "cross_connected": list(self.cross_connected)}


def check(gpus, parallel, batch: int) -> None:
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= 1024:
        raise CnnCostError(f"gpus must be an integer from 1 to 1,024, got {str(gpus)[:40]}")
    if parallel is not None and parallel not in PARALLEL:
        raise CnnCostError(f"parallel must be data or model, got {str(parallel)[:40]!r}")
    if gpus > 1 and parallel is None:
        raise CnnCostError(f"--gpus {gpus} needs --parallel data (each device a part of the batch) or --parallel "
                           "model (each device a part of every layer)")
    if parallel == "data" and batch % gpus:
        raise CnnCostError(f"--parallel data splits the batch: {batch:,} samples do not divide among {gpus} devices",
                           hint=f"give a batch that is a multiple of {gpus}")


def _split(channels: int, gpus: int, node: Node, what: str) -> int:
    if channels % gpus:
        raise CnnCostError(f"--parallel model: layer '{node.name}' has {channels:,} {what}, which do not divide "
                           f"among {gpus} devices", layer=node.name)
    return channels // gpus


def _per_device_shape(shape: tuple, gpus: int, node: Node) -> tuple:
    return (_split(shape[0], gpus, node, "channels"), *shape[1:])


def _cross_connected(node: Node, gpus: int) -> bool:
    if node.kind == "linear":
        return True
    if node.kind == "conv":
        groups = node.args["groups"]
        if groups not in (1, gpus):
            raise CnnCostError(f"--parallel model: conv '{node.name}' has {groups} groups; the split models one "
                               f"group per device ({gpus}) or a full convolution", layer=node.name)
        return groups == 1 and node.inputs != (INPUT,)
    return False


def model_split(graph: Graph, gpus: int) -> tuple[Graph, int, tuple]:
    """One device's part of the network, split by channels; also the bytes per sample it receives (in elements)
    and the cross-connected layers."""
    nodes, received, cross = [], 0, []
    shapes = {INPUT: tuple(graph.input_shape)}  # each device holds the whole image
    for node in graph.nodes:
        if node.side:
            raise CnnCostError(f"--parallel model: side output '{node.name}' is not modelled by the split",
                               layer=node.name)
        if node.kind not in SPLITTABLE:
            raise CnnCostError(f"--parallel model splits each layer's filters across devices as AlexNet's paper did; "
                               f"'{node.name}' is a {node.kind}, which the split does not model", layer=node.name,
                               hint="use --parallel data")
        inputs = node.inputs
        if _cross_connected(node, gpus):
            # gather every device's part of the input: own part and the received rest, as one new tensor
            (source,) = node.inputs
            own = shapes[source]
            whole = tuple(node.input_shapes[0])
            gather = Node(f"{node.name}.gather", "concat", {}, (source,) * gpus, (own,) * gpus, whole,
                          call="function")
            nodes.append(gather)
            received += (gpus - 1) * _elements(own)
            cross.append(node.name)
            inputs = (gather.name,)
            input_shapes: tuple[tuple[int, ...], ...] = (whole,)
        else:
            input_shapes = tuple(shapes[i] for i in inputs)
        out = _per_device_shape(node.output_shape, gpus, node)
        args = dict(node.args)
        if node.kind in ("conv", "linear"):
            args["out"] = out[0]
        if node.kind == "conv":
            args["groups"] = 1
        params = node.params // gpus if node.params % gpus == 0 else _split(node.params, gpus, node, "parameters")
        nodes.append(replace(node, inputs=inputs, input_shapes=input_shapes, output_shape=out, args=args,
                             params=params, buffers=node.buffers // gpus, macs=node.macs // gpus,
                             bias_adds=node.bias_adds // gpus))
        shapes[node.name] = out
    part = Graph(graph.name, graph.input_shape, nodes, graph.output, dict(graph.params), graph.description,
                 graph.source)
    return part, received, tuple(cross)


def _elements(shape) -> int:
    count = 1
    for d in shape:
        count *= d
    return count
