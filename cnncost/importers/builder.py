"""What both importers build: rows of cnncost layer kinds, their shapes, their names, and the graph.

An importer walks a foreign graph (an ONNX file, a traced torch module) and
adds one ``Row`` per cnncost layer. ``Builder.add`` works out the row's
output shape with the kind's own rules (kinds.py) as it goes, so a shape
that does not fit fails at the operator that caused it, named as the source
names it. ``Builder.graph`` then names the rows, writes them as cnncost
YAML (yaml_writer.py) and expands that document through the normal path
(cnncost/expand/), so every analysis sees an imported model exactly as it would
see the YAML file ``cnncost import`` writes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import CnnCostError, Location
from ..expand.limits import MAX_NODES
from ..graph import INPUT, Graph
from ..kinds import KINDS, format_shape


# the note an ONNX import gives a file whose batch norms the exporter folded (onnx.py); memory.py reads it
FOLDED_BATCHNORM = "Batch norms folded into convolutions:"


@dataclass(repr=False)  # Graph's one-line repr
class ImportedGraph(Graph):
    """A Graph read from a torch module or an ONNX file; ``to_yaml()`` is the cnncost YAML it was expanded
    from, which ``cnncost table`` reads back to the same rows."""

    yaml: str = ""

    def to_yaml(self) -> str:
        return self.yaml


class TooManyLayers(CnnCostError):
    """Ends an import at once: no importer may take it for one operator it cannot map."""


class Row:
    """One cnncost layer being imported: its kind, YAML arguments, producers and output shape (per sample)."""

    __slots__ = ("kind", "args", "inputs", "call", "wanted", "origin", "shape", "name", "shares")

    def __init__(self, kind, args, inputs, call, wanted, origin, shape):
        self.kind = kind
        self.args = args  # as written in YAML: ints, floats, booleans, strings, lists
        self.inputs = inputs  # Rows, or INPUT for the network's input
        self.call = call  # None: the kind's default
        self.wanted = wanted  # the dotted name it should have; made unique and legal when the graph is written
        self.origin = origin  # what the source calls it, for messages
        self.shape = shape
        self.name = ""
        self.shares = None  # the Row whose weights this one uses (a module called again)

    def __repr__(self):
        return f"Row({self.kind}, {self.wanted!r}, {format_shape(self.shape)})"


class Builder:
    """Rows in the order the source runs them, each shaped by its kind's rules when added."""

    def __init__(self, input_shape: tuple, source: str):
        self.input_shape = tuple(input_shape)
        self.source = source  # the file or module, for messages
        self.rows: list[Row] = []

    def shape_of(self, producer) -> tuple:
        return self.input_shape if producer is INPUT else producer.shape

    def add(self, kind_name: str, args: dict, inputs: list, wanted: str, origin: str, call: str | None = None) -> Row:
        if len(self.rows) >= MAX_NODES:  # refused as the rows are made, before naming or writing them
            raise TooManyLayers(f"the network has more than {MAX_NODES:,} layers", location=Location(self.source))
        for key, value in args.items():
            if not _finite(value):  # cnncost's YAML refuses NaN and infinity; an import must write what it reads
                raise self.error(f"as cnncost's {kind_name}: '{key}' is {value}, not a finite number", origin)
        kind = KINDS[kind_name]
        shape = self._shape(kind, args, inputs, origin)
        if call is not None and (call == kind.calls[0] or call not in kind.calls):
            call = None  # the kind's default, or a way the kind does not distinguish (a slice is Tensor.chunk's)
        row = Row(kind_name, args, list(inputs), call, wanted, origin, shape)
        self.rows.append(row)
        return row

    def change(self, row: Row, **args):
        """Change some arguments of a row already added (a MatMul's bias found at the Add after it)."""
        new = {**row.args, **args}
        row.shape = self._shape(KINDS[row.kind], new, row.inputs, row.origin)
        row.args = new

    def _shape(self, kind, args, inputs, origin) -> tuple:
        if kind.inputs == "one" and len(inputs) != 1:
            raise self.error(f"{kind.name} takes one input, got {len(inputs)}", origin)
        shapes = tuple(self.shape_of(i) for i in inputs)
        try:
            checked = kind.check_args(args)
            if kind.resolve is not None:
                checked = kind.resolve(checked, shapes)
            shape = tuple(kind.shape(checked, shapes))
        except CnnCostError as exc:
            raise self.error(f"as cnncost's {kind.name}: {exc.message}", origin) from None
        if not shape or min(shape) < 1:
            raise self.error(f"{kind.name} gives the empty shape {format_shape(shape)}", origin)
        return shape

    def error(self, message: str, origin: str | None = None) -> CnnCostError:
        return CnnCostError(message, location=Location(self.source), layer=origin)

    # --- the graph ---

    def graph(self, output, name: str, header: list[str], description: str = "", notes=(),
              unused_params: dict | None = None) -> ImportedGraph:
        """Name the rows, write them as YAML, and expand that through cnncost's own path."""
        from ..expand import Expander
        from .yaml_writer import write

        if output is INPUT:
            raise self.error("the model's output is its input: there is no layer to analyse")
        rows = self.rows_in_order(output)
        assign_names(rows)
        text, doc = write(name, self.input_shape, rows, header, description, self.source, list(notes),
                          unused_params)
        expanded = Expander(doc, self.source).build({}, None)
        check_wiring(expanded, rows, self.source)
        fields = {f: getattr(expanded, f) for f in Graph.__dataclass_fields__}
        return ImportedGraph(**fields, yaml=text)

    def rows_in_order(self, output: Row) -> list[Row]:
        """The rows in the source's order, with the output last: a cnncost network ends at its output. The
        output is moved there when nothing reads it; otherwise an identity row after everything carries it."""
        rows = self.rows
        if rows[-1] is output:
            return rows
        if not any(output in r.inputs for r in rows):
            return [r for r in rows if r is not output] + [output]
        carrier = Row("identity", {}, [output], None, "output", "the network's output", output.shape)
        return rows + [carrier]


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


# --- names ---

_ILLEGAL = re.compile(r"[^A-Za-z0-9_-]")


def clean_part(part: str) -> str:
    """One component of a layer name, as cnncost's YAML allows it: letters, digits, '_' and '-'."""
    part = _ILLEGAL.sub("_", part) or "_"
    if part.startswith("-"):
        part = "_" + part
    return part + "_" if part == INPUT else part


def clean_name(dotted: str) -> str:
    return ".".join(clean_part(p) for p in dotted.split("."))


MAX_WANTED = 200  # characters of a wanted name kept: the groups below are all prefixes of each name


def assign_names(rows: list[Row]):
    """Give every row a unique, legal name close to the one it wants.

    Names are dotted paths; the YAML nests them in sequences. A second row that wants a taken name gets
    ``name_2``, ``name_3``, ... as cnncost's own unnamed layers do; a name that is also the prefix of another
    row's name (a group: a module's forward that calls a function besides its submodules) would be illegal, so
    that row goes inside the group as ``name.<kind>``. Linear in the rows: each name's next number is kept,
    rather than probed from 2 (19,999 ReLUs took minutes).
    """
    wanted = [clean_name(r.wanted[:MAX_WANTED]) for r in rows]
    groups = set()
    for name in wanted:
        dot = name.find(".")
        while dot != -1:
            groups.add(name[:dot])
            dot = name.find(".", dot + 1)
    taken: set = set()
    next_number: dict = {}
    for row, name in zip(rows, wanted):
        if name in groups:
            name = f"{name}.{row.kind}"
        base = name
        n = next_number.get(base, 1)
        while name in taken or name in groups:
            n += 1
            name = f"{base}_{n}"
        next_number[base] = n
        taken.add(name)
        row.name = name


def check_wiring(graph: Graph, rows: list[Row], source: str):
    """The expanded graph must be the rows, wired as intended: the YAML writer's references are checked here,
    once, rather than trusted."""
    if len(graph.nodes) != len(rows):
        raise CnnCostError(f"internal error: the written YAML expands to {len(graph.nodes)} layers, not "
                           f"{len(rows)}", location=Location(source))
    for node, row in zip(graph.nodes, rows):
        wanted = tuple(INPUT if i is INPUT else i.name for i in row.inputs)
        if node.name != row.name or node.inputs != wanted or node.output_shape != row.shape:
            raise CnnCostError(f"internal error: the written YAML reads layer '{node.name}' "
                               f"{format_shape(node.output_shape)} from {list(node.inputs)}, not '{row.name}' "
                               f"{format_shape(row.shape)} from {list(wanted)}", location=Location(source))
