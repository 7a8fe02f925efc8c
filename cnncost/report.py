"""What an analysis gives: plain dataclasses of exact integers, and the settings they were made under.

A Report is a view of one expanded graph under one Settings value: it keeps
the graph, so the same network under another convention (``report.under``)
costs no second expansion. Rendering is elsewhere (cnncost/render/).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any, Iterable, Mapping

from .errors import CnnCostError, did_you_mean
from .graph import Graph, Node, counted, fast_constructor
from .results import Result

FIGURES = ("params", "buffers", "macs", "flops", "memory_bytes")
# a training pass's figures per row (None in a forward pass, and where the convention counts no backward)
BACKWARD_FIGURES = ("backward_input_macs", "backward_weight_macs")

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
    pass_: str = "forward"  # forward, or train: a forward and a backward pass (--pass; docs/training.md)
    freeze: tuple = ()  # regular expressions: layers whose names re.match one are frozen (--freeze)

    def __post_init__(self):
        from . import conventions  # conventions imports the kinds; kept off this module's import
        from .training import check_pass, check_patterns

        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 10**9:
            raise CnnCostError(f"batch must be an integer from 1 to 1,000,000,000, got {str(batch)[:40]}")
        for name in ("dtype", "convention"):
            if not isinstance(getattr(self, name), str):
                raise CnnCostError(f"{name} must be a name (a str), got {getattr(self, name)!r}")
        if not isinstance(self.include_side, bool):
            raise CnnCostError(f"include_side must be True or False, got {self.include_side!r}")
        if self.set is not None and (not isinstance(self.set, Mapping) or
                                     not all(isinstance(k, str) for k in self.set)):
            raise CnnCostError(f"set must map parameter names to values, e.g. {{'classes': 10}}, got {self.set!r}")
        object.__setattr__(self, "dtype", dtype_bytes(self.dtype)[0])
        object.__setattr__(self, "convention", conventions.get(self.convention).name)
        object.__setattr__(self, "set", dict(self.set or {}))
        if self.input is not None:
            object.__setattr__(self, "input", parse_input(self.input))
        check_pass(self.pass_)
        object.__setattr__(self, "freeze", check_patterns(self.freeze))

    def replace(self, **changes: Any) -> "Settings":
        """These settings with some fields changed (checked as new ones are)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise CnnCostError(f"Settings has no field '{unknown[0]}'",
                               hint="choose from " + ", ".join(f.name for f in fields(self)))
        return replace(self, **changes)

    @property
    def element_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @classmethod
    def of(cls, settings: "Settings | None" = None, **options: Any) -> "Settings":
        """``settings`` with ``options`` changed, or new settings from ``options``: the API's keyword form."""
        options = {k: v for k, v in options.items() if v is not None}  # None: not given
        if settings is None:
            return cls().replace(**options) if options else cls()
        if not isinstance(settings, Settings):
            raise CnnCostError(f"settings must be a cnncost.Settings, got {type(settings).__name__}",
                               hint="or give the options as keywords: batch=, dtype=, convention=, set=, input=")
        return settings.replace(**options) if options else settings


def parse_input(value: "str | tuple[int, ...] | list[int]") -> tuple:
    """An input shape from a tuple/list of ints or the CLI's text form ``3x224x224`` (a video clip: CxTxHxW,
    ``3x16x112x112``)."""
    given = value
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").replace("*", "x").split("x")
        if len(value) > 100 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
            raise CnnCostError(f"input {given!r} is not of the form CxHxW, e.g. 3x224x224") from None
        value = tuple(int(p) for p in parts)
    if not isinstance(value, (tuple, list)) or len(value) not in (3, 4) or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in value):
        raise CnnCostError(f"input {given!r} must be three positive integers CxHxW, e.g. 3x224x224 or (3, 224, 224), "
                           "or four CxTxHxW for a video clip")
    return tuple(value)


@dataclass(frozen=True)
class LayerCost:
    """One row of a report: a graph Node (its name, kind, wiring, shapes and parameters) and the figures that
    depend on the report's settings (batch, dtype, convention, pass)."""

    node: Node
    macs: int  # for the whole batch, under the report's convention
    flops: int
    memory_bytes: int  # output activations for the whole batch
    # a training pass (docs/training.md): the backward's MACs for the input's gradient and the weights'; None in
    # a forward pass, or where the convention's tool counts no backward
    backward_input_macs: int | None = None
    backward_weight_macs: int | None = None
    frozen: bool = False  # its parameters are frozen (--freeze)

    # what the node says, read through: a row holds its node, never a copy of its fields

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def kind(self) -> str:
        """The layer kind (the JSON names it 'type')."""
        return self.node.kind

    @property
    def input_shapes(self) -> tuple:
        """Per sample, one per input."""
        return self.node.input_shapes

    @property
    def output_shape(self) -> tuple:
        """Per sample."""
        return self.node.output_shape

    @property
    def params(self) -> int:
        return self.node.params

    @property
    def buffers(self) -> int:
        return self.node.buffers

    @property
    def side(self) -> bool:
        return self.node.side

    @property
    def inputs(self) -> tuple:
        return self.node.inputs

    @property
    def args(self) -> dict:
        return self.node.args

    @property
    def call(self) -> str:
        """How the reference implementation runs it (graph.Node.call)."""
        return self.node.call

    @property
    def backward_macs(self) -> int | None:
        return _both_gradients(self)

    @property
    def input_shape(self) -> tuple:
        return self.input_shapes[0] if self.input_shapes else ()


def _both_gradients(figures) -> int | None:
    """A row's or the totals' backward MACs: the input's gradient and the weights'; None where not counted."""
    if figures.backward_input_macs is None:
        return None
    return figures.backward_input_macs + figures.backward_weight_macs


make_layer_cost = fast_constructor(LayerCost)
_figures_of = attrgetter(*FIGURES)


@dataclass(frozen=True)
class Totals:
    """A report's (or a slice's) sums: exact integers, MACs, FLOPs and memory for the whole batch."""

    params: int = 0
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    memory_bytes: int = 0
    # a training pass: the backward's MACs (None in a forward pass, or where the convention counts no backward)
    backward_input_macs: int | None = None
    backward_weight_macs: int | None = None

    @classmethod
    def of(cls, layers: Iterable[LayerCost]) -> "Totals":
        """The sums of these rows' figures."""
        layers = list(layers)
        columns = zip(*map(_figures_of, layers))
        sums = {key: sum(column) for key, column in zip(FIGURES, columns)}
        if layers and layers[0].backward_input_macs is not None:
            for key in BACKWARD_FIGURES:
                sums[key] = sum(getattr(l, key) for l in layers)
        return cls(**sums)

    @property
    def backward_macs(self) -> int | None:
        """Both gradients' MACs, for the whole batch."""
        return _both_gradients(self)

    @property
    def training_macs(self) -> int | None:
        """A training step's MACs: the forward's and the backward's."""
        backward = self.backward_macs
        return None if backward is None else self.macs + backward

    @property
    def training_flops(self) -> int | None:
        training = self.training_macs
        return None if training is None else 2 * training

    def training_dict(self) -> dict[str, Any]:
        """The training pass's totals as the JSON names them (docs/json.md)."""
        backward, training = self.backward_macs, self.training_macs
        return {"backward_input_macs": self.backward_input_macs, "backward_weight_macs": self.backward_weight_macs,
                "backward_macs": backward, "backward_flops": None if backward is None else 2 * backward,
                "training_macs": training, "training_flops": None if training is None else 2 * training}


@dataclass(frozen=True, repr=False)
class Report(Result):
    """A model analysed under one Settings value: every layer's row (``layers``) and the ``totals``.

    ``repr(report)`` is one short line; ``str(report)`` and ``report.table()``
    are the text table of ``cnncost table``; ``report.to_dict()`` is its JSON.
    """

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

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Report {self.model}: input {'x'.join(map(str, self.input))}, batch {self.batch}, {self.dtype}, "
                f"{self.convention}; {len(self.layers):,} layers, {t.params:,} params, {t.macs:,} MACs, "
                f"{t.memory_bytes:,} bytes of activations>")

    def __str__(self) -> str:
        return self.table()

    def table(self, format: str = "table", *, depth: int | None = None, exact: bool = False, rf: bool = False,
              fold: bool = False, share: bool = False, sort: str | None = None, top: int | None = None,
              notes: bool = True, width: int | None = None) -> str:
        """The report as ``cnncost table`` prints it, with the command's options as keywords.

        ``format``: table (the default; plain text, no colour), csv, json or
        markdown. ``depth``, ``exact``, ``rf``, ``fold``, ``share``, ``sort``
        (macs, params or memory) and ``top`` are --depth, --exact, --rf, --fold,
        --share, --sort and --top; ``notes=False`` is --no-notes. ``width`` fits
        the table to that many columns, as on a terminal; None (the default) is
        the whole table, as the command writes to a file or a pipe.
        """
        from .render.report_table import render_report

        return render_report(self, format, depth=depth, exact=exact, rf=rf, fold=fold, share=share, sort=sort,
                             top=top, notes=notes, width=width)

    def counted(self) -> list[LayerCost]:
        """The layers that the totals count (side outputs only when included)."""
        return counted(self.layers, self.include_side)

    def under(self, convention: str) -> "Report":
        """The same graph and settings under another convention: no second expansion."""
        from .engine import view

        assert self.graph is not None and self.settings is not None  # engine.view's reports hold both
        return view(self.graph, self.settings.replace(convention=convention))

    def to_dot(self, color: str = "macs", depth: int | None = None) -> str:
        """The network as Graphviz source, as ``cnncost graph MODEL -o FILE.dot`` writes it: a box per layer
        (or per block ``depth`` names deep) with its name, kind, output shape and ``color``'s figure
        (macs, params, memory, saved or rf), filled by that figure."""
        from .diagram import diagram, to_dot

        return to_dot(diagram(self, color, depth))

    def graph_html(self, color: str = "macs", depth: int | None = None) -> str:
        """The network as one self-contained HTML page (``cnncost graph MODEL -o FILE.html``): pan, zoom,
        blocks that collapse, a choice of figure to colour by, each layer's row on a click."""
        from .diagram import to_html

        return to_html(self, color, depth)

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
            **self._pass_dict(),
            "layers": [layer_to_dict(l) for l in self.layers],
            "totals": totals_to_dict(self.totals, self.training),
            # an import with --partial: its opaque rows count 0, so every total is a lower bound
            "complete": not self.unsupported(),
            "unsupported": self.unsupported(),
        }

    def unsupported(self) -> list[dict]:
        """Graph.unsupported: the operators an import could not map; the totals are lower bounds unless empty."""
        return self.graph.unsupported() if self.graph is not None else []

    @property
    def training(self) -> bool:
        """Whether this is a training pass (forward and backward)."""
        return self.settings is not None and self.settings.pass_ == "train"

    def _pass_dict(self) -> dict[str, Any]:
        settings = self.settings
        if settings is None or settings.pass_ != "train":  # not self.training
            return {"pass": "forward"}
        from .training import NOT_COUNTED

        return {"pass": "train", "freeze": list(settings.freeze),
                "backward_not_counted": NOT_COUNTED.get(self.convention)}


def totals_to_dict(totals: Totals, training: bool) -> dict[str, Any]:
    data = {f: getattr(totals, f) for f in FIGURES}
    if training:
        data.update(totals.training_dict())
    return data


def layer_to_dict(l: LayerCost) -> dict[str, Any]:
    return {
        "name": l.name,
        "type": l.kind,  # the schema's name for the kind
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
        **({} if l.backward_input_macs is None and not l.frozen else {
            "backward_input_macs": l.backward_input_macs, "backward_weight_macs": l.backward_weight_macs,
            "backward_macs": l.backward_macs, "frozen": l.frozen}),
    }


def _jsonable(args: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
