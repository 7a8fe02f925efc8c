"""Roofline latency against torch's timing (validate --latency): not a pass or fail, a comparison
(docs/latency.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import devices, latency
from ..graph import Graph
from ..report import Settings
from .base import _torch, refuse_what_cannot_fit, register, resolve_device, torch_dtype


@dataclass(frozen=True)
class LayerTiming:
    name: str
    kind: str
    predicted_s: float
    measured_s: float

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s else None


@dataclass(frozen=True)
class LatencyResult:
    model: str
    input: tuple
    batch: int
    dtype: str
    device: str  # where torch ran
    profile: str  # the device the roofline predicted for
    predicted_s: float
    measured_s: float  # the median of whole forward passes
    layers: tuple  # of LayerTiming
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s else None

    @property
    def ok(self) -> bool:
        return self.error is None


def _median(values) -> float:
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


@register("latency", ("profile", "runs"))
def validate_latency_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu", profile=None,
                           runs: int = 5) -> LatencyResult:
    """Roofline time against torch's: the median of ``runs`` timed forward passes (eval, no gradients, after
    two warm-up passes), and per layer the median time between its forward hooks over ``runs`` more."""
    from ..torch_backend import build_module

    settings = settings or Settings()
    torch = _torch()
    tdtype = torch_dtype(settings.dtype)
    device = resolve_device(device)
    profile = profile or devices.get(devices.LOCAL, devices.table())
    predicted = latency.roofline(graph, settings, profile)
    refuse_what_cannot_fit(graph, settings, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_module(graph).to(device=device, dtype=tdtype).eval()
        x = torch.randn(settings.batch, *graph.input_shape, dtype=tdtype, device=device)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def forward():
        with torch.no_grad():
            net.run(x, settings.include_side)
        sync()

    def result(layers=(), measured=0.0, error=None):
        return LatencyResult(graph.name, tuple(graph.input_shape), settings.batch, settings.dtype, device,
                             profile.key, predicted.time_s, measured, tuple(layers), error)

    try:
        for _ in range(2):
            forward()
        whole = []
        for _ in range(runs):
            start = time.perf_counter()
            forward()
            whole.append(time.perf_counter() - start)
        spent: dict[str, list[float]] = {}
        started: dict[str, float] = {}
        handles = []
        for name, _, _, module in net._steps:
            def before(m, a, name=name):
                sync()
                started[name] = time.perf_counter()

            def after(m, a, o, name=name):
                sync()
                spent.setdefault(name, []).append(time.perf_counter() - started[name])

            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        try:
            for _ in range(runs):
                forward()
        finally:
            for handle in handles:
                handle.remove()
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return result(error=f"torch failed: {str(exc).strip().splitlines()[0]}")
    layers = [LayerTiming(r.name, r.kind, r.time_s, _median(spent[r.name])) for r in predicted.layers
              if r.name in spent]
    return result(layers, _median(whole))


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation, ties given their mean rank."""
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        rank = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                rank[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return rank

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else float("nan")
