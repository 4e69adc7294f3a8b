// The run page: the DAG coloured by task-run state and kept live over Server-Sent
// Events, a Gantt timeline of attempts, a task-run panel (attempts, errors, log tail,
// artifacts), and the cancel / resume / rerun buttons.
import { DagView, expandGraph } from "./graph.js";
import { drawGantt } from "./gantt.js";
import { $, $$, RUN_ENDED, duration, esc, postJson, problemOf, readJson, stateBadge, timestamp } from "./util.js";

const DONE = new Set(["succeeded", "cached", "failed", "upstream_failed", "cancelled"]);
const ORDER = ["running", "ready", "pending", "succeeded", "cached", "failed", "upstream_failed", "cancelled"];

export function initRunPage() {
  const graph = expandGraph(readJson("graph-data"));
  const data = readJson("run-data");
  const page = new RunPage(graph, data);
  page.start();
  window.headwaterRun = page; // for the browser console and the tests' diagnostics
}

class RunPage {
  constructor(graph, data) {
    this.graph = graph;
    this.run = data.run;
    this.taskRuns = new Map(); // id -> {id, node, map_index, state, attempts, started_at, ended_at}
    this.byNode = new Map(); // node id -> node-level task run
    this.children = new Map(); // node id -> [map element task runs]
    for (const [id, node, mapIndex, state, attempts, started, ended] of data.task_runs) {
      this.put({ id, node, map_index: mapIndex, state, attempts, started_at: started, ended_at: ended });
    }
    this.attempts = data.attempts;
    this.selectedId = null;
    this.logs = new Map(); // attempt id -> EventSource
  }

  put(tr) {
    this.taskRuns.set(tr.id, tr);
    if (tr.map_index < 0) this.byNode.set(tr.node, tr);
    else {
      const list = this.children.get(tr.node) || [];
      const at = list.findIndex((x) => x.id === tr.id);
      if (at >= 0) list[at] = tr; else list.push(tr);
      this.children.set(tr.node, list);
    }
  }

  subtitle(node) {
    const tr = this.byNode.get(node.id);
    const state = tr ? tr.state.replace("_", " ") : "not started";
    const kids = this.children.get(node.id);
    if (kids && kids.length) {
      const done = kids.filter((k) => DONE.has(k.state)).length;
      return `${state} · ${done}/${kids.length} done`;
    }
    if (tr && tr.attempts > 1) return `${state} · attempt ${tr.attempts}`;
    if (tr && tr.ended_at && tr.started_at) return `${state} · ${duration(tr.ended_at - tr.started_at)}`;
    return state;
  }

  async start() {
    this.dag = new DagView($("#graph"), this.graph, {
      onSelect: (nodeId) => this.selectNode(nodeId),
      subtitle: (node) => this.subtitle(node),
    });
    for (const tr of this.byNode.values()) this.dag.states[this.dag.index.get(tr.node)] = tr.state;
    this.renderCounts();
    this.bindTabs();
    this.bindList();
    this.bindActions();
    this.showRunState();
    const fromHash = /^#task-run-(\d+)$/.exec(location.hash);
    await this.dag.draw($("#graph-status"));
    if (fromHash) this.selectTaskRun(Number(fromHash[1]));
    if (!RUN_ENDED.has(this.run.state)) this.listen();
  }

  listen() {
    const source = new EventSource(`/api/v1/runs/${this.run.id}/events`);
    this.events = source;
    $("#live").hidden = false;
    source.addEventListener("snapshot", (e) => this.apply(JSON.parse(e.data).task_runs, JSON.parse(e.data).run.state));
    source.addEventListener("task_runs", (e) => this.apply(JSON.parse(e.data)));
    source.addEventListener("run", (e) => this.setRunState(JSON.parse(e.data).state));
    source.addEventListener("end", (e) => {
      source.close();
      $("#live").hidden = true;
      this.setRunState(JSON.parse(e.data).state);
    });
  }

  apply(changed, runState) {
    const nodes = new Set();
    for (const tr of changed) {
      const old = this.taskRuns.get(tr.id);
      this.put(tr);
      nodes.add(tr.node);
      this.updateRow(tr);
      if (tr.id === this.selectedId && old && (old.state !== tr.state || old.attempts !== tr.attempts)) this.refreshPanel();
    }
    for (const node of nodes) {
      const tr = this.byNode.get(node);
      if (tr) this.dag.setState(node, tr.state, this.subtitle(this.graph.nodes[this.dag.index.get(node)]));
    }
    if (changed.length) { this.renderCounts(); this.timelineDirty = true; this.maybeRedrawTimeline(); }
    if (runState) this.setRunState(runState);
  }

  setRunState(state) {
    if (state === this.run.state) return;
    this.run.state = state;
    this.showRunState();
    if (RUN_ENDED.has(state)) {
      this.run.ended_at = Date.now() / 1000;
      $("#run-ended").textContent = timestamp(this.run.ended_at);
      $("#run-duration").textContent = duration(this.run.ended_at - this.run.created_at);
    }
  }

  showRunState() {
    const el = $("#run-state");
    el.dataset.state = this.run.state;
    el.innerHTML = stateBadge(this.run.state);
    const s = this.run.state;
    $('[data-action="cancel"]').hidden = RUN_ENDED.has(s);
    $('[data-action="resume"]').hidden = !(s === "failed" || s === "cancelled" || s === "expired");
    $('[data-action="rerun"]').hidden = !RUN_ENDED.has(s);
  }

  renderCounts() {
    const counts = {};
    for (const tr of this.taskRuns.values()) {
      if (this.children.has(tr.node) && tr.map_index < 0) continue; // a map parent is counted by its elements
      counts[tr.state] = (counts[tr.state] || 0) + 1;
    }
    $("#counts").innerHTML = ORDER.filter((s) => counts[s]).map((s) => `<li>${stateBadge(s).replace("</span>", ` ${counts[s]}</span>`)}</li>`).join("");
  }

  // The list is built when first shown: a run of thousands of task runs opens faster
  // without thousands of rows it may never show.
  renderList() {
    if (this.listRendered) return;
    this.listRendered = true;
    const label = (tr) => (tr.map_index >= 0 ? `${tr.node}[${tr.map_index}]` : tr.node);
    const task = new Map(this.graph.nodes.map((n) => [n.id, n.task]));
    $("#task-runs tbody").innerHTML = [...this.taskRuns.values()].map((tr) =>
      `<tr data-task-run="${tr.id}" data-search="${esc(`${label(tr)} ${task.get(tr.node) || ""}`.toLowerCase())}"${tr.id === this.selectedId ? ' class="selected"' : ""}>` +
      `<td><a href="#task-run-${tr.id}" data-select="${tr.id}">${esc(label(tr))}</a></td><td>${esc(task.get(tr.node) || "")}</td>` +
      `<td class="tr-state">${stateBadge(tr.state)}</td><td class="num tr-attempts">${tr.attempts}</td>` +
      `<td class="tr-started">${timestamp(tr.started_at)}</td><td class="tr-duration">${tr.ended_at && tr.started_at ? duration(tr.ended_at - tr.started_at) : "—"}</td></tr>`).join("");
  }

  updateRow(tr) {
    if (!this.listRendered) return;
    const row = document.querySelector(`#task-runs tr[data-task-run="${tr.id}"]`);
    if (!row) return;
    $(".tr-state", row).innerHTML = stateBadge(tr.state);
    $(".tr-attempts", row).textContent = tr.attempts;
    $(".tr-started", row).textContent = timestamp(tr.started_at);
    $(".tr-duration", row).textContent = tr.ended_at && tr.started_at ? duration(tr.ended_at - tr.started_at) : "—";
  }

  selectNode(nodeId) {
    const tr = this.byNode.get(nodeId);
    if (tr) this.selectTaskRun(tr.id, { fromGraph: true });
  }

  selectTaskRun(id, { fromGraph = false } = {}) {
    const tr = this.taskRuns.get(id);
    if (!tr) return;
    this.selectedId = id;
    if (!fromGraph) this.dag.select(tr.node);
    $$("#task-runs tr.selected").forEach((r) => r.classList.remove("selected"));
    document.querySelector(`#task-runs tr[data-task-run="${id}"]`)?.classList.add("selected");
    history.replaceState(null, "", `#task-run-${id}`);
    this.refreshPanel();
  }

  async refreshPanel() {
    const id = this.selectedId;
    const panel = $("#task-run-panel");
    // An open log (followed or read) would be cut by re-rendering: while one is open the
    // panel stays, with its state badge kept current (checked again once the new panel
    // arrives: a log may have been opened meanwhile).
    const following = () => {
      const open = panel.querySelector(`.task-run[data-task-run="${id}"] .log:not([hidden])`);
      if (open) panel.querySelector(".panel-head .state").outerHTML = stateBadge(this.taskRuns.get(id).state);
      return Boolean(open);
    };
    if (following()) return;
    const response = await fetch(`/runs/${this.run.id}/task-runs/${id}`);
    if (id !== this.selectedId || following()) return;
    if (!response.ok) { panel.innerHTML = `<p class="form-error">${(await problemOf(response)).detail}</p>`; return; }
    const html = await response.text();
    if (id !== this.selectedId || following()) return;
    this.closeLogs();
    panel.innerHTML = html;
    this.decoratePanel(panel);
  }

  decoratePanel(panel) {
    const kids = this.children.get(this.taskRuns.get(this.selectedId).node);
    if (kids && this.taskRuns.get(this.selectedId).map_index < 0 && kids.length) {
      const list = document.createElement("section");
      list.innerHTML = `<h3>Map elements (${kids.length})</h3><ul class="artifacts">` + kids.slice(0, 200).map((k) =>
        `<li><a href="#task-run-${k.id}" data-select="${k.id}">${k.node}[${k.map_index}]</a> ${stateBadge(k.state)}</li>`).join("") + "</ul>";
      panel.querySelector(".task-run").append(list);
    }
    $$("[data-select]", panel).forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); this.selectTaskRun(Number(a.dataset.select)); }));
    $$("[data-log]", panel).forEach((button) => button.addEventListener("click", () => this.toggleLog(button)));
  }

  toggleLog(button) {
    const id = button.dataset.log;
    const box = document.getElementById(`log-${id}`);
    const open = button.getAttribute("aria-expanded") === "true";
    button.setAttribute("aria-expanded", String(!open));
    button.dataset.label ??= button.textContent;
    button.textContent = open ? button.dataset.label : "Hide log";
    if (open) { box.hidden = true; this.logs.get(id)?.close(); this.logs.delete(id); return; }
    box.hidden = false;
    box.innerHTML = '<pre tabindex="0" aria-label="log"></pre><div class="log-status" role="status">Connecting…</div>';
    const pre = $("pre", box);
    const status = $(".log-status", box);
    const source = new EventSource(`/api/v1/attempts/${id}/logs/combined?follow=true`);
    this.logs.set(id, source);
    source.addEventListener("open", () => { status.textContent = "Following…"; });
    source.addEventListener("log", (e) => {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      pre.append(e.data); // the exact bytes: a chunk may end mid-line
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    });
    source.addEventListener("end", (e) => {
      source.close();
      let state = "";
      try { state = JSON.parse(e.data).state; } catch { /* no state given */ }
      status.textContent = `End of log${state ? ` (attempt ${state.replace("_", " ")})` : ""}.`;
      if (!pre.textContent) pre.textContent = "(empty)";
    });
    source.addEventListener("error", () => {
      if (source.readyState === 2 || !pre.textContent) {
        source.close();
        status.textContent = "The log is not available.";
      }
    });
  }

  closeLogs() {
    for (const s of this.logs.values()) s.close();
    this.logs.clear();
  }

  bindTabs() {
    const tabs = $$('[role="tab"]');
    const show = (tab) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      }
      if (tab.id === "tab-list") this.renderList();
      if (tab.id === "tab-timeline") { this.timelineDirty = true; this.maybeRedrawTimeline(true); }
    };
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => show(t));
      t.addEventListener("keydown", (e) => {
        const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (!d) return;
        const next = tabs[(i + d + tabs.length) % tabs.length];
        next.focus();
        show(next);
      });
    });
  }

  async maybeRedrawTimeline(now = false) {
    const panel = $("#panel-timeline");
    if (panel.hidden || !this.timelineDirty) return;
    if (this.timelineBusy) return;
    this.timelineBusy = true;
    try {
      if (!now) await new Promise((r) => setTimeout(r, 1000)); // at most one redraw a second
      if (!RUN_ENDED.has(this.run.state) || !this.attemptsFresh) {
        const response = await fetch(`/api/v1/runs/${this.run.id}`);
        if (response.ok) {
          const run = await response.json();
          this.attempts = run.task_runs.flatMap((tr) => tr.attempts.map((a) => [tr.id, a.number, a.state, a.started_at, a.ended_at]));
          this.attemptsFresh = RUN_ENDED.has(run.state);
        }
      }
      this.timelineDirty = false;
      drawGantt($("#gantt"), this.attempts, this.taskRuns, (id) => this.selectTaskRun(id));
    } finally {
      this.timelineBusy = false;
    }
  }

  bindList() {
    const search = $("#task-run-search");
    search?.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      $$("#task-runs tbody tr").forEach((r) => { r.hidden = q !== "" && !r.dataset.search.includes(q); });
    });
    $("#task-runs")?.addEventListener("click", (e) => {
      const a = e.target.closest("[data-select]");
      if (!a) return;
      e.preventDefault();
      this.selectTaskRun(Number(a.dataset.select));
    });
  }

  bindActions() {
    const box = $("#run-actions");
    const error = $("#action-error");
    box.addEventListener("click", async (e) => {
      const button = e.target.closest("[data-action]");
      if (!button) return;
      const action = button.dataset.action;
      if (action === "cancel" && !window.confirm("Cancel this run? Running attempts are stopped.")) return;
      button.disabled = true;
      error.hidden = true;
      try {
        const response = await postJson(`/api/v1/runs/${this.run.id}/${action}`);
        if (!response.ok) throw new Error((await problemOf(response)).detail);
        const body = await response.json();
        if (action === "cancel") {
          if (!body.cancelled) throw new Error("The run had already ended.");
          this.setRunState("cancelled");
        } else {
          window.location.assign(`/runs/${body.id}`);
        }
      } catch (err) {
        error.textContent = `Could not ${action} the run: ${err.message}`;
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
  }
}
