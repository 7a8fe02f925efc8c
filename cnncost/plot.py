"""Figures: a network's per-layer costs (the lecture's Fig 8.2), the zoo's accuracy against operations
(Fig 8.18), and a sweep's figures against its axis.

Each figure is first plain data (``*_data``: the series as lists, which the tests check against the
reports), then drawn by matplotlib (the ``plot`` extra), headless, as PNG, SVG or PDF by the file's extension.
Every figure takes a Style (--dpi, --size, --title, --font-size) and reads in cnncost/units.py's units:
counts in k/M/G, memory in KiB/MiB/GiB, times in ms/µs, on axes that never use an offset (1e10).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .errors import CnnCostError
from .units import BYTE_UNITS, COUNT_UNITS, TIME_UNITS

FORMATS = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'cnncost[plot]'"
MAX_BARS = 60  # layers one figure shows; more are grouped into blocks


def check_path(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CnnCostError(f"cannot draw '{path}': the file must end in .png, .svg or .pdf")
    return ext


@dataclass(frozen=True)
class Style:
    """How a figure is drawn: --dpi (PNG pixels per inch), --size (inches; None: the figure's own),
    --title (None: the figure's own) and --font-size (points)."""

    dpi: float = 150.0
    size: tuple | None = None
    title: str | None = None
    font_size: float = 9.0

    def __post_init__(self):
        if isinstance(self.dpi, bool) or not isinstance(self.dpi, (int, float)) or not 10 <= self.dpi <= 1200:
            raise CnnCostError(f"dpi must be a number from 10 to 1200, got {self.dpi!r}")
        if self.size is not None:
            object.__setattr__(self, "size", parse_size(self.size))
        if isinstance(self.font_size, bool) or not isinstance(self.font_size, (int, float)) or \
                not 3 <= self.font_size <= 72:
            raise CnnCostError(f"font size must be from 3 to 72 points, got {self.font_size!r}")
        if self.title is not None and not isinstance(self.title, str):
            raise CnnCostError(f"title must be a str, got {type(self.title).__name__}")

    def figsize(self, default: tuple) -> tuple:
        return self.size or default


def parse_size(value) -> tuple:
    """'7x4' or (7, 4): width and height in inches, each from 1 to 100."""
    text = value
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
        try:
            value = tuple(float(p) for p in parts) if len(parts) == 2 else None
        except ValueError:
            value = None
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 100 for v in value):
        raise CnnCostError(f"size {str(text)[:40]!r} must be WxH in inches, each from 1 to 100, e.g. 7x4")
    return float(value[0]), float(value[1])


def axis_unit(largest: float, kind: str) -> tuple[str, float]:
    """The unit an axis reads in, by its largest value: ('M', 1e6) for counts, ('MiB', 2**20) for bytes,
    ('ms', 1e-3) for seconds."""
    units = {"count": COUNT_UNITS, "bytes": BYTE_UNITS, "seconds": TIME_UNITS}[kind]
    for unit, scale in units:
        if abs(largest) >= scale:
            return unit, scale
    return {"count": ("", 1), "bytes": ("B", 1), "seconds": (units[-1][0], units[-1][1])}[kind]


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CnnCostError("plotting needs matplotlib, which is not installed", hint=INSTALL_HINT) from None
    matplotlib.use("Agg")  # headless: no display is needed or used
    import matplotlib.pyplot as plt

    return plt


def _figure(style: Style, default_size: tuple, rows: int = 1, **options):
    plt = _pyplot()
    # the same drawing every time: an SVG carries no date and no random ids, so make_figures is reproducible
    with plt.rc_context({"font.size": style.font_size, "svg.hashsalt": "cnncost", "svg.fonttype": "none"}):
        fig, axes = plt.subplots(rows, 1, figsize=style.figsize(default_size), layout="constrained",
                                 squeeze=False, **options)
    return fig, axes[:, 0]


def _save(fig, path: str, style: Style):
    check_path(path)
    import io

    from .output import write_file

    ext = os.path.splitext(path)[1].lower()
    # no date or version in the file: the same figure is the same file
    metadata = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(ext, {"Software": None})
    try:
        # the size asked for is the size drawn: no tight bounding box that would crop or grow it. Drawn in
        # memory, then written: a PNG writer seeks, which a FIFO or /dev/stdout cannot
        drawn = io.BytesIO()
        fig.savefig(drawn, dpi=style.dpi, format=ext[1:], metadata=metadata)
        write_file(path, lambda f: f.write(drawn.getvalue()))
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _plain_numbers(axis):
    """Tick labels as plain numbers: no offset or 1e10 multiplier, whatever the scale."""
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    if axis.get_scale() == "log":
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    else:
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)


# --- Fig 8.2: where a network's memory, parameters and MACs are ---


@dataclass(frozen=True)
class LayersData:
    title: str
    labels: list  # one per bar, in execution order
    kinds: list  # each bar's layer kind ("block" for a block)
    memory_bytes: list  # activation memory
    params: list
    macs: list
    notes: list = field(default_factory=list)


def layers_data(report, depth: int | None = None, only: tuple | None = None) -> LayersData:
    """The bars of a report: every layer, or blocks of its names (--depth), without zero-cost rows;
    ``only``: just the layers of these kinds (--only conv,linear)."""
    from .engine import group_by_depth
    from .graph import counted
    from .kinds import KINDS

    def drawn(rows):  # side outputs left out of the totals, and in-place rows, which carry nothing, are not drawn
        return [r for r in counted(rows, report.include_side) if r.memory_bytes or r.params or r.macs]

    notes = []
    if only:
        unknown = [k for k in only if k not in KINDS]
        if unknown:
            from .errors import did_you_mean

            raise CnnCostError(f"--only: unknown layer kind '{unknown[0]}'",
                               hint=did_you_mean(unknown[0], list(KINDS)) or "see 'cnncost kinds'")
        if depth:
            raise CnnCostError("--only draws layers of some kinds, --depth blocks of all of them: give one")
        rows = [r for r in drawn(report.counted()) if r.kind in only]
        if not rows:
            raise CnnCostError(f"{report.model} has no layer of kind {', '.join(only)} with a cost to draw")
        notes.append(f"only {', '.join(only)} layers ({len(rows)} of {len(report.layers)})")
    else:
        rows = drawn(group_by_depth(report, depth) if depth else list(report.counted()))
    if not depth and not only and len(rows) > MAX_BARS:
        for level in range(1, 6):
            grouped = drawn(group_by_depth(report, level))
            if len(grouped) <= MAX_BARS or level == 5:
                notes.append(f"{len(rows)} layers, drawn as {len(grouped)} blocks (--depth {level})")
                rows = grouped
                break
    return LayersData(
        f"{report.model}: input {'×'.join(map(str, report.input))}, batch {report.batch}, {report.dtype}, "
        f"convention {report.convention}",
        [r.name for r in rows], [r.kind for r in rows], [r.memory_bytes for r in rows], [r.params for r in rows],
        [r.macs for r in rows], notes)


def layers_figure(data: LayersData, style: Style = Style()):
    count = len(data.labels)
    fig, axes = _figure(style, (max(6.0, 0.2 * count + 1.6), 6.0), rows=3, sharex=True)
    series = ((data.memory_bytes, "Activation memory", "bytes", "#4c72b0"),
              (data.params, "Parameters", "count", "#dd8452"), (data.macs, "MACs", "count", "#55a868"))
    for ax, (values, label, kind, colour) in zip(axes, series):
        unit, scale = axis_unit(max(values, default=0), kind)
        ax.bar(range(count), [v / scale for v in values], color=colour, width=0.75)
        ax.set_ylabel(f"{label} ({unit})" if unit else label)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(x=0.01)
        _plain_numbers(ax.yaxis)
    axes[-1].set_xticks(range(count))
    axes[-1].set_xticklabels(data.labels, rotation=90, fontsize=style.font_size * 0.85)
    axes[-1].set_xlabel("block" if any(k == "block" for k in data.kinds) else "layer")
    fig.suptitle(style.title if style.title is not None else data.title, fontsize=style.font_size * 1.15)
    if data.notes:
        axes[0].set_title("; ".join(data.notes), fontsize=style.font_size * 0.9, loc="left", color="0.35")
    return fig


def draw_layers(data: LayersData, path: str, style: Style = Style()):
    _save(layers_figure(data, style), path, style)


# --- Fig 8.18: accuracy against operations, bubble area for parameters ---

# Families by name prefix, each with its marker and colour. A transformer family is ready for when the zoo has
# them (vit_, swin_, deit_, ...): it gets a marker no CNN family uses.
FAMILIES = (
    ("alexnet", "AlexNet, ZFNet", ("alexnet", "zfnet"), "o", "#7f7f7f"),
    ("vgg", "VGG", ("vgg",), "s", "#8c564b"),
    ("inception", "GoogLeNet, Inception", ("googlenet", "inception"), "^", "#e377c2"),
    ("resnet", "ResNet, ResNeXt", ("resnet", "resnext", "wide_resnet", "preact_resnet"), "o", "#1f77b4"),
    ("densenet", "DenseNet", ("densenet",), "D", "#9467bd"),
    ("squeezenet", "SqueezeNet", ("squeezenet",), "v", "#bcbd22"),
    ("mobilenet", "MobileNet", ("mobilenet",), "P", "#2ca02c"),
    ("shufflenet", "ShuffleNet", ("shufflenet",), "X", "#17becf"),
    ("mnasnet", "MnasNet", ("mnasnet",), "p", "#98df8a"),
    ("efficientnet", "EfficientNet", ("efficientnet",), "h", "#d62728"),
    ("regnet", "RegNet", ("regnet",), "d", "#ff7f0e"),
    ("convnext", "ConvNeXt", ("convnext",), "s", "#393b79"),
    ("transformer", "Vision transformers", ("vit_", "swin_", "deit_", "maxvit_", "beit_"), "*", "#000000"),
)
OTHER = ("other", "other", (), "o", "#aaaaaa")
PROTOCOL_NOTE = ("Top-1 as published for each model's weights, one centre crop at its own resolution after its own "
                 "resize (e.g. 224 after 256, 299 after 342): protocols differ, so a gap of under a point of top-1 "
                 "says little. MACs: conv and linear (torchvision's count), batch 1, at each model's own input.")


def family_of(model: str) -> tuple:
    for family in FAMILIES:
        if model.startswith(family[2]):
            return family
    return OTHER


@dataclass(frozen=True)
class LandscapeData:
    models: list
    gmacs: list  # torchvision convention (conv and linear MACs), batch 1, the model's own input
    top1: list  # ImageNet top-1 (%)
    params_m: list
    sources: list
    left_out: list  # zoo models without a published accuracy, or not asked for
    families: list = field(default_factory=list)  # FAMILIES' key of each model


def landscape_data(models=None, families=None) -> LandscapeData:
    """Every zoo model with a published ImageNet top-1 (cnncost/data/published/accuracy.yaml), or those of
    ``models`` (names) and ``families`` (FAMILIES' keys) only."""
    from . import api, zoo
    from .errors import did_you_mean
    from .yamlio import load_file

    names = zoo.names()
    for name in models or ():
        if name not in names:
            raise CnnCostError(f"--models: no zoo model named '{name}'", hint=did_you_mean(name, names))
    keys = [f[0] for f in FAMILIES]
    for name in families or ():
        if name not in keys:
            raise CnnCostError(f"--family: unknown family '{name}'",
                               hint=did_you_mean(name, keys) or "choose from " + ", ".join(keys))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "published", "accuracy.yaml")
    published = load_file(path)["models"]
    data = LandscapeData([], [], [], [], [], [], [])
    for name in names:
        entry = published.get(name)
        family = family_of(name)[0]
        if entry is None or entry.get("top1") is None or (models and name not in models) or \
                (families and family not in families):
            data.left_out.append(name)
            continue
        report = api.analyze(name, convention="torchvision")
        data.models.append(name)
        data.gmacs.append(report.totals.macs / 1e9)
        data.top1.append(float(entry["top1"]))
        data.params_m.append(report.totals.params / 1e6)
        data.sources.append(str(entry.get("source", "")))
        data.families.append(family)
    if not data.models:
        raise CnnCostError("no zoo model with a published ImageNet accuracy matches --models and --family")
    return data


BUBBLE = 4.0  # marker area (points²) per million parameters


def bubble_area(params_m: float) -> float:
    return max(12.0, params_m * BUBBLE)


def landscape_figure(data: LandscapeData, style: Style = Style()):
    fig, (ax,) = _figure(style, (11.0, 7.5))
    by_key = {f[0]: f for f in FAMILIES + (OTHER,)}
    order = [f[0] for f in FAMILIES + (OTHER,) if f[0] in data.families]
    markers = []
    for key in order:
        _, label, _, marker, colour = by_key[key]
        index = [i for i, f in enumerate(data.families) if f == key]
        markers.append(ax.scatter([data.gmacs[i] for i in index], [data.top1[i] for i in index],
                                  s=[bubble_area(data.params_m[i]) for i in index], marker=marker, color=colour,
                                  alpha=0.55, edgecolors="0.25", linewidths=0.5, label=label, zorder=2))
    ax.set_xscale("log")
    _plain_numbers(ax.xaxis)
    ax.set_xlabel("GMACs per image (conv and linear, batch 1, log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title(style.title if style.title is not None else
                 "Accuracy against operations; marker area is proportional to parameters",
                 fontsize=style.font_size * 1.15)
    ax.grid(alpha=0.3, which="both")
    family_legend = ax.legend(loc="upper left", fontsize=style.font_size * 0.85, title="family",
                              title_fontsize=style.font_size * 0.85, framealpha=0.9)
    for handle in family_legend.legend_handles:
        handle.set_sizes([40])
    ax.add_artist(family_legend)
    sizes = [ax.scatter([], [], s=bubble_area(m), color="0.6", alpha=0.55, edgecolors="0.25", label=f"{m}M params")
             for m in (5, 25, 100)]
    ax.legend(handles=sizes, loc="lower right", labelspacing=1.6, borderpad=1.0, fontsize=style.font_size * 0.85,
              framealpha=0.9)
    # the footnote below the axes: room kept for it, so that the layout does not draw over it
    width, height = fig.get_size_inches()
    note_size = style.font_size * 0.8
    lines = math.ceil(len(PROTOCOL_NOTE) * 0.52 * note_size / (width * 72 - 20))
    room = (lines * 1.35 * note_size + 6) / (height * 72)
    fig.get_layout_engine().set(rect=(0, room, 1, 1 - room))
    fig.text(0.01, 0.005, PROTOCOL_NOTE, fontsize=note_size, color="0.35", ha="left", va="bottom", wrap=True)
    _fit_bubbles(fig, ax, data)
    _label(fig, ax, data, style)
    return fig


def _fit_bubbles(fig, ax, data):
    """Widen the axes' limits until every marker lies inside them (a large one was clipped). A marker of
    area s points² reaches at most sqrt(2 s)/2 from its centre (a square's corner; circles less)."""
    import numpy as np

    xs, ys = np.log10(data.gmacs), np.array(data.top1)
    lo_x, hi_x, lo_y, hi_y = xs.min(), xs.max(), ys.min(), ys.max()
    pad_x, pad_y = 0.04 * (hi_x - lo_x or 1), 0.04 * (hi_y - lo_y or 1)
    for _ in range(30):
        ax.set_xlim(10 ** (lo_x - pad_x), 10 ** (hi_x + pad_x))
        ax.set_ylim(lo_y - pad_y, hi_y + pad_y)
        fig.draw_without_rendering()
        over_x, over_y = bubbles_outside(fig, ax, data)
        if over_x <= -2 and over_y <= -2:
            return
        if over_x > -2:
            pad_x *= 1.25
        if over_y > -2:
            pad_y *= 1.25


def bubbles_outside(fig, ax, data) -> tuple[float, float]:
    """How far (pixels) the markers reach past the axes, across and up; negative: inside by that much."""
    import numpy as np

    radii = np.sqrt(2 * np.array([bubble_area(p) for p in data.params_m])) / 2 * fig.dpi / 72
    box = ax.get_window_extent()
    points = ax.transData.transform(np.column_stack([data.gmacs, data.top1]))
    over_x = max((box.x0 - (points[:, 0] - radii)).max(), ((points[:, 0] + radii) - box.x1).max())
    over_y = max((box.y0 - (points[:, 1] - radii)).max(), ((points[:, 1] + radii) - box.y1).max())
    return float(over_x), float(over_y)


def _label(fig, ax, data, style):
    """Name each marker; adjustText moves the names off each other and off the markers, with a leader line
    where one moved away."""
    try:
        from adjustText import adjust_text
    except ImportError:
        raise CnnCostError("the landscape's labels are placed by adjustText, which is not installed",
                           hint=INSTALL_HINT) from None
    from matplotlib.transforms import Bbox

    # a light backing keeps a name legible where it lies over another family's marker
    texts = [ax.text(x, y, name, fontsize=style.font_size * 0.75, zorder=3,
                     bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none", "alpha": 0.6})
             for name, x, y in zip(data.models, data.gmacs, data.top1)]
    points = ax.transData.transform(list(zip(data.gmacs, data.top1)))
    reach = [math.sqrt(bubble_area(p)) / 2 * fig.dpi / 72 for p in data.params_m]
    boxes = [Bbox.from_extents(x - r, y - r, x + r, y + r) for (x, y), r in zip(points, reach)]
    fig.draw_without_rendering()
    legends = [a.get_window_extent() for a in ax.get_children() if type(a).__name__ == "Legend"]
    boxes += legends  # the names keep off the legends too
    adjust_text(texts, objects=boxes, ax=ax, iter_lim=LABEL_ITERATIONS, prevent_crossings=False,
                arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.45"})
    _separate(fig, texts, legends)
    return texts


LABEL_ITERATIONS = 120  # adjustText's steps: a fixed number, so that the drawing is the same every time


def _separate(fig, texts, legends=()):
    """Whatever adjustText left touching, moved apart vertically in small steps (it seldom leaves any);
    a name on a legend, moved off it the short way."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for _ in range(400):
        boxes = [t.get_window_extent(renderer) for t in texts]
        clash = next(((i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                      if boxes[i].overlaps(boxes[j])), None)
        if clash is None:
            covered = next(((i, legend) for i, b in enumerate(boxes) for legend in legends if b.overlaps(legend)),
                           None)
            if covered is None:
                return
            i, legend = covered  # off it towards the middle of the axes, where there is room
            b, area = boxes[i], texts[i].axes.get_window_extent()
            shift = -(b.y1 - legend.y0 + 1) if legend.y0 + legend.y1 > area.y0 + area.y1 else legend.y1 - b.y0 + 1
            transform = texts[i].get_transform()
            x, y = transform.transform(texts[i].get_position())
            texts[i].set_position(transform.inverted().transform((x, y + shift)))
            continue
        i, j = clash
        upper, lower = (i, j) if boxes[i].y0 >= boxes[j].y0 else (j, i)
        for index, step in ((upper, 1.5), (lower, -1.5)):
            transform = texts[index].get_transform()
            x, y = transform.transform(texts[index].get_position())
            texts[index].set_position(transform.inverted().transform((x, y + step)))


def draw_landscape(data: LandscapeData, path: str, style: Style = Style()):
    _save(landscape_figure(data, style), path, style)


# --- a sweep's figures against its axis ---


@dataclass(frozen=True)
class SweepSeries:
    label: str
    x: list
    y: dict  # figure -> values (None where the point failed)


@dataclass(frozen=True)
class SweepData:
    x_axis: str
    figures: list  # the figures drawn, a panel each
    series: list  # of SweepSeries, one per combination of the other axes
    constant: dict = field(default_factory=dict)  # figure -> its one value, where every point has the same


def sweep_data(result) -> SweepData:
    """The first axis with several values is x; every combination of the other axes is a series. FLOPs
    (2 x MACs) get no panel of their own next to MACs, and a figure equal at every point none at all."""
    axes = list(result.axes)
    varying = [i for i, a in enumerate(axes) if len(a.values) > 1] or [0]
    x_index = varying[0]
    groups: dict = {}
    for point in result.points:
        others = tuple(v for i, v in enumerate(point.values) if i != x_index and len(axes[i].values) > 1)
        groups.setdefault(others, []).append(point)
    series = []
    for others, points in groups.items():
        names = [a.name for i, a in enumerate(axes) if i != x_index and len(a.values) > 1]
        label = ", ".join(f"{n}={_text(v)}" for n, v in zip(names, others)) or result.model
        series.append(SweepSeries(label, [_x(p.values[x_index]) for p in points],
                                  {f: [getattr(p, f) for p in points] for f in result.figures}))
    figures, constant = [], {}
    for figure in result.figures:
        if figure == "flops" and "macs" in result.figures:
            continue
        values = {getattr(p, figure) for p in result.points if not p.error}
        if len(values) == 1 and len(result.points) > 1:
            constant[figure] = values.pop()
            continue
        figures.append(figure)
    return SweepData(axes[x_index].name, figures or list(result.figures[:1]), series, constant)


def _text(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _x(value):
    """A point's position on the x axis: a square input by its side, a number as itself, else its text."""
    if isinstance(value, tuple) and len(value) == 3 and value[1] == value[2]:
        return value[1]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)


# figure -> (axis label, what its unit measures)
LABELS = {"params": ("Parameters", "count"), "macs": ("MACs", "count"), "flops": ("FLOPs", "count"),
          "memory_bytes": ("Activation memory", "bytes"), "peak_bytes": ("Training peak", "bytes"),
          "latency_s": ("Roofline latency", "seconds")}


def _constant_text(figure: str, value) -> str:
    from .units import count, duration, size

    kind = LABELS[figure][1]
    text = count(value) if kind == "count" else size(value) if kind == "bytes" else duration(value)
    return f"{LABELS[figure][0].lower()} {text}"


def sweep_figure(result, style: Style = Style()):
    data = sweep_data(result)
    rows = len(data.figures)
    fig, axes = _figure(style, (7.5, 1.2 + 2.2 * rows), rows=rows, sharex=True)
    categorical = any(isinstance(x, str) for s in data.series for x in s.x)
    for ax, figure in zip(axes, data.figures):
        values = [v for s in data.series for v in s.y[figure] if v]
        label, kind = LABELS[figure]
        log = bool(values) and max(values) / min(values) > 50  # series a batch apart are orders of magnitude apart
        unit, scale = axis_unit(min(values) if log and values else max(values, default=0), kind)
        for s in data.series[:12]:
            xs = list(range(len(s.x))) if categorical else s.x
            ax.plot(xs, [None if v is None else v / scale for v in s.y[figure]], marker="o", markersize=3,
                    label=s.label)
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(f"{label} ({unit})" if unit else label)
        ax.grid(alpha=0.3, which="both")
        _plain_numbers(ax.yaxis)
    if categorical:
        ticks = data.series[0].x
        axes[-1].set_xticks(range(len(ticks)))
        axes[-1].set_xticklabels([str(t) for t in ticks], rotation=45, fontsize=style.font_size * 0.85)
    else:
        _plain_numbers(axes[-1].xaxis)
    axes[-1].set_xlabel(data.x_axis + (" (side of a square input, pixels)" if data.x_axis == "input"
                                       and not categorical else ""))
    if len(data.series) > 1:  # beside the panels, where it covers no line
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=style.font_size * 0.85)
    title = style.title if style.title is not None else f"{result.model}: a sweep over {data.x_axis}"
    notes = ["; ".join(_constant_text(f, v) for f, v in data.constant.items()) + " at every point"] \
        if data.constant else []
    if "macs" in data.figures and "flops" in result.figures:
        notes.append("FLOPs = 2 × MACs")
    if notes:
        title += "\n" + "; ".join(notes)
    fig.suptitle(title, fontsize=style.font_size * 1.15)
    return fig


def draw_sweep(result, path: str, style: Style = Style()):
    _save(sweep_figure(result, style), path, style)
