"""Plots fit for a paper: the size and resolution asked for, units people read, no empty band, no
offset notation, labels that do not overlap and markers that are not clipped.

Expected figures are worked out by hand below; the drawn figures are checked through matplotlib's own
geometry (the boxes of the texts and axes as drawn).
"""

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnncost
from cnncost import plot
from cnncost import sweep as sw

from .test_commands import invoke

matplotlib = pytest.importorskip("matplotlib")


def drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_the_bars_read_in_kib_m_and_m_for_alexnet():
    # AlexNet (lecture): conv1's output 64x56x56 floats = 802,816 B = 784 KiB, the most memory: KiB;
    # fc6 9216*4096 + 4096 = 37,752,832 params: M; conv2 192*27*27 outputs of 64*5*5 = 223,948,800 MACs: M
    fig = plot.layers_figure(plot.layers_data(cnncost.analyze("alexnet")))
    drawn(fig)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["Activation memory (KiB)", "Parameters (M)", "MACs (M)"]
    heights = {ax.get_ylabel(): [p.get_height() for p in ax.patches] for ax in fig.axes}
    assert max(heights["Activation memory (KiB)"]) == 784
    assert max(heights["Parameters (M)"]) == pytest.approx(37.752832)
    for ax in fig.axes:  # plain numbers: no offset, no 1e7 multiplier
        assert ax.yaxis.get_offset_text().get_text() == ""
        assert not any("e" in t.get_text() for t in ax.get_yticklabels())
    matplotlib.pyplot.close(fig)


def test_no_empty_band_under_the_title():
    fig = plot.layers_figure(plot.layers_data(cnncost.analyze("alexnet")))
    renderer = drawn(fig)
    title = fig._suptitle.get_window_extent(renderer)
    top = fig.axes[0].get_tightbbox(renderer)
    gap = (title.y0 - top.y1) / fig.bbox.height
    assert 0 <= gap < 0.03, gap  # constrained layout: the first panel starts right under the title
    matplotlib.pyplot.close(fig)


def test_only_some_kinds():
    data = plot.layers_data(cnncost.analyze("alexnet"), only=("conv", "linear"))
    assert data.labels == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]  # AlexNet's 5 + 3
    result = invoke("plot", "alexnet", "-o", "x.png", "--only", "convolution")
    assert result.exit_code == 2 and "unknown layer kind 'convolution'" in result.output


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_the_size_and_resolution_asked_for(tmp_path, ext):
    out = tmp_path / f"a.{ext}"
    result = invoke("plot", "alexnet", "-o", out, "--size", "4x3", "--dpi", "100", "--title", "AlexNet",
                    "--font-size", "7")
    assert result.exit_code == 0, result.output
    if ext == "png":
        from .test_graph import png_size

        assert png_size(out) == (400, 300)  # 4 x 3 inches at 100 pixels per inch
    elif ext == "pdf":  # 4 x 3 inches are a 288 x 216 point page
        assert out.read_bytes().startswith(b"%PDF") and b"/MediaBox [ 0 0 288 216 ]" in out.read_bytes()
    else:
        root = ET.parse(out).getroot()
        assert (root.get("width"), root.get("height")) == ("288pt", "216pt")  # 72 points per inch
        assert "AlexNet" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (["--size", "4"], "must be WxH in inches"),
    (["--size", "0x3"], "must be WxH in inches"),
    (["--dpi", "0"], "0"),
    (["--landscape", "--family", "transformers"], "unknown family 'transformers'"),
    (["--landscape", "--models", "resnet5"], "no zoo model named 'resnet5'"),
])
def test_bad_style_is_a_one_line_error(tmp_path, args, message):
    out = tmp_path / "a.png"
    result = invoke("plot", *(["alexnet"] if "--landscape" not in args else []), "-o", out, *args)
    assert result.exit_code == 2 and message in result.output and not out.exists()


# --- the landscape ---


@pytest.fixture(scope="module")
def landscape():
    """The zoo's landscape as 'cnncost plot --landscape' and docs/img/zoo-landscape.png draw it, drawn once."""
    data = plot.landscape_data()
    fig = plot.landscape_figure(data)
    yield data, fig
    matplotlib.pyplot.close(fig)


def test_every_model_of_the_landscape_has_a_family_and_transformers_have_their_own_marker(landscape):
    data = landscape[0]
    assert "other" not in data.families
    assert plot.family_of("resnet50")[0] == "resnet" and plot.family_of("mobilenet_v3_large")[0] == "mobilenet"
    transformer = plot.family_of("vit_b_16")
    assert transformer[0] == "transformer" and plot.family_of("swin_t")[0] == "transformer"
    assert all(f[3] != transformer[3] for f in plot.FAMILIES if f[0] != "transformer")


def test_the_transformers_are_drawn_as_transformers_with_a_legend_entry(landscape):
    data, fig = landscape
    transformers = [m for m, f in zip(data.models, data.families) if f == "transformer"]
    assert sorted(transformers) == ["maxvit_t", "swin_b", "swin_s", "swin_t", "swin_v2_b", "swin_v2_s", "swin_v2_t",
                                    "vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32"]
    # torchvision 0.28's acc@1 of ViT_B_16_Weights.IMAGENET1K_V1, of vit_h_14's 224 model (SWAG_LINEAR_V1), and of
    # Swin_T_Weights.IMAGENET1K_V1 and MaxVit_T_Weights.IMAGENET1K_V1
    assert data.top1[data.models.index("vit_b_16")] == 81.072 and data.top1[data.models.index("vit_h_14")] == 85.708
    assert data.top1[data.models.index("swin_t")] == 81.474 and data.top1[data.models.index("maxvit_t")] == 83.7
    family_legend = fig.axes[0].artists[0] if fig.axes[0].artists else fig.axes[0].get_legend()
    assert "Vision transformers" in [t.get_text() for t in family_legend.get_texts()]


def test_models_and_family_choose_what_is_drawn():
    data = plot.landscape_data(models=("alexnet", "vgg16"))
    assert data.models == ["alexnet", "vgg16"]
    data = plot.landscape_data(families=("mobilenet",))
    assert data.models == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]


def test_the_landscape_labels_do_not_overlap_and_nothing_is_clipped(landscape):
    data, fig = landscape
    renderer = drawn(fig)
    ax = fig.axes[0]
    names = set(data.models)
    labels = [t for t in ax.texts if t.get_text() in names]
    assert sorted(t.get_text() for t in labels) == sorted(data.models)
    boxes = [t.get_window_extent(renderer) for t in labels]
    clashes = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
               for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
    assert clashes == []
    legends = [a.get_window_extent(renderer) for a in ax.get_children() if type(a).__name__ == "Legend"]
    assert len(legends) == 2 and not [t.get_text() for t, b in zip(labels, boxes)
                                      if any(b.overlaps(legend) for legend in legends)]
    area = ax.get_window_extent(renderer)
    assert all(area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1 for b in boxes)
    assert max(plot.bubbles_outside(fig, ax, data)) < 0  # every marker inside the axes, the largest too
    texts = [t.get_text() for t in fig.texts]
    assert any("protocols differ" in t for t in texts)  # the footnote


# --- sweeps ---


def test_sweep_draws_flops_once_and_a_constant_figure_in_words():
    axes = [sw.Axis("input", ((3, 128, 128), (3, 160, 160), (3, 192, 192))), sw.Axis("batch", (1, 8))]
    result = sw.sweep("resnet18", axes, cnncost.Settings())
    data = plot.sweep_data(result)
    assert data.figures == ["macs", "memory_bytes"]  # FLOPs are 2 x MACs; params do not change with input
    assert data.constant == {"params": 11_689_512}  # torchvision's resnet18 num_params
    fig = plot.sweep_figure(result)
    renderer = drawn(fig)
    panels = fig.axes
    assert [ax.get_ylabel() for ax in panels] == ["MACs (G)", "Activation memory (MiB)"]
    assert "parameters 11.69M at every point; FLOPs = 2 × MACs" in fig._suptitle.get_text()
    legend = fig.legends[0].get_window_extent(renderer)
    assert not any(legend.overlaps(ax.get_window_extent(renderer)) for ax in panels)  # it hides no line
    for ax in panels:
        assert ax.yaxis.get_offset_text().get_text() == ""
    matplotlib.pyplot.close(fig)


# --- the images of README.md and docs/ are what the current code draws ---

ROOT = Path(__file__).resolve().parent.parent


def _make_figures():
    spec = importlib.util.spec_from_file_location("cnncost_tools_make_figures", ROOT / "tools" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["alexnet-layers.png", "zoo-landscape.png", "resnet50-sweep.png",
                                  "googlenet-inception.png", "resnet50-stages.png", "googlenet-blocks.png"])
def test_the_docs_images_are_what_the_code_draws(name, landscape):
    make_figures = _make_figures()
    recorded = json.loads((ROOT / "docs" / "img" / "figures.json").read_text())
    assert set(recorded) == set(make_figures.FIGURES)
    assert (ROOT / "docs" / "img" / name).stat().st_size > 10_000
    if name == "zoo-landscape.png":
        now = make_figures.describe(landscape[1])
    else:
        now = make_figures.content(name)
    assert recorded[name]["content"] == now, f"docs/img/{name} is stale: run python tools/make_figures.py"
    for doc in ("README.md", "docs/sweep.md", "docs/graph.md"):  # each image is shown somewhere
        if name in (ROOT / doc).read_text():
            break
    else:
        pytest.fail(f"docs/img/{name} is in no document")
