"""What an analysis gives: plain dataclasses of exact integers, and the settings they were made under.

A Report is a view of one expanded graph under one Settings value: it keeps
the graph, so the same network under another convention (``report.under``)
costs no second expansion. Rendering is elsewhere (cnncost/render/).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from operator import attrgetter
from typing import Any, Mapping

from .errors import CnnCostError, did_you_mean
from .graph import Graph, fast_constructor

FIGURES = ("params", "buffers", "macs", "flops", "memory_bytes")

# The JSON contract's version (docs/json.md): fields may be added within a version; one renamed, removed or
# changed in meaning or type bumps it.
SCHEMA_VERSION = 1


def versioned(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON object output with ``schema_version`` as its first key."""
    return {"schema_version": SCHEMA_VERSION, **data}

DTYPE_BYTES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int8": 1,
    "uint8": 1,
}
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16",
                 "double": "float64", "fp64": "float64", "float": "float32"}


def dtype_bytes(dtype: str) -> tuple[str, int]:
    """The dtype's canonical name and its size in bytes."""
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPE_BYTES:
        raise CnnCostError(f"unknown dtype '{dtype}'", hint=did_you_mean(dtype, list(DTYPE_BYTES) + list(DTYPE_ALIASES))
                           or "choose from " + ", ".join(DTYPE_BYTES))
    return name, DTYPE_BYTES[name]


@dataclass(frozen=True)
class Settings:
    """Everything an analysis depends on besides the model: one value from the CLI or API to every consumer.

    ``set`` and ``input`` change the expanded graph; the others only the view of it.
    """

    batch: int = 1
    dtype: str = "float32"
    convention: str = "lecture"
    include_side: bool = False  # side outputs (auxiliary heads) in the totals
    set: Mapping[str, Any] = field(default_factory=dict)  # model parameter overrides (--set)
    input: tuple | None = None  # per-sample input shape (--input); None: the model's own

    def __post_init__(self):
        from . import conventions  # conventions imports the kinds; kept off this module's import

        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10**9:
            raise CnnCostError(f"batch must be an integer from 1 to 1,000,000,000, got {str(batch)[:40]}")
        object.__setattr__(self, "dtype", dtype_bytes(self.dtype)[0])
        object.__setattr__(self, "convention", conventions.get(self.convention).name)
        object.__setattr__(self, "set", dict(self.set or {}))
        if self.input is not None:
            object.__setattr__(self, "input", parse_input(self.input))

    def replace(self, **changes) -> "Settings":
        return replace(self, **changes)

    @property
    def element_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @classmethod
    def of(cls, settings: "Settings | None" = None, **options) -> "Settings":
        """``settings`` with ``options`` changed, or new settings from ``options``: the API's keyword form."""
        options = {k: v for k, v in options.items() if v is not None}  # None: not given
        if settings is None:
            return cls(**options)
        return settings.replace(**options) if options else settings


def parse_input(value) -> tuple:
    """An input shape from a tuple/list of ints or the CLI's text form ``3x224x224``."""
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").replace("*", "x").split("x")
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            raise CnnCostError(f"input '{value}' is not of the form CxHxW, e.g. 3x224x224") from None
    if not isinstance(value, (tuple, list)) or len(value) != 3 or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in value):
        raise CnnCostError(f"input {value!r} must be three positive integers CxHxW, e.g. 3x224x224")
    return tuple(value)


@dataclass(frozen=True)
class LayerCost:
    name: str
    type: str  # the layer kind
    input_shapes: tuple  # per sample, one per input
    output_shape: tuple  # per sample
    params: int
    buffers: int
    macs: int  # for the whole batch, under the report's convention
    flops: int
    memory_bytes: int  # output activations for the whole batch
    side: bool = False
    inputs: tuple = ()
    args: dict = field(default_factory=dict)
    call: str = "module"  # how the reference implementation runs it (graph.Node.call)

    @property
    def input_shape(self) -> tuple:
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def kind(self) -> str:
        """The layer kind, as a graph Node names it."""
        return self.type


make_layer_cost = fast_constructor(LayerCost)
_figures_of = attrgetter(*FIGURES)


@dataclass(frozen=True)
class Totals:
    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    memory_bytes: int = 0

    @classmethod
    def of(cls, layers) -> "Totals":
        columns = zip(*map(_figures_of, layers))
        return cls(**{key: sum(column) for key, column in zip(FIGURES, columns)})


@dataclass(frozen=True)
class Report:
    model: str
    input: tuple
    batch: int
    dtype: str
    convention: str
    layers: tuple  # of LayerCost, in execution order
    totals: Totals
    include_side: bool = False
    description: str = ""
    notes: tuple = ()
    graph: Graph | None = field(default=None, compare=False, repr=False)  # what this is a view of
    settings: Settings | None = field(default=None, compare=False, repr=False)

    def counted(self):
        """The layers that the totals count (side outputs only when included)."""
        return [l for l in self.layers if self.include_side or not l.side]

    def under(self, convention: str) -> "Report":
        """The same graph and settings under another convention: no second expansion."""
        from .engine import view

        return view(self.graph, self.settings.replace(convention=convention))

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON contract (docs/json.md)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "description": self.description,
            "input": list(self.input),
            "batch": self.batch,
            "dtype": self.dtype,
            "convention": self.convention,
            "include_side": self.include_side,
            "layers": [layer_to_dict(l) for l in self.layers],
            "totals": asdict(self.totals),
        }


def layer_to_dict(l: LayerCost) -> dict[str, Any]:
    return {
        "name": l.name,
        "type": l.type,
        "input_shape": list(l.input_shape),
        "input_shapes": [list(s) for s in l.input_shapes],
        "output_shape": list(l.output_shape),
        "params": l.params,
        "buffers": l.buffers,
        "macs": l.macs,
        "flops": l.flops,
        "memory_bytes": l.memory_bytes,
        "side": l.side,
        "inputs": list(l.inputs),
        "args": _jsonable(l.args),
        "call": l.call,
    }


def _jsonable(args: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
