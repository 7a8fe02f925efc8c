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
