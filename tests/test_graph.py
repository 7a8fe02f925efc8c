"""cnncost graph: the network as Graphviz source, SVG, PNG and an offline HTML page.

The boxes, wires and figures are checked against a network costed by hand (TINY, below); the drawings by
their structure (the DOT parses in Graphviz, the SVG as XML, the PNG's header gives the size asked for);
the page in a real browser, headless Debian Chromium: every layer name drawn, no request, no console error,
a screenshot that is not blank. Where Graphviz or Chromium is absent (CI installs both), those are skipped.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET

import pytest

import cnncost
from cnncost.diagram import diagram, to_dot

from .test_commands import TINY, invoke

# TINY (tests/test_commands.py), by hand: conv1 3->8, 3x3, pad 1 on 3x32x32: output 8x32x32,
# MACs 8*32*32*27 = 221,184 (221.2k), params 8*27 + 8 = 224; relu 8x32x32; global_avgpool 8x1x1,
# MACs 8*32*32 = 8,192 (8.192k); flatten 8; fc 8->10: MACs 80, params 90. Wired in a chain from the input.
TINY_BOXES = {"conv1": ("conv", "8×32×32", "221.2k MACs"), "relu": ("relu", "8×32×32", "0 MACs"),
              "global_avgpool": ("global_avgpool", "8×1×1", "8.192k MACs"), "flatten": ("flatten", "8", "0 MACs"),
              "fc": ("linear", "10", "80 MACs")}
TINY_CHAIN = [("input", "conv1"), ("conv1", "relu"), ("relu", "global_avgpool"), ("global_avgpool", "flatten"),
              ("flatten", "fc")]

# A network with blocks (names a.b) and a side output, costed by hand (input 3x8x8):
#   stem 3->4 3x3 pad 1: MACs 4*8*8*27 = 6,912; params 4*27 + 4 = 112
#   stage1.conv_a 4->4 3x3 pad 1: MACs 4*8*8*36 = 9,216; params 4*36 + 4 = 148; stage1.conv_b the same
#   aux (side, from stem): global_avgpool, then aux_fc 4->2: MACs 8, params 10
#   head: global_avgpool (MACs 4*64 = 256), flatten, fc 4->3: MACs 12, params 15
BLOCKS = """\
name: blocks
input: [3, 8, 8]
layers:
  - conv: {name: stem, out: 4, kernel: 3, padding: 1}
  - sequence:
      name: stage1
      layers:
        - conv: {name: conv_a, out: 4, kernel: 3, padding: 1}
        - conv: {name: conv_b, out: 4, kernel: 3, padding: 1}
  - side:
      name: aux
      input: stem
      layers:
        - global_avgpool
        - flatten
        - linear: {name: aux_fc, out: 2}
  - global_avgpool: {name: pool, input: stage1}
  - flatten
  - linear: {name: fc, out: 3}
"""


def dot_nodes(source):
    """{id: [label lines]} of a DOT file's node statements, the label's HTML tags dropped."""
    nodes = {}
    for match in re.finditer(r'^\s*"((?:[^"\\]|\\.)*)" \[label=<(.*?)>,', source, re.M):
        nodes[match.group(1)] = [re.sub(r"<[^>]+>", "", line) for line in match.group(2).split("<br/>")]
    return nodes


def dot_edges(source):
    return re.findall(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"( \[style=dashed\])?;', source, re.M)


def test_every_layer_is_a_box_with_its_name_kind_shape_and_macs(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    out = tmp_path / "tiny.dot"
    result = invoke("graph", path, "-o", out)
    assert result.exit_code == 0, result.output
    source = out.read_text()
    nodes = dot_nodes(source)
    assert set(nodes) == {"input"} | set(TINY_BOXES)
    for name, (kind, shape, macs) in TINY_BOXES.items():
        assert nodes[name] == [name, f"{kind} · {shape}", macs]
    assert nodes["input"] == ["input", "3×32×32"]
    assert [(a, b) for a, b, _ in dot_edges(source)] == TINY_CHAIN
    # the header: 314 params, 229,456 MACs (tests/test_commands.py's hand totals)
    assert "314 params, 229.5k MACs" in source


@pytest.mark.parametrize("color, conv1, fc", [
    ("params", "224 params", "90 params"),
    ("memory", "32.00 KiB", "40 B"),  # 8*32*32 float32 = 32,768 B; fc 10 floats
    ("rf", "RF 3", "RF 34"),  # conv1 sees 3x3 pixels; the global pool over its 32 units 3 + 31 (padding included)
])
def test_the_figure_on_each_box_is_the_one_asked_for(color, conv1, fc):
    source = cnncost.analyze_text(TINY).to_dot(color=color)
    nodes = dot_nodes(source)
    assert nodes["conv1"] == ["conv1", "conv · 8×32×32", conv1]
    assert nodes["fc"] == ["fc", "linear · 10"] + ([fc] if fc else [])


def test_saved_for_backward_is_the_training_memory_of_each_layer():
    # in training conv1 saves its input (3x32x32 floats = 12,288 B = 12.00 KiB); cnncost memory's rule
    nodes = dot_nodes(cnncost.analyze_text(TINY).to_dot(color="saved"))
    assert nodes["conv1"][-1] == "12.00 KiB saved"


def test_blocks_are_frames_and_collapse_with_depth():
    report = cnncost.analyze_text(BLOCKS)
    source = report.to_dot()
    assert re.search(r"subgraph cluster_\d+ \{\n\s+label=<stage1>", source)
    edges = dot_edges(source)
    assert ("stem", "stage1.conv_a", "") in edges and ("stage1.conv_b", "pool", "") in edges
    # the side output's wires and boxes are dashed; the main chain's are not
    assert ("stem", "aux.global_avgpool", " [style=dashed]") in edges
    assert re.search(r'"aux.aux_fc" \[label=<.*style="rounded,filled,dashed"', source)
    collapsed = diagram(report, depth=1)
    boxes = {b.id: b for b in collapsed.boxes}
    assert set(boxes) == {"input", "stem", "stage1", "aux", "pool", "flatten", "fc"}
    assert boxes["stage1"].kind == "block" and boxes["stage1"].layers == 2
    assert boxes["stage1"].figures["macs"] == 2 * 9_216 and boxes["stage1"].figures["params"] == 2 * 148
    assert boxes["stage1"].shape == (4, 8, 8) and boxes["aux"].side
    assert {(a, b) for a, b, _ in collapsed.edges} == {("input", "stem"), ("stem", "stage1"), ("stem", "aux"),
                                                       ("stage1", "pool"), ("pool", "flatten"), ("flatten", "fc")}
    assert dot_nodes(to_dot(collapsed))["stage1"] == ["stage1", "block, 2 layers · 4×8×8", "18.43k MACs"]


def test_fill_follows_the_figure_on_a_log_scale():
    d = diagram(cnncost.analyze_text(TINY))
    source = to_dot(d)
    fills = dict(re.findall(r'^\s*"([^"]+)" \[label=.*fillcolor="(#[0-9a-f]+)"', source, re.M))
    # conv1 has the most MACs: the darkest step; fc the fewest: the lightest; relu none: white
    assert fills["conv1"] == "#ef6548" and fills["fc"] == "#fff7ec" and fills["relu"] == "#ffffff"


def test_names_are_escaped_in_dot_and_html():
    # YAML names are letters, digits, _ and -; an imported or hand-made graph's names need not be
    from dataclasses import replace

    d = diagram(cnncost.analyze_text(TINY))
    odd = 'f<b>&"c\\'
    d = replace(d, boxes=[replace(b, id=odd) if b.id == "fc" else b for b in d.boxes],
                edges=[(a, odd if b == "fc" else b, side) for a, b, side in d.edges], model=odd)
    source = to_dot(d)
    assert 'f&lt;b&gt;&amp;&quot;c\\' in source and '"f<b>&\\"c\\\\" [label=' in source
    assert source.startswith('digraph "f<b>&\\"c\\\\" {')
    if shutil.which("dot"):  # and Graphviz reads it back
        assert subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True).returncode == 0
    report = replace(cnncost.analyze_text(TINY), model="</script><b>x")
    page = report.graph_html()
    data = page.split('id="data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["model"] == "</script><b>x" and "<b>" not in data
    assert "<title>&lt;/script&gt;&lt;b&gt;x:" in page


def test_unknown_extension_and_figure_are_one_line_errors(tmp_path):
    result = invoke("graph", "alexnet", "-o", tmp_path / "a.jpg")
    assert result.exit_code == 2 and "must end in .dot, .svg, .png, .pdf or .html" in result.output
    assert not list(tmp_path.iterdir())
    result = invoke("graph", "alexnet", "-o", tmp_path / "a.dot", "--color", "flops")
    assert result.exit_code == 2 and not list(tmp_path.iterdir())


def test_stdin_and_onnx_are_drawn_alike(tmp_path):
    out = tmp_path / "s.dot"
    assert invoke("graph", "-", "-o", out, input=TINY).exit_code == 0
    assert set(dot_nodes(out.read_text())) == {"input"} | set(TINY_BOXES)
    piped = invoke("graph", "-", "-o", "-", input=TINY)  # -o -: the source on stdout, for | dot -Tpdf
    assert piped.exit_code == 0 and piped.output == out.read_text()
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # x (1x3x8x8) -> Conv 3->4, 3x3, pad 1 -> Relu: conv MACs 4*8*8*27 = 6,912
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="act")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)])
    model = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(model))
    out = tmp_path / "m.dot"
    result = invoke("graph", model, "-o", out)
    assert result.exit_code == 0, result.output
    labels = list(dot_nodes(out.read_text()).values())
    assert any(label[1:] == ["conv · 4×8×8", "6.912k MACs"] for label in labels), labels


# --- Graphviz's drawings ---

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed "
                               "(apt-get install graphviz; .ci/run installs it)")


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@needs_dot
def test_svg_parses_and_has_a_node_per_box(tmp_path):
    out = tmp_path / "t.svg"
    assert invoke("graph", "-", "-o", out, input=TINY).exit_code == 0
    root = ET.parse(out).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = [g.find("svg:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g")
              if g.get("class") == "node"]
    assert sorted(titles) == sorted(["input", *TINY_BOXES])
    assert len([g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "edge"]) == 5


@needs_dot
def test_pdf_is_a_pdf(tmp_path):
    out = tmp_path / "t.pdf"
    assert invoke("graph", "-", "-o", out, input=TINY).exit_code == 0
    assert out.read_bytes().startswith(b"%PDF-")


@needs_dot
def test_png_has_the_resolution_asked_for(tmp_path):
    sizes = {}
    for dpi in (36, 72):
        out = tmp_path / f"t{dpi}.png"
        assert invoke("graph", "-", "-o", out, "--dpi", dpi, input=TINY).exit_code == 0
        sizes[dpi] = png_size(out)
    # Graphviz lays out in points (1/72 inch): at 72 dpi a point is a pixel, at 36 half of one
    (w36, h36), (w72, h72) = sizes[36], sizes[72]
    assert abs(2 * w36 - w72) <= 2 and abs(2 * h36 - h72) <= 2


def test_graphviz_is_not_given_a_graph_it_would_take_minutes_on(tmp_path):
    # 1,999 x 10 ReLUs, flat names: 19,990 boxes and the input, past the 3,000 Graphviz gets
    big = "input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 1999\n      layers:\n" \
          "        - repeat: {count: 10, layers: [relu]}\n"
    result = invoke("graph", "-", "-o", tmp_path / "big.svg", input=big)
    assert result.exit_code == 2 and "19,991 boxes are too many for Graphviz" in result.output
    assert "--depth N, or write .html or .dot" in result.output and not list(tmp_path.iterdir())


def test_without_graphviz_svg_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot on it
    code = "from cnncost.cli import main; main(['graph', 'alexnet', '-o', 'a.svg'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "needs Graphviz's 'dot' program" in out.stderr and "apt-get install graphviz" in out.stderr
    assert not (tmp_path / "a.svg").exists()


# --- the page, in a real browser ---

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                                    "chromium; .ci/run installs it)")
# script put before the page's own, and one after: what the page logged and asked for, written into the DOM
WATCH = """<script>window.__seen = {errors: [], blocked: []};
for (const level of ["error", "warn"]) { const f = console[level]; console[level] = (...a) => {
  window.__seen.errors.push(level + ": " + a.join(" ")); f.apply(console, a); }; }
addEventListener("error", e => window.__seen.errors.push("uncaught: " + e.message));
document.addEventListener("securitypolicyviolation", e => window.__seen.blocked.push(e.blockedURI));
</script>"""
REPORT = """<script>window.__seen.requests = performance.getEntriesByType("resource").map(e => e.name);
document.body.dataset.seen = JSON.stringify(window.__seen);</script>"""


# Chromium's own services, which it calls whatever the page (an empty one too): its clock, updater and sign-in
CHROMIUM_OWN = ("clients2.google.com", "update.googleapis.com", "accounts.google.com", "clientservices.googleapis.com",
                "optimizationguide-pa.googleapis.com", "content-autofill.googleapis.com")


def chromium(page, *args):
    """Headless Chromium on a page, through a proxy of ours that records each request's host:
    (stdout, hosts other than Chromium's own services)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    hosts = []
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                connection = server.accept()[0]
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    line = connection.recv(1000).split(b"\r\n", 1)[0].decode("ascii", "replace")
                except OSError:
                    line = "? unread"
            target = line.split(" ")[1] if " " in line else line
            hosts.append(re.sub(r"^[a-z]+://", "", target).split("/")[0].split(":")[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as profile:
        try:
            out = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{server.getsockname()[1]}",
                 "--proxy-bypass-list=<-loopback>", "--hide-scrollbars", "--virtual-time-budget=10000",
                 *args, page.as_uri()], capture_output=True, text=True, timeout=120)
        finally:
            done.set()
            thread.join()
            server.close()
    return out.stdout, [h for h in hosts if h not in CHROMIUM_OWN]


# what a person does on the GoogLeNet page: collapse inception3a by its frame's name, open it again by a click
# on its box, colour by parameters, click conv1.conv for its row; what the page showed after each, into the DOM
ACT = """<script>(function () {
const act = {}, boxes = () => Number(document.body.dataset.boxes), click = e => e.dispatchEvent(
  new MouseEvent("click", {bubbles: true}));
const node = id => [...document.querySelectorAll(".node")].find(g => g.dataset.id === id);
act.before = boxes();
click([...document.querySelectorAll(".frame text")].find(t => t.textContent === "− inception3a"));
act.collapsed = boxes();
act.block = [...node("inception3a").querySelectorAll("text")].map(t => t.textContent);
click(node("inception3a"));
act.expanded = boxes();
const select = document.getElementById("color");
select.value = "params";
select.dispatchEvent(new Event("change"));
act.conv1 = [...node("conv1.conv").querySelectorAll("text")].map(t => t.textContent);
click(node("conv1.conv"));
act.details = [...document.querySelectorAll("#details tr")].map(r => [...r.children].map(c => c.textContent));
document.body.dataset.act = JSON.stringify(act);
})();</script>"""


def watched_page(tmp_path, html, act=""):
    page = tmp_path / "page.html"
    page.write_text(html.replace("<head>", "<head>" + WATCH, 1).replace("</body>", act + REPORT + "</body>", 1))
    return page


def dom_json(dom, name):
    import html

    return json.loads(html.unescape(re.search(rf'data-{name}="([^"]*)"', dom).group(1)))


@needs_chromium
def test_the_page_draws_every_layer_offline_without_errors_and_responds(tmp_path):
    # one Chromium run: the page as loaded, then what a person does on it (ACT), then what it logged and asked for
    report = cnncost.analyze("googlenet")  # 215 layers, Inception blocks, two side outputs (drawn, dashed)
    dom, hosts = chromium(watched_page(tmp_path, report.graph_html(), ACT), "--dump-dom")
    assert dom_json(dom, "seen") == {"errors": [], "blocked": [], "requests": []} and hosts == []
    names = set(re.findall(r'<text [^>]*class="name">([^<]*)</text>', dom))
    assert names == {layer.name for layer in report.layers} | {"input"}
    assert 'data-ready="true"' in dom
    assert "6.625M params, 1.511G MACs" in dom  # the header: googlenet's totals (torchvision: 6,624,904 params)
    inside = sum(1 for layer in report.layers if layer.name.startswith("inception3a."))  # 20 layers
    act = dom_json(dom, "act")
    assert act["before"] == len(report.layers) + 1  # every layer and the input
    assert act["collapsed"] == act["before"] - inside + 1 and act["expanded"] == act["before"]
    assert act["block"][:2] == ["inception3a", f"block, {inside} layers · 256×28×28"]  # 64 + 128 + 32 + 32 channels
    assert act["conv1"] == ["conv1.conv", "conv · 64×112×112", "9.408k params"]  # 64*3*7*7, no bias (a norm follows)
    rows = dict(act["details"])
    assert rows["kind"] == "conv" and rows["params"] == "9,408" and rows["output"] == "64×112×112"
    assert rows["input"] == "3×224×224" and "kernel=7x7" in rows["args"]


@needs_chromium
def test_the_page_collapsed_and_its_screenshot(tmp_path):
    report = cnncost.analyze("resnet152")
    page = watched_page(tmp_path, report.graph_html(depth=1))
    dom, _ = chromium(page, "--dump-dom")
    names = re.findall(r'<text [^>]*class="name">([^<]*)</text>', dom)
    # ResNet-152 at depth 1: the stem's four layers, the four stages, avgpool, flatten and fc
    assert sorted(names) == sorted(["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                                    "layer4", "avgpool", "flatten", "fc"])
    # layer3: 36 bottlenecks of 3 convs, 3 norms, 3 ReLUs and an add (10 rows), the first with a shortcut conv
    # and norm: 36 * 10 + 2
    assert "block, 362 layers" in dom
    shot = tmp_path / "shot.png"
    chromium(page, f"--screenshot={shot}", "--window-size=1000,700")
    assert png_size(shot) == (1000, 700) and shot.stat().st_size > 20_000


def test_graph_imports_no_heavy_package(tmp_path):
    code = ("import sys; from cnncost.cli import main\n"
            f"try:\n    main(['graph', 'googlenet', '-o', {str(tmp_path / 'g.html')!r}, '--color', 'saved'])\n"
            "except SystemExit: pass\n"
            "heavy = ('torch', 'numpy', 'matplotlib', 'onnx', 'pandas')\n"
            "sys.stderr.write(repr([m for m in heavy if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().endswith("[]"), out.stderr
    assert (tmp_path / "g.html").stat().st_size > 50_000
