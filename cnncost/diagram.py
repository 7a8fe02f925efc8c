"""The network as a picture: every layer a box with its name, kind, output shape and one figure, wired as
the graph is, coloured by that figure.

One plain-data Diagram (``diagram()``) is written as Graphviz source (``to_dot``), drawn by Graphviz's
``dot`` as SVG or PNG, or inlined with the vendored dagre layout engine into one offline HTML page
(``to_html``). Blocks are the dot-separated prefixes of layer names (``layer1.0``, ``inception3a``), as
``table --depth`` groups rows; ``depth`` draws each block N names deep as one box.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .errors import CnnCostError
from .graph import INPUT
from .units import count, size

FORMATS = (".dot", ".gv", ".svg", ".png", ".pdf", ".html")
COLORS = ("macs", "params", "memory", "saved", "rf")
FIGURE_NAMES = {"macs": "MACs", "params": "parameters", "memory": "activation memory",
                "saved": "memory saved for backward (training)", "rf": "receptive field (pixels)"}
# a light sequential scale (ColorBrewer's OrRd), dark text stays readable on every step
PALETTE = ("#fff7ec", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59", "#ef6548")
NONE_FILL = "#ffffff"  # a zero figure, or one the row does not have
GRAPHVIZ_HINT = "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), " \
                "or write .dot or .html, which need nothing"
DOT_SECONDS = 300  # Graphviz's layout of the largest zoo model takes seconds; this bounds a hostile input
DOT_BOXES = 3000  # more than this, Graphviz takes minutes: such a drawing is refused with a way out


@dataclass(frozen=True)
class Box:
    id: str  # a layer's or block's name; "input" for the network input
    kind: str  # the layer kind; "block" for a collapsed block; "input"
    shape: tuple  # output shape per sample
    figures: dict  # figure (COLORS) -> number, or None where the row has none
    side: bool = False  # on a side output (auxiliary head): drawn dashed
    layers: int = 1  # layers inside a collapsed block
    parent: str | None = None  # the block drawn around it


@dataclass(frozen=True)
class Diagram:
    model: str
    title: str  # the model and its settings
    totals: str  # the model's totals, one line
    color: str  # the figure boxes are filled by
    boxes: list
    edges: list  # (source id, target id, side)
    blocks: dict  # block drawn as a frame -> the block around it (None at the top)
    notes: list = field(default_factory=list)


def check_path(path: str) -> str:
    """The format a path names by its extension; '-' is stdout, which gets Graphviz source."""
    if path == "-":
        return ".dot"
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CnnCostError(f"cannot draw '{path}': the file must end in .dot, .svg, .png, .pdf or .html "
                           "(or be - for Graphviz source on stdout)")
    return ext


def check_color(color: str) -> str:
    if color not in COLORS:
        raise CnnCostError(f"unknown figure '{color}' to colour by", hint="choose from " + ", ".join(COLORS))
    return color


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if shape else "-"


def per_layer_figures(report, want: tuple = COLORS) -> tuple[dict, list]:
    """{layer name: {figure: value}} for every figure in ``want``, and notes on figures not available."""
    notes = []
    saved, rf = {}, {}
    if "saved" in want:
        try:
            from .memory import analyze_memory

            memory = analyze_memory(report.graph, report.settings, mode="train")
            saved = {row.name: row.saved_bytes for row in memory.layers}
        except CnnCostError as exc:
            notes.append(f"saved: {exc}")
    if "rf" in want:
        try:
            from .rf import receptive_fields

            for row in receptive_fields(report.graph):
                if row.field is not None:
                    rf[row.name] = (row.field.h.size, row.field.w.size)
        except CnnCostError as exc:
            notes.append(f"rf: {exc}")
    figures = {}
    for row in report.layers:
        figures[row.name] = {"macs": row.macs, "params": row.params, "memory": row.memory_bytes,
                             "saved": saved.get(row.name), "rf": rf.get(row.name)}
    return figures, notes


def diagram(report, color: str = "macs", depth: int | None = None) -> Diagram:
    """The boxes and wires of a report; with ``depth``, each block ``depth`` names deep is one box."""
    check_color(color)
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise CnnCostError(f"depth must be an integer of at least 1, got {depth!r}")
    if report.graph is None:
        raise CnnCostError("this report has no graph to draw (make it with cnncost.analyze)")
    figures, notes = per_layer_figures(report, (color,))
    if color in ("saved", "rf") and notes:
        raise CnnCostError(f"cannot colour by {color}: {notes[0].split(': ', 1)[1]}")
    # group layers by the block they fall in at this depth
    groups: dict = {}
    for row in report.layers:
        parts = row.name.split(".")
        key = ".".join(parts[:depth]) if depth and len(parts) > depth else row.name
        groups.setdefault(key, []).append(row)
    box_of = {}
    boxes = [Box("input", "input", tuple(report.input), {c: None for c in COLORS})]
    for key, members in groups.items():
        for m in members:
            box_of[m.name] = key
        if len(members) == 1 and members[0].name == key:
            row = members[0]
            boxes.append(Box(key, row.kind, tuple(row.output_shape), figures[key], row.side))
            continue
        summed = {}
        for figure in COLORS:
            values = [figures[m.name][figure] for m in members]
            if figure == "rf":  # a block's field is its last layer's
                summed[figure] = values[-1]
            else:
                known = [v for v in values if v is not None]
                summed[figure] = sum(known) if known else None
        boxes.append(Box(key, "block", tuple(members[-1].output_shape), summed, all(m.side for m in members),
                         len(members)))
    edges, seen = [], set()
    side_of = {b.id: b.side for b in boxes}
    for row in report.layers:
        target = box_of[row.name]
        for source in row.inputs:
            source = "input" if source == INPUT else box_of.get(source, source)
            if source != target and (source, target) not in seen and source in side_of:
                seen.add((source, target))
                edges.append((source, target, side_of[target]))
    blocks = _frames([b.id for b in boxes[1:]])
    boxes = [b if b.id == "input" else Box(b.id, b.kind, b.shape, b.figures, b.side, b.layers,
                                           _parent(b.id, blocks)) for b in boxes]
    settings = report.settings
    title = (f"{report.model}: input {_shape(report.input)}, batch {report.batch}, {report.dtype}, "
             f"convention {report.convention}")
    t = report.totals
    totals = (f"{count(t.params)} params, {count(t.macs)} MACs, {count(t.flops)} FLOPs, "
              f"{size(t.memory_bytes)} of activations, {len(report.layers):,} layers")
    del settings
    return Diagram(report.model, title, totals, color, boxes, edges, blocks, notes)


def _frames(names: list) -> dict:
    """The blocks drawn as frames: each name prefix that two or more boxes share, with the frame around it."""
    shared: dict = {}
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            shared[prefix] = shared.get(prefix, 0) + 1
    frames = {p for p, n in shared.items() if n >= 2}
    return {p: _parent(p, frames) for p in sorted(frames, key=lambda p: (p.count("."), p))}


def _parent(name: str, frames) -> str | None:
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in frames:
            return prefix
    return None


# --- colours ---


def scale(values) -> tuple[float, float] | None:
    """The log range of the positive values, or None when there are none."""
    positive = [v for v in values if v]
    if not positive:
        return None
    return math.log(min(positive)), math.log(max(positive))


def fill(value, bounds) -> str:
    if not value or bounds is None:
        return NONE_FILL
    low, high = bounds
    t = 0.0 if high == low else (math.log(value) - low) / (high - low)
    return PALETTE[min(len(PALETTE) - 1, int(t * len(PALETTE)))]


def magnitude(figure: str, value):
    """The number a figure is coloured by: the larger side of a receptive field."""
    if value is None:
        return None
    return max(value) if figure == "rf" else value


def figure_text(figure: str, value) -> str:
    if value is None:
        return ""
    if figure == "macs":
        return f"{count(value)} MACs"
    if figure == "params":
        return f"{count(value)} params"
    if figure == "memory":
        return size(value)
    if figure == "saved":
        return f"{size(value)} saved"
    h, w = value
    return f"RF {h:g}" if h == w else f"RF {h:g}×{w:g}"


# --- Graphviz ---


def _q(text: str) -> str:
    """A Graphviz ID: a double-quoted string."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _h(text) -> str:
    """Text inside a Graphviz HTML-like label."""
    return html.escape(str(text), quote=True)


def to_dot(d: Diagram) -> str:
    bounds = scale([magnitude(d.color, b.figures[d.color]) for b in d.boxes])
    lines = [f"digraph {_q(d.model)} {{",
             '  graph [rankdir=TB, ordering=out, fontname="Helvetica", fontsize=12, nodesep=0.25, ranksep=0.3, '
             f'labelloc=t, label=<{_legend(d, bounds)}>];',
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, color="#555555", '
             'margin="0.12,0.04"];',
             '  edge [color="#666666", arrowsize=0.6];']
    children: dict = {}
    first: dict = {}  # each frame's first box, so that frames are written in execution order
    for i, b in enumerate(d.boxes):
        block = b.parent
        while block is not None and block not in first:
            first[block] = i
            block = d.blocks[block]
    items = [(i, "box", b) for i, b in enumerate(d.boxes)] + [(first[k], "block", k) for k in d.blocks]
    for _, what, item in sorted(items, key=lambda t: (t[0], t[1] == "box")):
        parent = item.parent if what == "box" else d.blocks[item]
        children.setdefault(parent, []).append((what, item))
    numbers = {block: i for i, block in enumerate(d.blocks)}

    def emit(parent, indent):
        for what, item in children.get(parent, []):
            if what == "box":
                lines.append(indent + _dot_box(item, d.color, bounds))
            else:
                lines.append(f"{indent}subgraph cluster_{numbers[item]} {{")
                short = item.rsplit(".", 1)[-1] if parent else item
                lines.append(f'{indent}  label=<{_h(short)}>; labeljust=l; fontsize=10; fontcolor="#444444"; '
                             'style="rounded"; color="#bbbbbb";')
                emit(item, indent + "  ")
                lines.append(indent + "}")

    emit(None, "  ")
    for source, target, side in d.edges:
        lines.append(f"  {_q(source)} -> {_q(target)}" + (" [style=dashed];" if side else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_box(b: Box, color: str, bounds) -> str:
    if b.kind == "input":
        return f'{_q(b.id)} [label=<<b>input</b><br/>{_h(_shape(b.shape))}>, shape=box, style="rounded", ' \
               'fillcolor="#ffffff"];'
    kind = f"block, {b.layers} layers" if b.kind == "block" else b.kind
    text = figure_text(color, b.figures[color])
    label = f"<b>{_h(b.id)}</b><br/>{_h(kind)} · {_h(_shape(b.shape))}" + (f"<br/>{_h(text)}" if text else "")
    style = "rounded,filled" + (",dashed" if b.side else "") + (",bold" if b.kind == "block" else "")
    return (f"{_q(b.id)} [label=<{label}>, style={_q(style)}, "
            f"fillcolor={_q(fill(magnitude(color, b.figures[color]), bounds))}];")


def _legend(d: Diagram, bounds) -> str:
    """The graph's title, totals and colour key, as a Graphviz HTML-like table."""
    key = ""
    if bounds is not None:
        low, high = (math.exp(v) for v in bounds)
        if d.color == "rf":
            ends = (f"{low:g}", f"{high:g}")
        elif d.color in ("memory", "saved"):
            ends = (size(round(low)), size(round(high)))
        else:
            ends = (count(round(low)), count(round(high)))
        cells = "".join(f'<td bgcolor="{c}" width="18"> </td>' for c in PALETTE)
        key = (f'<tr><td align="left"><table border="0" cellspacing="0" cellpadding="2"><tr>'
               f'<td>fill: {_h(FIGURE_NAMES[d.color])}, log scale, {_h(ends[0])}</td>{cells}'
               f'<td>{_h(ends[1])} (white: 0 or none)</td></tr></table></td></tr>')
    return (f'<table border="0" cellspacing="0" cellpadding="1"><tr><td align="left"><b>{_h(d.title)}</b></td>'
            f'</tr><tr><td align="left">{_h(d.totals)}</td></tr>{key}</table>')


def dot_program() -> str:
    program = shutil.which("dot")
    if program is None:
        raise CnnCostError("drawing SVG, PNG or PDF needs Graphviz's 'dot' program, which is not installed",
                           hint=GRAPHVIZ_HINT)
    return program


def render_dot(source: str, fmt: str, dpi: float | None = None) -> bytes:
    """Graphviz's drawing of DOT source as 'svg', 'png' or 'pdf'."""
    args = [dot_program(), f"-T{fmt}"] + ([f"-Gdpi={dpi:g}"] if dpi else [])
    try:
        done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True, timeout=DOT_SECONDS)
    except subprocess.TimeoutExpired:
        raise CnnCostError(f"Graphviz took over {DOT_SECONDS} s to lay the graph out",
                           hint="draw it with blocks collapsed, e.g. --depth 2") from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CnnCostError(f"Graphviz's dot failed: {message[-1] if message else f'exit {done.returncode}'}")
    return done.stdout


# --- the HTML page ---


def _vendor(name: str) -> str:
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    with open(os.path.join(here, *name.split("/")), encoding="utf-8") as f:
        return f.read()


def _rows(report, figures) -> list:
    """Every layer as the page needs it: its figures as numbers, and its row of the table as text."""
    layers = []
    for row in report.layers:
        f = figures[row.name]
        layers.append({
            "name": row.name, "kind": row.kind, "shape": list(row.output_shape),
            "inputs": ["input" if i == INPUT else i for i in row.inputs], "side": row.side,
            "figures": {k: (list(v) if isinstance(v, tuple) else v) for k, v in f.items()},
            "row": {"input": " + ".join(_shape(s) for s in row.input_shapes), "output": _shape(row.output_shape),
                    "params": f"{row.params:,}", "MACs": f"{row.macs:,}", "FLOPs": f"{row.flops:,}",
                    "memory": f"{row.memory_bytes:,} B", "args": ", ".join(
                        f"{k}={_arg(v)}" for k, v in row.args.items())}})
    return layers


def _arg(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def to_html(report, color: str = "macs", depth: int | None = None) -> str:
    """One page, everything inline, no request made: the layout engine, the data and the drawing code."""
    check_color(color)
    d = diagram(report, color=color, depth=None)
    figures, notes = per_layer_figures(report)
    data = {"model": report.model, "title": d.title, "totals": d.totals, "color": color, "depth": depth,
            "input": list(report.input), "layers": _rows(report, figures), "notes": notes,
            "figureNames": FIGURE_NAMES, "palette": PALETTE}
    # no "<" at all inside the script element: "</script" or "<!--" in a name cannot end or bend it
    payload = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")
    script = _vendor("vendor/dagre/dagre.min.js")
    if "</script" in script.lower():  # it would end the page's script element early
        raise CnnCostError("the vendored layout engine cannot be inlined into a page")
    parts = {"TITLE": html.escape(d.title), "STYLE": _vendor("graph_page/page.css"), "DATA": payload,
             "DAGRE": script, "SCRIPT": _vendor("graph_page/page.js")}
    # one pass: text put in is never searched again for markers
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _vendor("graph_page/page.html"))


# --- writing -o FILE ---


def write(report, path: str, color: str = "macs", depth: int | None = None, dpi: float | None = None) -> None:
    """The drawing of ``report`` in the format ``path``'s extension names, written atomically."""
    from .output import write_file

    ext = check_path(path)
    check_color(color)
    if ext == ".html":
        data = to_html(report, color, depth).encode("utf-8")
    else:
        d = diagram(report, color, depth)
        if ext not in (".dot", ".gv") and len(d.boxes) > DOT_BOXES:
            raise CnnCostError(f"{len(d.boxes):,} boxes are too many for Graphviz to lay out in reasonable time "
                               f"(at most {DOT_BOXES:,})", hint="draw blocks collapsed with --depth N, or write .html "
                                                               "or .dot")
        source = to_dot(d)
        data = source.encode("utf-8") if ext in (".dot", ".gv") else render_dot(source, ext[1:], dpi)
    if path == "-":
        from .output import write_stdout

        write_stdout(data.decode("utf-8"))
        return
    write_file(path, lambda f: f.write(data))
