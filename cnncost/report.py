"""The analytic engine's results: plain dataclasses, exact integers, no rendering."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any

from .graph import fast_constructor

FIGURES = ("params", "buffers", "macs", "flops", "memory_bytes")


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

    @property
    def input_shape(self) -> tuple:
        return self.input_shapes[0] if self.input_shapes else ()


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

    def counted(self):
        """The layers that the totals count (side outputs only when included)."""
        return [l for l in self.layers if self.include_side or not l.side]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON contract (docs/json.md)."""
        return {
            "model": self.model,
            "input": list(self.input),
            "batch": self.batch,
            "dtype": self.dtype,
            "convention": self.convention,
            "include_side": self.include_side,
            "layers": [layer_to_dict(l) for l in self.layers],
            "totals": asdict(self.totals),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        layers = tuple(
            LayerCost(
                name=d["name"],
                type=d["type"],
                input_shapes=tuple(tuple(s) for s in d.get("input_shapes", [d["input_shape"]])),
                output_shape=tuple(d["output_shape"]),
                params=d["params"],
                buffers=d["buffers"],
                macs=d["macs"],
                flops=d["flops"],
                memory_bytes=d["memory_bytes"],
                side=d.get("side", False),
                inputs=tuple(d.get("inputs", ())),
                args=_from_json(d.get("args", {})),
            )
            for d in data["layers"]
        )
        return cls(
            model=data["model"],
            input=tuple(data["input"]),
            batch=data["batch"],
            dtype=data["dtype"],
            convention=data["convention"],
            layers=layers,
            totals=Totals(**{f.name: data["totals"][f.name] for f in fields(Totals)}),
            include_side=data.get("include_side", False),
        )


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
    }


def _jsonable(args: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


def _from_json(args: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
