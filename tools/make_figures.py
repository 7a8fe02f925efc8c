"""Draw every image of README.md and docs/ with the current code, and record what each one shows.

    python tools/make_figures.py            # all of them (the graph screenshots need Chromium)
    python tools/make_figures.py --check    # only say whether docs/img/figures.json matches the code

Each figure is drawn by the same functions as the command in its entry. docs/img/figures.json keeps, per
image, the command and a description of what was drawn: for a matplotlib figure its texts, axes, units,
bars, lines and label positions; for a screenshot of a graph page the SHA-256 of the page's HTML; for a Graphviz
drawing that of its source.
tests/test_plot.py compares that record with what the current code draws, without pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMG = os.path.join(ROOT, "docs", "img")
RECORD = os.path.join(IMG, "figures.json")

# name -> (command as a reader would type it, what draws it)
FIGURES = {
    "alexnet-layers.png": "cnncost plot alexnet -o alexnet-layers.png",
    "zoo-landscape.png": "cnncost plot --landscape -o zoo-landscape.png",
    "resnet50-sweep.png": "cnncost sweep resnet50 --input '3x{128..512..32}' --batch 1,8,64 --plot resnet50-sweep.png",
    "googlenet-inception.png": "cnncost graph googlenet -o googlenet.html  (the page at #focus=inception3a, "
                               "1200x900)",
    "resnet50-stages.png": "cnncost graph resnet50 --depth 1 -o resnet50.html  (the page, 1000x1000)",
    "googlenet-blocks.png": "cnncost graph googlenet --depth 1 --dpi 72 -o googlenet-blocks.png",
}
GRAPHVIZ = {"googlenet-blocks.png": ("googlenet", 1, 72)}  # model, depth, dpi
PAGES = {"googlenet-inception.png": ("googlenet", None, "inception3a", (1200, 900)),
         "resnet50-stages.png": ("resnet50", 1, None, (1000, 1000))}


def _cnncost():
    sys.path.insert(0, ROOT)
    import cnncost

    return cnncost


def matplotlib_figure(name: str):
    """The figure of ``name``, drawn as its command draws it."""
    cnncost = _cnncost()
    from cnncost import plot
    from cnncost import sweep as sw

    if name == "alexnet-layers.png":
        return plot.layers_figure(plot.layers_data(cnncost.analyze("alexnet")))
    if name == "zoo-landscape.png":
        return plot.landscape_figure(plot.landscape_data())
    if name == "resnet50-sweep.png":
        axes = [sw.Axis("input", tuple((3, s, s) for s in range(128, 513, 32))), sw.Axis("batch", (1, 8, 64))]
        return plot.sweep_figure(sw.sweep("resnet50", axes, cnncost.Settings()))
    raise KeyError(name)


def page(name: str) -> str:
    cnncost = _cnncost()
    model, depth, _, _ = PAGES[name]
    return cnncost.analyze(model).graph_html(depth=depth)


def _round(value, digits=4):
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    return value


def describe(fig) -> dict:
    """What a matplotlib figure shows, as plain data: its size, titles, and per axes the labels, scales,
    limits, tick labels, bar heights, lines and texts (with where they were placed, in pixels)."""
    fig.draw_without_rendering()
    out = {"size_inches": _round(list(fig.get_size_inches())),
           "suptitle": fig._suptitle.get_text() if fig._suptitle else None,
           "texts": [t.get_text() for t in fig.texts],
           "legends": [[t.get_text() for t in legend.get_texts()] for legend in fig.legends], "axes": []}
    for ax in fig.axes:
        out["axes"].append({
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "scales": [ax.get_xscale(), ax.get_yscale()], "limits": _round([*ax.get_xlim(), *ax.get_ylim()], 3),
            "xticks": [t.get_text() for t in ax.get_xticklabels()],
            "yticks": [t.get_text() for t in ax.get_yticklabels()],
            "bars": _round([p.get_height() for p in ax.patches if type(p).__name__ == "Rectangle"]),
            "lines": [[line.get_label(), _round(list(map(float, line.get_xdata()))),
                       _round([float(v) for v in line.get_ydata()])] for line in ax.get_lines()],
            "points": [[c.get_label(), _round(c.get_offsets().tolist())] for c in ax.collections
                       if len(c.get_offsets())],
            "texts": [[t.get_text(), [round(v) for v in ax.transData.transform(t.get_position())]]
                      for t in ax.texts],
            "legends": [[t.get_text() for t in legend.get_texts()] for legend in
                        [a for a in ax.artists if type(a).__name__ == "Legend"] + ([ax.get_legend()]
                                                                                  if ax.get_legend() else [])],
        })
    return out


def dot_source(name: str) -> str:
    cnncost = _cnncost()
    model, depth, _ = GRAPHVIZ[name]
    return cnncost.analyze(model).to_dot(depth=depth)


def content(name: str) -> dict:
    """What the image ``name`` shows, as the current code draws it."""
    if name in GRAPHVIZ:
        model, depth, dpi = GRAPHVIZ[name]
        return {"dot_sha256": hashlib.sha256(dot_source(name).encode("utf-8")).hexdigest(), "model": model,
                "depth": depth, "dpi": dpi}
    if name in PAGES:
        model, depth, focus, size = PAGES[name]
        return {"page_sha256": hashlib.sha256(page(name).encode("utf-8")).hexdigest(), "model": model,
                "depth": depth, "focus": focus, "window": list(size)}
    import matplotlib.pyplot as plt

    fig = matplotlib_figure(name)
    try:
        return describe(fig)
    finally:
        plt.close(fig)


def screenshot(html: str, path: str, size: tuple, focus: str | None) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("make_figures: the graph screenshots need Chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        page_path = os.path.join(folder, "page.html")
        with open(page_path, "w", encoding="utf-8") as f:
            f.write(html)
        url = "file://" + page_path + (f"#focus={focus}" if focus else "")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={os.path.join(folder, 'profile')}", "--hide-scrollbars",
                        f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000",
                        f"--screenshot={path}", url], check=True, capture_output=True, timeout=120)


def make(names) -> dict:
    record = {}
    for name in names:
        path = os.path.join(IMG, name)
        if name in PAGES:
            _, _, focus, size = PAGES[name]
            screenshot(page(name), path, size, focus)
            shown = content(name)
        elif name in GRAPHVIZ:
            from cnncost.diagram import render_dot

            with open(path, "wb") as f:
                f.write(render_dot(dot_source(name), "png", GRAPHVIZ[name][2]))
            shown = content(name)
        else:
            from cnncost.plot import Style, _save

            fig = matplotlib_figure(name)
            shown = describe(fig)  # what a fresh drawing shows, as the test sees it
            _save(fig, path, Style())  # and closes it
        record[name] = {"command": FIGURES[name], "content": shown}
        print(f"wrote docs/img/{name}")
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare docs/img/figures.json with the code")
    args = parser.parse_args(argv)
    _cnncost()
    if args.check:
        with open(RECORD, encoding="utf-8") as f:
            recorded = json.load(f)
        stale = [n for n in FIGURES if recorded.get(n, {}).get("content") != content(n)]
        print("stale: " + ", ".join(stale) if stale else "docs/img matches the code")
        return 1 if stale else 0
    record = make(FIGURES)
    with open(RECORD, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
