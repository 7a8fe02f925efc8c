"""The Python API as a notebook uses it: every analysis a top-level function, and every result with a one-line
repr, HTML, its text table, its JSON and a DataFrame whose rows add up to its totals."""

from __future__ import annotations

import sys

import pandas  # the test extra installs it (pip install '.[test]')
import pytest

import cnncost
from cnncost.errors import CnnCostError

# AlexNet (torchvision's form) has 61,100,840 parameters: torchvision's model card for alexnet
ALEXNET_PARAMS = 61_100_840
# ResNet-18: 11,689,512 parameters and 1.81 GFLOPS (torchvision's model card; its "GFLOPS" are MACs)
RESNET18_PARAMS = 11_689_512


@pytest.fixture(scope="module")
def results():
    return {
        "Report": cnncost.analyze("alexnet"),
        "Memory": cnncost.analyze_memory("alexnet", batch=2, optimizer="adam", devices=["t4"]),
        "ReceptiveFields": cnncost.receptive_fields("alexnet"),
        "Latency": cnncost.analyze_latency("alexnet", device="a100-80gb", overhead_us=5),
        "Sweep": cnncost.analyze_sweep("mobilenet_v1", set={"alpha": [0.5, 1.0]}, input="3x{128..160..32}"),
        "Explanation": cnncost.explain_conventions("resnet18"),
    }


def test_every_analysis_is_top_level():
    for name in ("analyze", "analyze_memory", "receptive_fields", "analyze_latency", "analyze_sweep",
                 "explain_conventions"):
        assert callable(getattr(cnncost, name)) and name in cnncost.__all__


@pytest.mark.parametrize("kind", ["Report", "Memory", "ReceptiveFields", "Latency", "Sweep", "Explanation"])
def test_each_result_has_the_notebook_face(results, kind):
    result = results[kind]
    assert type(result).__name__ == kind
    text = repr(result)
    assert "\n" not in text and len(text) < 200 and text.startswith(f"<{kind} ")
    html = result._repr_html_()
    assert html.startswith("<div") and "<table" in html and html.count("<tr>") >= 3
    assert str(result) == result.table()
    assert result.table("json").lstrip().startswith("{")
    narrow = result.table(width=80)
    assert max(map(len, narrow.splitlines())) <= 80
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) > 0
    with pytest.raises(CnnCostError, match="format must be one of"):
        result.table("yaml")


def test_report_rows_add_up_to_the_published_totals(results):
    frame = results["Report"].to_pandas()
    counted = frame[frame["counted"]]
    assert int(counted["params"].sum()) == ALEXNET_PARAMS
    totals = frame.attrs["totals"]
    for figure in ("params", "buffers", "macs", "flops", "memory_bytes"):
        assert int(counted[figure].sum()) == totals[figure]
    # the HTML shows the totals row and the footer's notes
    html = results["Report"]._repr_html_()
    assert "61,100,840 params" in html and "Convention &#x27;lecture&#x27;" in html


def test_side_outputs_are_rows_that_the_totals_leave_out():
    frame = cnncost.analyze("googlenet").to_pandas()
    assert frame["side"].any() and not frame[frame["side"]]["counted"].any()
    counted = frame[frame["counted"]]
    assert int(counted["macs"].sum()) == frame.attrs["totals"]["macs"]
    assert int(frame["macs"].sum()) > frame.attrs["totals"]["macs"]


def test_memory_rows_add_up_to_weights_gradients_and_adam_state(results):
    m = results["Memory"]
    frame = m.to_pandas()
    weights = 4 * ALEXNET_PARAMS  # float32
    assert int(frame["weights_bytes"].sum()) == weights == frame.attrs["totals"]["weights_bytes"]
    assert int(frame["gradient_bytes"].sum()) == weights
    assert int(frame["optimizer_bytes"].sum()) == 2 * weights  # Adam: two moments per weight
    assert int(frame["saved_bytes"].sum()) == frame.attrs["totals"]["saved_activation_bytes"]
    # transient and live are the largest of any row, not sums
    assert int(frame["transient_bytes"].max()) == frame.attrs["totals"]["transient_bytes"]
    assert "T4" in m._repr_html_()


def test_latency_rows_add_up_to_the_time(results):
    lat = results["Latency"]
    frame = lat.to_pandas()
    assert frame["time_s"].sum() == pytest.approx(lat.time_s, rel=1e-12)
    assert int(frame["flops"].sum()) == frame.attrs["totals"]["flops"]
    assert repr(lat).endswith(" µs>") or repr(lat).endswith(" ms>")


def test_a_sweep_is_a_frame_of_points(results):
    frame = results["Sweep"].to_pandas()
    assert list(frame.columns[:2]) == ["alpha", "input"] and len(frame) == 4
    # MobileNet v1 at alpha 1.0: 4,231,976 parameters (Howard et al. 2017, Table 6: 4.2M)
    assert set(frame[frame["alpha"] == 1.0]["params"]) == {4_231_976}


def test_explanation_frame_has_a_row_per_convention(results):
    frame = results["Explanation"].to_pandas().set_index("convention")
    assert frame.loc["torchvision", "params"] == RESNET18_PARAMS
    assert round(frame.loc["torchvision", "macs"] / 1e9, 2) == 1.81


def test_receptive_fields_by_name(results):
    fields = results["ReceptiveFields"]
    # AlexNet conv1: 11x11 kernel, stride 4: the field is 11, the stride 4 (by hand)
    assert fields["conv1"].field.h.size == 11 and fields["conv1"].field.h.stride == 4
    # conv2 (5x5, stride 1) over pool1 (3x3, stride 2) over conv1: 11 + (3-1)*4 + (5-1)*8 = 51
    assert fields["conv2"].field.h.size == 51
    frame = fields.to_pandas()
    assert frame.set_index("name").loc["conv2", "receptive_field"] == [51, 51]


def test_graph_and_node_reprs_are_one_line():
    graph = cnncost.load("resnet50")
    assert "\n" not in repr(graph) and len(repr(graph)) < 120 and "resnet50" in repr(graph)
    node = graph.nodes[0]
    assert "\n" not in repr(node) and len(repr(node)) < 200 and node.name in repr(node)


def test_html_escapes_what_the_model_says():
    report = cnncost.analyze_text("name: <b>bold</b>\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 2, kernel: 3}\n")
    html = report._repr_html_()
    assert "<b>bold" not in html and "&lt;b&gt;bold" in html


def test_a_long_result_shows_its_ends_in_html():
    html = cnncost.analyze("resnet152")._repr_html_()
    assert "more rows" in html and html.count("<tr>") < 70


def test_to_pandas_without_pandas_says_how_to_get_it(results, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(CnnCostError, match=r"cnncost\[pandas\]"):
        results["Memory"].to_pandas()


def test_units_are_the_same_everywhere(results):
    """Memory in KiB/MiB/GiB, counts in k/M/G, times in ms/µs, in every command's table."""
    assert "MiB" in results["Memory"].table() and " MB" not in results["Memory"].table()
    assert "Memory (KiB)" in results["Report"].table()
    lat = results["Latency"].table()
    assert "µs" in lat and "KiB" in lat
    assert "MiB" in results["Sweep"].table() and "MiB" in cnncost.analyze_memory("alexnet").table()
    assert "4,231,976" in results["Sweep"].table(exact=True)


def test_plain_commands_import_no_heavy_package():
    """The notebook face (HTML, pandas) costs the command line nothing: no command below imports torch,
    matplotlib, onnx or pandas."""
    import subprocess

    commands = [["table", "alexnet"], ["memory", "alexnet"], ["rf", "alexnet"], ["explain", "alexnet"],
                ["latency", "alexnet", "--device", "t4"], ["sweep", "alexnet", "--batch", "1,2"],
                ["compare", "alexnet", "vgg11"], ["info", "alexnet"], ["devices"]]
    code = ("import sys, io; from cnncost.cli import main\n"
            f"for args in {commands!r}:\n"
            "    sys.stdout = io.StringIO()\n"
            "    try:\n        main(args)\n    except SystemExit as exit:\n        assert not exit.code, args\n"
            "bad = [m for m in ('torch', 'matplotlib', 'onnx', 'pandas') if m in sys.modules]\n"
            "sys.stderr.write(repr(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stderr.strip().endswith("[]"), out.stderr


def test_the_html_shows_the_rows_totals_and_notes_the_table_shows():
    """One source for both (issue 27: a result's rows, columns and notes given once, in its Shown): an
    inference run's totals row is 'total (live: peak)' and a ViT's fields carry the tokens' note, in both."""
    from html import escape

    memory = cnncost.analyze_memory("alexnet", mode="infer")
    fields = cnncost.receptive_fields("vit_b_16")
    for result, expected in ((memory, "total (live: peak)"), (fields, "Tokens made from a map show no field")):
        assert expected in result.table() and escape(expected, quote=True) in result._repr_html_()
