// A pipeline's DAG: laid out by dagre (in a Web Worker, cached per pipeline version),
// drawn as one SVG: one <path> for every edge, one small <g> per node. Pan by dragging
// or the arrow keys, zoom with the wheel or + and -, select with a click or Enter.
import { esc } from "./util.js";

const NODE_W = 172;
const NODE_H = 36;
const LARGE = 300;
const KEYBOARD_NODES = 500; // above this many nodes, dagre's cheaper ranker keeps the layout fast
const CACHE_PREFIX = "hw-layout:v1:";
const WORKER_URL = new URL("./layout-worker.js", import.meta.url);

function layoutOptions(count) {
  const graph = { rankdir: "LR", nodesep: 14, ranksep: 56, edgesep: 8, marginx: 20, marginy: 20 };
  if (count <= LARGE) return { graph, layout: {} };
  return { graph: { ...graph, ranker: "longest-path" }, layout: { disableOptimalOrderHeuristic: true } };
}

function cachedLayout(version, count) {
  try {
    const found = JSON.parse(localStorage.getItem(CACHE_PREFIX + version) || "null");
    return found && found.nodes.length === count ? found : null;
  } catch { return null; }
}

function storeLayout(version, layout) {
  const key = CACHE_PREFIX + version;
  const text = JSON.stringify(layout);
  try {
    localStorage.setItem(key, text);
  } catch {
    // Full: drop older layouts (they are only a cache) and try once more.
    Object.keys(localStorage).filter((k) => k.startsWith(CACHE_PREFIX)).forEach((k) => localStorage.removeItem(k));
    try { localStorage.setItem(key, text); } catch { /* too large to cache: fine */ }
  }
}

function computeLayout(nodes, edges) {
  const input = {
    nodes: nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })),
    edges,
    options: layoutOptions(nodes.length),
  };
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL);
    worker.onmessage = (event) => { worker.terminate(); resolve(event.data.layout); };
    worker.onerror = (event) => { worker.terminate(); reject(new Error(event.message || "layout failed")); };
    worker.postMessage(input);
  });
}

// The server's copy (embedded in the page), else this browser's, else dagre's, which is
// then kept in both places: a version's layout never changes.
export async function loadLayout(graph) {
  if (graph.layout && graph.layout.nodes.length === graph.nodes.length) return { layout: graph.layout, cached: "server" };
  const cached = cachedLayout(graph.version, graph.nodes.length);
  if (cached) return { layout: cached, cached: "browser" };
  const layout = await computeLayout(graph.nodes, graph.edges);
  storeLayout(graph.version, layout);
  fetch(`/ui/pipelines/${encodeURIComponent(graph.pipeline)}/layout?version=${graph.version}`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(layout),
  }).catch(() => { /* only a cache */ });
  return { layout, cached: false };
}

function label(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// "task · queue", with the task's short name when the node is named otherwise.
export function describeNode(node) {
  const short = node.task.split(".").pop();
  const parts = [short === node.id ? node.kind : short];
  if (node.map) parts.push(`map over ${node.map}`);
  else if (node.queue !== "default") parts.push(`queue ${node.queue}`);
  return parts.join(" · ");
}

// The page embeds nodes as [id, task, map, source] and tasks once by name.
export function expandGraph(data) {
  return {
    ...data,
    nodes: data.nodes.map(([id, task, map, source]) => ({ ...data.tasks[task], id, task, map, source: source || data.tasks[task].source })),
  };
}

export class DagView {
  constructor(container, graph, { onSelect, subtitle } = {}) {
    this.container = container;
    this.graph = graph;
    this.onSelect = onSelect || (() => {});
    this.subtitle = subtitle || describeNode;
    this.index = new Map(graph.nodes.map((n, i) => [n.id, i]));
    this.elements = [];
    this.states = new Array(graph.nodes.length).fill("");
    this.selected = -1;
  }

  async draw(status) {
    const started = performance.now();
    if (!this.graph.nodes.length) {
      this.container.innerHTML = '<div class="graph-message">This pipeline has no tasks.</div>';
      return;
    }
    const { layout, cached } = await loadLayout(this.graph);
    const laidOut = performance.now();
    this.layout = layout;
    this.render();
    this.fit();
    this.bind();
    if (status) {
      const n = this.graph.nodes.length;
      const how = cached ? `layout from the ${cached} cache` : `laid out in ${Math.round(laidOut - started)} ms`;
      status.textContent = `${n} task${n === 1 ? "" : "s"} · ${how} · drawn in ${Math.round(performance.now() - laidOut)} ms`;
    }
    this.container.dataset.ready = "true";
  }

  render() {
    const { nodes, edges } = this.graph;
    const L = this.layout;
    // Small graphs get keyboard-reachable nodes; in large ones the run page's task-run
    // list is the keyboard path, and 2,000 extra focusable elements cost drawing time.
    const a11y = nodes.length <= KEYBOARD_NODES;
    let path = "";
    for (const pts of L.edges) {
      path += `M${pts[0]} ${pts[1]}`;
      for (let i = 2; i < pts.length; i += 2) path += `L${pts[i]} ${pts[i + 1]}`;
    }
    const parts = [];
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      const [x, y] = L.nodes[i];
      parts.push(
        `<g class="node${this.states[i] ? ` s-${this.states[i]}` : ""}" data-i="${i}"${a11y ? ` role="button" tabindex="-1" aria-label="${esc(n.id)}"` : ""} transform="translate(${x - NODE_W / 2} ${y - NODE_H / 2})">` +
        `<rect width="${NODE_W}" height="${NODE_H}" rx="6"/><rect class="bar" width="4" height="${NODE_H}" rx="2"/>` +
        `<text x="12" y="15">${esc(label(n.id, 24))}</text><text class="sub" x="12" y="28">${esc(label(this.subtitle(n, i), 28))}</text></g>`
      );
    }
    const arrow = '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0L8 4L0 8z" fill="var(--edge)"/></marker></defs>';
    this.container.innerHTML =
      `<svg xmlns="http://www.w3.org/2000/svg" role="group" aria-label="task graph">${arrow}` +
      `<path class="edges" marker-end="url(#arrow)" d="${path}"/>` + `<g class="nodes">${parts.join("")}</g></svg>`;
    this.svg = this.container.firstElementChild;
    // One path draws every edge; per-edge arrowheads need their own paths, so they are
    // drawn only for graphs small enough for that to stay cheap.
    if (edges.length > 1500) this.svg.querySelector(".edges").removeAttribute("marker-end");
    else this.drawSeparateEdges();
    this.elements = Array.from(this.svg.querySelectorAll("g.node"));
  }

  drawSeparateEdges() {
    const combined = this.svg.querySelector(".edges");
    const group = document.createElementNS("http://www.w3.org/2000/svg", "g");
    group.setAttribute("class", "edges");
    group.innerHTML = this.layout.edges.map((pts) => {
      let d = `M${pts[0]} ${pts[1]}`;
      for (let i = 2; i < pts.length; i += 2) d += `L${pts[i]} ${pts[i + 1]}`;
      return `<path d="${d}" marker-end="url(#arrow)"/>`;
    }).join("");
    combined.replaceWith(group);
  }

  setState(nodeId, state, subtitle) {
    const i = this.index.get(nodeId);
    if (i === undefined) return;
    this.states[i] = state;
    const el = this.elements[i];
    if (!el) return;
    el.setAttribute("class", `node s-${state}${i === this.selected ? " selected" : ""}`);
    if (subtitle !== undefined) el.lastElementChild.textContent = label(subtitle, 28);
  }

  select(nodeId, { focus = false } = {}) {
    const i = this.index.get(nodeId);
    if (this.selected >= 0 && this.elements[this.selected]) this.elements[this.selected].classList.remove("selected");
    this.selected = i ?? -1;
    const el = this.elements[this.selected];
    if (!el) return;
    el.classList.add("selected");
    if (focus) el.focus({ preventScroll: true });
    this.reveal(this.selected);
  }

  reveal(i) {
    const [x, y] = this.layout.nodes[i];
    const [vx, vy, vw, vh] = this.view;
    if (x < vx || x > vx + vw || y < vy || y > vy + vh) this.setView([x - vw / 2, y - vh / 2, vw, vh]);
  }

  fit() {
    const { width, height } = this.layout;
    const box = this.container.getBoundingClientRect();
    const aspect = box.width / Math.max(box.height, 1);
    let w = Math.max(width, box.width / 1.1); // never larger than life
    let h = w / aspect;
    if (h < height) { h = height; w = h * aspect; }
    // Very large graphs start readable (left edge, full height of a few ranks) rather than as dots.
    const maxW = 2600;
    if (w > maxW) { w = maxW; h = w / aspect; }
    this.setView([(width - w) / 2, Math.min(0, (height - h) / 2), w, h]);
  }

  setView(view) {
    this.view = view;
    this.svg.setAttribute("viewBox", view.map((v) => v.toFixed(1)).join(" "));
  }

  zoom(factor, cx, cy) {
    const [x, y, w, h] = this.view;
    const nw = Math.min(Math.max(w * factor, 120), Math.max(this.layout.width, this.layout.height) * 4);
    const k = nw / w;
    const px = cx ?? x + w / 2;
    const py = cy ?? y + h / 2;
    this.setView([px - (px - x) * k, py - (py - y) * k, w * k, h * k]);
  }

  toSvg(clientX, clientY) {
    const box = this.svg.getBoundingClientRect();
    const [x, y, w, h] = this.view;
    return [x + ((clientX - box.left) / box.width) * w, y + ((clientY - box.top) / box.height) * h];
  }

  bind() {
    const c = this.container;
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [px, py] = this.toSvg(e.clientX, e.clientY);
      this.zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, px, py);
    }, { passive: false });
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, view: this.view, moved: false };
    });
    c.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!drag.moved) c.setPointerCapture(e.pointerId);
      drag.moved = true;
      const box = this.svg.getBoundingClientRect();
      const [x, y, w, h] = drag.view;
      this.setView([x - (dx / box.width) * w, y - (dy / box.height) * h, w, h]);
    });
    c.addEventListener("pointerup", (e) => {
      const wasDrag = drag && drag.moved;
      drag = null;
      if (wasDrag) return;
      const node = e.target.closest("g.node");
      if (node) this.choose(Number(node.dataset.i));
    });
    c.addEventListener("keydown", (e) => this.onKey(e));
    document.querySelectorAll('[data-graph="fit"]').forEach((b) => b.addEventListener("click", () => this.fit()));
  }

  choose(i, focus = false) {
    const id = this.graph.nodes[i].id;
    this.select(id, { focus });
    this.onSelect(id);
  }

  onKey(e) {
    const node = e.target.closest && e.target.closest("g.node");
    if (node && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); this.choose(Number(node.dataset.i)); return; }
    const [x, y, w, h] = this.view;
    const step = 0.15;
    const moves = { ArrowLeft: [-w * step, 0], ArrowRight: [w * step, 0], ArrowUp: [0, -h * step], ArrowDown: [0, h * step] };
    if (e.key in moves && !e.altKey) {
      e.preventDefault();
      const [dx, dy] = moves[e.key];
      this.setView([x + dx, y + dy, w, h]);
    } else if (e.key === "+" || e.key === "=") { e.preventDefault(); this.zoom(1 / 1.25); }
    else if (e.key === "-") { e.preventDefault(); this.zoom(1.25); }
    else if (e.key === "0") { e.preventDefault(); this.fit(); }
    else if (e.key === "Tab" && !node && this.elements.length && e.target === this.container && !e.shiftKey) {
      // Tab into the graph moves to its first (or selected) node; from there n / p step.
      e.preventDefault();
      this.elements[Math.max(this.selected, 0)].focus();
    } else if (node && (e.key === "n" || e.key === "p")) {
      e.preventDefault();
      const next = Number(node.dataset.i) + (e.key === "n" ? 1 : -1);
      if (next >= 0 && next < this.elements.length) { this.elements[next].focus(); this.reveal(next); }
    }
  }
}
