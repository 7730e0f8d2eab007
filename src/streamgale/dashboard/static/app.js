// StreamGale dashboard: polls the JSON API and draws what it says. No framework,
// no build step, nothing fetched from outside this server. Data is only ever
// put in the page as text (textContent), never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = { csrf: null, graph: null, tab: "pipeline", selected: null };

// ---------------------------------------------------------------- helpers
function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function fmt(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && digits !== 2) return value.toLocaleString("en");
  return value.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function when(value) {
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return isNaN(date) ? String(value) : date.toLocaleTimeString("en-GB");
}

function shortUid(uid) {
  return uid && uid.length > 22 ? "…" + uid.slice(-20) : uid || "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.body !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = state.csrf || "";
    init.body = JSON.stringify(init.body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("logged out");
  }
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(payload.error || `${response.status} ${response.statusText}`);
  return payload;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---------------------------------------------------------------- tabs
function showTab(name) {
  state.tab = document.getElementById("tab-" + name) ? name : "pipeline";
  for (const section of document.querySelectorAll("section.tab")) {
    section.hidden = section.id !== "tab-" + state.tab;
  }
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.tab === state.tab);
  }
  refreshTab();
}

// ---------------------------------------------------------------- pipeline
const BOX = { w: 170, h: 58, dx: 200, dy: 84, pad: 14 };

// Steps flow top to bottom: a step's row is one more than its deepest input's;
// within a row, steps sit under the average column of their inputs.
function layout(graph) {
  const layer = {};
  for (const step of graph.steps) {
    layer[step.id] = step.inputs.length
      ? 1 + Math.max(...step.inputs.map((id) => layer[id] ?? 0))
      : 0;
  }
  const column = {};
  const rows = [];
  for (const step of graph.steps) (rows[layer[step.id]] ||= []).push(step);
  for (const row of rows) {
    if (!row) continue;
    const wish = (step) => step.inputs.length
      ? step.inputs.reduce((sum, id) => sum + (column[id] ?? 0), 0) / step.inputs.length
      : 0;
    const taken = new Set();
    for (const step of [...row].sort((a, b) => wish(a) - wish(b))) {
      let col = Math.max(0, Math.round(wish(step)));
      while (taken.has(col)) col += 1;
      taken.add(col);
      column[step.id] = col;
    }
  }
  const position = {};
  for (const step of graph.steps) {
    position[step.id] = { x: BOX.pad + column[step.id] * BOX.dx, y: BOX.pad + layer[step.id] * BOX.dy };
  }
  const width = BOX.pad * 2 + Math.max(...Object.values(column)) * BOX.dx + BOX.w + 20;
  const height = BOX.pad * 2 + Math.max(...Object.values(layer)) * BOX.dy + BOX.h;
  return { position, width, height };
}

function drawGraph(graph) {
  const svg = document.getElementById("graph");
  const { position, width, height } = layout(graph);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const kinds = Object.fromEntries(graph.steps.map((s) => [s.id, s.kind]));
  const parts = [
    el("svg:defs", {},
      el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        el("svg:path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))),
  ];
  let lanes = 0;
  for (const edge of graph.edges) {
    const a = position[edge.from];
    const b = position[edge.to];
    const x1 = a.x + BOX.w / 2, y1 = a.y + BOX.h, x2 = b.x + BOX.w / 2, y2 = b.y;
    const mid = (y1 + y2) / 2;
    let d = `M ${x1} ${y1} C ${x1} ${mid}, ${x2} ${mid}, ${x2} ${y2}`;
    let label = { x: (x1 + x2) / 2 + 6, y: mid + 4 };
    if (y2 - y1 > BOX.dy) {
      // An edge that skips rows runs down a lane beside the boxes, not through them.
      const lane = Math.max(a.x, b.x) + BOX.w + 6 + (lanes++ % 3) * 5;
      d = `M ${x1} ${y1} C ${x1} ${y1 + 12}, ${lane} ${y1}, ${lane} ${y1 + 14} ` +
        `L ${lane} ${y2 - 14} C ${lane} ${y2}, ${x2} ${y2 - 12}, ${x2} ${y2}`;
      label = { x: lane + 3, y: mid };
    }
    parts.push(el("svg:g", { class: "edge", "data-from": edge.from, "data-to": edge.to },
      el("svg:path", { d, "marker-end": "url(#arrow)" }),
      el("svg:text", { x: label.x, y: label.y, class: "depth" })));
  }
  for (const step of graph.steps) {
    const p = position[step.id];
    parts.push(el("svg:g", { class: "node " + kinds[step.id], "data-step": step.id,
      transform: `translate(${p.x},${p.y})` },
      el("svg:title", { text: `${step.id} (${kinds[step.id]})` }),
      el("svg:rect", { width: BOX.w, height: BOX.h, rx: 6 }),
      el("svg:text", { x: 8, y: 16, class: "title", text: step.id }),
      el("svg:text", { x: 8, y: 33, class: "rate" }),
      el("svg:text", { x: 8, y: 49, class: "lat" })));
  }
  svg.replaceChildren(...parts);
}

function updatePipeline(live) {
  document.getElementById("window-s").textContent = fmt(live.window_s);
  const svg = document.getElementById("graph");
  const rows = [];
  for (const step of live.steps) {
    const node = svg.querySelector(`g.node[data-step="${CSS.escape(step.id)}"]`);
    const lat = step.latency_ms;
    if (node) {
      // A source only emits: show what comes out of it.
      const source = node.classList.contains("source");
      node.querySelector(".rate").textContent = source
        ? `${fmt(step.rate_out)}/s out · ${fmt(step.records_out)} total`
        : `${fmt(step.rate_in)}/s in · ${fmt(step.records_in)} total`;
      node.querySelector(".lat").textContent =
        (lat ? `p95 ${fmt(lat.p95, 2)} ms` : "p95 –") +
        (step.queued ? ` · q ${fmt(step.queued)}` : "") +
        (step.errors + step.dead_letters ? ` · err ${fmt(step.errors + step.dead_letters)}` : "");
      node.classList.toggle("active", step.rate_in > 0 || step.rate_out > 0);
      node.classList.toggle("bad", step.errors + step.dead_letters > 0);
    }
    const kind = state.graph ? state.graph.steps.find((s) => s.id === step.id)?.kind : "";
    rows.push(el("tr", { "data-step": step.id },
      el("td", { text: step.id }), el("td", { text: kind || "" }),
      el("td", { class: "rate-in", text: fmt(step.rate_in) }),
      el("td", { class: "rate-out", text: fmt(step.rate_out) }),
      el("td", { class: "records-in", text: fmt(step.records_in) }),
      el("td", { class: "records-out", text: fmt(step.records_out) }),
      el("td", { class: "queued", text: fmt(step.queued) }),
      el("td", { class: "p50", text: lat ? fmt(lat.p50, 2) : "–" }),
      el("td", { class: "p95", text: lat ? fmt(lat.p95, 2) : "–" }),
      el("td", { class: "p99", text: lat ? fmt(lat.p99, 2) : "–" }),
      el("td", { class: "errors" + (step.errors + step.dead_letters ? " bad" : ""),
        text: fmt(step.errors + step.dead_letters) })));
  }
  fill(document.querySelector("#steps-table tbody"), rows);
  for (const channel of live.channels) {
    const edge = svg.querySelector(
      `g.edge[data-from="${CSS.escape(channel.from)}"][data-to="${CSS.escape(channel.to)}"] text`);
    if (edge) edge.textContent = channel.depth ? `${fmt(channel.depth)} queued` : "";
  }
}

function updateTotals(totals) {
  const items = [
    ["instances", totals.instances], ["results", totals.results],
    ["quarantined", totals.quarantined], ["delivery backlog", totals.delivery_backlog],
  ];
  document.getElementById("totals").replaceChildren(
    ...items.flatMap(([name, value]) => [
      el("dt", { text: name }), el("dd", { "data-total": name, text: fmt(value) })]));
  const waiting = totals.quarantined + totals.release_requested;
  const badge = document.getElementById("quarantine-badge");
  badge.hidden = !waiting;
  badge.textContent = waiting ? String(waiting) : "";
}

async function tick() {
  const live = document.getElementById("live");
  try {
    const steps = await api("/api/steps");
    updatePipeline(steps);
    updateTotals(steps.totals || {});
    live.classList.remove("stale");
    live.textContent = "live " + when(steps.at);
  } catch (error) {
    live.classList.add("stale");
    live.textContent = "offline: " + error.message;
  }
}

// ---------------------------------------------------------------- results
async function loadResults() {
  const { results } = await api("/api/results?limit=50");
  fill(document.querySelector("#results-table tbody"), results.map((r) =>
    el("tr", { "data-result": r.result_id, class: r.result_id === state.selected ? "selected" : "",
      onclick: () => openResult(r.result_id) },
      el("td", { text: when(r.created_at) }),
      el("td", { title: r.study_instance_uid, text: shortUid(r.study_instance_uid) }),
      el("td", { text: `${r.model} ${r.model_version}` + (r.version > 1 ? ` (v${r.version})` : "") }),
      el("td", { class: r.present ? "finding present" : "finding",
        text: r.label ? (r.present ? r.label : `no ${r.label}`) : "–" }),
      el("td", { text: r.probability === null ? "–" : r.probability.toFixed(2) }),
      el("td", { text: fmt(r.total_ms) }))));
}

async function openResult(resultId) {
  state.selected = resultId;
  for (const row of document.querySelectorAll("#results-table tbody tr")) {
    row.classList.toggle("selected", row.dataset.result === resultId);
  }
  const detail = await api("/api/results/" + encodeURIComponent(resultId));
  const aside = document.getElementById("result-detail");
  aside.hidden = false;
  aside.dataset.result = resultId;
  document.getElementById("detail-title").textContent =
    `Study ${shortUid(detail.study_instance_uid)} · ${detail.model.name} ${detail.model.version}` +
    ` · version ${detail.version}`;
  document.getElementById("detail-title").title = detail.study_instance_uid;
  document.getElementById("thumbnail").src = detail.thumbnail;
  document.getElementById("finding").replaceChildren(...detail.findings.map(drawFinding));
  document.getElementById("timeline-source").textContent = detail.timeline.source === "lake"
    ? "(from the lake's telemetry)"
    : "(from the result's own timings; per-instance stages are means)";
  drawTimeline(detail.timeline.stages);
  document.getElementById("study-sql").onclick = () => studyInSql(detail.study_instance_uid);
  document.getElementById("detail-instances").textContent =
    `${detail.instances.count} source instances · SR ${detail.sr ? "yes" : "no"}` +
    ` · SEG ${detail.seg ? "yes" : "no"} · result ${detail.result_id}`;
}

function studyInSql(studyUid) {
  document.getElementById("sql-input").value =
    "SELECT ts, stage, step, level, instance_uid, duration_ms, since_received_ms, outcome, reason\n" +
    `FROM telemetry\nWHERE study_uid = '${studyUid.replaceAll("'", "''")}'\nORDER BY ts`;
  window.location.hash = "#sql";
  runSql();
}

function drawFinding(finding) {
  const measurements = Object.values(finding.measurements || {}).map((m) =>
    el("li", { text: `${m.name}: ${fmt(m.value, 1)} ${m.unit}` }));
  return el("div", { class: "finding-box" + (finding.present ? " present" : "") },
    el("strong", { text: finding.present ? finding.label : `no ${finding.label}` }),
    el("div", { text: `probability ${fmt(finding.probability, 3)}` }),
    el("div", { class: "hint", text: `${finding.source_sop_instance_uids.length} image(s) with the finding` }),
    measurements.length ? el("ul", {}, ...measurements) : null,
    el("p", { class: "hint", text: "DEMO output; not for clinical use." }));
}

function drawTimeline(stages) {
  const svg = document.getElementById("timeline");
  const label = 110, width = 560, row = 22;
  const end = Math.max(1, ...stages.map((s) => s.end_ms));
  const scale = (width - label - 70) / end;
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(row, stages.length * row)}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", Math.max(row, stages.length * row));
  svg.replaceChildren(...stages.map((stage, i) => el("svg:g",
    { class: "stage", "data-stage": stage.stage, transform: `translate(0,${i * row})` },
    el("svg:text", { x: 0, y: 15, text: stage.stage }),
    el("svg:rect", { x: label + stage.start_ms * scale, y: 4, height: 14,
      width: Math.max(2, (stage.end_ms - stage.start_ms) * scale), rx: 2 }),
    el("svg:text", { x: label + stage.end_ms * scale + 4, y: 15, class: "ms",
      text: `${fmt(stage.end_ms - stage.start_ms)} ms` + (stage.count > 1 ? ` ×${stage.count}` : "") }))));
}

// ---------------------------------------------------------------- quarantine
async function loadQuarantine() {
  const filter = document.getElementById("quarantine-filter").value;
  const { counts, entries } = await api("/api/quarantine?status=" + encodeURIComponent(filter));
  document.getElementById("quarantine-counts").textContent = Object.entries(counts)
    .map(([status, n]) => `${status.replace("_", " ")}: ${n}`).join(" · ");
  fill(document.querySelector("#quarantine-table tbody"), entries.map((e) => {
    const open = e.status === "quarantined";
    return el("tr", { "data-entry": e.id, class: "status-" + e.status },
      el("td", { text: when(e.quarantined_at) }),
      el("td", { class: "mono", text: e.id }),
      el("td", { class: "mono", title: e.sop_instance_uid || "", text: shortUid(e.sop_instance_uid) || "(unreadable)" }),
      el("td", { text: e.stage }), el("td", { text: e.source }),
      el("td", { class: "reason", text: e.reason }),
      el("td", { class: "status", text: e.status.replace("_", " ") }),
      el("td", { class: "actions" },
        open ? el("button", { type: "button", class: "release", onclick: () => act("release", e.id) }, "Release") : null,
        e.status !== "discarded" ? el("button", { type: "button", class: "discard danger", onclick: () => act("discard", e.id) }, "Discard") : null));
  }));
}

async function act(action, id) {
  const message = document.getElementById("quarantine-message");
  if (action === "discard" && !window.confirm(`Delete the bytes of ${id} for good?`)) return;
  try {
    const answer = await api("/api/quarantine/" + action, { body: { ids: [id] } });
    message.textContent = action === "release"
      ? `${answer.requested} input(s) will go through the pipeline again.`
      : `${answer.discarded} input(s) discarded.`;
  } catch (error) {
    message.textContent = error.message;
  }
  await loadQuarantine();
}

// ---------------------------------------------------------------- destinations
async function loadDestinations() {
  const { destinations } = await api("/api/destinations");
  document.getElementById("destinations-empty").hidden = destinations.length > 0;
  fill(document.querySelector("#destinations-table tbody"), destinations.map((d) =>
    el("tr", { "data-destination": d.destination, class: d.last_error ? "bad" : "" },
      el("td", { text: d.destination }), el("td", { text: fmt(d.pending) }),
      el("td", { text: fmt(d.failed) }), el("td", { text: fmt(d.delivered) }),
      el("td", { text: fmt(d.attempts) }),
      el("td", { text: d.next_attempt_in === null ? "–" : `${fmt(d.next_attempt_in)} s` }),
      el("td", { class: "reason", text: d.last_error || "" }))));
}

// ---------------------------------------------------------------- SQL
async function loadReports() {
  const list = document.getElementById("report-list");
  if (list.childElementCount) return;
  try {
    const { reports } = await api("/api/reports");
    list.replaceChildren(...reports.map((r) => {
      const inputs = r.params.map((p) => el("input", { "data-param": p.name, placeholder: p.name,
        title: p.help, required: p.required }));
      return el("li", {},
        el("button", { type: "button", class: "report", "data-report": r.name, title: r.description,
          onclick: () => runReport(r.name, inputs) }, r.title),
        ...inputs);
    }));
  } catch (error) {
    list.replaceChildren(el("li", { class: "error", text: error.message }));
  }
}

async function runReport(name, inputs) {
  const params = {};
  for (const input of inputs) if (input.value) params[input.dataset.param] = input.value;
  await showQuery(api("/api/reports/" + encodeURIComponent(name), { body: { params } }), name);
}

async function runSql() {
  const sql = document.getElementById("sql-input").value;
  await showQuery(api("/api/sql", { body: { sql } }), "query");
}

async function showQuery(pending, what) {
  const error = document.getElementById("sql-error");
  const meta = document.getElementById("sql-meta");
  const output = document.getElementById("sql-output");
  meta.textContent = `running ${what}…`;
  try {
    const answer = await pending;
    error.hidden = true;
    meta.textContent = `${what}: ${answer.row_count} row(s) in ${fmt(answer.elapsed_ms)} ms` +
      (answer.truncated ? ` (showing the first ${answer.rows.length})` : "");
    output.replaceChildren(el("table", { class: "result" },
      el("thead", {}, el("tr", {}, ...answer.columns.map((c) => el("th", { text: c })))),
      el("tbody", {}, ...answer.rows.map((row) =>
        el("tr", {}, ...row.map((v) => el("td", { text: v === null ? "NULL" :
          typeof v === "object" ? JSON.stringify(v) : fmt(v, 3) })))))));
  } catch (e) {
    meta.textContent = "";
    error.hidden = false;
    error.textContent = e.message;
    output.replaceChildren();
  }
}

// ---------------------------------------------------------------- start
async function refreshTab() {
  try {
    if (state.tab === "results") await loadResults();
    else if (state.tab === "quarantine") await loadQuarantine();
    else if (state.tab === "destinations") await loadDestinations();
    else if (state.tab === "sql") await loadReports();
  } catch (error) {
    console.warn("refresh failed:", error);
  }
}

async function start() {
  const session = await api("/api/session");
  state.csrf = session.csrf;
  document.getElementById("pipeline-name").textContent = session.pipeline;
  document.title = `StreamGale · ${session.pipeline}`;
  state.graph = await api("/api/graph");
  drawGraph(state.graph);
  document.getElementById("sql-run").addEventListener("click", runSql);
  document.getElementById("sql-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) runSql();
  });
  document.getElementById("quarantine-filter").addEventListener("change", loadQuarantine);
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": state.csrf || "" } });
    window.location.assign("/login");
  });
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  showTab(location.hash.slice(1) || "pipeline");
  await tick();
  setInterval(tick, 1000);
  setInterval(() => { if (state.tab !== "sql") refreshTab(); }, 2000);
}

start().catch((error) => {
  document.getElementById("live").textContent = "cannot start: " + error.message;
});
