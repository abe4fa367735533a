// Pharos console: status, jobs, submit, and a map of a repository's files.
// Plain browser JavaScript, no third-party code, no inline script (the page's CSP
// allows scripts from this origin only). The admin token, and the read token of an
// ingress that sets PHAROS_READ_TOKEN, live in this tab's sessionStorage, never in a
// cookie or a URL.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "pharos-admin-token";
const READ_KEY = "pharos-read-token";
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "color") node.style.background = v; // CSSOM: allowed by the CSP
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

async function api(path, { method = "GET", auth = false } = {}) {
  const headers = { Accept: "application/json" };
  const admin = sessionStorage.getItem(TOKEN_KEY);
  // reads: the read token, else the admin token (the ingress takes either); writes: admin
  const token = auth ? admin : sessionStorage.getItem(READ_KEY) || admin;
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, credentials: "omit" });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : res.statusText;
    throw new ApiError(res.status, detail, res.headers.get("Retry-After"));
  }
  return body;
}

// Errors as sentences a person can act on.
function sentence(err) {
  if (!(err instanceof ApiError)) return `The ingress could not be reached (${err.message}).`;
  switch (err.status) {
    case 400: return `That repository was refused: ${err.detail}.`;
    case 401: return /read token/.test(err.detail)
      ? "This ingress needs a read token (PHAROS_READ_TOKEN, or the admin token): enter it above."
      : "The admin token is missing or wrong. Enter the ingress's admin token (PHAROS_ADMIN_TOKEN) and submit again.";
    case 404: return `Not found: ${err.detail}.`;
    case 429: return /too many requests/.test(err.detail)
      ? `Too many requests from here: try again in ${err.retryAfter || "a few"} seconds.`
      : `The queue is full (${err.detail}). Try again in ${err.retryAfter || "a few"} seconds.`;
    case 503: return `A service behind the ingress is unavailable: ${err.detail}. Try again in ${err.retryAfter || "a few"} seconds.`;
    default: return `The ingress answered ${err.status}: ${err.detail}.`;
  }
}

const STAGES = ["clone", "graph", "history", "embed", "store"]; // graph_jobs.lifecycle.RUN_STAGES
const fmtSeconds = (s) => (s == null ? "—" : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
const fmtWhen = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

// ---- status and jobs: polled while the tab is visible, backing off when hidden ----
// Each poll is one Redis command behind the ingress (Upstash bills each): every 2 s
// while a job runs or waits, every 30 s when idle, and when the tab is hidden from 30 s
// doubling up to 5 min; back to visible, at once.
const BUSY_MS = 2000, IDLE_MS = 30000, HIDDEN_MAX_MS = 300000;
const poller = { timer: null, hiddenWait: IDLE_MS / 2, lastKey: "" };

function nextWait(busy) {
  if (document.visibilityState === "hidden") {
    poller.hiddenWait = Math.min(poller.hiddenWait * 2, HIDDEN_MAX_MS);
    return poller.hiddenWait;
  }
  poller.hiddenWait = IDLE_MS / 2;
  return busy ? BUSY_MS : IDLE_MS;
}

async function poll() {
  clearTimeout(poller.timer);
  let busy = false;
  try {
    const st = await api(`${API}/ingestion/worker/status`);
    busy = st.queue_size > 0 || st.in_flight > 0;
    renderStatus(st);
    $("#status-error").textContent = "";
    const key = JSON.stringify([st.queue_size, st.in_flight, st.workers.map((w) => [w.worker_id, w.state, w.job_id])]);
    if (key !== poller.lastKey) { // the history changes only when a job starts or ends
      await loadJobs();
      poller.lastKey = key; // only once read: a failed read is tried again next poll
    }
  } catch (err) {
    if (err.status === 503 && /no queue configured/.test(err.detail)) {
      // the embedded default (pharos console): no queue to watch; what `pharos ingest`
      // stores in another terminal shows up here (jobs, repositories) without a reload
      $("#queue").textContent = "No job queue here (the embedded default): add repositories " +
        "with `pharos ingest PATH_OR_URL` in a terminal; they appear above without a reload.";
      $("#submit-form").hidden = true;
      $("#submit-off").hidden = false;
      refreshStored();
      return;
    }
    $("#status-error").textContent = sentence(err);
    if (err.status === 401) { // a private ingress: ask for the read token, poll when given
      $("#read-form").hidden = false;
      sessionStorage.removeItem(READ_KEY);
      return;
    }
  }
  poller.timer = setTimeout(poll, nextWait(busy));
}

// The embedded default: the stores change under the console (`pharos ingest` in another
// process): read the jobs and the repositories again, every 5 s while the tab is visible
// (each read is a SQLite query, served from the ingress's 2 s cache).
const STORED_MS = 5000;
async function refreshStored() {
  clearTimeout(poller.timer);
  try {
    await loadJobs();
    await loadRepositories();
    $("#status-error").textContent = "";
  } catch (e) {
    $("#status-error").textContent = sentence(e);
  }
  poller.timer = setTimeout(refreshStored, document.visibilityState === "hidden" ? IDLE_MS : STORED_MS);
}

$("#read-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("#read-token");
  if (!input.value) return;
  sessionStorage.setItem(READ_KEY, input.value);
  input.value = "";
  $("#read-form").hidden = true;
  $("#status-error").textContent = "";
  poll();
  loadRepositories();
});

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") poll();
});

function renderStatus(st) {
  const cap = st.max_queue_size ? ` of ${st.max_queue_size}` : "";
  $("#queue").textContent = `Queue: ${st.queue_size}${cap} waiting, ${st.in_flight} running. Workers: ${st.workers.length}.`;
  const list = $("#workers");
  list.replaceChildren();
  for (const w of st.workers) {
    const training = w.state === "training";
    const item = el("li", { "data-worker": w.worker_id },
      el("strong", {}, w.worker_id), " ", el("span", {}, `(${w.hardware})`), el("br"),
      training ? el("span", { class: "spinner", "aria-hidden": "true" }) : "",
      " ", el("span", { class: w.state === "error" ? "error" : "" }, w.status));
    if (training) {
      // the whole job: its stage's place among the four, plus how far into it it is
      const at = Math.max(0, STAGES.indexOf(w.stage));
      const pct = Math.round(((at + Math.min(1, w.progress || 0)) / STAGES.length) * 100);
      item.append(el("br"), `Stage: ${w.stage || "starting"} `,
        el("progress", { max: "100", value: String(pct), "aria-label": `Progress of job ${w.job_id}` }, `${pct}%`),
        el("button", { type: "button", class: "link", onclick: () => cancelJob(w.job_id) }, `Cancel job ${w.job_id.slice(0, 8)}`));
    }
    list.append(item);
  }
}

async function loadJobs() {
  const h = await api(`${API}/ingestion/jobs/history?limit=20`);
  const s = h.stats;
  const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(0)}%`);
  const rate = (n) => (s.jobs ? `${((n / s.jobs) * 100).toFixed(0)}%` : "—");
  $("#stats").textContent = !s.jobs ? "No job has finished yet." :
    `${s.jobs === 1 ? "The last job" : `The last ${s.jobs} jobs`}: success rate ${pct(s.success_rate)}, ` +
    `error rate ${rate(s.failed)}, skip rate ${rate(s.skipped)}, ` +
    `average duration ${fmtSeconds(s.average_duration_seconds)}, ` +
    `throughput ${s.throughput_per_hour == null ? "—" : s.throughput_per_hour + " jobs/h"}.`;
  const body = $("#jobs-table tbody");
  body.replaceChildren();
  if (!h.jobs.length) body.append(el("tr", {}, el("td", { colspan: "7", class: "empty" }, "No job recorded yet.")));
  known.latest = (h.jobs.find((j) => j.status === "complete") || {}).repo_url || known.latest;
  for (const j of h.jobs) {
    body.append(el("tr", { "data-job": j.job_id },
      el("td", {}, j.repo_url || "—"), el("td", { class: j.status === "failed" ? "error" : "" }, j.status),
      el("td", {}, fmtSeconds(j.duration_seconds)), el("td", {}, j.files_processed ?? "—"),
      el("td", {}, j.embeddings_generated ?? "—"), el("td", {}, fmtWhen(j.timestamp)),
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => showJob(j) }, `Details of ${j.job_id.slice(0, 8)}`))));
  }
}

function showJob(j) {
  const panel = $("#job-detail");
  panel.hidden = false;
  const rows = Object.entries(j.timings || {}).map(([stage, secs]) => el("li", {}, `${stage}: ${fmtSeconds(secs)}`));
  panel.replaceChildren(el("h3", {}, `Job ${j.job_id}`), el("p", {}, `${j.repo_url} — ${j.status}, ${fmtSeconds(j.duration_seconds)}, attempt ${j.attempts ?? "?"}, worker ${j.worker || "—"}`),
    j.error ? el("p", { class: "error" }, `Error: ${j.error}`) : "",
    rows.length ? el("ul", { "aria-label": "Stage timings" }, ...rows) : el("p", {}, "No stage timings for this job."));
}

async function cancelJob(id) {
  try {
    const r = await api(`${API}/ingestion/jobs/${id}`, { method: "DELETE", auth: true });
    $("#submit-msg").textContent = `Job ${id.slice(0, 8)}: ${r.result}.`;
    poll();
  } catch (err) {
    $("#submit-msg").textContent = sentence(err);
  }
}

// ---- submit ----
$("#submit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const tokenInput = $("#token");
  if (tokenInput.value) {
    sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
    tokenInput.value = "";
    tokenInput.placeholder = "saved for this tab";
  }
  const repo = $("#repo").value.trim();
  const msg = $("#submit-msg");
  msg.className = "";
  try {
    const r = await api(`${API}/ingestion/ingest/${encodeURI(repo)}`, { method: "POST", auth: true });
    msg.className = "ok";
    msg.textContent = r.existing
      ? `Already queued: job ${r.job_id.slice(0, 8)}, position ${r.queue_position} of ${r.queue_size}. `
      : `Queued: job ${r.job_id.slice(0, 8)} for ${r.repo_url}, position ${r.queue_position} of ${r.queue_size}. `;
    msg.append(el("button", { type: "button", class: "link", onclick: () => cancelJob(r.job_id) },
      `Cancel job ${r.job_id.slice(0, 8)}`));
    poll();
  } catch (err) {
    msg.className = "error";
    msg.textContent = sentence(err);
    if (err.status === 401) sessionStorage.removeItem(TOKEN_KEY);
  }
});
if (sessionStorage.getItem(TOKEN_KEY)) $("#token").placeholder = "saved for this tab";

// ---- explore: a canvas map that stays smooth at thousands of files ----
const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#d1242f",
  "#6639ba", "#116329", "#953800", "#a40e26", "#1b7c83"];
const MAP_PAGE = 10000, MAP_MAX_PAGES = 10; // the ingress serves at most 10,000 files a page
const map = { data: null, scale: 1, ox: 0, oy: 0, selected: -1, edges: false, frame: 0, adj: null,
  change: [], impactAsked: 0 }; // change: the files chosen together (shift/ctrl-click)
const canvas = $("#map");
const ctx = canvas.getContext("2d");

function resizeCanvas() {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(r.width * dpr));
  canvas.height = Math.max(1, Math.round(r.height * dpr));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  redraw();
}

// The points' bounding box, fitted to the canvas with the same scale on both axes (the
// PCA's distances mean something), centred, with a margin for the dots and labels.
const MARGIN = 28;
function fit() {
  const r = canvas.getBoundingClientRect(), b = map.box;
  const k = Math.min((r.width - 2 * MARGIN) / (b.x1 - b.x0 || 1), (r.height - 2 * MARGIN) / (b.y1 - b.y0 || 1));
  return { r, k: Math.max(k, 1e-6), cx: (b.x0 + b.x1) / 2, cy: (b.y0 + b.y1) / 2 };
}

function toScreen(x, y, f = fit()) {
  return [f.r.width / 2 + ((x - f.cx) * f.k + map.ox) * map.scale,
    f.r.height / 2 - ((y - f.cy) * f.k - map.oy) * map.scale];
}

function redraw() {
  if (map.frame) return;
  map.frame = requestAnimationFrame(draw);
}

function draw() {
  map.frame = 0;
  const r = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, r.width, r.height);
  const d = map.data;
  if (!d) return;
  const xy = map.xy = new Float32Array(d.files.length * 2);
  const f = fit();
  for (let i = 0; i < d.files.length; i++) {
    const [sx, sy] = toScreen(d.files[i].x, d.files[i].y, f);
    xy[2 * i] = sx; xy[2 * i + 1] = sy;
  }
  if (map.edges || map.selected >= 0) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(87,96,106,0.18)";
    ctx.beginPath();
    for (const [a, b] of d.edges) {
      if (!map.edges && a !== map.selected && b !== map.selected) continue;
      ctx.moveTo(xy[2 * a], xy[2 * a + 1]);
      ctx.lineTo(xy[2 * b], xy[2 * b + 1]);
    }
    ctx.stroke();
  }
  const n = d.files.length, base = n < 300 ? 5 : n < 2000 ? 4 : 3;
  const size = Math.max(2, Math.min(8, base * Math.sqrt(map.scale)));
  for (let g = 0; g < map.groupCount; g++) { // one fill style per group: few state changes
    ctx.fillStyle = map.groupColor[g];
    for (let i = 0; i < d.files.length; i++) {
      if (map.groupOf[i] !== g) continue;
      const x = xy[2 * i], y = xy[2 * i + 1];
      if (x < -size || y < -size || x > r.width + size || y > r.height + size) continue;
      ctx.fillRect(x - size / 2, y - size / 2, size, size);
    }
  }
  drawLabels(r, size);
  for (const j of map.change) { // the files of the change: a violet ring and their path
    const x = xy[2 * j], y = xy[2 * j + 1];
    ctx.strokeStyle = "#8250df"; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.arc(x, y, size + 5, 0, Math.PI * 2); ctx.stroke();
    label(d.files[j].path, x + size + 8, y - size - 4, "#3e1f79", "600 12px system-ui, sans-serif");
  }
  if (map.selected >= 0) {
    const x = xy[2 * map.selected], y = xy[2 * map.selected + 1];
    ctx.strokeStyle = "#ffb000"; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.arc(x, y, size + 5, 0, Math.PI * 2); ctx.stroke();
    label(d.files[map.selected].path, x + size + 8, y - size - 4, "#1b1f24", "600 12px system-ui, sans-serif");
  }
}

// Labels: the file names of the most connected files in view (more as you zoom in), each
// where it overlaps no other; the full path is in the panel when a file is opened.
const LABELS = 14, LABELS_MAX = 80;
function label(text, x, y, color, font) {
  ctx.font = font;
  ctx.lineWidth = 3; ctx.strokeStyle = "rgba(251,252,253,0.9)"; ctx.lineJoin = "round";
  ctx.strokeText(text, x, y);
  ctx.fillStyle = color; ctx.fillText(text, x, y);
}

function drawLabels(r, size) {
  const d = map.data, xy = map.xy, placed = [];
  const want = Math.min(LABELS_MAX, Math.round(LABELS * Math.max(1, map.scale)));
  ctx.font = "11px system-ui, sans-serif";
  let shown = 0;
  for (const i of map.byDegree) {
    if (shown >= want) break;
    const x = xy[2 * i] + size / 2 + 3, y = xy[2 * i + 1] + 4;
    if (x < 0 || y < 12 || x > r.width - 20 || y > r.height) continue;
    const name = d.files[i].path.split("/").pop();
    const w = ctx.measureText(name).width, box = [x - 1, y - 11, x + w + 1, y + 3];
    if (placed.some((b) => b[0] < box[2] && box[0] < b[2] && b[1] < box[3] && box[1] < b[3])) continue;
    placed.push(box);
    label(name, x, y, "#24292f", "11px system-ui, sans-serif");
    shown++;
  }
  map.labelled = shown;
}

function nearest(px, py) {
  if (!map.xy) return -1;
  let best = -1, bestD = 100; // within 10 px
  for (let i = 0; i < map.data.files.length; i++) {
    const dx = map.xy[2 * i] - px, dy = map.xy[2 * i + 1] - py, dd = dx * dx + dy * dy;
    if (dd < bestD) { bestD = dd; best = i; }
  }
  return best;
}

async function openMap(repo) {
  const msg = $("#map-msg");
  msg.textContent = "Loading the map…";
  try {
    // the map comes in pages of files sorted by path; edge ends index the whole list
    const url = (offset) => `${API}/graph/map?repo_url=${encodeURIComponent(repo)}&offset=${offset}&limit=${MAP_PAGE}`;
    const d = await api(url(0));
    for (let next = d.next_offset, pages = 1; next != null && pages < MAP_MAX_PAGES; pages++) {
      msg.textContent = `Loading the map… ${next} of ${d.total} files`;
      const more = await api(url(next));
      for (const f of more.files) d.files.push(f);
      for (const e of more.edges) d.edges.push(e);
      next = more.next_offset;
    }
    const n = d.files.length;
    d.edges = d.edges.filter(([a, b]) => a < n && b < n);
    map.data = d; map.scale = 1; map.ox = 0; map.oy = 0; map.selected = -1; map.change = [];
    map.box = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
    for (const f of d.files) {
      map.box.x0 = Math.min(map.box.x0, f.x); map.box.x1 = Math.max(map.box.x1, f.x);
      map.box.y0 = Math.min(map.box.y0, f.y); map.box.y1 = Math.max(map.box.y1, f.y);
    }
    if (!d.files.length) map.box = { x0: -1, x1: 1, y0: -1, y1: 1 };
    map.byDegree = d.files.map((_, i) => i).sort((a, b) => d.files[b].degree - d.files[a].degree
      || (d.files[a].path < d.files[b].path ? -1 : 1));
    const top = d.groups.slice(0, PALETTE.length);
    const gi = new Map(top.map((g, i) => [g, i]));
    map.groupCount = top.length + 1;
    map.groupColor = [...top.map((_, i) => PALETTE[i]), "#8c959f"];
    map.groupOf = Int16Array.from(d.files, (f) => (gi.has(f.group) ? gi.get(f.group) : top.length));
    map.adj = d.files.map(() => ({ imports: [], importedBy: [] }));
    for (const [a, b, kind] of d.edges) { map.adj[a].imports.push([b, kind]); map.adj[b].importedBy.push([a, kind]); }
    $("#file-list").replaceChildren(...d.files.map((f) => el("option", { value: f.path })));
    $("#legend").replaceChildren(...top.map((g, i) => el("li", {}, el("span", { class: "swatch", color: PALETTE[i] }), g)),
      ...(d.groups.length > top.length ? [el("li", {}, el("span", { class: "swatch", color: "#8c959f" }), "(other)")] : []));
    const shown = d.total > d.files.length ? ` (the first ${d.files.length} of ${d.total} by path)` : "";
    msg.textContent = `${d.repo_url}: ${d.files.length} files${shown}, ${d.edges.length} import edges. Related files lie near each other; the most connected are named.`;
    // the page's address opens this map again (#explore?repo=...): a link to share
    const link = $("#map-link");
    link.href = `#explore?repo=${encodeURIComponent(d.repo_url)}`;
    link.hidden = false;
    history.replaceState(null, "", link.href);
    map.openRepo = d.repo_url;
    $("#file-panel").replaceChildren(el("p", {}, "Click a file, or find one by its path. "
      + "Shift- or Ctrl-click several files: what else a change to them touches."));
    resizeCanvas();
  } catch (err) {
    msg.textContent = sentence(err);
  }
}

async function select(i) {
  map.selected = i;
  redraw();
  const d = map.data, f = d.files[i];
  const pick = (j) => el("button", { type: "button", class: "link", onclick: () => select(j) }, d.files[j].path);
  const related = el("ol", { id: "related", "aria-label": "Related files" }, el("li", {}, "Loading…"));
  $("#file-panel").replaceChildren(
    el("h3", {}, f.path),
    el("p", {}, `${f.language}, degree ${f.degree}, top folder ${f.group}`),
    el("button", { type: "button", class: "link", id: "change-toggle", onclick: () => toggleChange(i) },
      map.change.includes(i) ? "Remove it from the change" : "Add it to a change (or shift-click it)"),
    el("h4", {}, "Related files"), related,
    el("h4", {}, `Imports (${map.adj[i].imports.length})`),
    el("ul", {}, ...map.adj[i].imports.map(([j, k]) => el("li", {}, pick(j), el("span", { class: "why" }, ` ${k}`)))),
    el("h4", {}, `Imported by (${map.adj[i].importedBy.length})`),
    el("ul", {}, ...map.adj[i].importedBy.map(([j, k]) => el("li", {}, pick(j), el("span", { class: "why" }, ` ${k}`)))));
  try {
    const q = new URLSearchParams({ repo_url: d.repo_url, file_path: f.path, k: "10" });
    const r = await api(`${API}/graph/similar?${q}`);
    const index = new Map(d.files.map((x, j) => [x.path, j]));
    related.replaceChildren(...r.results.map((h) => el("li", {},
      index.has(h.file_path) ? pick(index.get(h.file_path)) : h.file_path,
      el("span", { class: "why" }, ` — ${h.why.join("; ")} (score ${h.score.toFixed(2)})`))));
  } catch (err) {
    related.replaceChildren(el("li", { class: "error" }, sentence(err)));
  }
}

// A change of several files (shift- or ctrl-click on the map, or "Add it to a change"):
// the files likely to need the same change, from /graph/impact, each saying which of the
// chosen files it relates to and why.
function toggleChange(i) {
  const at = map.change.indexOf(i);
  if (at >= 0) map.change.splice(at, 1); else map.change.push(i);
  if (map.change.length) { showImpact(); return; }
  map.impactAsked++;
  select(i);
}

function clearChange() {
  map.change = []; map.impactAsked++; map.selected = -1;
  redraw();
  $("#file-panel").replaceChildren(el("p", {}, "Click a file, or find one by its path."));
}

async function showImpact() {
  map.selected = -1;
  redraw();
  const d = map.data, asked = ++map.impactAsked, n = map.change.length;
  const pick = (j) => el("button", { type: "button", class: "link", onclick: () => select(j) }, d.files[j].path);
  const impact = el("ol", { id: "impact", "aria-label": "Files likely to change with them" }, el("li", {}, "Loading…"));
  $("#file-panel").replaceChildren(
    el("h3", {}, `A change of ${n} file${n === 1 ? "" : "s"}`),
    el("ul", { id: "change-files", "aria-label": "The files of the change" }, ...map.change.map((j) => el("li", {}, pick(j), " ",
      el("button", { type: "button", class: "link", "aria-label": `Remove ${d.files[j].path} from the change`,
        onclick: () => toggleChange(j) }, "remove")))),
    el("p", { class: "hint" }, "Shift- or Ctrl-click files on the map to add or remove them."),
    el("button", { type: "button", id: "change-clear", onclick: clearChange }, "Clear the change"),
    el("h4", {}, "Likely to change with them"), impact);
  try {
    const q = new URLSearchParams({ repo_url: d.repo_url, k: "10" });
    for (const j of map.change) q.append("file_path", d.files[j].path);
    const r = await api(`${API}/graph/impact?${q}`);
    if (asked !== map.impactAsked) return; // the change moved on while this was asked
    const index = new Map(d.files.map((x, j) => [x.path, j]));
    impact.replaceChildren(...(r.results.length ? r.results.map((h) => el("li", {},
      index.has(h.file_path) ? pick(index.get(h.file_path)) : h.file_path,
      el("span", { class: "why" }, ` — ${h.why.join("; ")} (score ${h.score.toFixed(2)})`)))
      : [el("li", { class: "empty" }, "No other file to rank.")]));
  } catch (err) {
    if (asked === map.impactAsked) impact.replaceChildren(el("li", { class: "error" }, sentence(err)));
  }
}

function find() {
  if (!map.data) return;
  const q = $("#file-search").value.trim();
  if (!q) return;
  const files = map.data.files;
  let i = files.findIndex((f) => f.path === q);
  if (i < 0) i = files.findIndex((f) => f.path.includes(q));
  if (i < 0) { $("#map-msg").textContent = `No file matches “${q}”.`; return; }
  const f = fit();
  map.scale = Math.max(map.scale, 2);
  map.ox = -(files[i].x - f.cx) * f.k; map.oy = (files[i].y - f.cy) * f.k; // centre it
  select(i);
}

function zoom(factor, cx, cy) {
  const r = canvas.getBoundingClientRect();
  cx = cx ?? r.width / 2; cy = cy ?? r.height / 2;
  const s = Math.min(64, Math.max(0.5, map.scale * factor));
  // keep the point under the cursor still
  map.ox += (cx - r.width / 2) / s - (cx - r.width / 2) / map.scale;
  map.oy += (cy - r.height / 2) / s - (cy - r.height / 2) / map.scale;
  map.scale = s;
  redraw();
}

function pan(dx, dy) {
  map.ox += dx / map.scale; map.oy += dy / map.scale;
  redraw();
}

let drag = null;
canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; canvas.setPointerCapture(e.pointerId); });
canvas.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
  drag.x = e.clientX; drag.y = e.clientY;
  if (drag.moved) pan(dx, dy);
});
canvas.addEventListener("pointerup", (e) => {
  const r = canvas.getBoundingClientRect();
  if (drag && !drag.moved) {
    const i = nearest(e.clientX - r.left, e.clientY - r.top);
    if (i >= 0) (e.shiftKey || e.ctrlKey || e.metaKey ? toggleChange : select)(i);
  }
  drag = null;
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect();
  zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
}, { passive: false });
canvas.addEventListener("keydown", (e) => {
  const step = 40;
  const keys = { ArrowLeft: () => pan(step, 0), ArrowRight: () => pan(-step, 0), ArrowUp: () => pan(0, step),
    ArrowDown: () => pan(0, -step), "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(0.8) };
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});
$("#zoom-in").addEventListener("click", () => zoom(1.25));
$("#zoom-out").addEventListener("click", () => zoom(0.8));
$("#zoom-reset").addEventListener("click", () => { map.scale = 1; map.ox = 0; map.oy = 0; redraw(); });
$("#show-edges").addEventListener("change", (e) => { map.edges = e.target.checked; redraw(); });
$("#find").addEventListener("click", find);
$("#file-search").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); find(); } });
$("#explore-form").addEventListener("submit", (e) => { e.preventDefault(); openMap($("#explore-repo").value.trim()); });
window.addEventListener("resize", resizeCanvas);

// for the browser tests and the frame-rate bench: the map's state, read-only
window.pharosMap = { state: map, pan, zoom, select, toggleChange, redraw, draw };

// The stored repositories: offered in the Repository box, and, when no map is open yet,
// the first view opens one (the most recent job's, else the first by name), so a
// repository `pharos ingest` stores while the page is open shows up without a reload.
const known = { names: [], latest: null };
async function loadRepositories() {
  let r;
  try {
    r = await api(`${API}/graph/repositories`);
  } catch (_) { return; } /* the map still opens by name */
  const names = r.repositories;
  if (names.join("\n") !== known.names.join("\n")) {
    $("#repo-list").replaceChildren(...names.map((u) => el("option", { value: u })));
    known.names = names;
  }
  $("#explore-empty").hidden = names.length > 0;
  const input = $("#explore-repo");
  if (names.length && !map.openRepo && !map.opening && !input.value) {
    const pick = names.includes(known.latest) ? known.latest : names[0];
    input.value = pick;
    map.opening = true;
    openMap(pick).finally(() => { map.opening = false; });
  }
}

poll();
const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("repo");
if (wanted) { $("#explore-repo").value = wanted; map.opening = true; openMap(wanted).finally(() => { map.opening = false; }); }
loadRepositories();
window.addEventListener("hashchange", () => { // a link to another map pasted into this tab
  const repo = new URLSearchParams(location.hash.split("?")[1] || "").get("repo");
  if (repo && repo !== map.openRepo) { $("#explore-repo").value = repo; openMap(repo); }
});
