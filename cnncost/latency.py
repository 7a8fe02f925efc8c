"""Roofline latency: per layer, the FLOPs and bytes it moves, and the time a device needs for the larger.

time = max(FLOPs / peak, bytes / bandwidth), per layer, and the network's time is the sum. A layer is
compute-bound or memory-bound by which term wins: depthwise convs and 1x1 convs on small maps are
memory-bound, which MACs alone cannot say. The roofline cannot see kernel launch overhead, fusion,
caches or how well a kernel uses the hardware; two options model the first two (docs/latency.md).

Peaks and bandwidths come from the device table (devices.py); ``--device local`` is this machine,
measured by ``cnncost calibrate`` (calibrate.py). Plain data; render/latency.py makes text of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .devices import Device
from .errors import CnnCostError
from .results import Result
from .graph import Graph
from .kinds import KINDS
from .report import Settings
from .latency_rules import _LATENCY, LATENCY_RULES, flops_of  # noqa: F401  (the rules: checked at 'import cnncost')

# The peak used for conv and linear (matrix work), by dtype; other work runs on the plain FP32 units.
MATRIX_RATE = {"float32": "fp32", "float64": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "int8",
               "uint8": "int8"}

@dataclass(frozen=True)
class LayerTime:
    name: str
    kind: str
    side: bool
    flops: int
    bytes_read: int
    bytes_written: int
    intensity: float | None  # FLOPs per byte; None where nothing moves
    time_s: float
    bound: str  # compute | memory | none (moves nothing) | fused


@dataclass(frozen=True, repr=False)  # the repr is one line (results.Result)
class Latency(Result):
    model: str
    input: tuple
    batch: int
    dtype: str
    device: str
    device_name: str
    matrix_tflops: float  # the peak used for conv and linear
    other_tflops: float  # for the rest
    bandwidth_gb_s: float
    fuse: bool
    overhead_s: float
    layers: tuple  # of LayerTime
    time_s: float
    notes: tuple = ()

    def to_dict(self) -> dict:
        """The JSON contract of 'cnncost latency --format json' (docs/json.md)."""
        keys = ("name", "kind", "side", "flops", "bytes_read", "bytes_written", "intensity", "time_s", "bound")
        return {
            "model": self.model, "input": list(self.input), "batch": self.batch, "dtype": self.dtype,
            "device": self.device, "device_name": self.device_name, "matrix_tflops": self.matrix_tflops,
            "other_tflops": self.other_tflops, "bandwidth_gb_s": self.bandwidth_gb_s, "fuse": self.fuse,
            "overhead_s": self.overhead_s,
            "layers": [{k: getattr(layer, k) for k in keys} for layer in self.layers],
            "total": {"time_s": self.time_s, "flops": sum(l.flops for l in self.layers),
                      "bytes_read": sum(l.bytes_read for l in self.layers),
                      "bytes_written": sum(l.bytes_written for l in self.layers),
                      "compute_bound_s": sum(l.time_s for l in self.layers if l.bound == "compute"),
                      "memory_bound_s": sum(l.time_s for l in self.layers if l.bound == "memory")},
            "notes": list(self.notes),
        }


def _rates(device: Device, dtype: str) -> tuple[float, float, list[str]]:
    notes = []
    fp32 = device.peak_tflops.get("fp32")
    if fp32 is None or device.bandwidth_gb_s is None:
        hint = ("run 'cnncost calibrate' and use --device local" if device.kind == "cpu"
                else "add them with --device-file")
        raise CnnCostError(f"device '{device.key}' has no FP32 peak or bandwidth in the table", hint=hint)
    rate = MATRIX_RATE.get(dtype, "fp32")
    matrix = device.peak_tflops.get(rate)
    if matrix is None:
        matrix = fp32
        if rate != "fp32":
            notes.append(f"{device.name} gives no {rate.upper()} peak: conv and linear use its FP32 peak")
    return matrix, fp32, notes


def _fused_into(graph: Graph, include_side: bool) -> set[str]:
    """Rows --fuse folds into the conv or linear they follow: batch norm and activations in a chain."""
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for i in node.inputs:
            readers[i] = readers.get(i, 0) + 1
    producer = {n.name: n for n in graph.nodes}
    fused = set()
    for node in graph.nodes:
        if not KINDS[node.kind].fusable or (node.side and not include_side):
            continue
        source = producer.get(node.inputs[0])
        if source is None or readers.get(source.name) != 1:
            continue
        if _LATENCY[source.kind].matrix or source.name in fused:
            fused.add(node.name)
    return fused


def roofline(graph: Graph, settings: Settings | None, device: Device, *, fuse: bool = False,
             overhead_s: float = 0.0) -> Latency:
    """Each row's FLOPs, bytes read (inputs and weights) and written (output), and roofline time on ``device``."""
    settings = settings or Settings()
    if overhead_s < 0 or not math.isfinite(overhead_s):
        raise CnnCostError(f"the per-layer overhead must be a non-negative number of seconds, got {overhead_s}")
    n, b = settings.batch, settings.element_bytes
    matrix, other, notes = _rates(device, settings.dtype)
    bandwidth_gb_s = device.bandwidth_gb_s
    assert bandwidth_gb_s is not None  # _rates refuses a device without it
    bandwidth = bandwidth_gb_s * 1e9
    fused = _fused_into(graph, settings.include_side) if fuse else set()
    rows = []
    for node in graph.nodes:
        if node.side and not settings.include_side:
            continue
        rule = _LATENCY[node.kind]
        flops = rule.flops(node, n)
        if not rule.moves:
            rows.append(LayerTime(node.name, node.kind, node.side, 0, 0, 0, None, 0.0, "none"))
            continue
        read = (sum(math.prod(s) for s in node.input_shapes) * n + node.params + node.buffers) * b
        written = node.output_elements * n * b
        if node.name in fused:
            rows.append(LayerTime(node.name, node.kind, node.side, flops, 0, 0, None, 0.0, "fused"))
            continue
        peak = (matrix if rule.matrix else other) * 1e12
        compute, memory = flops / peak, (read + written) / bandwidth
        time = max(compute, memory) + overhead_s
        rows.append(LayerTime(node.name, node.kind, node.side, flops, read, written,
                              flops / (read + written) if read + written else None, time,
                              "compute" if compute >= memory else "memory"))
    if fuse:
        notes.append("--fuse: batch norm and activations after a conv or linear run inside it, moving nothing")
    return Latency(graph.name, tuple(graph.input_shape), n, settings.dtype, device.key, device.name, matrix, other,
                   bandwidth_gb_s, fuse, overhead_s, tuple(rows), sum(r.time_s for r in rows), tuple(notes))
