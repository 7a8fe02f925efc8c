"""The one lowering both importers share: which cnncost tensor-op row a source pattern becomes.

Each function takes what either frontend knows (full shapes with the batch
first, axes counted as torch and ONNX both count them, constants as numbers)
and returns ``(kind, args)``, or ``None`` where the pattern costs nothing and
the source value can be used as it is. A pattern no kind expresses raises
``Unmappable`` with the reason. torch.py and onnx.py call these rather than
deciding each on its own (issue 21, "one lowering").
"""

from __future__ import annotations

import math

Row = tuple[str, dict]  # (kind, args): the row a pattern becomes


class Unmappable(Exception):
    """This node has no cnncost equivalent; the message says why."""


def dims_text(shape) -> str:
    return "x".join(str(d) for d in shape)

# what a constant first in the source means: 3 - x is rsub, 3 / x rdiv; + * max min commute
_REVERSED = {"add": "add", "mul": "mul", "maximum": "maximum", "minimum": "minimum", "sub": "rsub", "div": "rdiv"}


def with_number(op: str, value, number_first: bool = False) -> Row:
    """``x op value`` (or ``value op x``): a scalar row."""
    if number_first:
        if op not in _REVERSED:
            raise Unmappable(f"{value} {op} an activation (a power with a constant base)")
        op = _REVERSED[op]
    return "scalar", {"op": op, "value": value}


def with_tensor(op: str, dims, shape, tensor_first: bool = False, learnable: bool = True) -> Row:
    """``x op p`` with a tensor ``p`` of ``dims`` that broadcasts to the activation's full ``shape`` without
    changing it: a param row whose per-sample shape is ``dims`` without the batch axis and leading ones."""
    dims = tuple(int(d) for d in dims)
    if tensor_first and op not in ("add", "mul"):
        raise Unmappable(f"a tensor {op} an activation (p - x, p / x): cnncost's param is x {op} p")
    rank = len(shape)
    if len(dims) > rank:
        raise Unmappable(f"a tensor of {dims_text(dims)} combined with a {dims_text(shape)} activation")
    full = (1,) * (rank - len(dims)) + dims
    if full[0] != 1:
        raise Unmappable(f"a tensor of {dims_text(dims)} that varies along the batch axis")
    if any(p not in (1, n) for p, n in zip(full[1:], shape[1:])):
        raise Unmappable(f"a tensor of {dims_text(dims)} that does not broadcast to {dims_text(shape)} "
                         "without changing its shape")
    sample = list(full[1:])
    while len(sample) > 1 and sample[0] == 1:
        sample.pop(0)
    return "param", {"op": op, "shape": sample or [1], "learnable": bool(learnable)}


def with_activation(op: str, shape_a, shape_b) -> Row:
    """Two activations (full shapes): an add of equal shapes and any mul are cnncost's add and mul (a
    squeeze-and-excitation's x * scale broadcasts), the rest binary. Both have the batch first, so tensors of
    different ranks would line the batch axis up with another: refused."""
    if len(shape_a) != len(shape_b):
        raise Unmappable(f"broadcasts a {dims_text(shape_a)} tensor with a {dims_text(shape_b)} one, which lines the "
                         "batch axis up with another; cnncost broadcasts per sample")
    if op == "mul" or (op == "add" and tuple(shape_a) == tuple(shape_b)):
        return op, {}
    return "binary", {"op": op}


def view(shape, target) -> Row | None:
    """A reshape (view, flatten, squeeze, unsqueeze) of ``shape`` to ``target``, both with the batch first."""
    shape, target = tuple(shape), tuple(target)
    if target == shape:
        return None
    if not target or target[0] != shape[0] or math.prod(target) != math.prod(shape):
        raise Unmappable(f"reshapes {dims_text(shape)} to {dims_text(target)}, which moves the batch axis")
    if len(target) == 2 and len(shape) > 2:
        return "flatten", {}
    split = _split_axis(shape, target)
    if split is not None:  # a view whatever the strides, where a reshape may have to copy (x.transpose(1, 2)
        # .reshape(B, C, H, W) splits L into H and W without a copy, as torch measures it)
        return "unflatten", {"dim": split, "sizes": list(target[split:split + len(target) - len(shape) + 1])}
    return "reshape", {"shape": list(target[1:])}


def _split_axis(shape, target) -> int | None:
    """The one axis of ``shape`` that ``target`` splits into several, the others kept; None for any other
    reshape."""
    extra = len(target) - len(shape)
    if extra < 1 or [d for d in shape if d != 1] == [d for d in target if d != 1]:
        return None  # axes of one element added (an unsqueeze): a reshape, which is a view of these too
    for at in range(1, len(shape)):
        if shape[:at] == target[:at] and shape[at + 1:] == target[at + extra + 1:] and \
                math.prod(target[at:at + extra + 1]) == shape[at]:
            return at
    return None


def permutation(perm, shape) -> Row | None:
    """A transpose or permute of a ``shape`` tensor by ``perm`` (all axes, the batch's included)."""
    perm = [p % len(shape) for p in perm]
    if perm == list(range(len(shape))):
        return None
    if sorted(perm) != list(range(len(shape))):
        raise Unmappable(f"permutes {dims_text(shape)} by {perm}, which is not a permutation of its axes")
    if perm[0] != 0:
        raise Unmappable(f"permutes {dims_text(shape)} by {perm}, which moves the batch axis")
    moved = [i for i, p in enumerate(perm) if p != i]
    if len(moved) == 2:
        return "transpose", {"dim0": moved[0], "dim1": moved[1]}
    return "permute", {"dims": perm}


def part(shape, dim: int, start: int, end: int, step: int = 1) -> Row | None:
    """``x[..., start:end:step]`` along ``dim`` (indices already clamped to the axis): a channel_split where it
    is one of equal channel parts (cnncost's own kind for it), else a slice."""
    dim %= len(shape)
    n = shape[dim]
    if (start, end, step) == (0, n, 1):
        return None
    if dim == 0:
        raise Unmappable("slices the batch axis")
    size = len(range(start, end, step))
    if size < 1:
        raise Unmappable(f"an empty slice {start}:{end}:{step} of {n}")
    if step < 0:
        raise Unmappable(f"a slice with the negative step {step} (reversed)")
    if dim == 1 and len(shape) == 4 and step == 1 and n % size == 0 and start % size == 0:
        return "channel_split", {"parts": n // size, "index": start // size}
    args = {"dim": dim, "start": start, "end": start + (size - 1) * step + 1}
    if step != 1:
        args["step"] = step
    return "slice", args


def split(shape, dim: int, sizes) -> list[Row | None]:
    """``torch.split(x, sizes, dim)`` / ONNX Split: one row per piece, in order."""
    dim %= len(shape)
    if sum(sizes) != shape[dim] or min(sizes) < 1:
        raise Unmappable(f"splits {shape[dim]} into {list(sizes)}")
    rows, start = [], 0
    for size in sizes:
        rows.append(part(shape, dim, start, start + size))
        start += size
    return rows


def reduction(op: str, dims, shape, keepdim: bool) -> Row:
    """A sum, mean, amax, amin or 2-norm over ``dims`` (None: every axis). A mean over H and W of a map is
    cnncost's global average pool, as torch's x.mean((2, 3)) (the caller keeps or drops the 1x1)."""
    rank = len(shape)
    if dims is None:
        raise Unmappable(f"a {op} over every axis, the batch's too")
    dims = sorted({d % rank for d in dims})
    if 0 in dims:
        raise Unmappable(f"a {op} over the batch axis")
    return "reduce", {"op": op, "dims": dims, "keepdim": bool(keepdim)}


def concatenation(shapes, dim: int) -> Row:
    dim %= len(shapes[0])
    if dim == 0:
        raise Unmappable("a concatenation along the batch axis")
    return "concat", ({} if dim == 1 else {"dim": dim})


def softmax(shape, dim: int) -> Row:
    dim %= len(shape)
    if dim == 0:
        raise Unmappable("a softmax over the batch axis")
    return "softmax", ({} if dim == 1 else {"dim": dim})
