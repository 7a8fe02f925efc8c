"""The batch axis folded into another: window attention's B*windows, a bottleneck attention's B*heads, MobileViT's
B*patch_area (issue 21's fold refusals).

cnncost's shapes are per sample. A torch tensor whose batch is the OUTERMOST factor of one axis (N*W windows) is,
per sample, its whole batch-1 shape: W windows of tokens. A ``Folded`` value carries both: ``shape``, torch's at
batch 1 (what forward's own shape questions get), and ``inner``, the same tensor in cnncost's terms, a batch of one
first, (1, *shape). Ops that work along the other axes (linear and layer norm on the last axis, soft-max, element-wise
arithmetic, batched products, attention) then compute per sample what torch computes, with their dims moved by one.

Where the batch sits is torch's word, not a guess: forward is traced once more on meta tensors at batch 2
(``shadow``), each call that reads or makes a folded tensor is run on meta tensors at batch 1, and the axis that
doubles is the one that holds it (``at``). A reshape is followed only
where the batch is outermost in the first axis on both sides, where each sample is one contiguous block; anything
else that reads such a tensor, or puts the batch in two axes, is refused.
"""

from __future__ import annotations

import math

from .values import Pending, Unmappable, dims_text


class NeedShadow(Exception):
    """Raised while tracing where a view folds the batch: the import starts again with the shadow traces."""


class Folded(Pending):
    """A tensor whose batch axis torch folds into axis ``at`` (the batch its outermost factor there): ``shape`` is
    torch's at batch 1, ``inner`` the value cnncost's rows give it, (1, *shape)."""

    def __init__(self, node, inner, shape, at: int):
        super().__init__(node)
        self.inner, self.shape, self.at = inner, tuple(shape), at

    def make(self, imp):
        return self.inner.materialize(imp) if isinstance(self.inner, Pending) else self.inner


def batch_axis(s1, s2) -> int | None:
    """The axis of a tensor that holds the batch: the one axis whose size doubles from batch 1 to batch 2, or None
    where torch's shapes say otherwise (none, or several, changed)."""
    if s1 is None or s2 is None or len(s1) != len(s2):
        return None
    changed = [i for i, (a, b) in enumerate(zip(s1, s2)) if a != b]
    if len(changed) != 1 or s2[changed[0]] != 2 * s1[changed[0]]:
        return None
    return changed[0]


def torch_dim(value: Folded, dim) -> int:
    """A torch dim of ``value`` as a dim of its inner tensor (one more); the axis that holds the batch refused."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise Unmappable(f"a dim {dim!r} cnncost does not read")
    rank = len(value.shape)
    if not -rank <= dim < rank:
        raise Unmappable(f"dim {dim} of a {rank}-axis tensor")
    at = dim % rank
    if at == value.at:
        raise Unmappable(f"works along axis {at} of a {dims_text(value.shape)} tensor, which holds the batch "
                         "(folded into it)")
    return at + 1


def torch_index(value: Folded, index) -> tuple:
    """A tensor index of ``value`` for its inner tensor: a full slice of the batch first; the axis that holds the
    batch must be taken whole."""
    index = index if isinstance(index, tuple) else (index,)
    if any(i is None for i in index):
        raise Unmappable("an index that adds an axis (None)")
    rank = len(value.shape)
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (rank - len(index) + 1) + index[at + 1:]
    index = index + (slice(None),) * (rank - len(index))
    if len(index) != rank:
        raise Unmappable(f"indexes a {dims_text(value.shape)} tensor with {len(index)} indices")
    held = index[value.at]
    if not (isinstance(held, slice) and range(value.shape[value.at])[held] == range(value.shape[value.at])):
        raise Unmappable(f"indexes axis {value.at} of a {dims_text(value.shape)} tensor, which holds the batch "
                         "(folded into it)")
    return (slice(None),) + index


def torch_perm(value: Folded, perm) -> list[int]:
    rank = len(value.shape)
    perm = [int(p) % rank for p in perm]
    return [0] + [p + 1 for p in perm]


def merged_shape(shape) -> tuple:
    """The inner shape (1, W, ..., C) of a tensor that a layer reads on its last axis, as tokens (1, W*...*L, C)."""
    return (1, math.prod(shape[1:-1]), shape[-1])


# --- the shadow traces ---


def shadow_shapes(importer_cls, root, input_shape, batch: int) -> list | None:
    """Each call's output shape(s) when forward runs at ``batch`` on meta tensors, in the order the importer's
    tracer records its calls (call_module, call_function, call_method): (op, target, shapes), shapes a tuple for
    a tensor, a tuple of them for several, None where torch could not say; the list ends with None where the
    trace itself stopped early."""
    import torch
    import torch.fx as fx

    from .torch import _attribute, _defaults, _on_meta

    class Proxy(fx.Proxy):
        tracer: Tracer

        def _known(self):
            value = self.tracer.values.get(self.node)
            if not isinstance(value, torch.Tensor):
                raise _ShadowStop()
            return value

        def __getattr__(self, k):
            if k in ("shape", "size", "dim", "ndim", "numel", "dtype", "device", "is_cuda", "requires_grad"):
                value = self._known()
                if k == "is_cuda" or k == "requires_grad":
                    return False
                return getattr(value, k)  # the device is meta: what forward builds on it runs there too
            return super().__getattr__(k)

        def __len__(self):
            return self._known().shape[0]

    leaf = importer_cls(root, input_shape, "shadow").is_leaf

    class Tracer(fx.Tracer):
        def __init__(self):
            super().__init__()
            self.values: dict = {}
            self.shapes: list = []

        def proxy(self, node):
            return Proxy(node, self)

        def is_leaf_module(self, m, qualified_name) -> bool:
            return leaf(m)

        def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
            proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
            try:
                value = self.evaluate(kind, target, args, kwargs)
            except Exception:  # noqa: BLE001  (torch cannot run it on meta tensors: its shape is unknown)
                value = None
            self.values[proxy.node] = value
            if kind.startswith("call_"):
                self.shapes.append((kind, target, _shapes(value)))
            return proxy

        def evaluate(self, kind, target, args, kwargs):
            if kind == "placeholder":
                if args:
                    return args[0]
                return torch.empty((batch,) + tuple(input_shape), device="meta")
            if kind == "get_attr":
                return _meta_of(_attribute(root, target))
            args, kwargs = _meta_args(args, self.values), _meta_args(kwargs, self.values)
            module = root.get_submodule(target) if kind == "call_module" else None
            return _on_meta(kind, target, module, args, kwargs)

    tracer = Tracer()
    modes = {m: m.training for m in root.modules()}
    root.eval()
    try:
        tracer.trace(root, concrete_args=_defaults(root) or None)
    except Exception:  # noqa: BLE001  (what was recorded before it stopped is still torch's word)
        tracer.shapes.append(None)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return tracer.shapes


class _ShadowStop(Exception):
    pass


def _meta_of(value):
    import torch

    if isinstance(value, torch.Tensor):
        return torch.empty(value.shape, dtype=value.dtype, device="meta")
    return value


def _meta_args(value, values):
    import torch
    import torch.fx as fx

    if isinstance(value, fx.Proxy):
        known = values.get(value.node)
        if known is None:
            raise _ShadowStop()
        return known
    if isinstance(value, torch.Tensor):
        return _meta_of(value)
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return type(value)(_meta_args(v, values) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        return {k: _meta_args(v, values) for k, v in value.items()}
    return value


def _shapes(value):
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size) and value and all(
            isinstance(v, torch.Tensor) for v in value):
        return tuple(tuple(v.shape) for v in value)
    return None
