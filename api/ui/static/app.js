// APS planner page: vanilla JS on the jobs API, charts with plotly.js (served locally).
"use strict";

const TERMINAL = new Set(["succeeded", "infeasible", "failed", "cancelled"]);
const PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#e377c2", "#8c564b",
  "#bcbd22", "#7f7f7f", "#aec7e8", "#98df8a", "#c5b0d5", "#ff9896"];
const COLOURS = { setup: "#f2a541", pause: "#c8c8c8", downtime: "#b0b0b0",
  breakdown: "#7f1d1d", late: "#d62728", moved: "#c2185b" };
const BUSY = 0.85; // utilisation shown as "busy"

const state = {
  key: "",
  jobs: [],
  selected: null,   // job id
  job: null,        // GET /v1/jobs/{id}
  history: [],      // incumbents {elapsed, objective, bound}
  stream: null,     // AbortController of the events stream
  rows: null,       // neutral Gantt rows shown
  report: null,     // report shown
  original: null,   // {rows, report} of the stored schedule
  repair: null,     // machine-down answer shown, or null
  whatIf: null,     // the what-if job of the repair shown (its links), or null
  lanes: "machine",
  dragmode: "zoom",
  pollTimer: null,
};

const $ = (id) => document.getElementById(id);

// -- API helpers ----------------------------------------------------------------------

function describe(body, status) {
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("\n");
  }
  if (body && body.detail) return String(body.detail);
  return `HTTP ${status}`;
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-API-Key": state.key }, options.headers || {});
  const res = await fetch(path, Object.assign({}, options, { headers }));
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { detail: text }; }
  if (!res.ok) {
    const err = new Error(describe(body, res.status));
    err.status = res.status;
    throw err;
  }
  return body;
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = err.message || String(err);
  box.hidden = false;
}

// -- time formatting (wall-clock time of the plant's zone) ----------------------------

/** "2026-03-02T06:00:00+01:00" -> "2026-03-02 06:00:00" (the plant's local wall clock). */
function wall(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : null; }

function wallMs(iso) { return Date.parse(iso.slice(0, 19) + "Z"); }

function short(iso) {
  if (!iso) return "–";
  const d = new Date(wallMs(iso));
  const day = d.toLocaleDateString("en-GB", { weekday: "short", day: "2-digit", month: "short", timeZone: "UTC" });
  return `${day} ${iso.slice(11, 16)}`;
}

function hours(ticks, report) {
  if (ticks === null || ticks === undefined) return "–";
  if (!report || !report.tick_seconds) return `${ticks} ticks`;
  const h = (ticks * report.tick_seconds) / 3600;
  return `${h.toFixed(1)} h`;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// -- jobs list and submission ---------------------------------------------------------

async function refreshJobs() {
  if (!state.key) return;
  try {
    const page = await api("/v1/jobs?limit=30");
    state.jobs = page.data.filter((j) => j.kind !== "what_if");  // what-ifs show as repairs
    renderJobs();
    const sel = state.jobs.find((j) => j.id === state.selected);
    if (sel && state.job && sel.status !== state.job.status && !state.stream) {
      await loadJob(sel.id);
    }
  } catch (err) {
    showError(err);
  }
}

function renderJobs() {
  const body = $("jobs-table").querySelector("tbody");
  body.innerHTML = "";
  for (const j of state.jobs) {
    const tr = document.createElement("tr");
    tr.dataset.id = j.id;
    tr.dataset.status = j.status;
    if (j.id === state.selected) tr.classList.add("selected");
    const created = new Date(j.created_at).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    tr.innerHTML = `<td><span class="job-name" title="${esc(j.id)}">${esc(j.name)}</span></td>` +
      `<td><span class="badge ${esc(j.status)}">${esc(j.status)}</span></td>` +
      `<td>${created}</td><td>${j.objective ?? "–"}</td>`;
    tr.addEventListener("click", () => selectJob(j.id));
    body.appendChild(tr);
  }
  $("jobs-empty").hidden = state.jobs.length > 0;
}

function timeLimit() {
  const v = Number($("time-limit").value);
  return Number.isFinite(v) && v > 0 ? v : 5;
}

async function submitFiles(files) {
  const form = new FormData();
  for (const [name, blob] of files) form.append("file", blob, name);
  form.append("options", JSON.stringify({ time_limit: timeLimit() }));
  const accepted = await api("/v1/jobs", { method: "POST", body: form });
  showError(null);
  await refreshJobs();
  await selectJob(accepted.id);
}

async function submitExample() {
  try {
    const res = await fetch("/ui/example/plant.json");
    if (!res.ok) throw new Error(`example plant: HTTP ${res.status}`);
    await submitFiles([["plant.json", await res.blob()]]);
  } catch (err) { showError(err); }
}

async function submitUpload() {
  const input = $("upload-file");
  if (!input.files.length) { showError(new Error("file: choose a plant .json, .xlsx, .zip or .csv tables first")); return; }
  try {
    await submitFiles(Array.from(input.files).map((f) => [f.name, f]));
  } catch (err) { showError(err); }
}

// -- one job: status, live progress ---------------------------------------------------

async function selectJob(id) {
  if (state.stream) { state.stream.abort(); state.stream = null; }
  $("progress").dataset.events = "0";
  state.selected = id;
  state.repair = null;
  state.original = null;
  renderJobs();
  await loadJob(id);
}

async function loadJob(id) {
  try {
    const job = await api(`/v1/jobs/${id}`);
    if (state.selected !== id) return;
    state.job = job;
    state.history = job.progress.history
      .filter((h) => h.objective !== null)
      .map((h) => ({ elapsed: h.elapsed ?? 0, objective: h.objective, bound: h.bound }));
    const last = state.history[state.history.length - 1];
    if (TERMINAL.has(job.status) && last && job.solve_seconds > last.elapsed && job.objective !== null) {
      // carry the final incumbent and the final proven bound to the end of the solve
      state.history.push({ elapsed: job.solve_seconds, objective: job.objective, bound: job.bound });
    }
    renderJob();
    renderProgress();
    if (!TERMINAL.has(job.status)) {
      follow(id);
    } else if (job.status === "succeeded" || (job.status === "cancelled" && job.objective !== null)) {
      await loadSchedule(id);
    } else {
      hideSchedule();
    }
  } catch (err) { showError(err); }
}

function renderJob() {
  const job = state.job;
  $("job-panel").hidden = false;
  $("job-name").textContent = job.name;
  const badge = $("job-status");
  badge.textContent = job.status;
  badge.className = `badge ${job.status}`;
  const bits = [];
  if (job.solve_status) bits.push(job.solve_status);
  if (job.solve_seconds) bits.push(`${job.solve_seconds.toFixed(1)} s`);
  bits.push(`${job.num_operations} operations`);
  if (job.message) bits.push(job.message);
  $("job-detail").textContent = bits.join(" · ");
  $("cancel-job").hidden = TERMINAL.has(job.status);
  if (!state.report) renderKpis(null);
}

/** Server-sent events over fetch (EventSource cannot send the X-API-Key header). */
async function follow(id) {
  const ctrl = new AbortController();
  state.stream = ctrl;
  try {
    const res = await fetch(`/v1/jobs/${id}/events`, {
      headers: { "X-API-Key": state.key, Accept: "text/event-stream" }, signal: ctrl.signal,
    });
    if (!res.ok) throw new Error(`events: HTTP ${res.status}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf = (buf + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (data) onEvent(id, JSON.parse(data));
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
  } finally {
    if (state.stream === ctrl) {
      state.stream = null;
      if (state.selected === id) await loadJob(id);
      refreshJobs();
    }
  }
}

function onEvent(id, ev) {
  if (state.selected !== id) return;
  const box = $("progress");
  box.dataset.events = String(Number(box.dataset.events || 0) + 1);
  if (ev.kind === "incumbent" && ev.objective !== null && ev.objective !== undefined) {
    state.history.push({ elapsed: ev.elapsed ?? 0, objective: ev.objective, bound: ev.bound });
    renderProgress();
  } else if (ev.kind === "status" && ev.status) {
    state.job.status = ev.status;
    const badge = $("job-status");
    badge.textContent = ev.status;
    badge.className = `badge ${ev.status}`;
    const row = state.jobs.find((j) => j.id === id);
    if (row) { row.status = ev.status; renderJobs(); }
  }
}

function renderProgress() {
  const h = state.history;
  const x = h.map((p) => p.elapsed);
  const data = [
    { x, y: h.map((p) => p.objective), name: "incumbent objective", mode: "lines+markers",
      line: { shape: "hv", color: "#1f6feb" } },
    { x, y: h.map((p) => p.bound), name: "proven bound", mode: "lines+markers",
      line: { shape: "hv", color: "#2ca02c", dash: "dot" } },
  ];
  const layout = {
    margin: { l: 60, r: 10, t: 40, b: 40 }, title: { text: "Solve progress", font: { size: 13 }, x: 0, xanchor: "left", y: 0.97 },
    xaxis: { title: { text: "seconds" }, rangemode: "tozero" }, yaxis: { title: { text: "objective" } },
    legend: { orientation: "h", x: 1, xanchor: "right", y: 1.02, yanchor: "bottom" }, showlegend: true,
    annotations: h.length ? [] : [{ text: "no incumbent yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
  };
  Plotly.react("progress", data, layout, { displayModeBar: false, responsive: true });
}

async function cancelJob() {
  if (!state.selected) return;
  try { await api(`/v1/jobs/${state.selected}/cancel`, { method: "POST" }); } catch (err) { showError(err); }
}

// -- schedule: Gantt, KPIs, utilisation, late orders ----------------------------------

function hideSchedule() {
  for (const p of ["gantt-panel", "machines-panel", "late-panel", "live-panel"]) $(p).hidden = true;
  state.report = null;
  renderKpis(null);
}

async function loadSchedule(id) {
  const [rows, report] = await Promise.all([
    api(`/v1/jobs/${id}/gantt?shape=neutral`), api(`/v1/jobs/${id}/report`),
  ]);
  if (state.selected !== id) return;
  state.original = { rows, report };
  showSchedule(rows, report, null);
  setupLivePlant(report, rows);
}

function showSchedule(rows, report, repair) {
  state.rows = rows;
  state.report = report;
  state.repair = repair;
  for (const p of ["gantt-panel", "machines-panel", "late-panel", "live-panel"]) $(p).hidden = false;
  $("tz").textContent = report.timezone ? `times in ${report.timezone}` : "times in ticks";
  renderKpis(report, repair ? state.original.report : null);
  renderGantt();
  renderUtilisation(report);
  renderLate(report);
  const banner = $("repair-banner");
  banner.hidden = !repair;
  if (repair) {
    const span = repair.start_at ? `${short(repair.start_at)} → ${short(repair.end_at)}` : `${repair.start}–${repair.end}`;
    $("repair-text").textContent = `Repaired what-if: ${repair.machine} down ${span}; ` +
      `${repair.moved.length} operations moved (highlighted). A what-if: publish it to make it the live plan.`;
  }
}

function kpiTiles(report) {
  const k = report.kpis;
  const util = k.utilisation ?? null;
  return [
    ["Makespan", k.makespan_at ? short(k.makespan_at) : `${k.makespan ?? "–"} ticks`, hours(k.makespan, report) + " from plan start", false],
    ["Weighted tardiness", hours(k.weighted_tardiness, report), "Σ weight × lateness", k.weighted_tardiness > 0],
    ["Late orders", `${k.late_orders} / ${report.orders.length}`, "", k.late_orders > 0],
    ["Utilisation", util === null ? "–" : `${(100 * util).toFixed(1)} %`, "busy / working time, used machines", false],
    ["Gap to bound", k.gap === null || k.gap === undefined ? "–" : `${(100 * k.gap).toFixed(2)} %`,
      `objective ${fmt(k.objective)} · bound ${fmt(k.bound)}`, false],
    ["Status", k.status, "", false],
  ];
}

function fmt(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-GB", { maximumFractionDigits: 1 }); }

function renderKpis(report, before) {
  const box = $("kpis");
  if (!report) { box.innerHTML = ""; return; }
  const was = before ? kpiTiles(before) : null;
  box.innerHTML = kpiTiles(report).map(([label, value, note, bad], i) => {
    const prev = was && was[i][1] !== value ? `<div class="was">was ${esc(was[i][1])}</div>` : "";
    return `<div class="kpi${bad ? " bad" : ""}" data-kpi="${esc(label)}"><div class="label">${esc(label)}</div>` +
      `<div class="value">${esc(value)}</div><div class="muted">${esc(note)}</div>${prev}</div>`;
  }).join("");
}

function colourMap(rows) {
  const keys = [...new Set(rows.filter((r) => r.kind === "run").map((r) => r.colour_key))].sort();
  return Object.fromEntries(keys.map((k, i) => [k, PALETTE[i % PALETTE.length]]));
}

function hoverText(r, order, moved, tz) {
  const lines = [];
  const [job, op] = r.kind === "downtime" ? [null, null] : [r.order, r.id.split("#")[0].split("/").slice(1).join("/")];
  if (r.kind === "downtime") {
    lines.push(`<b>${esc(r.resource)} unavailable</b>`, esc(r.label));
  } else {
    lines.push(`<b>order ${esc(job)}</b> · operation ${esc(op)}`, `${r.kind} on machine ${esc(r.resource)}`);
  }
  if (r.start_at) {
    lines.push(`${short(r.start_at)} → ${short(r.end_at)} (${esc(tz)})`);
  } else {
    lines.push(`ticks ${r.start} → ${r.end}`);
  }
  if (order) {
    const due = order.due_at ? short(order.due_at) : (order.due ?? "–");
    const done = order.completion_at ? short(order.completion_at) : (order.completion ?? "–");
    lines.push(`due ${due} · order done ${done}`);
    if (order.lateness !== null && order.lateness !== undefined) {
      const by = order.lateness_hours !== null && order.lateness_hours !== undefined
        ? `${order.lateness_hours > 0 ? "+" : ""}${order.lateness_hours.toFixed(1)} h` : `${order.lateness} ticks`;
      lines.push(order.late ? `<b style="color:${COLOURS.late}">LATE by ${by}</b>` : `lateness ${by} (on time)`);
    }
  }
  if (moved) {
    lines.push(`<b style="color:${COLOURS.moved}">moved</b>: was ${esc(moved.machine_before)} ` +
      `${moved.start_before_at ? short(moved.start_before_at) : moved.start_before}` + (moved.reason ? ` (${esc(moved.reason)})` : ""));
  }
  return lines.join("<br>");
}

function renderGantt() {
  const rows = state.rows;
  const report = state.report;
  const dated = rows.length > 0 && rows.every((r) => r.start_at);
  const orders = Object.fromEntries(report.orders.map((o) => [String(o.order), o]));
  const moved = Object.fromEntries((state.repair ? state.repair.moved : []).map((m) => [`${m.job}/${m.op}`, m]));
  const byOrder = state.lanes === "order";
  const palette = colourMap(rows);
  const tz = report.timezone || "ticks";
  const traces = {};
  const order = ["downtime", "breakdown", "run", "setup", "pause", "late", "moved"];
  const names = { downtime: "downtime", breakdown: "breakdown", run: "run", setup: "setup",
    pause: "pause", late: "late order", moved: "moved by repair" };
  for (const kind of order) {
    traces[kind] = { type: "bar", orientation: "h", name: names[kind], meta: kind, x: [], base: [], y: [],
      customdata: [], ids: [], hovertemplate: "%{customdata}<extra></extra>", textposition: "none",
      marker: { color: [], line: { color: "rgba(0,0,0,0)", width: 0 } }, showlegend: true };
  }
  traces.downtime.opacity = 0.4;
  traces.breakdown.opacity = 0.7;
  traces.pause.marker.pattern = { shape: "/", fgcolor: "#888", size: 5, solidity: 0.3 };
  for (const k of ["late", "moved"]) {
    traces[k].marker.line = { color: COLOURS[k], width: k === "moved" ? 3 : 2 };
    traces[k].hoverinfo = "skip";
    delete traces[k].hovertemplate;
  }
  const add = (t, r, colour, y) => {
    if (dated) {
      t.base.push(wall(r.start_at));
      t.x.push(wallMs(r.end_at) - wallMs(r.start_at));
    } else {
      t.base.push(r.start);
      t.x.push(r.end - r.start);
    }
    t.y.push(y);
    t.ids.push(`${t.meta}:${r.id}`);
    t.marker.color.push(colour);
    t.customdata.push(hoverText(r, r.order !== null ? orders[r.order] : null, moved[r.id], tz));
  };
  for (const r of rows) {
    if (byOrder && r.kind === "downtime") continue;
    const y = byOrder ? r.order : r.resource;
    const colour = r.kind === "run" ? palette[r.colour_key] : COLOURS[r.kind];
    const kind = r.colour_key === "breakdown" ? "breakdown" : r.kind;
    add(traces[kind], r, kind === "breakdown" ? COLOURS.breakdown : colour, y);
    if (r.kind === "run" && orders[r.order] && orders[r.order].late) add(traces.late, r, "rgba(0,0,0,0)", y);
    if (r.kind === "run" && moved[r.id]) add(traces.moved, r, "rgba(0,0,0,0)", y);
  }
  const data = order.map((k) => traces[k]).filter((t) => t.x.length || t.meta === "run");
  if (byOrder) data.push(dueTrace(report, dated));
  let lanes, ticktext;
  if (byOrder) {
    lanes = report.orders.map((o) => String(o.order)).filter((o) => rows.some((r) => r.order === o));
    ticktext = lanes.map((o) => (orders[o] && orders[o].late ? `<span style="color:${COLOURS.late}"><b>${esc(o)}</b></span>` : esc(o)));
  } else {
    const util = Object.fromEntries(report.machines.map((m) => [String(m.machine), m.utilisation]));
    lanes = report.machines.map((m) => String(m.machine));
    ticktext = lanes.map((m) => {
      const u = util[m] ?? 0;
      const label = `${esc(m)} ${(100 * u).toFixed(0)}%`;
      return u >= BUSY ? `<b>${label}</b>` : label;
    });
  }
  const layout = {
    barmode: "overlay", bargap: 0.3, hovermode: "closest", dragmode: state.dragmode,
    height: Math.max(320, 90 + (byOrder ? 15 : 34) * lanes.length),
    margin: { l: byOrder ? 70 : 110, r: 10, t: 10, b: 50 },
    xaxis: { type: dated ? "date" : "linear", title: { text: dated ? `time (${tz})` : "ticks" },
      showgrid: true, gridcolor: "#eee", tickformat: dated ? "%a %d %b\n%H:%M" : undefined },
    yaxis: { type: "category", categoryorder: "array", categoryarray: [...lanes].reverse(),
      tickmode: "array", tickvals: lanes, ticktext, automargin: true, tickfont: { size: byOrder ? 9 : 12 } },
    legend: { orientation: "h", y: 1.0, yanchor: "bottom", x: 0, xanchor: "left" },
    showlegend: true,
    shapes: [],
  };
  const down = state.repair;
  if (down) {
    // the breakdown as a band over the whole chart: easy to find at any zoom
    const x0 = dated ? wall(down.start_at) : down.start;
    const x1 = dated ? wall(down.end_at) : down.end;
    layout.shapes.push({ type: "rect", xref: "x", yref: "paper", x0, x1, y0: 0, y1: 1,
      fillcolor: "rgba(127,29,29,0.12)", line: { color: COLOURS.breakdown, width: 1, dash: "dot" }, layer: "below" });
    traces.breakdown.name = `breakdown of ${down.machine}`;
  }
  const gd = $("gantt");
  Plotly.react(gd, data, layout, { responsive: true, scrollZoom: true, displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"] });
  const runs = rows.filter((r) => r.kind === "run").length;
  gd.dataset.runBars = String(runs);
  gd.dataset.lanes = state.lanes;
  gd.dataset.moved = String(Object.keys(moved).length);
}

/** Due dates as ticks on each order's lane (red when the order is late). */
function dueTrace(report, dated) {
  const orders = report.orders.filter((o) => o.due !== null && o.due !== undefined);
  return {
    type: "scatter", mode: "markers", name: "due date", meta: "due",
    x: orders.map((o) => (dated ? wall(o.due_at) : o.due)), y: orders.map((o) => String(o.order)),
    marker: { symbol: "line-ns-open", size: 13, line: { width: 2 },
      color: orders.map((o) => (o.late ? COLOURS.late : "#111")) },
    customdata: orders.map((o) => `<b>order ${esc(o.order)}</b> due ${o.due_at ? short(o.due_at) : o.due}` +
      (o.late ? `<br><b style="color:${COLOURS.late}">LATE by ${o.lateness_hours !== null ? `${o.lateness_hours} h` : `${o.lateness} ticks`}</b>` : "")),
    hovertemplate: "%{customdata}<extra></extra>",
  };
}

function setLanes(lanes) {
  state.lanes = lanes;
  $("by-machine").classList.toggle("on", lanes === "machine");
  $("by-order").classList.toggle("on", lanes === "order");
  if (state.rows) renderGantt();
}

function setDrag(mode) {
  state.dragmode = mode;
  $("mode-zoom").classList.toggle("on", mode === "zoom");
  $("mode-pan").classList.toggle("on", mode === "pan");
  if (state.rows) Plotly.relayout("gantt", { dragmode: mode });
}

function renderUtilisation(report) {
  const ms = report.machines;
  const data = [{
    type: "bar", orientation: "h", y: ms.map((m) => String(m.machine)), x: ms.map((m) => 100 * m.utilisation),
    marker: { color: ms.map((m) => (m.utilisation >= BUSY ? COLOURS.late : "#1f77b4")) },
    text: ms.map((m) => `${(100 * m.utilisation).toFixed(1)} %`), textposition: "auto",
    customdata: ms.map((m) => `${esc(m.name || m.machine)}: ${m.operations} operations, run ${hours(m.run_ticks, report)}, setup ${hours(m.setup_ticks, report)}`),
    hovertemplate: "%{customdata}<extra></extra>",
  }];
  const layout = {
    margin: { l: 80, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "busy / working time (%)" }, range: [0, 100] },
    yaxis: { autorange: "reversed", type: "category" },
    shapes: [{ type: "line", x0: 100 * BUSY, x1: 100 * BUSY, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#999" } }],
  };
  Plotly.react("utilisation", data, layout, { displayModeBar: false, responsive: true });
}

function renderLate(report) {
  const late = report.orders.filter((o) => o.late).sort((a, b) => (b.lateness ?? 0) - (a.lateness ?? 0));
  $("late-count").textContent = `${late.length} of ${report.orders.length}`;
  const body = $("late-table").querySelector("tbody");
  body.innerHTML = late.map((o) => `<tr data-order="${esc(o.order)}"><td>${esc(o.order)}</td><td>${esc(o.product ?? "")}</td>` +
    `<td>${o.due_at ? short(o.due_at) : esc(o.due)}</td><td>${o.completion_at ? short(o.completion_at) : esc(o.completion)}</td>` +
    `<td class="late-cell">${o.lateness_hours !== null ? `${o.lateness_hours.toFixed(1)} h` : esc(o.lateness)}</td></tr>`).join("") ||
    `<tr><td colspan="5" class="muted">No late orders.</td></tr>`;
}

// -- live plant: machine down -> repaired what-if -------------------------------------

function localInput(iso) { return iso ? iso.slice(0, 16) : ""; }

function setupLivePlant(report, rows) {
  const select = $("down-machine");
  select.innerHTML = report.machines.map((m) => `<option value="${esc(m.machine)}">${esc(m.machine)}${m.name ? ` – ${esc(m.name)}` : ""}</option>`).join("");
  const busiest = [...report.machines].sort((a, b) => b.utilisation - a.utilisation)[0];
  if (busiest) select.value = String(busiest.machine);
  defaultWindow(rows);
  $("diff").hidden = true;
  $("down-status").textContent = "";
}

/** A shift-long breakdown from the first run on the chosen machine. */
function defaultWindow(rows) {
  const select = $("down-machine");
  const dated = rows.length > 0 && rows.every((r) => r.start_at);
  for (const id of ["down-start", "down-end"]) $(id).type = dated ? "datetime-local" : "number";
  const first = rows.filter((r) => r.kind === "run" && r.resource === select.value).sort((a, b) => a.start - b.start)[0];
  if (dated && first) {
    const start = new Date(wallMs(first.start_at));
    const end = new Date(start.getTime() + 8 * 3600 * 1000);
    $("down-start").value = start.toISOString().slice(0, 16);
    $("down-end").value = end.toISOString().slice(0, 16);
  } else if (first) {
    $("down-start").value = first.start;
    $("down-end").value = first.start + 480;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The what-if runs as a job on the server: stage it, poll it, then show its repair. */
async function machineDown() {
  if (!state.selected || !state.original) return;
  const dated = $("down-start").type === "datetime-local";
  const value = (id) => (dated ? $(id).value : Number($(id).value));
  const body = { machine: $("down-machine").value, start: value("down-start"), end: value("down-end"),
    time_limit: Number($("down-limit").value) || 5 };
  const button = $("down-submit");
  const source = state.selected;
  button.disabled = true;
  $("down-publish").hidden = true;
  $("down-status").textContent = "repairing…";
  try {
    const staged = await api(`/v1/jobs/${source}/machine-down`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    let job = staged;
    for (let wait = 250; !TERMINAL.has(job.status); wait = Math.min(2000, wait * 1.5)) {
      await sleep(wait);
      job = await api(staged.links.self);
      $("down-status").textContent = `repairing… (${job.status})`;
    }
    if (job.status !== "succeeded") throw new Error(job.message || `the what-if ${job.status}`);
    const out = await api(staged.links.what_if);
    if (state.selected !== source) return;
    showError(null);
    state.whatIf = staged;
    $("down-status").textContent = out.solver_message || "repaired";
    $("down-publish").hidden = false;
    showSchedule(out.gantt, out.report, out);
    renderDiff(out);
  } catch (err) {
    $("down-status").textContent = "";
    showError(err);
  } finally {
    button.disabled = false;
  }
}

/** The repaired schedule becomes the live plant's next version. */
async function publishWhatIf() {
  if (!state.whatIf) return;
  try {
    const out = await api(state.whatIf.links.publish, { method: "POST" });
    $("down-status").textContent = `published as plant version ${out.version}`;
    $("down-publish").hidden = true;
  } catch (err) { showError(err); }
}

function shift(m, report) {
  const d = m.start_after - m.start_before;
  const s = hours(Math.abs(d), report);
  return d === 0 ? "–" : `${d > 0 ? "+" : "−"}${s}`;
}

function renderDiff(out) {
  $("diff").hidden = false;
  $("diff-count").textContent = `${out.moved.length} operations moved`;
  const report = out.report;
  const bits = [`${(100 * out.kept_share).toFixed(1)} % of operations kept machine and start`];
  if (out.interrupted.length) bits.push(`interrupted: ${out.interrupted.join(", ")}`);
  if (out.became_late.length) bits.push(`now late: ${out.became_late.join(", ")}`);
  if (out.became_on_time.length) bits.push(`now on time: ${out.became_on_time.join(", ")}`);
  if (out.relaxations.length) bits.push(`relaxed: ${out.relaxations.join("; ")}`);
  $("diff-summary").textContent = bits.join(" · ");
  const body = $("diff-table").querySelector("tbody");
  body.innerHTML = out.moved.map((m) => {
    const machine = m.machine_before === m.machine_after ? esc(m.machine_after) : `${esc(m.machine_before)} → <b>${esc(m.machine_after)}</b>`;
    return `<tr class="moved"><td>${esc(m.job)}</td><td>${esc(m.op)}</td><td>${machine}</td>` +
      `<td>${m.start_before_at ? short(m.start_before_at) : m.start_before}</td>` +
      `<td>${m.start_after_at ? short(m.start_after_at) : m.start_after}</td><td>${shift(m, report)}</td>` +
      `<td>${esc(m.reason ?? "")}</td></tr>`;
  }).join("") || `<tr><td colspan="7" class="muted">Nothing had to move.</td></tr>`;
}

function showOriginal() {
  if (!state.original) return;
  showSchedule(state.original.rows, state.original.report, null);
}

// -- start-up -------------------------------------------------------------------------

async function init() {
  try {
    const cfg = await (await fetch("/ui/config.json")).json();
    $("version").textContent = `aps ${cfg.version}`;
    $("time-limit").value = String(cfg.default_time_limit);
    $("time-limit").max = String(cfg.max_time_limit);
    state.key = localStorage.getItem("aps-api-key") || "";
  } catch (err) { showError(err); }
  $("api-key").value = state.key;
  if (!state.key) {
    showError(new Error("Type your API key above (X-API-Key); `aps serve` prints the development key where it works."));
  }
  $("api-key").addEventListener("change", () => {
    state.key = $("api-key").value.trim();
    localStorage.setItem("aps-api-key", state.key);
    showError(null);
    refreshJobs();
  });
  $("submit-example").addEventListener("click", submitExample);
  $("submit-upload").addEventListener("click", submitUpload);
  $("cancel-job").addEventListener("click", cancelJob);
  $("by-machine").addEventListener("click", () => setLanes("machine"));
  $("by-order").addEventListener("click", () => setLanes("order"));
  $("mode-zoom").addEventListener("click", () => setDrag("zoom"));
  $("mode-pan").addEventListener("click", () => setDrag("pan"));
  $("zoom-reset").addEventListener("click", () => state.rows && Plotly.relayout("gantt", { "xaxis.autorange": true, "yaxis.autorange": true }));
  $("down-submit").addEventListener("click", machineDown);
  $("down-publish").addEventListener("click", publishWhatIf);
  $("repair-back").addEventListener("click", showOriginal);
  $("down-machine").addEventListener("change", () => state.original && defaultWindow(state.original.rows));
  await refreshJobs();
  state.pollTimer = setInterval(refreshJobs, 3000);
  document.body.dataset.ready = "true";
}

if (typeof Plotly === "undefined") {
  document.addEventListener("DOMContentLoaded", () => showError(new Error("plotly.js did not load from /ui/vendor/plotly.min.js")));
} else {
  init();
}
