"""Small constant tensors, computed statically: the shape arithmetic an exported graph does on the side.

Exporters compute a Reshape's target, a Pad's pads or a Resize's sizes with
Shape, Gather, Unsqueeze, Concat, Slice, Cast, arithmetic and even If. With
every activation's shape known, all of it is constant, and it is evaluated
here on flat Python lists (at most a few dozen elements; no numpy, which
would cost more to import than all of this takes).
"""

from __future__ import annotations

import math

# Shape arithmetic needs a few dozen values; a file that asks for more is refused before any list is built (a
# 200-byte ConstantOfShape of [10^9] would ask for gigabytes; docs/security.md, F8).
MAX_ELEMENTS = 1 << 16
INT64 = 1 << 63


def sized(dims) -> tuple:
    """``dims`` as a tuple, refused if any is negative or the tensor would hold more than MAX_ELEMENTS values."""
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"negative dimensions {list(dims)}")
    if math.prod(dims) > MAX_ELEMENTS:
        raise ValueError(f"a constant of {math.prod(dims):,} values; cnncost computes shape arithmetic of at most "
                         f"{MAX_ELEMENTS:,}")
    return dims


def int64(value):
    """An integer result as ONNX's int64 holds it; anything beyond is refused, not computed to a million digits."""
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        raise ValueError("an integer beyond int64")
    return value


def power(x, y):
    if isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool):
        if y < 0 or (abs(x) > 1 and y > 63):
            raise ValueError(f"{x} ** {y} is beyond int64")
    return int64(x ** y)


class Const:
    """A tensor known before anything runs: ``values`` flat in row-major order (None when the file holds a
    weight whose values cnncost does not read), ``dims``, whether its type is a float, and the initializer's
    name when it is one (a parameter)."""

    __slots__ = ("values", "dims", "is_float", "name", "matrix")

    def __init__(self, values, dims, is_float=False, name=None, matrix=None):
        self.values = values
        self.dims = tuple(dims)
        self.is_float = is_float
        self.name = name  # the initializer it is (or comes from through Identity and Unsqueeze)
        self.matrix = matrix  # the 2-D dims it was unsqueezed from: a linear layer's weight run as a 1x1 conv

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    def known(self) -> list:
        if self.values is None:
            raise ValueError(f"the values of {self.name or 'a weight'} are not read")
        return self.values

    def ints(self) -> list[int]:
        return [int(v) for v in self.known()]

    def scalar(self):
        values = self.known()
        if len(values) != 1:
            raise ValueError(f"expected one value, got {len(values)}")
        return values[0]

    def like(self, values, dims, is_float=None) -> "Const":
        return Const(values, dims, self.is_float if is_float is None else is_float)

    def __repr__(self):
        return f"Const({self.values if self.values is None or len(self.values) < 9 else '...'}, {self.dims})"


def strides(dims) -> list[int]:
    out, step = [], 1
    for d in reversed(dims):
        out.append(step)
        step *= d
    return out[::-1]


def _coords(dims):
    """Every index tuple of a tensor of these dims, in row-major order."""
    if not dims:
        yield ()
        return
    total = math.prod(dims)
    st = strides(dims)
    for flat in range(total):
        yield tuple((flat // s) % d for s, d in zip(st, dims))


def axis_of(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def transpose(c: Const, perm) -> Const:
    perm = list(perm) if perm else list(range(len(c.dims)))[::-1]
    dims = [c.dims[p] for p in perm]
    st = strides(c.dims)
    values = c.known()
    out = [values[sum(i * st[p] for i, p in zip(index, perm))] for index in _coords(dims)]
    return c.like(out, dims)


def reshape_dims(old: tuple, target: list[int], allowzero: bool = False) -> tuple:
    """ONNX Reshape's output dims: 0 copies the input's dim (unless allowzero), -1 is inferred."""
    dims = [old[i] if (d == 0 and not allowzero and i < len(old)) else d for i, d in enumerate(target)]
    if dims.count(-1) > 1:
        raise ValueError("more than one -1 in a reshape")
    total = math.prod(old)
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or total % known:
            raise ValueError(f"cannot reshape {list(old)} to {target}")
        dims[dims.index(-1)] = total // known
    if math.prod(dims) != total:
        raise ValueError(f"cannot reshape {list(old)} to {target}")
    return tuple(dims)


def slice_ranges(dims, starts, ends, axes, steps) -> list[range]:
    """ONNX Slice: for each axis, the range of indices taken (clamped as the operator clamps)."""
    ranges = [range(d) for d in dims]
    axes = list(axes) if axes is not None else list(range(len(starts)))
    steps = list(steps) if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis_of(axis, len(dims))
        n = dims[axis]
        if step == 0:
            raise ValueError("a slice step of 0")
        if start < 0:
            start += n
        if end < 0:
            end += n
        if step > 0:
            start, end = min(max(start, 0), n), min(max(end, 0), n)
        else:
            start, end = min(max(start, -1), n - 1), min(max(end, -1), n - 1)
        ranges[axis] = range(start, end, step)
    return ranges


def slice_(c: Const, ranges) -> Const:
    st = strides(c.dims)
    values = c.known()
    dims = [len(r) for r in ranges]
    out = [values[sum(r[i] * s for r, i, s in zip(ranges, index, st))] for index in _coords(dims)]
    return c.like(out, dims)


def gather(c: Const, indices: Const, axis: int) -> Const:
    axis = axis_of(axis, len(c.dims))
    idx = [i + c.dims[axis] if i < 0 else i for i in indices.ints()]
    if any(not 0 <= i < c.dims[axis] for i in idx):
        raise ValueError(f"gather indices {idx} out of range for {c.dims[axis]}")
    st = strides(c.dims)
    values = c.known()
    dims = sized(list(c.dims[:axis]) + list(indices.dims) + list(c.dims[axis + 1:]))
    out = []
    inner = len(indices.dims)
    for index in _coords(dims):
        outer, picked, rest = index[:axis], index[axis:axis + inner], index[axis + inner:]
        flat_pick = sum(p * s for p, s in zip(picked, strides(indices.dims))) if inner else 0
        source = outer + (idx[flat_pick],) + rest
        out.append(values[sum(i * s for i, s in zip(source, st))])
    return c.like(out, dims)


def concat(parts: list[Const], axis: int) -> Const:
    rank = len(parts[0].dims)
    axis = axis_of(axis, rank)
    dims = list(parts[0].dims)
    dims[axis] = sum(p.dims[axis] for p in parts)
    sized(dims)
    outer = math.prod(dims[:axis])
    out = []
    for o in range(outer):
        for p in parts:
            block = math.prod(p.dims[axis:])
            out.extend(p.known()[o * block:(o + 1) * block])
    return parts[0].like(out, dims, any(p.is_float for p in parts))


def broadcast_dims(a, b) -> tuple:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"cannot broadcast {list(a)} and {list(b)}")
        out.append(max(x, y))
    return tuple(out)


def elementwise(fn, a: Const, b: Const, is_float=None) -> Const:
    dims = sized(broadcast_dims(a.dims, b.dims))
    av, bv = a.known(), b.known()
    if a.dims == b.dims:
        out = [int64(fn(x, y)) for x, y in zip(av, bv)]
    else:
        ea = (1,) * (len(dims) - len(a.dims)) + a.dims
        eb = (1,) * (len(dims) - len(b.dims)) + b.dims
        sa, sb = strides(ea), strides(eb)
        out = []
        for index in _coords(dims):
            ia = sum((i if d > 1 else 0) * s for i, d, s in zip(index, ea, sa))
            ib = sum((i if d > 1 else 0) * s for i, d, s in zip(index, eb, sb))
            out.append(int64(fn(av[ia], bv[ib])))
    return Const(out, dims, (a.is_float or b.is_float) if is_float is None else is_float)


def divide(x, y, is_float: bool):
    if is_float:
        return x / y
    q = abs(x) // abs(y)  # integer division truncates toward zero
    return q if (x >= 0) == (y >= 0) else -q
