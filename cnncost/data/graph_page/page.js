// cnncost graph: draws the network the page's data describes, laid out by the vendored dagre engine.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const scene = document.getElementById("scene");
  const canvas = document.getElementById("canvas");
  const byName = new Map(data.layers.map(l => [l.name, l]));

  // --- units: IEC for memory, SI for counts (cnncost's tables use the same) ---
  function significant(v) {
    const a = Math.abs(v);
    const decimals = 3 - (a >= 10) - (a >= 100) - (a >= 1000);
    return v.toLocaleString("en-US", {minimumFractionDigits: decimals, maximumFractionDigits: decimals});
  }
  function count(v) {
    for (const [u, s] of [["T", 1e12], ["G", 1e9], ["M", 1e6], ["k", 1e3]]) {
      if (Math.abs(v) >= s) return significant(v / s) + u;
    }
    return v.toLocaleString("en-US");
  }
  function size(v) {
    for (const [u, s] of [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
      if (Math.abs(v) >= s) return significant(v / s) + " " + u;
    }
    return v.toLocaleString("en-US") + " B";
  }
  function shape(s) { return s && s.length ? s.join("×") : "-"; }
  function figureText(figure, v) {
    if (v === null || v === undefined) return "";
    if (figure === "macs") return count(v) + " MACs";
    if (figure === "params") return count(v) + " params";
    if (figure === "memory") return size(v);
    if (figure === "saved") return size(v) + " saved";
    return v[0] === v[1] ? "RF " + v[0] : "RF " + v[0] + "×" + v[1];
  }
  function magnitude(figure, v) {  // what a figure is coloured by: a receptive field by its larger side
    if (v === null || v === undefined) return null;
    return figure === "rf" ? Math.max(v[0], v[1]) : v;
  }

  // --- blocks: the dot-separated prefixes that two or more layers share ---
  const members = new Map();  // block -> its layers, in order
  for (const l of data.layers) {
    const parts = l.name.split(".");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join(".");
      if (!members.has(p)) members.set(p, []);
      members.get(p).push(l);
    }
  }
  for (const [p, m] of [...members]) if (m.length < 2) members.delete(p);
  const maxDepth = Math.max(0, ...[...members.keys()].map(p => p.split(".").length));
  let collapsed = new Set();
  let color = data.color;
  let selected = null;

  function collapseTo(depth) {
    collapsed = new Set(depth ? [...members.keys()].filter(p => p.split(".").length === depth) : []);
  }
  function boxOf(name) {  // the shallowest collapsed block a layer is in, else the layer itself
    const parts = name.split(".");
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join(".");
      if (collapsed.has(p)) return p;
    }
    return name;
  }

  function boxes() {
    const list = [{id: "input", kind: "input", shape: data.input, figures: {}, side: false}];
    const seen = new Map();
    for (const l of data.layers) {
      const id = boxOf(l.name);
      if (id === l.name) {
        list.push({id, kind: l.kind, shape: l.shape, figures: l.figures, side: l.side, layer: l});
        continue;
      }
      if (seen.has(id)) continue;
      const m = members.get(id);
      const figures = {};
      for (const f of Object.keys(data.figureNames)) {
        if (f === "rf") { figures.rf = m[m.length - 1].figures.rf; continue; }
        const known = m.map(x => x.figures[f]).filter(v => v !== null && v !== undefined);
        figures[f] = known.length ? known.reduce((a, b) => a + b, 0) : null;
      }
      const box = {id, kind: "block", shape: m[m.length - 1].shape, figures, side: m.every(x => x.side),
                   layers: m.length};
      seen.set(id, box);
      list.push(box);
    }
    return list;
  }

  function frames(ids) {  // prefixes shared by two or more drawn boxes, each with the frame around it
    const shared = new Map();
    for (const id of ids) {
      const parts = id.split(".");
      for (let i = 1; i < parts.length; i++) {
        const p = parts.slice(0, i).join(".");
        shared.set(p, (shared.get(p) || 0) + 1);
      }
    }
    return new Set([...shared].filter(([, n]) => n >= 2).map(([p]) => p));
  }
  function parentOf(id, frameSet) {
    const parts = id.split(".");
    for (let i = parts.length - 1; i > 0; i--) {
      const p = parts.slice(0, i).join(".");
      if (frameSet.has(p)) return p;
    }
    return null;
  }

  // --- measuring text, for the boxes' sizes ---
  const rulerGroup = document.createElementNS(SVG, "g");
  rulerGroup.setAttribute("class", "node");
  rulerGroup.setAttribute("visibility", "hidden");
  canvas.appendChild(rulerGroup);
  const ruler = document.createElementNS(SVG, "text");
  rulerGroup.appendChild(ruler);
  function width(text, cls) {
    ruler.setAttribute("class", cls || "");
    ruler.textContent = text;
    return ruler.getComputedTextLength();
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function lines(b) {
    if (b.kind === "input") return ["input", shape(b.shape)];
    const kind = b.kind === "block" ? "block, " + b.layers + " layers" : b.kind;
    const out = [b.id, kind + " · " + shape(b.shape)];
    const text = figureText(color, b.figures[color]);
    if (text) out.push(text);
    return out;
  }

  let drawn = [];
  let bounds = null;

  function fill(v) {
    if (!v || !bounds) return "#ffffff";
    const [lo, hi] = bounds;
    const t = hi === lo ? 0 : (Math.log(v) - lo) / (hi - lo);
    return data.palette[Math.min(data.palette.length - 1, Math.floor(t * data.palette.length))];
  }

  const LAYOUT_BOXES = 2000;  // beyond this the layout takes minutes: the page draws the first ones only
  function draw() {
    const all = boxes();
    const list = all.slice(0, LAYOUT_BOXES + 1);
    document.getElementById("cut").textContent = all.length > list.length ?
      `Drawn: the first ${LAYOUT_BOXES.toLocaleString("en-US")} of ${(all.length - 1).toLocaleString("en-US")} ` +
      "boxes (laying out more takes minutes)" + (maxDepth ? "; collapse blocks to draw the rest." :
        "; the network has no blocks to collapse, and its .dot file has every layer.") : "";
    const ids = list.slice(1).map(b => b.id);
    const frameSet = frames(ids);
    const values = list.map(b => magnitude(color, b.figures[color])).filter(v => v);
    bounds = values.length ? [Math.log(Math.min(...values)), Math.log(Math.max(...values))] : null;
    const g = new dagre.graphlib.Graph({compound: true});
    g.setGraph({rankdir: "TB", nodesep: 18, ranksep: 36, edgesep: 10, marginx: 16, marginy: 16});
    g.setDefaultEdgeLabel(() => ({}));
    for (const p of frameSet) g.setNode("frame:" + p, {frame: p});
    for (const p of frameSet) { const up = parentOf(p, frameSet); if (up) g.setParent("frame:" + p, "frame:" + up); }
    for (const b of list) {
      const text = lines(b);
      const w = Math.max(...text.map((t, i) => width(t, i === 0 ? "name" : ""))) + 18;
      g.setNode("box:" + b.id, {box: b, text, width: Math.max(w, 60), height: 16 * text.length + 10});
      const up = b.kind === "input" ? null : parentOf(b.id, frameSet);
      if (up) g.setParent("box:" + b.id, "frame:" + up);
    }
    const where = new Map(list.map(b => [b.id, b]));
    const edges = new Set();
    for (const l of data.layers) {
      const target = boxOf(l.name);
      for (const i of l.inputs) {
        const source = i === "input" ? "input" : boxOf(i);
        const key = source + "\u0000" + target;
        if (source === target || edges.has(key) || !where.has(source) || !where.has(target)) continue;
        edges.add(key);
        g.setEdge("box:" + source, "box:" + target, {side: where.get(target).side});
      }
    }
    document.body.dataset.drawn = String(list.length);
    dagre.layout(g);

    scene.textContent = "";
    const frameLayer = el("g", {}, scene), edgeLayer = el("g", {}, scene), labelLayer = el("g", {}, scene);
    const nodeLayer = el("g", {}, scene);
    const frameNodes = g.nodes().filter(n => n.startsWith("frame:")).map(n => g.node(n));
    frameNodes.sort((a, b) => a.frame.split(".").length - b.frame.split(".").length);
    for (const f of frameNodes) {
      const left = f.x - f.width / 2, top = f.y - f.height / 2;
      el("rect", {x: left, y: top, width: f.width, height: f.height, rx: 6}, el("g", {class: "frame"}, frameLayer));
      // the label sits on the frame's top edge, as a fieldset's legend, over any wire that crosses it
      const up = parentOf(f.frame, frameSet);
      const grp = el("g", {class: "frame"}, labelLayer);
      const text = "− " + (up ? f.frame.slice(up.length + 1) : f.frame);
      const w = width(text, "frame-label") + 6;
      el("rect", {x: left + 6, y: top - 6, width: w, height: 12, class: "label-bg"}, grp);
      const label = el("text", {x: left + 9, y: top + 4}, grp);
      label.textContent = text;
      const t = el("title", {}, grp);
      t.textContent = "collapse " + f.frame;
      grp.addEventListener("click", ev => { ev.stopPropagation(); collapsed.add(f.frame); draw(); });
    }
    for (const e of g.edges()) {
      const edge = g.edge(e);
      const d = edge.points.map((p, i) => (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" ");
      el("path", {d, class: "edge" + (edge.side ? " side" : ""), "marker-end": "url(#arrow)"}, edgeLayer);
    }
    drawn = [];
    for (const n of g.nodes().filter(n => n.startsWith("box:"))) {
      const node = g.node(n), b = node.box;
      const grp = el("g", {class: "node " + (b.kind === "block" ? "block" : b.kind === "input" ? "input" : "layer") +
        (b.side ? " side" : ""), transform: `translate(${node.x - node.width / 2},${node.y - node.height / 2})`},
        nodeLayer);
      grp.dataset.id = b.id;
      const colour = b.kind === "input" ? "#fff" : fill(magnitude(color, b.figures[color]));
      const rect = el("rect", {width: node.width, height: node.height, rx: 5, fill: colour}, grp);
      node.text.forEach((t, i) => {
        const text = el("text", {x: 9, y: 17 + 16 * i, class: i === 0 ? "name" : ""}, grp);
        text.textContent = t;
      });
      const tip = el("title", {}, grp);
      tip.textContent = node.text.join("\n");
      grp.addEventListener("click", ev => {
        ev.stopPropagation();
        if (b.kind === "block") { collapsed.delete(b.id); draw(); return; }
        show(b);
      });
      drawn.push({b, grp, rect});
    }
    layout = g.graph();
    places = new Map();
    for (const n of g.nodes()) {
      const node = g.node(n);
      places.set(node.frame || node.box.id, node);
    }
    legend();
    document.body.dataset.boxes = String(list.length);
    document.body.dataset.frames = String(frameSet.size);
  }

  // --- the row of a layer, or a block's sums ---
  function show(b) {
    const panel = document.getElementById("details");
    panel.textContent = "";
    const close = document.createElement("button");
    close.textContent = "×";
    close.title = "close";
    close.addEventListener("click", () => { panel.hidden = true; });
    panel.appendChild(close);
    const h = document.createElement("h2");
    h.textContent = b.id;
    panel.appendChild(h);
    const table = document.createElement("table");
    const rows = [["kind", b.kind]];
    if (b.layer) for (const [k, v] of Object.entries(b.layer.row)) rows.push([k, v]);
    else rows.push(["output", shape(b.shape)]);
    for (const f of Object.keys(data.figureNames)) {
      const v = b.figures[f];
      if (v !== null && v !== undefined && !(b.layer && (f === "params" || f === "macs" || f === "memory")))
        rows.push([data.figureNames[f], f === "rf" ? figureText(f, v) :
          v.toLocaleString("en-US") + (f === "saved" ? " B" : "")]);
    }
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th"); th.textContent = k;
      const td = document.createElement("td"); td.textContent = v;
      tr.append(th, td);
      table.appendChild(tr);
    }
    panel.appendChild(table);
    panel.hidden = false;
    for (const d of drawn) d.grp.classList.toggle("selected", d.b === b);
  }

  function legend() {
    const box = document.getElementById("legend");
    box.textContent = "";
    if (!bounds) { box.textContent = "(no " + data.figureNames[color] + " to colour by)"; return; }
    const ends = bounds.map(Math.exp).map(v => color === "rf" ? String(Math.round(v)) :
      color === "memory" || color === "saved" ? size(Math.round(v)) : count(Math.round(v)));
    box.append(document.createTextNode("log scale " + ends[0]));
    for (const c of data.palette) { const i = document.createElement("i"); i.style.background = c; box.appendChild(i); }
    box.append(document.createTextNode(ends[1] + " (white: 0)"));
  }

  // --- pan and zoom ---
  let layout = null, places = new Map(), view = {x: 0, y: 0, k: 1};
  function focus(id) {  // zoom to one block or layer: the page's address may name one, #focus=inception3a
    const p = places.get(id);
    if (!p) return false;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const k = Math.min(2, 0.92 * w / p.width, 0.92 * h / p.height);
    view = {k, x: w / 2 - p.x * k, y: h / 2 - p.y * k};
    apply();
    return true;
  }
  function apply() { scene.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
  function fit() {  // the whole graph where it stays readable (boxes at 55% or more), else its top at that scale
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const whole = Math.min(1.5, w / layout.width, h / layout.height);
    const k = whole >= 0.55 ? whole : Math.min(0.55, w / layout.width);
    view = {k, x: Math.max(0, (w - layout.width * k) / 2), y: Math.max(0, (h - layout.height * k) / 2)};
    apply();
  }
  canvas.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    const k = Math.min(8, Math.max(0.05, view.k * Math.exp(-ev.deltaY * 0.0015)));
    view.x = px - (px - view.x) * k / view.k;
    view.y = py - (py - view.y) * k / view.k;
    view.k = k;
    apply();
  }, {passive: false});
  let drag = null;
  canvas.addEventListener("pointerdown", ev => {
    drag = {x: ev.clientX - view.x, y: ev.clientY - view.y};
    canvas.classList.add("dragging");
  });
  window.addEventListener("pointermove", ev => {
    if (!drag) return;
    view.x = ev.clientX - drag.x;
    view.y = ev.clientY - drag.y;
    apply();
  });
  window.addEventListener("pointerup", () => { drag = null; canvas.classList.remove("dragging"); });

  // --- the header ---
  document.getElementById("title").textContent = data.title;
  document.getElementById("totals").textContent = data.totals;
  document.getElementById("notes").textContent = data.notes.join("; ");
  const colorSelect = document.getElementById("color");
  for (const [k, v] of Object.entries(data.figureNames)) {
    const o = document.createElement("option");
    o.value = k; o.textContent = v;
    if (!data.layers.some(l => l.figures[k] !== null && l.figures[k] !== undefined)) o.disabled = true;
    colorSelect.appendChild(o);
  }
  colorSelect.value = color;
  colorSelect.addEventListener("change", () => { color = colorSelect.value; draw(); });
  const depthSelect = document.getElementById("depth");
  const all = document.createElement("option");
  all.value = "0"; all.textContent = "every layer";
  depthSelect.appendChild(all);
  for (let d = 1; d <= maxDepth; d++) {
    const o = document.createElement("option");
    o.value = String(d); o.textContent = "collapsed at depth " + d;
    depthSelect.appendChild(o);
  }
  // a network too large to draw box by box starts with its blocks collapsed, at the deepest depth that
  // draws at most MAX_BOXES boxes; the header says so, and Blocks opens them
  const MAX_BOXES = 600;
  function boxesAt(depth) {
    const seen = new Set();
    for (const l of data.layers) {
      const parts = l.name.split(".");
      let id = l.name;
      for (let i = 1; i <= depth && i < parts.length; i++) {
        const p = parts.slice(0, i).join(".");
        if (members.has(p) && p.split(".").length === depth) { id = p; break; }
      }
      seen.add(id);
    }
    return seen.size;
  }
  let start = data.depth && data.depth <= maxDepth ? data.depth : 0;
  if (!data.depth && data.layers.length > MAX_BOXES) {
    for (let d = maxDepth; d >= 1; d--) if (boxesAt(d) <= MAX_BOXES) { start = d; break; }
    if (!start && maxDepth) start = 1;
    const said = data.layers.length.toLocaleString("en-US") + " layers: drawn with blocks collapsed at depth " +
      start + " (Blocks opens them)";
    if (start) document.getElementById("notes").textContent = [...data.notes, said].join("; ");
  }
  depthSelect.value = String(start);
  depthSelect.disabled = maxDepth === 0;  // a network without blocks
  depthSelect.addEventListener("change", () => { collapseTo(Number(depthSelect.value)); draw(); fit(); });
  document.getElementById("fit").addEventListener("click", fit);

  collapseTo(start);
  draw();
  const asked = /^#focus=(.+)$/.exec(location.hash);
  if (!asked || !focus(decodeURIComponent(asked[1]))) fit();
  document.body.dataset.ready = "true";
})();
