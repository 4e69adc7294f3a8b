// The pipeline page: the DAG, a task's details on selection, and the trigger form.
import { DagView, expandGraph } from "./graph.js";
import { initTriggerForm } from "./form.js";
import { $, esc, readJson } from "./util.js";

function describeParams(schema) {
  const props = (schema && schema.properties) || {};
  const required = new Set(schema.required || []);
  const names = Object.keys(props);
  if (!names.length) return '<p class="muted">No parameters.</p>';
  return '<ul class="param-list">' + names.map((n) => {
    const p = props[n];
    const type = p.type || (p.enum ? "enum" : p.$ref ? p.$ref.split("/").pop() : p.anyOf ? "any of" : "any");
    const bits = [esc(Array.isArray(type) ? type.join(" | ") : type)];
    if (required.has(n)) bits.push("required");
    if ("default" in p) bits.push(`default <code>${esc(JSON.stringify(p.default))}</code>`);
    return `<li><code>${esc(n)}</code> — ${bits.join(", ")}${p.description ? `<br><span class="muted small">${esc(p.description)}</span>` : ""}</li>`;
  }).join("") + "</ul>";
}

function showTask(node) {
  const panel = $("#task-panel");
  const facts = [
    ["Task", esc(node.task) + (node.kind === "command" ? ' <span class="tag">command</span>' : "")],
    ["Queue", esc(node.queue)],
    ["Retries", String(node.retries)],
    ["Timeout", node.timeout_seconds ? `${node.timeout_seconds} s` : "none"],
    ["Cache", node.cache ? "by parameters" : "off"],
  ];
  if (node.map) facts.push(["Maps over", `<code>${esc(node.map)}</code>`]);
  if (node.tags.length) facts.push(["Tags", node.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join(" ")]);
  panel.innerHTML =
    `<div class="panel-head"><h2>${esc(node.id)}</h2></div>` +
    (node.description ? `<p class="muted">${esc(node.description)}</p>` : "") +
    `<dl class="facts compact">${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join("")}</dl>` +
    (node.source ? `<h3>Source</h3><p><code>${esc(node.source)}</code>${node.callable ? `<br><code class="muted">${esc(node.callable)}</code>` : ""}</p>` : "") +
    (node.command ? `<h3>Command</h3><pre>${esc(node.command)}</pre>` : "") +
    `<h3>Parameters</h3>${describeParams(node.params_schema)}` +
    `<details><summary class="muted small">Parameter JSON Schema</summary><pre class="json">${esc(JSON.stringify(node.params_schema, null, 2))}</pre></details>`;
}

export async function initPipelinePage() {
  initTriggerForm();
  const graph = expandGraph(readJson("graph-data"));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const dag = new DagView($("#graph"), graph, { onSelect: (id) => showTask(byId.get(id)) });
  await dag.draw($("#graph-status"));
}
