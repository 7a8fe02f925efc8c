"""Small helpers shared by the tests: build one-layer networks from YAML text; measure what torch saves."""

from __future__ import annotations

import cnncost


def one_layer(item: str, input_shape=(3, 32, 32), convention="lecture", batch=1):
    """Analyse a network of one layer written as a YAML flow mapping; return its row."""
    shape = f"[{', '.join(map(str, input_shape))}]"
    text = f"input: {shape}\nlayers:\n  - {item}\n"
    report = cnncost.analyze_text(text, convention=convention, batch=batch)
    return report.layers[-1]


def network(text: str, **options):
    return cnncost.analyze_text(text, **options)


def saved_bytes(module, x, *, buffers: bool = True) -> int:
    """What autograd saves over one forward of ``module`` on ``x`` (in the mode it is in), as
    torch.autograd.graph.saved_tensors_hooks sees it: the bytes of the distinct storages, the module's parameters
    (and its buffers, unless ``buffers`` is False) left out, as tools/measure_outside.py measures outside models."""
    import torch

    kept = [*module.parameters(), *(module.buffers() if buffers else ())]
    excluded = {t.untyped_storage().data_ptr() for t in kept}
    storages: dict = {}
    held: list = []  # alive until counted, so that no address is reused; not in the graph (see validate/memory.py)

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        held.append(t)

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda nothing: None):
        output = module(x)  # noqa: F841  (what it saved stays alive until counted)
        return sum(storages.values())


def torch_figures(model, shape) -> dict:
    """What torch gives for ``model`` on one sample of ``shape``: parameters (sum of numel), MACs (FlopCounterMode
    at batch 1, eval), saved bytes (batch 2, training) and the output's shape per sample."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(torch.randn(1, *shape))
    saved = saved_bytes(model.train(), torch.randn(2, *shape))
    model.eval()
    return {"params": sum(p.numel() for p in model.parameters()), "macs": counter.get_total_flops() // 2,
            "saved": saved, "shape": tuple(out.shape[1:])}


def cnncost_figures(graph) -> dict:
    """The same four figures as cnncost counts them (flopcounter's convention), for torch_figures' comparison."""
    from cnncost import memory

    report = cnncost.analyze(graph, convention="flopcounter")
    saved = memory.analyze_memory(graph, cnncost.Settings(batch=2), device_kind="cpu").saved_activation_bytes
    return {"params": report.totals.params, "macs": report.totals.macs, "saved": saved,
            "shape": tuple(graph.nodes[-1].output_shape)}
