"""What every torch check shares: torch itself (or one line saying how to install it), the device and
dtype it runs in, the refusal of a run the machine cannot hold, and the registry of checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..engine import view
from ..errors import CnnCostError
from ..graph import Graph
from ..report import Settings, dtype_bytes


def _backend():
    try:
        from .. import torch_backend  # torch is imported only when a check runs
    except CnnCostError as exc:  # torch is not installed
        raise CnnCostError("validation needs PyTorch, which is not installed", hint=exc.hint) from None
    return torch_backend


def _torch():
    return _backend().torch


def torch_dtype(name: str):
    return _backend().torch_dtype(name)


def resolve_device(name: str) -> str:
    """auto -> cuda when torch sees a GPU, else cpu; cuda without a GPU is a user error."""
    return _backend().resolve_device(name)


def require_torch():
    _torch()


def torch_version() -> str:
    return _torch().__version__


def _machine_bytes(device: str) -> int | None:
    """The memory torch can use on device: the GPU's, or this machine's RAM; None when unknown."""
    try:
        if device.startswith("cuda"):
            return _torch().cuda.get_device_properties(device).total_memory
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError, RuntimeError):
        return None


def refuse_what_cannot_fit(graph: Graph, settings: Settings, device: str, outputs_held: int = 1) -> None:
    """Refuse, before torch allocates it, a run that needs more memory than the device has: the weights and
    every layer's output, held ``outputs_held`` times over (a training pass keeps what backward needs)."""
    have = _machine_bytes(device)
    if have is None:
        return
    totals = view(graph, settings).totals
    _, element = dtype_bytes(settings.dtype)
    need = (totals.params + totals.buffers) * element + outputs_held * totals.memory_bytes
    if need > have:
        raise CnnCostError(
            f"running {graph.name} in torch needs about {need / 2**30:,.1f} GiB (its weights and every layer's "
            f"output), more than the {have / 2**30:,.1f} GiB of {device}",
            hint="validate at a smaller --input or --batch, or with --smallest-input")


# --- the registry: each analysis's module registers its torch check here ---


@dataclass(frozen=True)
class TorchCheck:
    name: str  # what `validate` is asked for: figures, memory, rf, latency
    run: Callable  # (graph, settings, *, device, **options) -> its result
    options: tuple[str, ...]  # the keyword options it takes besides device


CHECKS: dict[str, TorchCheck] = {}


def register(name: str, options: tuple[str, ...] = ()) -> Callable:
    """Decorator: ``run`` is the torch check called ``name``, taking ``options`` (and ``device``)."""
    def add(run: Callable) -> Callable:
        CHECKS[name] = TorchCheck(name, run, options)
        return run

    return add
