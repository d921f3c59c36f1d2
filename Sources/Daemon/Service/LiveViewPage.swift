/// The live view served at `/` on the metrics port: one self-contained page (inline style
/// and script, no external assets, no build step) that polls `/model.json` twice a second and
/// draws the model as it learns: the centers on their first two principal components (area ∝
/// share, with trails), temperature, inertia and throughput over time, cluster shares, the
/// centers' coordinates, drops and recent events. It marks the data stale when the daemon stops
/// answering for more than 3 s or reports a stalled loop.
///
/// It also keeps a hidden `#summary` element whose `data-` attributes say what is drawn
/// (`data-centers-drawn`, `data-model-version`, `data-status`, …), so a headless browser's DOM
/// dump shows what a person would see.
enum LiveViewPage {
    /// The page, UTF-8 HTML.
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>voronoid live view</title>
<style>
  :root {
    --bg: #f4f5f7; --panel: #ffffff; --ink: #1d2330; --muted: #687083; --line: #dde1e8;
    --live: #1f8a4c; --idle: #b7791f; --stale: #c53030;
  }
  * { box-sizing: border-box; }
  html, body { margin: 0; height: 100%; }
  body { display: flex; flex-direction: column; height: 100vh; background: var(--bg); color: var(--ink); font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }
  header { display: flex; align-items: center; gap: 18px; padding: 10px 16px; background: var(--panel);
           border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { font-size: 17px; margin: 0; font-weight: 650; letter-spacing: .2px; }
  header h1 span { color: var(--muted); font-weight: 400; }
  .pill { padding: 3px 10px; border-radius: 999px; color: #fff; font-weight: 650; font-size: 12px;
          text-transform: uppercase; letter-spacing: .6px; background: var(--muted); }
  .pill.live { background: var(--live); } .pill.idle, .pill.warming { background: var(--idle); }
  .pill.stale { background: var(--stale); }
  .facts { display: flex; gap: 16px; flex-wrap: wrap; color: var(--muted); }
  .facts b { color: var(--ink); font-weight: 600; font-variant-numeric: tabular-nums; }
  #banner { display: none; margin: 10px 16px 0; padding: 9px 14px; border-radius: 6px; font-weight: 600; }
  #banner.stale { display: block; background: #fde8e8; color: #8b1c1c; border: 1px solid #f5b5b5; }
  #banner.idle, #banner.warming { display: block; background: #fdf6e3; color: #7a5312; border: 1px solid #f0d9a8; }
  /* Rows share the window's height (content scrolls inside its panel); below 720 px the page
     scrolls instead of squeezing the plots. */
  main { flex: 1 1 auto; min-height: 720px; display: grid; gap: 10px; padding: 10px 16px 16px;
         grid-template-columns: 1.3fr 1fr 1fr;
         grid-template-rows: minmax(0, 1fr) minmax(0, 1fr) minmax(0, 1.05fr);
         grid-template-areas: "scatter temp inertia" "scatter shares rate" "centers centers feed"; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px;
            display: flex; flex-direction: column; min-width: 0; min-height: 0; }
  section h2 { margin: 0 0 4px; font-size: 12px; font-weight: 650; color: var(--muted); text-transform: uppercase;
               letter-spacing: .5px; display: flex; justify-content: space-between; gap: 8px; }
  section h2 small { text-transform: none; letter-spacing: 0; font-weight: 500; }
  .plot { position: relative; flex: 1; min-height: 0; }
  .plot canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
  #scatter { grid-area: scatter; } #temp { grid-area: temp; } #inertia { grid-area: inertia; }
  #shares { grid-area: shares; } #rate { grid-area: rate; } #centers { grid-area: centers; } #feed { grid-area: feed; }
  .scroll { overflow: auto; flex: 1; min-height: 0; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12px; }
  th, td { padding: 2px 6px; text-align: right; white-space: nowrap; }
  th { color: var(--muted); font-weight: 600; position: sticky; top: 0; background: var(--panel); }
  td.c { text-align: left; font-weight: 600; }
  .swatch { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; vertical-align: 0; }
  .note { color: var(--muted); font-size: 12px; margin-top: 4px; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 12px; margin: 0 0 6px; }
  dt { color: var(--muted); } dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
  ol { list-style: none; margin: 0; padding: 0; }
  ol li { padding: 2px 0; border-top: 1px solid var(--line); font-size: 12px; }
  ol li time { color: var(--muted); margin-right: 6px; font-variant-numeric: tabular-nums; }
  ol li b { margin-right: 6px; }
  .stalled main { opacity: .55; filter: grayscale(.7); }
</style>
</head>
<body>
<header>
  <h1>voronoid <span>live view</span></h1>
  <span id="pill" class="pill">connecting</span>
  <div class="facts">
    <span>version <b id="f-version">–</b></span>
    <span>k × d <b id="f-kd">–</b></span>
    <span>temperature <b id="f-temp">–</b></span>
    <span>inertia/vector <b id="f-inertia">–</b></span>
    <span>support <b id="f-support">–</b></span>
    <span><b id="f-rate">–</b> vectors/s</span>
    <span>accepted <b id="f-accepted">–</b></span>
  </div>
</header>
<div id="banner" role="status"></div>
<main>
  <section id="scatter"><h2>Centers <small id="pca-note">PCA of the centers</small></h2><div class="plot"><canvas></canvas></div>
    <div class="note">Each circle is a center at its coordinates on the centers' first two principal components; its area is the center's share of the soft counts; the faint trail is where it has been.</div></section>
  <section id="temp"><h2>Temperature <small>log scale</small></h2><div class="plot"><canvas></canvas></div></section>
  <section id="inertia"><h2>Inertia per vector <small>moving average, log scale</small></h2><div class="plot"><canvas></canvas></div></section>
  <section id="shares"><h2>Cluster shares <small id="shares-note"></small></h2><div class="plot"><canvas></canvas></div></section>
  <section id="rate"><h2>Throughput <small>vectors accepted per second</small></h2><div class="plot"><canvas></canvas></div></section>
  <section id="centers"><h2>Center coordinates <small id="centers-note"></small></h2><div class="scroll" id="centers-table"></div></section>
  <section id="feed"><h2>Drops and events</h2><div class="scroll"><dl id="drops"></dl><ol id="events"></ol></div></section>
</main>
<div id="summary" hidden></div>
<script>
"use strict";
// Everything drawn comes from this daemon's /model.json, polled one request at a time (the
// server answers one connection at a time). Nothing here writes to the daemon.
const POLL_MS = 500, STALE_MS = 3000, REQUEST_TIMEOUT_MS = 2000, TRAIL = 40;
const view = {
  data: null, okAt: null, startedAt: performance.now(), polls: 0, failures: 0, lastError: "",
  acceptedChangedAt: null, lastAccepted: null, epoch: null, k: null,
  prevX: null, prevY: null, trails: [], bounds: null, status: "connecting",
  drawn: { centers: 0, bars: 0, series: 0, heat: 0, events: 0 },
};
const $ = (id) => document.getElementById(id);

function color(i, alpha) {
  // Golden-angle hues: neighbours in index stay far apart in colour for any k.
  const h = (i * 137.508 + 210) % 360;
  return alpha === undefined ? `hsl(${h.toFixed(1)} 62% 45%)` : `hsl(${h.toFixed(1)} 62% 45% / ${alpha})`;
}
function fmt(v, digits = 4) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(1, digits - 2)).replace("e+", "e");
  return Number(v.toPrecision(digits)).toString();
}
const grouped = (n) => (n === null || n === undefined || !isFinite(n)) ? "–" : Math.round(n).toLocaleString("en-US");
const clock = (ms) => new Date(ms).toISOString().slice(11, 19);

function canvasOf(sectionId) {
  const canvas = document.querySelector(`#${sectionId} canvas`);
  const box = canvas.parentElement.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(10, Math.floor(box.width)), h = Math.max(10, Math.floor(box.height));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  return { g, w, h };
}

function message(g, w, h, text) {
  g.fillStyle = "#8a91a3"; g.textAlign = "center"; g.textBaseline = "middle";
  g.fillText(text, w / 2, h / 2);
}

// ---- the scatter of centers -------------------------------------------------------------
function alignSigns(d) {
  // The projection's signs are arbitrary; keep each axis pointing the way it did last time so
  // the picture does not mirror itself between two polls.
  let x = d.projection.x.slice(), y = d.projection.y.slice();
  if (view.prevX && view.prevX.length === x.length) {
    const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
    if (dot(x, view.prevX) < 0) x = x.map((v) => -v);
    if (dot(y, view.prevY) < 0) y = y.map((v) => -v);
  }
  view.prevX = x; view.prevY = y;
  return { x, y };
}

function drawScatter(d, p) {
  const { g, w, h } = canvasOf("scatter");
  if (!p) { view.drawn.centers = 0; return message(g, w, h, d && !d.has_model ? "warming up: no centers yet" : "no data yet"); }
  const k = p.x.length, shares = d.shares;
  const maxShare = Math.max(1e-12, ...shares);
  const pad = 26, side = Math.min(w, h) - 2 * pad;
  const rMax = Math.max(8, side * 0.085);
  // Equal scales on both axes, so distances in the picture are distances between centers.
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  const points = [];
  for (let c = 0; c < k; c++) points.push([p.x[c], p.y[c]]);
  for (const trail of view.trails) for (const q of trail) points.push(q);
  for (const [x, y] of points) { lo = [Math.min(lo[0], x), Math.min(lo[1], y)]; hi = [Math.max(hi[0], x), Math.max(hi[1], y)]; }
  let span = Math.max(hi[0] - lo[0], hi[1] - lo[1], 1e-9);
  const target = { cx: (lo[0] + hi[0]) / 2, cy: (lo[1] + hi[1]) / 2, span };
  // Ease the frame towards what the points need instead of jumping with every poll.
  const b = view.bounds && view.bounds.k === k ? view.bounds : { ...target, k };
  b.cx += (target.cx - b.cx) * 0.35; b.cy += (target.cy - b.cy) * 0.35;
  b.span = target.span > b.span ? target.span : b.span + (target.span - b.span) * 0.2;
  view.bounds = b;
  const scale = (Math.min(w - 2 * pad, h - 2 * pad) - 2 * rMax) / (b.span || 1);
  const X = (x) => w / 2 + (x - b.cx) * scale, Y = (y) => h / 2 - (y - b.cy) * scale;

  g.strokeStyle = "#e6e9ef"; g.lineWidth = 1;
  g.beginPath(); g.moveTo(pad, Y(0)); g.lineTo(w - pad, Y(0)); g.moveTo(X(0), pad); g.lineTo(X(0), h - pad); g.stroke();
  g.fillStyle = "#8a91a3"; g.textAlign = "right"; g.textBaseline = "bottom";
  g.fillText("PC1 →", w - 6, h - 4);
  g.save(); g.translate(12, 30); g.rotate(-Math.PI / 2); g.textAlign = "right"; g.textBaseline = "middle"; g.fillText("PC2 →", 0, 0); g.restore();

  for (let c = 0; c < view.trails.length; c++) {
    const t = view.trails[c];
    if (t.length < 2) continue;
    g.strokeStyle = color(c, 0.35); g.lineWidth = 1.5; g.beginPath();
    t.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
    g.stroke();
  }
  // Largest first, so small circles stay visible on top.
  const order = [...Array(k).keys()].sort((a, c) => shares[c] - shares[a]);
  let drawn = 0;
  for (const c of order) {
    const r = Math.max(3, rMax * Math.sqrt(shares[c] / maxShare));
    const x = X(p.x[c]), y = Y(p.y[c]);
    if (!isFinite(x) || !isFinite(y)) continue;
    g.beginPath(); g.arc(x, y, r, 0, 2 * Math.PI);
    g.fillStyle = color(c, 0.28); g.fill();
    g.lineWidth = 2; g.strokeStyle = color(c); g.stroke();
    g.fillStyle = "#1d2330"; g.textAlign = "center"; g.textBaseline = "middle";
    g.font = "600 11px system-ui, sans-serif";
    if (k <= 24) g.fillText(String(c), x, y);
    drawn++;
  }
  view.drawn.centers = drawn;
}

// ---- time series --------------------------------------------------------------------------
function drawSeries(sectionId, t, v, opts) {
  const { g, w, h } = canvasOf(sectionId);
  const pts = [];
  for (let i = 0; i < t.length; i++) {
    const y = v[i];
    if (y === null || !isFinite(y) || (opts.log && y <= 0)) continue;
    pts.push([t[i], opts.log ? Math.log10(y) : y]);
  }
  if (pts.length < 2) { message(g, w, h, "collecting samples…"); return 0; }
  const left = 48, right = 8, top = 8, bottom = 20;
  const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  let lo = Math.min(...pts.map((q) => q[1])), hi = Math.max(...pts.map((q) => q[1]));
  if (!opts.log) lo = Math.min(0, lo);
  if (hi - lo < 1e-12) { hi += opts.log ? 0.5 : Math.abs(hi) * 0.1 + 1; lo -= opts.log ? 0.5 : 0; }
  const X = (x) => left + (x - t0) / Math.max(1, t1 - t0) * (w - left - right);
  const Y = (y) => top + (hi - y) / (hi - lo) * (h - top - bottom);
  g.strokeStyle = "#e6e9ef"; g.lineWidth = 1; g.fillStyle = "#8a91a3"; g.textAlign = "right"; g.textBaseline = "middle";
  const ticks = [0, 1, 2, 3].map((i) => lo + (hi - lo) * i / 3);
  const values = ticks.map((y) => (opts.log ? Math.pow(10, y) : y));
  // The fewest digits that still tell neighbouring labels apart on a narrow range.
  let digits = 3;
  while (digits < 8 && new Set(values.map((v) => fmt(v, digits))).size < values.length) digits++;
  ticks.forEach((y, i) => {
    g.beginPath(); g.moveTo(left, Y(y)); g.lineTo(w - right, Y(y)); g.stroke();
    g.fillText(fmt(values[i], digits), left - 5, Y(y));
  });
  g.textAlign = "left"; g.textBaseline = "bottom";
  const ago = (t1 - t0) / 1000;
  g.fillText(ago >= 120 ? `−${(ago / 60).toFixed(0)} min` : `−${ago.toFixed(0)} s`, left, h - 2);
  g.textAlign = "right"; g.fillText("now", w - right, h - 2);
  g.beginPath();
  pts.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
  g.strokeStyle = opts.color; g.lineWidth = 2; g.stroke();
  g.lineTo(X(t1), h - bottom); g.lineTo(X(t0), h - bottom); g.closePath();
  g.fillStyle = opts.fill; g.fill();
  const last = pts[pts.length - 1];
  g.beginPath(); g.arc(X(last[0]), Y(last[1]), 3, 0, 2 * Math.PI); g.fillStyle = opts.color; g.fill();
  return pts.length;
}

function rates(hist) {
  const t = [], v = [];
  for (let i = 1; i < hist.t.length; i++) {
    const dt = (hist.t[i] - hist.t[i - 1]) / 1000, dv = hist.accepted[i] - hist.accepted[i - 1];
    // A drop in the counter is a restart: no rate across it.
    if (dt > 0 && dv >= 0) { t.push(hist.t[i]); v.push(dv / dt); }
  }
  return { t, v };
}

// ---- shares -------------------------------------------------------------------------------
function drawShares(d) {
  const { g, w, h } = canvasOf("shares");
  if (!d || !d.has_model) { view.drawn.bars = 0; return message(g, w, h, "no centers yet"); }
  const s = d.shares, k = s.length, maxShare = Math.max(1e-12, ...s);
  const left = 34, bottom = k <= 32 ? 16 : 4, top = 14, right = 4;
  const slot = (w - left - right) / k, bw = Math.max(1, slot * 0.72);
  g.strokeStyle = "#e6e9ef"; g.fillStyle = "#8a91a3"; g.textAlign = "right"; g.textBaseline = "middle";
  for (let i = 0; i <= 2; i++) {
    const v = maxShare * i / 2, y = top + (1 - i / 2) * (h - top - bottom);
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
    g.fillText(`${(v * 100).toFixed(v * 100 < 10 ? 1 : 0)}%`, left - 4, y);
  }
  let bars = 0;
  for (let c = 0; c < k; c++) {
    const bh = s[c] / maxShare * (h - top - bottom), x = left + c * slot + (slot - bw) / 2;
    g.fillStyle = color(c); g.fillRect(x, h - bottom - bh, bw, bh);
    bars++;
    if (k <= 32) {
      g.fillStyle = "#687083"; g.textAlign = "center"; g.textBaseline = "top";
      g.fillText(String(c), x + bw / 2, h - bottom + 3);
    }
  }
  const even = 1 / k;
  const y = top + (1 - even / maxShare) * (h - top - bottom);
  g.setLineDash([4, 3]); g.strokeStyle = "#9aa1b2"; g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke(); g.setLineDash([]);
  $("shares-note").textContent = `dashed: an even split (${(even * 100).toFixed(1)}%)`;
  view.drawn.bars = bars;
}

// ---- centers table ------------------------------------------------------------------------
function drawCenters(d) {
  const box = $("centers-table");
  box.textContent = "";
  view.drawn.heat = 0;
  if (!d || !d.has_model) { $("centers-note").textContent = "no centers yet"; return; }
  if (!d.centers) {
    $("centers-note").textContent = `k · d = ${d.k * d.d} values`;
    const p = document.createElement("p"); p.className = "note";
    p.textContent = `The daemon sends raw centers only up to 4096 values (k · d here is ${d.k * d.d}); ` +
      "the scatter shows them on their principal components, and `voronoid query snapshot` prints them in full.";
    box.appendChild(p);
    return;
  }
  const MAX_COLS = 16, MAX_ROWS = 64;
  const cols = Math.min(d.d, MAX_COLS), rows = Math.min(d.k, MAX_ROWS);
  $("centers-note").textContent = (cols < d.d ? `first ${cols} of ${d.d} coordinates` : `${d.d} coordinates`) +
    (rows < d.k ? `, first ${rows} of ${d.k} centers` : "") + "; colour: value against its column's spread";
  // Per coordinate: centre and spread across centers, so colour shows how centers differ.
  const mid = [], spread = [];
  for (let j = 0; j < cols; j++) {
    const col = d.centers.map((r) => r[j]);
    const m = col.reduce((a, b) => a + b, 0) / col.length;
    mid.push(m); spread.push(Math.max(1e-12, ...col.map((v) => Math.abs(v - m))));
  }
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const label of ["center", "share", ...Array.from({ length: cols }, (_, j) => `x${j}`)]) {
    const th = document.createElement("th"); th.textContent = label; head.appendChild(th);
  }
  for (let c = 0; c < rows; c++) {
    const tr = table.insertRow();
    const name = tr.insertCell(); name.className = "c";
    const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = color(c);
    name.append(sw, String(c));
    tr.insertCell().textContent = `${(d.shares[c] * 100).toFixed(1)}%`;
    for (let j = 0; j < cols; j++) {
      const v = d.centers[c][j], z = Math.max(-1, Math.min(1, (v - mid[j]) / spread[j]));
      const cell = tr.insertCell();
      cell.textContent = fmt(v, 3);
      cell.style.background = z >= 0 ? `rgba(214, 96, 77, ${0.55 * z})` : `rgba(67, 147, 195, ${-0.55 * z})`;
      view.drawn.heat++;
    }
  }
  box.appendChild(table);
}

// ---- drops and events ---------------------------------------------------------------------
function drawFeed(d) {
  const dl = $("drops"), ol = $("events");
  dl.textContent = ""; ol.textContent = "";
  if (!d) return;
  const rows = [["dropped messages", grouped(d.dropped_total)]];
  for (const [reason, n] of Object.entries(d.dropped)) rows.push([`  ${reason}`, grouped(n)]);
  rows.push(["sequence gaps", grouped(d.sequence_gaps)], ["publish dropped", grouped(d.publish_dropped)],
            ["vectors received", grouped(d.vectors_in)], ["reseeds", grouped(d.reseeds)],
            ["model epoch", d.has_model ? String(d.model_epoch) : "–"]);
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v; dl.append(dt, dd);
  }
  const events = d.events.slice().reverse();
  for (const e of events) {
    const li = document.createElement("li");
    const time = document.createElement("time"); time.textContent = clock(e.time_unix_ms);
    const name = document.createElement("b"); name.textContent = e.event;
    const fields = Object.entries(e.fields).map(([k, v]) => `${k}=${typeof v === "number" ? fmt(v) : v}`).join(" ");
    li.append(time, name, fields);
    ol.appendChild(li);
  }
  if (!events.length) { const li = document.createElement("li"); li.textContent = "no events yet"; ol.appendChild(li); }
  view.drawn.events = events.length;
}

// ---- status -------------------------------------------------------------------------------
function currentRate(d) {
  if (!d) return null;
  const r = rates(d.history);
  return r.v.length ? r.v[r.v.length - 1] : null;
}

function updateStatus() {
  const now = performance.now(), d = view.data;
  let status, text = "";
  const silent = view.okAt === null ? now - view.startedAt : now - view.okAt;
  if (silent > STALE_MS) {
    status = "stale";
    text = `STALE — no answer from the daemon for ${(silent / 1000).toFixed(0)} s (${view.lastError || "no reply"})` +
      (d ? `: everything below is its last data, from ${clock(d.time_unix_ms)}.` : ".");
  } else if (!d) {
    status = "connecting";
  } else if (!d.healthy) {
    const bad = d.health.filter((l) => !/: ok/.test(l)).join("; ");
    status = "stale";
    text = `STALE — the daemon answers but its loops stopped beating: ${bad}.`;
  } else if (!d.has_model) {
    status = "warming";
    text = `Warming up: ${grouped(d.warmup_collected)} of ${grouped(d.warmup_needed)} vectors gathered to seed the centers.`;
  } else if (view.acceptedChangedAt !== null && d.time_unix_ms - view.acceptedChangedAt > STALE_MS) {
    status = "idle";
    text = `Idle: no new vectors for ${((d.time_unix_ms - view.acceptedChangedAt) / 1000).toFixed(0)} s; the daemon is alive and the model unchanged.`;
  } else {
    status = "live";
  }
  view.status = status;
  const pill = $("pill");
  pill.className = `pill ${status}`;
  pill.textContent = status;
  const banner = $("banner");
  banner.className = text ? status : "";
  banner.textContent = text;
  document.body.classList.toggle("stalled", status === "stale");
  if (status === "stale") $("f-rate").textContent = "–";
  writeSummary();
}

function writeSummary() {
  // A machine-readable account of what is on screen, for tests that read the DOM.
  const s = $("summary"), d = view.data;
  const facts = {
    status: view.status, "centers-drawn": view.drawn.centers, "bars-drawn": view.drawn.bars,
    "series-points": view.drawn.series, "heat-cells": view.drawn.heat, "events-shown": view.drawn.events,
    "model-version": d && d.model_version !== undefined ? d.model_version : -1,
    k: d && d.has_model ? d.k : 0, d: d && d.has_model ? d.d : 0, polls: view.polls, failures: view.failures,
  };
  for (const [key, v] of Object.entries(facts)) s.dataset[key.replace(/-(.)/g, (_, c) => c.toUpperCase())] = String(v);
  s.textContent = Object.entries(facts).map(([key, v]) => `${key}: ${v}`).join("; ");
}

// ---- one poll -----------------------------------------------------------------------------
function apply(d) {
  // Idle time by the daemon's clock: it counts real seconds even when this page's timers
  // are throttled in a background tab.
  if (view.lastAccepted === null || d.vectors_accepted !== view.lastAccepted) view.acceptedChangedAt = d.time_unix_ms;
  view.lastAccepted = d.vectors_accepted;
  let p = null;
  if (d.has_model && d.projection) {
    if (view.epoch !== d.model_epoch || view.k !== d.k) {
      view.trails = []; view.prevX = null; view.prevY = null; view.bounds = null;
      view.epoch = d.model_epoch; view.k = d.k;
    }
    p = alignSigns(d);
    while (view.trails.length < d.k) view.trails.push([]);
    for (let c = 0; c < d.k; c++) {
      const t = view.trails[c], last = t[t.length - 1];
      if (!last || last[0] !== p.x[c] || last[1] !== p.y[c]) t.push([p.x[c], p.y[c]]);
      if (t.length > TRAIL) t.shift();
    }
    const v = d.projection.variance, total = d.projection.total_variance;
    $("pca-note").textContent = total > 0
      ? `PCA of the centers: PC1 ${(100 * v[0] / total).toFixed(0)}%, PC2 ${(100 * v[1] / total).toFixed(0)}% of their variance`
      : "PCA of the centers (no spread yet)";
  }
  $("f-version").textContent = grouped(d.model_version);
  $("f-kd").textContent = d.has_model ? `${d.k} × ${d.d}` : "–";
  // Before the first batch these are placeholders, not measurements.
  $("f-temp").textContent = d.has_model ? fmt(d.temperature) : "–";
  $("f-inertia").textContent = d.has_model ? fmt(d.inertia_per_vector) : "–";
  $("f-support").textContent = d.has_model ? fmt(d.mean_support_size, 3) : "–";
  $("f-rate").textContent = grouped(currentRate(d));
  $("f-accepted").textContent = grouped(d.vectors_accepted);
  drawAll(p);
}

function drawAll(p) {
  const d = view.data;
  if (p === undefined) p = d && d.has_model && view.prevX ? { x: view.prevX, y: view.prevY } : null;
  drawScatter(d, p);
  const hist = d ? d.history : { t: [], version: [], temperature: [], inertia: [], accepted: [] };
  // Samples before the first batch carry no temperature worth drawing.
  const trained = hist.t.map((_, i) => hist.version[i] > 0);
  const pick = (a) => a.filter((_, i) => trained[i]);
  let n = drawSeries("temp", pick(hist.t), pick(hist.temperature), { log: true, color: "#c2410c", fill: "rgba(194, 65, 12, .08)" });
  n += drawSeries("inertia", pick(hist.t), pick(hist.inertia), { log: true, color: "#4338ca", fill: "rgba(67, 56, 202, .08)" });
  const r = rates(hist);
  n += drawSeries("rate", r.t, r.v, { log: false, color: "#0f766e", fill: "rgba(15, 118, 110, .10)" });
  view.drawn.series = n;
  drawShares(d);
  drawCenters(d);
  drawFeed(d);
  writeSummary();
}

async function poll() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch("model.json", { cache: "no-store", signal: abort.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const d = await response.json();
    view.data = d; view.okAt = performance.now(); view.polls++;
    apply(d);
  } catch (e) {
    view.failures++;
    view.lastError = e && e.name === "AbortError" ? "request timed out" : String(e && e.message || e);
  } finally {
    clearTimeout(timer);
    updateStatus();
    setTimeout(poll, POLL_MS);
  }
}

window.addEventListener("resize", () => drawAll());
setInterval(updateStatus, 250);
updateStatus();
poll();
</script>
</body>
</html>
"""#
}
