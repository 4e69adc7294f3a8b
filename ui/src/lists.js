// Lists: pipeline search and schedules, runs with live state changes, schedules and sensors.
import { $, $$, RUN_ENDED, duration, esc, postJson, problemOf, stateBadge } from "./util.js";

const RUNS_POLL_MS = 3000;

export function initPipelinesPage() {
  const search = $("#pipeline-search");
  const rows = $$("#pipelines tbody tr");
  search?.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    for (const r of rows) { r.hidden = q !== "" && !r.dataset.search.includes(q); shown += r.hidden ? 0 : 1; }
    $("#no-match").hidden = shown > 0;
  });
  fillSchedules(rows);
}

// The schedule column, when this server has a scheduler (GET /api/v1/schedules).
async function fillSchedules(rows) {
  const items = await fetchList("/api/v1/schedules");
  if (!items) return;
  for (const r of rows) {
    const mine = items.filter((s) => s.pipeline === r.dataset.pipeline);
    if (!mine.length) continue;
    r.querySelector(".schedule").innerHTML = mine.map((s) =>
      `${trigger(s)}${s.paused || s.enabled === false || s.state === "paused" ? ' <span class="tag">paused</span>' : ""}`).join("<br>");
  }
}

async function fetchList(url) {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body) ? body : body.items || body.schedules || body.sensors || null;
  } catch { return null; }
}

export function initRunsPage() {
  const rows = new Map($$("#runs tbody tr").map((r) => [r.dataset.run, r]));
  const tick = async () => {
    const open = [...rows.values()].filter((r) => !RUN_ENDED.has(r.dataset.state));
    for (const r of open) r.querySelector(".run-duration").textContent = duration(Date.now() / 1000 - Number(r.querySelector(".run-duration").dataset.created));
    if (!open.length) return;
    const params = new URLSearchParams(location.search);
    const query = new URLSearchParams({ limit: "500" });
    if (params.get("pipeline")) query.set("pipeline", params.get("pipeline"));
    const oldest = Math.min(...open.map((r) => Number(r.querySelector(".run-duration").dataset.created)));
    query.set("created_after", String(oldest - 0.001));
    try {
      const response = await fetch(`/api/v1/runs?${query}`);
      if (!response.ok) return;
      for (const run of (await response.json()).runs) {
        const r = rows.get(run.id);
        if (!r || r.dataset.state === run.state) continue;
        r.dataset.state = run.state;
        r.querySelector(".run-state").innerHTML = stateBadge(run.state);
        if (run.ended_at) r.querySelector(".run-duration").textContent = duration(run.ended_at - run.created_at);
      }
    } catch { /* the next tick tries again */ }
  };
  setInterval(tick, RUNS_POLL_MS);
}

export function initSchedulesPage() {
  $$("[data-source]").forEach((box) => {
    loadSchedules(box);
    bindPauseResume(box);
  });
}

function bindPauseResume(box) {
  box.addEventListener("click", async (e) => {
    const b = e.target.closest("[data-toggle]");
    if (!b) return;
    b.disabled = true;
    const action = b.dataset.paused === "true" ? "resume" : "pause";
    const response = await postJson(`${box.dataset.source}/${encodeURIComponent(b.dataset.toggle)}/${action}`);
    if (response.ok) { loadSchedules(box); return; }
    const error = box.querySelector(".form-error");
    error.textContent = `Could not ${action} ${b.dataset.toggle}: ${(await problemOf(response)).detail}`;
    error.hidden = false;
    b.disabled = false;
  });
}

const WHEN_KEYS = ["next_fire_at", "next_run_at", "next_tick_at", "next_at", "next_fire_time"];

// What a schedule fires on (its cron) or what a sensor watches (its kind and target).
function trigger(s) {
  if (s.interval_seconds) return `every ${esc(s.interval_seconds)} s`;
  if (s.cron) return `<code>${esc(s.cron)}</code>${s.timezone ? ` <span class="muted small">${esc(s.timezone)}</span>` : ""}`;
  const c = s.config || {};
  const target = c.glob || c.path || c.pattern || c.url || (s.hook_url ? s.hook_url : "");
  return `${s.kind ? `<span class="tag">${esc(s.kind)}</span> ` : ""}<code>${esc(target)}</code>`;
}

async function loadSchedules(box) {
  const kind = box.dataset.kind;
  let response;
  try { response = await fetch(box.dataset.source, { headers: { Accept: "application/json" } }); } catch { response = null; }
  if (!response || response.status === 404 || response.status === 405) {
    box.innerHTML = `<p class="muted">This server has no ${kind}s: its scheduler is not installed or not running. ${kind === "schedule" ? "Schedules create runs by cron expression." : "Sensors create runs when files or events arrive."}</p>`;
    return;
  }
  if (!response.ok) { box.innerHTML = `<p class="form-error">${esc((await problemOf(response)).detail)}</p>`; return; }
  const body = await response.json();
  const items = Array.isArray(body) ? body : body.items || body[`${kind}s`] || [];
  if (!items.length) { box.innerHTML = `<p class="muted">No ${kind}s yet.</p>`; return; }
  box.innerHTML = `<table class="grid"><thead><tr><th>Name</th><th>Pipeline</th><th>${kind === "schedule" ? "Cron" : "Watches"}</th><th>Next</th><th>State</th><th><span class="visually-hidden">Actions</span></th></tr></thead><tbody>` +
    items.map((s) => {
      const paused = s.paused === true || s.enabled === false || s.state === "paused";
      const next = (s.next_fire_times || [])[0] ?? WHEN_KEYS.map((k) => s[k]).find((v) => v != null);
      const nextText = next == null ? "—" : typeof next === "number" ? `${new Date(next * 1000).toISOString().replace("T", " ").slice(0, 19)} UTC` : esc(String(next).replace("T", " ").replace(/([+-]\d\d:\d\d|Z)$/, " $1"));
      return `<tr><td><strong>${esc(s.name)}</strong></td><td><a href="/pipelines/${esc(s.pipeline)}">${esc(s.pipeline)}</a></td>` +
        `<td>${trigger(s)}${s.last_error ? `<div class="error">${esc(s.last_error)}</div>` : ""}</td>` +
        `<td>${nextText}</td><td>${paused ? '<span class="tag">paused</span>' : stateBadge("running").replace(">running<", ">active<")}</td>` +
        `<td class="actions"><button type="button" class="small" data-toggle="${esc(s.name)}" data-paused="${paused}">${paused ? "Resume" : "Pause"}</button></td></tr>`;
    }).join("") + "</tbody></table><p class=\"form-error\" role=\"alert\" hidden></p>";
}
