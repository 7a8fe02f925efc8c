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
from typing import Callable

from . import conventions, loading
from .engine import sums, unused_params
from .errors import CnnCostError
from .results import Result
from .graph import INPUT, Graph, Node, make_node
from .kinds import KINDS
from .report import Settings, parse_input

MAX_POINTS = 50_000  # the table of 100,000 points took 2.6 s of CPU and 207 MiB (docs/security.md, F23)
MAX_RANGE = 50_000  # values one {a..b..step} may give
# Layers in all of the networks a sweep builds (one per parameter values and input size; each costs a walk of
# its layers), and in those it expands in full (one per parameter values; one per point where the network
# reads its input size), which cost about ten times more: these bound a sweep's time (docs/security.md).
MAX_SWEEP_LAYERS = 200_000
MAX_EXPANDED_LAYERS = 50_000
MAX_ANALYSED_LAYERS = 40_000  # points x layers with --memory or --latency, which analyse each point's graph
EXPANSION_FLOOR = 50  # a full expansion counts as at least this many layers: reading the file costs too
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
        raise CnnCostError(f"{what} '{_clip(text)}' gives {total:,} values, more than {MAX_POINTS:,}")
    return ["".join(p) for p in itertools.product(*choices)]


def _clip(text: str) -> str:
    """Text for a message, shortened when long (a 5,000-digit bound)."""
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text):,} characters)"


def _range(body: str, what: str) -> list[str]:
    shown = _clip(body)
    pieces = body.split("..")
    if len(pieces) not in (2, 3):
        raise CnnCostError(f"{what}: '{{{shown}}}' is not a range: write {{first..last}} or {{first..last..step}}")
    if any(len(p.strip()) > 30 for p in pieces):  # no size has 30 digits; converting 5,000 would be slow
        raise CnnCostError(f"{what}: the range '{{{shown}}}' has a number of more than 30 digits")
    try:
        first, last, *given = (int(p.strip()) for p in pieces)
    except ValueError:
        raise CnnCostError(f"{what}: the range '{{{shown}}}' must be of integers, e.g. {{128..512..32}}") from None
    step = given[0] if given else 1
    if step <= 0:
        raise CnnCostError(f"{what}: the range '{{{shown}}}' needs a positive step, got {step}")
    if last < first:
        raise CnnCostError(f"{what}: the range '{{{shown}}}' runs backwards ({first} > {last})",
                           hint=f"write {{{last}..{first}..{step}}}")
    count = (last - first) // step + 1
    if count > MAX_RANGE:
        raise CnnCostError(f"{what}: the range '{{{shown}}}' gives {count:,} values, more than {MAX_RANGE:,}")
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
                    raise CnnCostError(f"--input '{_clip(item)}' must give CxHxW or CxS sizes, e.g. 3x224x224 or "
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
        raise CnnCostError(f"--batch '{_clip(text)}' is not an integer") from None
    if value < 1:
        raise CnnCostError(f"--batch must be positive, got {_clip(str(value))}")
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
    from .yamlio import LineDict, load_file

    try:
        doc = load_file(source)
        if isinstance(doc, LineDict) and "extends" in doc:  # a parsed mapping is always a LineDict
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
        self.memo: list[dict[tuple, Node]] = [{} for _ in graph.nodes]  # per node: input shapes -> row

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
                    exc.with_context(layer=template.name)
                    raise
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


def totals(nodes: list[Node], settings: Settings, cache: dict, batch: int | None = None) -> tuple[int, int, int]:
    """params, MACs and activation memory of a graph's nodes under settings, at ``batch`` when given (engine.view's
    totals, without building its rows).

    Speed: every convention's rule is affine in the batch (a per-sample count times the batch, plus what runs
    once per forward, such as Swin V2's position-bias MLP), and activation memory is elements x batch x bytes,
    so the sums of one graph under one convention at batches 1 and 2 are worked out once (kept in ``cache``)
    and extended to the point's batch; a point on a batch or dtype axis costs no walk of the layers.
    tests/test_sweep.py checks these totals against engine.view's at several batches.
    """
    convention = conventions.get(settings.convention)
    n, b, side = batch or settings.batch, settings.element_bytes, settings.include_side
    key = (id(nodes), convention.name, side)
    found = cache.get(key)
    if found is None or found[0] is not nodes:
        one, two = sums(nodes, convention, side, 1), sums(nodes, convention, side, 2)
        # the nodes kept, so that their id stays theirs; MACs as per sample and once per forward
        found = cache[key] = (nodes, one.params, two.macs - one.macs, 2 * one.macs - two.macs, one.output_elements)
    _, params, per_sample, once, elements = found
    return params, per_sample * n + once, elements * n * b


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
            return loading.load_text(text, "<stdin>", settings)
        return loading.load(model, settings)

    inputs = next((a.values for a in axes if a.name == "input"), (None,))
    from .pymodel import is_python_model

    python_model = is_python_model(model)
    # the model at its own settings: a broken file, or a parameter it does not have, is one error up front. A
    # PyTorch model has no input of its own: it is first imported at the sweep's first input size; an ONNX file
    # may leave its input size open, for the input axis to give
    defaults: Graph | None
    try:
        defaults = load({}, inputs[0] if python_model else None)
    except CnnCostError as exc:
        if inputs[0] is None or python_model or "--input" not in exc.message:  # only an open size is the axis's
            raise
        defaults = _first_that_loads(load, (inputs[0], inputs[-1]))
        if defaults is None:
            raise
    for axis in parameter_axes if not python_model else ():  # a factory's arguments: checked by it
        if axis.name not in defaults.params:
            from .errors import did_you_mean

            raise CnnCostError(f"--set {axis.name}: the model has no parameter '{axis.name}'",
                               hint=did_you_mean(axis.name, defaults.params) or (
                                   "its parameters are: " + ", ".join(defaults.params) if defaults.params
                                   else "it has no parameters"))
    layers = len(defaults.nodes)
    expansion = max(layers, EXPANSION_FLOOR)
    expansions = 1
    for axis in parameter_axes:
        expansions *= len(axis.values)
    for count, per_network, limit in ((expansions * len(inputs), layers, MAX_SWEEP_LAYERS),
                                      (expansions, expansion, MAX_EXPANDED_LAYERS)):
        if count * per_network > limit:
            raise CnnCostError(f"the sweep builds {count:,} networks of about {per_network:,} layers each, more than "
                               f"{limit:,} layers in all", hint="sweep fewer parameter values or input sizes, or "
                               "split it")
    if (memory or latency) and total * layers > MAX_ANALYSED_LAYERS:  # each point walks its graph once more
        raise CnnCostError(f"--{'memory' if memory else 'latency'} analyses each of the {total:,} points' "
                           f"{layers:,} layers: more than {MAX_ANALYSED_LAYERS:,} in all", hint="sweep fewer points")
    expanded = 0
    graphs: dict = {}  # (parameter values, input) -> Graph, or the error
    resizers: dict = {}
    resized = True
    index = {name: i for i, name in enumerate(names)}
    cache: dict = {}
    settings_of: dict = {}  # (batch, dtype, convention) -> Settings
    points = []
    for number, values in enumerate(itertools.product(*(a.values for a in axes))):
        overrides = {a.name: values[index[a.name]] for a in parameter_axes}
        size = values[index["input"]] if "input" in index else None
        key = (_hashable(overrides), size)
        if key not in graphs:
            graphs[key] = _graph(load, overrides, size, inputs, resizers, key[0])
            if not isinstance(resizers.get(key[0]), Resizer):
                expanded += expansion
                if expanded > MAX_EXPANDED_LAYERS:  # the network reads its size, or a size was refused
                    raise CnnCostError(f"each input size of this sweep needs a full expansion of the network: more "
                                       f"than {MAX_EXPANDED_LAYERS:,} layers in all", hint="sweep fewer sizes")
            resized = resized and not isinstance(resizers.get(key[0]), str)
        graph = graphs[key]
        if isinstance(graph, str):
            points.append(Point(values, error=graph))
        else:
            # Settings per dtype and convention; the batch is checked as Settings checks it, but making Settings
            # for each of 100,000 batches took most of a sweep's time
            changes = tuple((k, values[index[k]]) for k in ("dtype", "convention") if k in index)
            settings = settings_of.get(changes)
            if settings is None:
                settings = settings_of[changes] = base.replace(**dict(changes))
            if "batch" in index:
                batch = values[index["batch"]]
                if type(batch) is not int or not 1 <= batch <= 10 ** 9 or memory or latency:
                    settings = settings.replace(batch=batch)  # refuses a bad batch as Settings does
            try:
                points.append(_point(graph, settings, values, cache, memory, optimizer, latency,
                                     device_tables.get(values[index["device"]], known) if "device" in index else None,
                                     values[index["batch"]] if "batch" in index else settings.batch))
            except CnnCostError as exc:
                points.append(Point(values, error=str(exc)))
        if on_point is not None:
            on_point(number)
    name = next((g.name for g in graphs.values() if not isinstance(g, str)), str(model))
    return Sweep(name, tuple(axes), figures, tuple(points), resized)


def _first_that_loads(load, sizes) -> Graph | None:
    for size in sizes:
        try:
            return load({}, size)
        except CnnCostError:
            pass
    return None


def _hashable(value):
    """A key for parameter values, which may be lists (ResNet's depths) or mappings."""
    if isinstance(value, dict):
        return ("{}",) + tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("[]",) + tuple(_hashable(v) for v in value)
    return value


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


def _point(graph: Graph, settings: Settings, values, cache, memory, optimizer, latency, device,
           batch: int) -> Point:
    params, macs, activations = totals(graph.nodes, settings, cache, batch)
    params += unused_params(graph, conventions.get(settings.convention))
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

    t = view(graph, settings.replace(batch=batch)).totals  # the point's batch: settings holds the base's
    # the training forward, which a convention may count otherwise than inference's (training.training_forward)
    return Point(values, params, t.macs, t.flops, activations, peak, seconds, None, t.backward_macs,
                 t.training_macs, t.training_flops)


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
    """--set NAME=V1,V2,... (each value read as YAML under a document's limits, as --set of 'table' is; ranges
    of integers expanded)."""
    from .yamlio import load_value

    sets: dict[str, list] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise CnnCostError(f"--set '{_clip(pair)}' must be NAME=V1,V2,..., e.g. --set alpha=0.5,0.75,1.0")
        values = []
        for item in _split_values(raw):
            for expanded in expand_ranges(item, f"--set {name.strip()}"):
                values.append(load_value(expanded, f"--set {name.strip()}") if expanded.strip() else "")
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
