// A timeline (Gantt chart) of a run's attempts: one row per task run that has started,
// one bar per attempt, coloured by the attempt's state; running attempts reach "now".
import { duration, esc } from "./util.js";

const ROW = 20;
const LABEL_W = 200;
const AXIS_H = 24;
const COLORS = {
  running: "var(--s-running)", succeeded: "var(--s-succeeded)", cached: "var(--s-cached)", failed: "var(--s-failed)",
  timed_out: "var(--s-failed)", lost: "var(--s-upstream_failed)", cancelled: "var(--s-cancelled)",
};

export function drawGantt(container, attempts, taskRuns, onSelect) {
  if (!attempts.length) {
    container.innerHTML = '<p class="muted" style="padding:1rem">No attempt has started yet.</p>';
    return;
  }
  const now = Date.now() / 1000;
  const rows = new Map();
  for (const [taskRunId, number, state, started, ended] of attempts) {
    if (!rows.has(taskRunId)) rows.set(taskRunId, []);
    rows.get(taskRunId).push({ number, state, started, ended: ended ?? now });
  }
  const order = [...rows.entries()].sort((a, b) => a[1][0].started - b[1][0].started);
  const t0 = Math.min(...order.map(([, a]) => a[0].started));
  const t1 = Math.max(...order.flatMap(([, a]) => a.map((x) => x.ended)), t0 + 0.001);
  const width = Math.max(container.clientWidth - 4, 600);
  const plotW = width - LABEL_W - 16;
  const x = (t) => LABEL_W + ((t - t0) / (t1 - t0)) * plotW;
  const ticks = 6;
  let axis = "";
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    axis += `<line x1="${x(t)}" x2="${x(t)}" y1="${AXIS_H - 4}" y2="${AXIS_H + order.length * ROW}"/>` +
      `<text x="${x(t)}" y="${AXIS_H - 8}" text-anchor="${i === 0 ? "start" : i === ticks ? "end" : "middle"}">+${duration(t - t0)}</text>`;
  }
  const body = order.map(([taskRunId, list], i) => {
    const tr = taskRuns.get(taskRunId);
    const name = tr ? (tr.map_index >= 0 ? `${tr.node}[${tr.map_index}]` : tr.node) : String(taskRunId);
    const y = AXIS_H + i * ROW;
    const bars = list.map((a) => {
      const w = Math.max(x(a.ended) - x(a.started), 2);
      return `<rect class="attempt" x="${x(a.started).toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${COLORS[a.state] || "var(--s-pending)"}" data-task-run="${taskRunId}"><title>${esc(name)} attempt ${a.number}: ${a.state}, ${duration(a.ended - a.started)}</title></rect>`;
    }).join("");
    return `<g><rect class="row" x="0" y="${y}" width="${width}" height="${ROW}" fill="transparent"/>` +
      `<text x="6" y="${y + 14}">${esc(name.length > 28 ? `${name.slice(0, 27)}…` : name)}</text>${bars}</g>`;
  }).join("");
  container.innerHTML = `<svg width="${width}" height="${AXIS_H + order.length * ROW + 4}" role="img" aria-label="Timeline of attempts"><g class="axis">${axis}</g>${body}</svg>`;
  container.querySelector("svg").addEventListener("click", (e) => {
    const bar = e.target.closest("rect.attempt");
    if (bar) onSelect(Number(bar.dataset.taskRun));
  });
}
