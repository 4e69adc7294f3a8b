// Small helpers shared by the pages.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function readJson(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

export function stateBadge(state) {
  return `<span class="state state-${esc(state)}">${esc(String(state).replace("_", " "))}</span>`;
}

export function duration(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function timestamp(epoch) {
  if (epoch == null) return "—";
  return new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19);
}

// Reads a problem+json (or any error) response as {detail, errors}.
export async function problemOf(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  return {
    detail: body.detail || body.title || `${response.status} ${response.statusText}`,
    errors: Array.isArray(body.errors) ? body.errors : [],
  };
}

export async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// Run states after which nothing changes (a queued run has not started yet).
export const RUN_ENDED = new Set(["succeeded", "failed", "cancelled", "expired"]);
