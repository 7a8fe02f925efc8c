"""Sweeps: a model's totals over the Cartesian product of axes (parameters, input, batch, dtype,
convention, device).

Each point is a view of a graph (engine.py's figures, and optionally training memory and roofline
latency). Points that differ only in batch, dtype or convention share one graph. Points that differ only
in the input size share one expansion too: ``Resizer`` re-runs the kinds' shape and quantity rules over
the expanded graph at each size, and remembers each layer's result per input shape, so the deep layers of
a network, whose sizes change only every 32 pixels, are worked out once per size they take. It is checked
against a full expansion at the first and the last size of each sweep, and not used where the network's
YAML reads its input size (in_height, in_width). Plain data; render/sweep.py makes text of it.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import api, conventions
from .errors import CnnCostError
from .results import Result
from .graph import INPUT, Graph, Node, make_node
from .kinds import KINDS
from .report import Settings, parse_input

MAX_POINTS = 100_000
MAX_RANGE = 100_000  # values one {a..b..step} may give
AXIS_ORDER = ("input", "batch", "dtype", "convention", "device")  # after the model parameters
FIGURES = ("params", "macs", "flops", "memory_bytes")
_RANGE = re.compile(r"\{([^{}]*)\}")


# --- reading the axes ---


def expand_ranges(text: str, what: str) -> list[str]:
    """'3x{128..512..32}' -> ['3x128', '3x160', ...]; several braces give their product; no brace: [text]."""
    parts = _RANGE.split(text)
    if len(parts) == 1:
        return [text]
    choices = []
    for i, part in enumerate(parts):
        choices.append(_range(part, what) if i % 2 else [part])
    total = 1
    for c in choices:
        total *= len(c)
    if total > MAX_POINTS:
        raise CnnCostError(f"{what} '{text}' gives {total:,} values, more than {MAX_POINTS:,}")
    return ["".join(p) for p in itertools.product(*choices)]


def _range(body: str, what: str) -> list[str]:
    pieces = body.split("..")
    if len(pieces) not in (2, 3):
        raise CnnCostError(f"{what}: '{{{body}}}' is not a range: write {{first..last}} or {{first..last..step}}")
    try:
        first, last, *step = (int(p.strip()) for p in pieces)
    except ValueError:
        raise CnnCostError(f"{what}: the range '{{{body}}}' must be of integers, e.g. {{128..512..32}}") from None
    step = step[0] if step else 1
    if step <= 0:
        raise CnnCostError(f"{what}: the range '{{{body}}}' needs a positive step, got {step}")
    if last < first:
        raise CnnCostError(f"{what}: the range '{{{body}}}' runs backwards ({first} > {last})",
                           hint=f"write {{{last}..{first}..{step}}}")
    count = (last - first) // step + 1
    if count > MAX_RANGE:
        raise CnnCostError(f"{what}: the range '{{{body}}}' gives {count:,} values, more than {MAX_RANGE:,}")
    return [str(v) for v in range(first, last + 1, step)]


def input_values(texts) -> list[tuple]:
    """--input values: CxHxW, or CxS for a square S x S, each with ranges; comma-separated lists too."""
    if texts and not any(t.strip(", ") for t in map(str, texts)):
        raise CnnCostError("--input has no values: the sweep would be empty")
    values = []
    for text in texts:
        for item in (t for t in str(text).split(",") if t.strip()):
            for expanded in expand_ranges(item.strip(), "--input"):
                dims = expanded.lower().split("x")
                if len(dims) == 2:
                    expanded = f"{dims[0]}x{dims[1]}x{dims[1]}"  # a square input
                try:
                    values.append(parse_input(expanded))
                except CnnCostError:
                    raise CnnCostError(f"--input '{item}' must give CxHxW or CxS sizes, e.g. 3x224x224 or "
                                       "3x{128..512..32}") from None
    return values


def list_values(texts, what: str, convert: Callable = str) -> list:
    if texts and not any(t.strip(", ") for t in map(str, texts)):
        raise CnnCostError(f"{what} has no values: the sweep would be empty")
    values = []
    for text in texts:
        for item in (t for t in str(text).split(",") if t.strip()):
            for expanded in expand_ranges(item.strip(), what):
                values.append(convert(expanded))
    return values


def batch_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CnnCostError(f"--batch '{text}' is not an integer") from None
    if value < 1:
        raise CnnCostError(f"--batch must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Axis:
    name: str  # input, batch, dtype, convention, device, or a model parameter
    values: tuple


@dataclass(frozen=True)
class Point:
    values: tuple  # one per axis, in the sweep's axis order
    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    memory_bytes: int | None = None  # activation memory, as in 'cnncost table'
    peak_bytes: int | None = None  # training peak (--memory)
    latency_s: float | None = None  # roofline time on the point's device (--latency)
    error: str | None = None
    backward_macs: int | None = None  # --pass train, where the convention counts the backward
    training_macs: int | None = None
    training_flops: int | None = None


@dataclass(frozen=True, repr=False)  # the repr is one line (results.Result)
class Sweep(Result):
    model: str
    axes: tuple  # of Axis
    figures: tuple  # the figures each point carries
    points: tuple  # of Point, in product order (the last axis varies fastest)
    resized: bool  # whether input sizes shared one expansion (Resizer)

    def to_dict(self) -> dict:
        names = [a.name for a in self.axes]

        def value(v):
            return "x".join(map(str, v)) if isinstance(v, tuple) else v

        return {"model": self.model, "axes": {a.name: [value(v) for v in a.values] for a in self.axes},
                "figures": list(self.figures),
                "points": [{**{n: value(v) for n, v in zip(names, p.values)},
                            **{f: getattr(p, f) for f in self.figures}, "error": p.error} for p in self.points]}


# --- re-costing one expansion at other sizes ---


def reads_its_size(source: str | None) -> bool:
    """Whether a network's YAML (with what it extends) uses its input size in an expression."""
    if source is None:
        return True
    from .expand import with_base
    from .yamlio import load_file

    try:
        doc = load_file(source)
        if isinstance(doc, dict) and "extends" in doc:
            doc = with_base(doc, source, [source])
    except CnnCostError:
        return True
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str) and ("in_height" in value or "in_width" in value or value == "same"):
            return True  # shapes, or padding "same", worked out from the input size
        if isinstance(value, dict):
            stack.extend(value.values())
            stack.extend(value.keys())
        elif isinstance(value, list):
            stack.extend(value)
    return False


class Resizer:
    """One expanded graph at other input sizes: each layer's shape and quantities worked out again by its
    kind, remembered per input shape (a speed-up for sweeps; tests/test_sweep.py checks it against full
    expansions)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        position = {INPUT: 0}
        self.plan = []
        for i, node in enumerate(graph.nodes):
            self.plan.append((node, KINDS[node.kind], tuple(position[x] for x in node.inputs)))
            position[node.name] = i + 1
        self.memo = [dict() for _ in graph.nodes]

    def nodes(self, input_shape: tuple) -> list[Node]:
        shapes = [input_shape]
        nodes = []
        for (template, kind, inputs), memo in zip(self.plan, self.memo):
            ins = tuple([shapes[j] for j in inputs])
            node = memo.get(ins)
            if node is None:
                try:
                    out = tuple(kind.shape(template.args, ins))
                except CnnCostError as exc:
                    raise exc.with_context(layer=template.name)
                if out and min(out) < 1:
                    raise CnnCostError("output shape has an empty dimension", layer=template.name)
                node = memo[ins] = make_node(
                    template.name, template.kind, template.args, template.inputs, ins, out, template.side,
                    template.line, template.call, *kind.quantities(template.args, ins, out))
            shapes.append(node.output_shape)
            nodes.append(node)
        return nodes

    def graph_at(self, input_shape: tuple) -> Graph:
        return dataclasses.replace(self.graph, input_shape=input_shape, nodes=self.nodes(input_shape))


def _same_graph(a: Graph, b: Graph) -> bool:
    def key(n: Node):
        return (n.name, n.kind, n.args, n.inputs, n.input_shapes, n.output_shape, n.side, n.call, n.params,
                n.buffers, n.macs, n.bias_adds, n.window)

    return a.output == b.output and [key(n) for n in a.nodes] == [key(n) for n in b.nodes]


# --- the totals of one point ---


def totals(nodes: list[Node], settings: Settings, cache: dict) -> tuple[int, int, int]:
    """params, MACs and activation memory of a graph's nodes under settings (engine.view's totals, without
    building its rows); per-node figures are kept in ``cache`` across points."""
    convention = conventions.get(settings.convention)
    n, b, side = settings.batch, settings.element_bytes, settings.include_side
    key = (convention.name, n, b, side)
    params = macs = memory = 0
    for node in nodes:
        found = cache.get((id(node), key))
        if found is None:
            counted = side or not node.side
            kind = KINDS[node.kind]
            found = (node.params if convention.counts_params(node.kind, node.call, node.side, side) else 0,
                     convention.rule(node.kind)(node, n) if counted else 0,
                     node.output_elements * n * b if counted and not kind.inplace else 0)
            cache[(id(node), key)] = found
        params += found[0]
        macs += found[1]
        memory += found[2]
    return params, macs, memory


def sweep(model: str, axes: list[Axis], base: Settings, *, memory: bool = False, optimizer: str = "sgd",
          latency: bool = False, device_table: dict | None = None,
          on_point: Callable[[int], None] | None = None, text: str | None = None) -> Sweep:
    """The model's totals at every point of the product of ``axes`` (the rest from ``base``)."""
    from . import devices as device_tables

    total = 1
    for axis in axes:
        if not axis.values:
            raise CnnCostError(f"the axis '{axis.name}' has no values: the sweep is empty")
        total *= len(axis.values)
    if total > MAX_POINTS:
        raise CnnCostError(f"the sweep has {total:,} points, more than {MAX_POINTS:,}",
                           hint="sweep fewer values, or split it")
    names = [a.name for a in axes]
    known = device_tables.table() if device_table is None else device_table
    if latency and "device" not in names:
        raise CnnCostError("--latency needs a --device to time the network on")
    parameter_axes = [a for a in axes if a.name not in AXIS_ORDER]
    figures = FIGURES + (("peak_bytes",) if memory else ()) + (("latency_s",) if latency else ()) + (
        ("backward_macs", "training_macs", "training_flops") if base.pass_ == "train" else ())

    def load(overrides: dict, size) -> Graph:
        settings = base.replace(set={**base.set, **overrides}, input=size)
        if text is not None:
            return api.load_text(text, "<stdin>", settings)
        return api.load(model, settings)

    # the model at its own settings: a broken file, or a parameter it does not have, is one error up front
    from .pymodel import is_python_model

    # a PyTorch model has no input of its own: it is first imported at the sweep's first input size
    first = next((a.values[0] for a in axes if a.name == "input"), None) if is_python_model(model) else None
    defaults = load({}, first)
    for axis in parameter_axes if not is_python_model(model) else ():  # a factory's arguments: checked by it
        if axis.name not in defaults.params:
            from .errors import did_you_mean

            raise CnnCostError(f"--set {axis.name}: the model has no parameter '{axis.name}'",
                               hint=did_you_mean(axis.name, defaults.params) or (
                                   "its parameters are: " + ", ".join(defaults.params) if defaults.params
                                   else "it has no parameters"))
    graphs: dict = {}  # (parameter values, input) -> Graph, or the error
    resizers: dict = {}
    resized = True
    index = {name: i for i, name in enumerate(names)}
    cache: dict = {}
    points = []
    inputs = next((a.values for a in axes if a.name == "input"), (None,))
    for number, values in enumerate(itertools.product(*(a.values for a in axes))):
        overrides = {a.name: values[index[a.name]] for a in parameter_axes}
        size = values[index["input"]] if "input" in index else None
        key = (tuple(overrides.items()), size)
        if key not in graphs:
            graphs[key] = _graph(load, overrides, size, inputs, resizers, key[0])
            resized = resized and not isinstance(resizers.get(key[0]), str)
        graph = graphs[key]
        if isinstance(graph, str):
            points.append(Point(values, error=graph))
        else:
            settings = base.replace(**{k: values[index[k]] for k in ("batch", "dtype", "convention")
                                       if k in index})
            try:
                points.append(_point(graph, settings, values, cache, memory, optimizer, latency,
                                     device_tables.get(values[index["device"]], known) if "device" in index else None))
            except CnnCostError as exc:
                points.append(Point(values, error=str(exc)))
        if on_point is not None:
            on_point(number)
    name = next((g.name for g in graphs.values() if not isinstance(g, str)), str(model))
    return Sweep(name, tuple(axes), figures, tuple(points), resized)


def _graph(load, overrides, size, inputs, resizers, key) -> Graph | str:
    """The graph at one point: a full expansion, or the point's parameter values' Resizer at this size."""
    resizer = resizers.get(key)
    if resizer is None:
        resizer = resizers[key] = _resizer(load, overrides, inputs)
    try:
        if isinstance(resizer, Resizer):
            return resizer.graph_at(size)
        return load(overrides, size)
    except CnnCostError as exc:
        if isinstance(resizer, Resizer):
            try:  # the full expansion says where, in the user's terms, or leaves a side output out
                return load(overrides, size)
            except CnnCostError as full:
                return str(full)
        return str(exc)


def _resizer(load, overrides, inputs) -> Resizer | str:
    """A Resizer for these parameter values when sizes may share an expansion, else 'no'."""
    sizes = [s for s in inputs if s is not None]
    if len(sizes) < 2:
        return "no"
    try:
        first = load(overrides, sizes[0])
    except CnnCostError:
        return "no"
    if reads_its_size(first.source) or first.left_out:
        return "no"
    resizer = Resizer(first)
    try:
        last = load(overrides, sizes[-1])
        if last.left_out or not _same_graph(resizer.graph_at(sizes[-1]), last):
            return "no"
    except CnnCostError:
        return "no"
    return resizer


def _point(graph: Graph, settings: Settings, values, cache, memory, optimizer, latency, device) -> Point:
    params, macs, activations = totals(graph.nodes, settings, cache)
    peak = seconds = None
    if memory:
        from .memory import analyze_memory

        peak = analyze_memory(graph, settings, optimizer=optimizer, devices=(device,) if device else ()).peak_bytes
    if latency:
        from .latency import roofline

        seconds = roofline(graph, settings, device).time_s
    if settings.pass_ != "train":
        return Point(values, params, macs, 2 * macs, activations, peak, seconds)
    from .engine import view

    t = view(graph, settings).totals
    return Point(values, params, macs, 2 * macs, activations, peak, seconds, None, t.backward_macs, t.training_macs,
                 t.training_flops)


def axes_from(sets: dict[str, list], inputs: list, batches: list, dtypes: list, conventions_: list,
              devices: list) -> list[Axis]:
    """The sweep's axes, model parameters first, then input, batch, dtype, convention and device; an axis the
    user did not give is left out (its value comes from the base settings)."""
    axes = [Axis(name, tuple(values)) for name, values in sets.items()]
    for name, values in zip(AXIS_ORDER, (inputs, batches, dtypes, conventions_, devices)):
        if values:
            axes.append(Axis(name, tuple(values)))
    if not axes:
        raise CnnCostError("nothing to sweep: give at least one axis with --set NAME=V1,V2, --input, --batch, "
                           "--dtype, --convention or --device")
    return axes


def parameter_values(pairs) -> dict[str, list]:
    """--set NAME=V1,V2,... (each value read as YAML, ranges of integers expanded)."""
    import yaml

    sets: dict[str, list] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise CnnCostError(f"--set '{pair}' must be NAME=V1,V2,..., e.g. --set alpha=0.5,0.75,1.0")
        values = []
        for item in _split_values(raw):
            for expanded in expand_ranges(item, f"--set {name.strip()}"):
                try:
                    values.append(yaml.safe_load(expanded) if expanded.strip() else "")
                except yaml.YAMLError:
                    values.append(expanded)
        sets.setdefault(name.strip(), []).extend(values)
    return sets


def _split_values(raw: str) -> list[str]:
    """Split on commas outside brackets, so that a list value ([3, 4, 6, 3]) stays whole."""
    items, depth, current = [], 0, ""
    for ch in raw:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    return [i for i in items if i]
