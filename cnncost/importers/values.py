"""The values both importers give each tensor of the source graph, and the patterns they share.

An ``Act`` is an activation that a cnncost row made (or the network's input).
A ``Pending`` is an activation that is not a row by itself: the middle of a
pattern that the source spells in several steps (a channel shuffle is a
view, a transpose and a view back; a centre crop is two slices). It becomes
a row where the pattern completes, or, through ``materialize``, where
something else reads it. ``imp`` is the importer: ``imp.row(kind, args,
inputs, node)`` adds a row and gives its Act.
"""

from __future__ import annotations

from ..kinds import crop_offsets
from .lowering import Unmappable, dims_text, part, view  # noqa: F401  (dims_text: the importers read it here)


class _UnknownValue:
    """The output of a node that could not be mapped: what reads it is not reported again."""

    shape = None

    def __repr__(self):
        return "UNKNOWN"


UNKNOWN = _UnknownValue()


class Act:
    """An activation: the output of a row (or the network's input), with its full shape, batch first. ``nhwc``:
    the same tensor viewed channels-last (Transpose 0,2,3,1), as ConvNeXt runs its norms and linear layers."""

    __slots__ = ("row", "shape", "nhwc")

    def __init__(self, row, shape, nhwc=False):
        self.row, self.shape, self.nhwc = row, tuple(shape), nhwc

    @property
    def sample(self) -> tuple:
        return self.shape[1:]


class Pending:
    """An activation that is not yet a row: made into one by ``materialize`` when something else reads it."""

    shape: tuple = ()

    def __init__(self, node):
        self.node = node  # the node that made it: it names the row
        self.done = None

    def materialize(self, imp) -> Act:
        if self.done is None:
            self.done = self.make(imp)
        return self.done

    def make(self, imp) -> Act:
        raise NotImplementedError


class Reshaped(Pending):
    """``src`` reshaped (Reshape, Flatten, Squeeze, Unsqueeze): a flatten when it becomes (N, features)."""

    def __init__(self, node, src: Act, shape):
        super().__init__(node)
        self.src, self.shape = src, tuple(shape)

    def make(self, imp):
        lowered = view(self.src.shape, self.shape)
        return self.src if lowered is None else imp.row(*lowered, [self.src], self.node)


class Shuffled(Pending):
    """A map viewed as (N, groups, C/groups, H, W) and transposed: a channel shuffle once reshaped back."""

    def __init__(self, node, src: Act, groups: int, shape):
        super().__init__(node)
        self.src, self.groups, self.shape = src, groups, tuple(shape)

    def make(self, imp):  # not reshaped back to a map: the view and the transpose as they are
        n, per, g, h, w = self.shape
        grouped = imp.row("reshape", {"shape": [g, per, h, w]}, [self.src], self.node)
        return imp.row("transpose", {"dim0": 1, "dim1": 2}, [grouped], self.node)


class Sliced(Pending):
    """A map sliced along H and W: a centre crop (step 1), or every stride-th position (a shortcut's subsampling)."""

    def __init__(self, node, src: Act, ranges):
        super().__init__(node)
        self.src, self.ranges = src, ranges  # range per spatial axis
        self.shape = src.shape[:2] + tuple(len(r) for r in ranges)

    def subsample_stride(self) -> int | None:
        steps = {r.step for r in self.ranges}
        if len(steps) == 1 and all(r.start == 0 and r.step > 1 and len(r) == -(-n // r.step)
                                   for r, n in zip(self.ranges, self.src.shape[2:])):
            return steps.pop()
        return None

    def make(self, imp):
        src = self.src
        stride = self.subsample_stride()
        if stride is not None:
            return imp.row("subsample_pad", {"out": src.shape[1], "stride": stride}, [src], self.node)
        if all(r.step == 1 for r in self.ranges):
            sizes = [len(r) for r in self.ranges]
            if all(r.start == crop_offsets(n, len(r)) for r, n in zip(self.ranges, src.shape[2:])):
                return imp.row("center_crop", {"size": sizes}, [src], self.node)
        act = src  # any other window: a slice along each axis it changes
        for dim, r in ((2, self.ranges[0]), (3, self.ranges[1])):
            lowered = part(act.shape, dim, r.start, r.stop, r.step)
            if lowered is not None:
                act = imp.row(*lowered, [act], self.node)
        return act


class Opaque(Pending):
    """The output of an operator cnncost cannot map (kinds.py opaque), with the shape the source gives: a row
    where it is read, when the import is partial. ``held``: the parameters the operator holds."""

    def __init__(self, node, inputs, shape, what, held=0, batch=1):
        super().__init__(node)
        self.inputs, self.shape, self.what, self.held, self.batch = inputs, tuple(shape), what, held, batch

    def make(self, imp):
        from ..errors import CnnCostError
        from .builder import TooManyLayers

        acts: list[Act] = []
        for value in self.inputs:
            if isinstance(value, Pending):
                try:
                    value = value.materialize(imp)
                except TooManyLayers:
                    raise
                except (Unmappable, CnnCostError):
                    value = getattr(value, "src", None)  # a pattern cut short: what it started from
            if isinstance(value, Act) and all(value.row is not a.row for a in acts):
                acts.append(value)
        if not acts:
            raise Unmappable(f"the output of {self.what}, which reads no activation cnncost follows")
        shape = self.shape
        sample = shape[1:] if len(shape) >= 2 and shape[0] == self.batch else shape  # batch first, or not
        args = {"shape": [max(int(d), 1) for d in sample] or [1], "op": self.what}
        if self.held:
            args["params"] = int(self.held)
        row = imp.opaque_row(args, acts, self.node).row
        return (FoldedAct if self.folded else Act)(row, shape)

    @property
    def folded(self) -> bool:
        """Whether the source's shape does not start with the batch (a window partition's B * windows): what reads
        it is refused in turn, shaped by the source, since its rows would read the first axis as the batch."""
        return not self.shape or self.shape[0] != self.batch


class FoldedAct(Act):
    """An opaque row's output whose source shape does not start with the batch axis (Opaque.folded)."""

    __slots__ = ()
