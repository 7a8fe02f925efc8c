"""Memory against torch (validate --memory): per row, what autograd saves in a training forward pass, and
the live activations of an eval pass; then the totals and the peak (docs/validation.md)."""

from __future__ import annotations

import time

from .. import memory
from ..graph import Graph
from ..report import Settings
from .base import _torch, refuse_what_cannot_fit, register, resolve_device, torch_dtype
from .results import TOTAL, Check, LayerResult, ModelResult


def _storage_key(t) -> int:
    return t.untyped_storage().data_ptr()


def _measure_saved(graph: Graph, net, x, include_side: bool) -> dict[str, dict[int, int]]:
    """Per node, the storages autograd saves during its forward that no earlier node saved: {ptr: bytes}.

    A training forward pass under ``saved_tensors_hooks``; parameters and buffers are left out.
    """
    torch = _torch()
    excluded = {_storage_key(t) for t in (*net.parameters(), *net.buffers())}
    current: list[str] = []
    first: dict[str, dict[int, int]] = {n.name: {} for n in graph.nodes}
    seen: set[int] = set()
    kept: list = []

    def pack(t):
        key = _storage_key(t)
        if key not in excluded and key not in seen:
            seen.add(key)
            first[current[-1]][key] = t.untyped_storage().nbytes()
        # Held here until the pass ends, so that no storage is freed and its address reused; not by the graph
        # (no backward follows): an output saved as itself would hold its own grad_fn in a cycle through C++
        # that Python's collector cannot see, and every model's network would stay alive (validate --all grew
        # by each model's weights and gradients)
        kept.append(t)

    def leave(module, args, output):
        current.pop()  # and return None: a forward hook's result would replace the output

    handles = []
    for name, _, _, module in net._steps:
        handles.append(module.register_forward_pre_hook(lambda m, a, name=name: current.append(name)))
        handles.append(module.register_forward_hook(leave))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda nothing: None):
            outputs = net.run(x, include_side)  # kept until the end, and the saved tensors with them
    finally:
        for handle in handles:
            handle.remove()
    del outputs
    kept.clear()
    return first


def _measure_live(graph: Graph, net, make_input, include_side: bool) -> dict[str, int]:
    """Per node, the bytes of live tensor storages just after it ran, in an eval forward pass.

    Lifetimes are torch's own: each output's storage is watched through weak references to the tensors
    that use it (views and in-place results share one), so a storage counts while any of them is alive.
    """
    import weakref

    torch = _torch()
    storages: dict[int, tuple[int, list]] = {}  # ptr -> (bytes, weak references to tensors using it)

    def watch(t):
        key = _storage_key(t)
        entry = storages.get(key)
        if entry is None or not any(ref() is not None for ref in entry[1]):  # new, or an old address reused
            entry = storages[key] = (t.untyped_storage().nbytes(), [])
        entry[1].append(weakref.ref(t))

    def live() -> int:
        return sum(nbytes for nbytes, refs in storages.values() if any(ref() is not None for ref in refs))

    during: dict[str, int] = {}
    handles = []
    for name, _, _, module in net._steps:
        def after(module, args, output, name=name):
            watch(output)
            during[name] = live()

        handles.append(module.register_forward_hook(after))
    def watched_input():
        x = make_input()
        watch(x)
        return x  # held by the run alone, which frees it after its last reader

    try:
        with torch.no_grad():
            net.run(watched_input(), include_side)
    finally:
        for handle in handles:
            handle.remove()
    return during


@register("memory", ("seed",))
def validate_memory_graph(graph: Graph, settings: Settings | None = None, *, device: str = "cpu",
                          seed: int = 0) -> ModelResult:
    """Memory against torch: per row, what autograd saves in a training forward pass, and the live
    activations of an eval pass with in-place activations; then the totals and the peak."""
    from ..torch_backend import build_module

    start = time.perf_counter()
    settings = settings or Settings()
    torch = _torch()
    tdtype = torch_dtype(settings.dtype)
    device = resolve_device(device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    batch, include_side = settings.batch, settings.include_side
    analytic = memory.analyze_memory(graph, settings, device_kind=kind)  # refuses what PyTorch cannot train
    refuse_what_cannot_fit(graph, settings, device, outputs_held=3)  # outputs, saved tensors, gradients
    expected_saved = memory.saved_storages(graph, settings, kind)[0]
    expected_live = memory.live_activations(graph, settings)

    def result(layers, error=None, totals=None):
        return ModelResult(graph.name, tuple(graph.input_shape), batch, settings.dtype, device, (), tuple(layers),
                           time.perf_counter() - start, error, include_side, totals)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_module(graph)
        x = torch.randn(batch, *graph.input_shape, dtype=torch.float32)
    net = net.to(device=device, dtype=tdtype)
    try:
        saved = _measure_saved(graph, net.train(), x.to(device=device, dtype=tdtype), include_side)
        for name in memory.inplace_nodes(graph, include_side):
            # torch types Module attributes as Tensor | Module; an activation's inplace is a bool
            net.layer(name).inplace = True  # type: ignore[assignment]
        live = _measure_live(graph, net.eval(), lambda: x.to(device=device, dtype=tdtype, copy=True), include_side)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return result([], f"torch failed: {message}")
    layers = []
    for node in graph.nodes:
        if node.side and not include_side:
            continue
        measured = sum(saved[node.name].values())
        layers.append(LayerResult(node.name, node.kind, node.side, (
            Check("saved_bytes", sum(expected_saved[node.name].values()), measured,
                  "storages autograd saved during this layer's forward and no earlier layer saved (train mode)"),
            Check("live_bytes", expected_live[node.name], live.get(node.name),
                  "live activation storages after this layer ran (eval, in-place activations, weak references)"),
        )))
    totals = LayerResult(TOTAL, "totals", False, (
        Check("saved_activation_bytes", analytic.saved_activation_bytes,
              sum(sum(s.values()) for s in saved.values()), "every storage autograd saved, once"),
        Check("peak_activation_bytes", max(expected_live.values()), max(live.values()),
              "the most live activation bytes after any layer ran (eval)"),
    ))
    return result(layers, totals=totals)
