"""Figures: a network's per-layer costs (the lecture's Fig 8.2), the zoo's accuracy against operations
(Fig 8.18), and a sweep's figures against its axis.

Each figure is first plain data (``*_data``: the series as lists, which the tests check against the
reports), then drawn by matplotlib (the ``plot`` extra), headless, as PNG or SVG by the file's extension.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import CnnCostError

FORMATS = (".png", ".svg")
INSTALL_HINT = "pip install 'cnncost[plot]'"
MAX_BARS = 60  # layers one figure shows; more are grouped into blocks


def check_path(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CnnCostError(f"cannot draw '{path}': the file must end in .png or .svg")
    return ext


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise CnnCostError("plotting needs matplotlib, which is not installed", hint=INSTALL_HINT) from None
    matplotlib.use("Agg")  # headless: no display is needed or used
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str):
    check_path(path)
    from .output import write_file

    try:
        write_file(path, lambda name: fig.savefig(name, bbox_inches="tight", dpi=110,
                                                  format=os.path.splitext(path)[1][1:].lower() or None),
                   suffix=os.path.splitext(path)[1], by_name=True)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


# --- Fig 8.2: where a network's memory, parameters and MACs are ---


@dataclass(frozen=True)
class LayersData:
    title: str
    labels: list  # one per bar, in execution order
    memory_kb: list  # activation memory, KB (1024 bytes)
    params_k: list  # parameters, thousands
    macs_m: list  # MACs, millions
    notes: list = field(default_factory=list)


def layers_data(report, depth: int | None = None) -> LayersData:
    """The bars of a report: every layer, or blocks of its names (--depth), without zero-cost rows."""
    from .engine import group_by_depth

    def drawn(rows):  # side outputs left out of the totals, and in-place rows, which carry nothing, are not drawn
        return [r for r in rows if (report.include_side or not r.side) and (r.memory_bytes or r.params or r.macs)]

    notes = []
    rows = drawn(group_by_depth(report, depth) if depth else list(report.counted()))
    if not depth and len(rows) > MAX_BARS:
        for level in range(1, 6):
            grouped = drawn(group_by_depth(report, level))
            if len(grouped) <= MAX_BARS or level == 5:
                notes.append(f"{len(rows)} layers, drawn as {len(grouped)} blocks (--depth {level})")
                rows = grouped
                break
    return LayersData(
        f"{report.model}: input {'x'.join(map(str, report.input))}, batch {report.batch}, {report.dtype}, "
        f"convention {report.convention}",
        [r.name for r in rows], [r.memory_bytes / 1024 for r in rows], [r.params / 1e3 for r in rows],
        [r.macs / 1e6 for r in rows], notes)


def draw_layers(data: LayersData, path: str):
    plt = _pyplot()
    count = len(data.labels)
    fig, axes = plt.subplots(3, 1, figsize=(max(7.0, 0.28 * count + 2), 8.5), sharex=True)
    series = ((data.memory_kb, "Activation memory (KB)", "#4c72b0"), (data.params_k, "Parameters (thousands)",
                                                                       "#dd8452"),
              (data.macs_m, "MACs (millions)", "#55a868"))
    for ax, (values, label, colour) in zip(axes, series):
        ax.bar(range(count), values, color=colour)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(count))
    axes[-1].set_xticklabels(data.labels, rotation=90, fontsize=8)
    axes[-1].set_xlabel("layer" + ("" if not data.notes else " (blocks)"))
    fig.suptitle(data.title + ("\n" + "; ".join(data.notes) if data.notes else ""), fontsize=10)
    _save(fig, path)


# --- Fig 8.18: accuracy against operations, bubble area for parameters ---


@dataclass(frozen=True)
class LandscapeData:
    models: list
    gmacs: list  # torchvision convention (conv and linear MACs), batch 1, the model's own input
    top1: list  # ImageNet top-1 (%)
    params_m: list
    sources: list
    left_out: list  # zoo models without a published accuracy


def landscape_data() -> LandscapeData:
    """Every zoo model with a published ImageNet top-1 (cnncost/data/published/accuracy.yaml)."""
    from . import api, zoo
    from .yamlio import load_file

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "published", "accuracy.yaml")
    published = load_file(path)["models"]
    data = LandscapeData([], [], [], [], [], [])
    for name in zoo.names():
        entry = published.get(name)
        if entry is None or entry.get("top1") is None:
            data.left_out.append(name)
            continue
        report = api.analyze(name, convention="torchvision")
        data.models.append(name)
        data.gmacs.append(report.totals.macs / 1e9)
        data.top1.append(float(entry["top1"]))
        data.params_m.append(report.totals.params / 1e6)
        data.sources.append(str(entry.get("source", "")))
    return data


def draw_landscape(data: LandscapeData, path: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 7))
    sizes = [max(8.0, p * 6) for p in data.params_m]  # area proportional to parameters
    ax.scatter(data.gmacs, data.top1, s=sizes, alpha=0.45, color="#4c72b0", edgecolors="#1f3b66")
    _label(ax, data.models, data.gmacs, data.top1)
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per image (conv and linear, batch 1, log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title("Accuracy against operations; bubble area is proportional to parameters")
    ax.grid(alpha=0.3, which="both")
    for millions in (5, 25, 100):
        ax.scatter([], [], s=millions * 6, alpha=0.45, color="#4c72b0", label=f"{millions}M params")
    ax.legend(loc="lower right", labelspacing=1.5, borderpad=1.0, frameon=True)
    _save(fig, path)


def _label(ax, names, xs, ys):
    """Label each bubble beside it, trying other sides where a label would cover one already placed; a
    label away from its bubble gets a thin leader line."""
    import math

    left, right = math.log10(min(xs)), math.log10(max(xs))
    low, high = min(ys), max(ys)
    placed = []  # label boxes in axes fractions, roughly
    # (dx, dy) in points; a negative dx puts the label to the left, right-aligned
    offsets = [(5, 3), (5, -9), (-5, 3), (-5, -9), (5, 12), (-5, 12), (5, -18), (-5, -18), (8, 22), (8, -27)]
    for name, x, y in sorted(zip(names, xs, ys), key=lambda t: (-t[2], t[1])):
        fx = (math.log10(x) - left) / ((right - left) or 1)
        fy = (y - low) / ((high - low) or 1)
        width = len(name) * 0.0072
        for dx, dy in offsets:
            x0 = fx + dx / 900 - (width if dx < 0 else 0)
            y0 = fy + dy / 600
            box = (x0, x0 + width, y0, y0 + 0.02)
            if not any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in placed):
                break
        placed.append(box)
        far = abs(dy) > 12
        ax.annotate(name, (x, y), fontsize=7, xytext=(dx, dy), textcoords="offset points",
                    ha="right" if dx < 0 else "left",
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4"} if far else None)


# --- a sweep's figures against its axis ---


@dataclass(frozen=True)
class SweepSeries:
    label: str
    x: list
    y: dict  # figure -> values (None where the point failed)


@dataclass(frozen=True)
class SweepData:
    x_axis: str
    figures: list
    series: list  # of SweepSeries, one per combination of the other axes


def sweep_data(result) -> SweepData:
    """The first axis with several values is x; every combination of the other axes is a series."""
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
    return SweepData(axes[x_index].name, list(result.figures), series)


def _text(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _x(value):
    """A point's position on the x axis: a square input by its side, a number as itself, else its text."""
    if isinstance(value, tuple) and len(value) == 3 and value[1] == value[2]:
        return value[1]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)


LABELS = {"params": "Parameters", "macs": "MACs", "flops": "FLOPs", "memory_bytes": "Activation memory (bytes)",
          "peak_bytes": "Training peak (bytes)", "latency_s": "Roofline latency (s)"}


def draw_sweep(result, path: str):
    data = sweep_data(result)
    plt = _pyplot()
    rows = len(data.figures)
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.6 * rows), sharex=True, squeeze=False)
    categorical = any(isinstance(x, str) for s in data.series for x in s.x)
    for ax, figure in zip(axes[:, 0], data.figures):
        for s in data.series[:12]:
            xs = list(range(len(s.x))) if categorical else s.x
            ax.plot(xs, s.y[figure], marker="o", markersize=3, label=s.label)
        values = [v for s in data.series for v in s.y[figure] if v]
        if values and max(values) / min(values) > 50:
            ax.set_yscale("log")  # series a batch apart are orders of magnitude apart
        ax.set_ylabel(LABELS[figure], fontsize=9)
        ax.grid(alpha=0.3, which="both")
    if categorical:
        ticks = data.series[0].x
        axes[-1, 0].set_xticks(range(len(ticks)))
        axes[-1, 0].set_xticklabels([str(t) for t in ticks], rotation=45, fontsize=8)
    axes[-1, 0].set_xlabel(data.x_axis + (" (side of a square input, pixels)" if data.x_axis == "input"
                                          and not categorical else ""))
    if len(data.series) > 1:
        axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{result.model}: a sweep over {data.x_axis}", fontsize=10)
    _save(fig, path)
