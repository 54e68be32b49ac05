/* optrunner dashboard: plain JS, no build step. REST for lists, the chart's first bars and
   actions; the /ws WebSocket for everything live: positions with MTM and greeks, P&L, the spot
   (ticks) and hourly bars the chart draws, fills (its entry/exit markers), alerts and kill-switch
   changes. A WebSocket frame is a JSON array of messages; a reconnect resumes from the last seq.
   The API token stays in sessionStorage (this tab only) and goes out as a Bearer header (REST)
   or ?token= (WebSocket). */
"use strict";

const KEY = "optrunner-token";
const IST = 19800; // seconds east of UTC: the chart's axis reads in India time
const $ = (id) => document.getElementById(id);
const inr = new Intl.NumberFormat("en-IN", { maximumFractionDigits: 0 });
const px = new Intl.NumberFormat("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

let token = sessionStorage.getItem(KEY) || "";
let ws = null, wsRetry = null, pollTimer = null, refreshSoon = null;
let lastFills = [], liveFills = []; // fills from /api/fills, and those the WebSocket brought since
let lastSeq = null, epoch = null, lastGreeks = null;
const stats = { wsFrames: 0, wsMessages: 0, wsPositions: 0, wsBars: 0, wsTicks: 0, greekUpdates: 0 };

// --- helpers -------------------------------------------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function money(v) {
  if (v === null || v === undefined) return "—";
  return (v < 0 ? "−₹" : "₹") + inr.format(Math.abs(v));
}
function signed(node, v) {
  node.textContent = money(v);
  node.classList.toggle("pos", v > 0);
  node.classList.toggle("neg", v < 0);
}
function price(v) { return v === null || v === undefined ? "—" : px.format(v); }
function greek(v, digits) { return v === null || v === undefined ? "—" : v.toFixed(digits); }
function toTime(ts) { return Math.floor(Date.parse(ts) / 1000) + IST; } // the chart's axis: IST as if UTC
function clock(ts) {
  if (!ts) return "—";
  return new Date(ts).toLocaleTimeString("en-GB", { timeZone: "Asia/Kolkata", hour12: false });
}
function contractName(id) { // NIFTY:20261117:23500:CE -> NIFTY 17 Nov 23500 CE
  const p = String(id).split(":");
  if (p.length !== 4 || p[1].length !== 8) return id;
  return `${p[0]} ${Number(p[1].slice(6))} ${MONTHS[Number(p[1].slice(4, 6)) - 1]} ${p[2]} ${p[3]}`;
}
function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "bad" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

async function api(path, method = "GET", body) {
  const opts = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) { logout("The token was refused."); throw new Error("unauthorized"); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
  return data;
}

// --- login ---------------------------------------------------------------------------------

function logout(message) {
  token = "";
  sessionStorage.removeItem(KEY);
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  lastSeq = epoch = null;
  clearInterval(pollTimer); clearTimeout(wsRetry);
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  document.body.dataset.state = "login";
  setWs("off", "offline");
}

async function login(candidate) {
  token = candidate;
  try {
    const status = await api("/integrated/trading/status");
    sessionStorage.setItem(KEY, token);
    $("login").hidden = true;
    $("main").hidden = false;
    document.body.dataset.state = "ready";
    renderStatus(status);
    initChart();
    connectWs();
    refreshAll();
    pollTimer = setInterval(refreshAll, 3000);  // lists; the chart, positions and P&L come over the WebSocket
  } catch (e) {
    if (e.message !== "unauthorized") $("login-error").textContent = "Cannot reach the service: " + e.message;
  }
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  login($("token").value.trim());
});

// --- WebSocket -----------------------------------------------------------------------------

function setWs(cls, text) { const s = $("ws-state"); s.className = "dot " + cls; s.textContent = text; }

function connectWs() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const resume = lastSeq !== null && epoch ? `&since=${lastSeq}&epoch=${encodeURIComponent(epoch)}` : "";
  ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(token)}${resume}`);
  setWs("wait", "connecting");
  ws.onopen = () => setWs("on", "live");
  let first = true;
  ws.onmessage = (ev) => {
    stats.wsFrames += 1;
    document.body.dataset.wsFrames = stats.wsFrames;
    const frame = JSON.parse(ev.data); // the messages of one round, in seq order
    if (first) { // a snapshot, or (resuming) the events missed since lastSeq
      first = false;
      document.body.dataset.wsStart = frame[0].type === "snapshot" ? "snapshot" : "resumed";
    }
    for (const msg of frame) onMessage(msg);
  };
  ws.onclose = (ev) => {
    ws = null;
    if (ev.code === 1008) { logout("The WebSocket refused the token."); return; }
    setWs("off", "reconnecting");
    wsRetry = setTimeout(() => { if (token) connectWs(); }, 2000); // resumes after lastSeq, or a fresh snapshot
  };
}

function onMessage(msg) {
  stats.wsMessages += 1;
  lastSeq = msg.seq;
  document.body.dataset.wsSeq = msg.seq;
  const d = msg.data;
  switch (msg.type) {
    case "snapshot":
      epoch = d.epoch;
      renderPositions(d.positions, msg.seq);
      renderKill(d.kill_switch.state, d.kill_switch.reason);
      $("feed-state").textContent = d.feed_state;
      refreshBars(); // the day so far; bar and tick messages extend it from here
      break;
    case "bar":
      onBar(d);
      break;
    case "tick":
      onTick(d);
      break;
    case "pnl":
      signed($("day-pnl"), d.day_pnl);
      document.body.dataset.dayPnl = d.day_pnl;
      break;
    case "positions":
      stats.wsPositions += 1;
      document.body.dataset.wsPositions = stats.wsPositions;
      renderPositions(d, msg.seq);
      break;
    case "kill_switch":
      addAlert(d);
      refreshSoonish();
      break;
    case "alert":
      addAlert(d);
      break;
    case "fill":
      liveFills.push(d);
      drawMarkers();
      refreshSoonish();
      break;
    case "order":
      refreshSoonish();
      break;
  }
}

function refreshSoonish() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => { refreshSoon = null; refreshAll(); }, 250);
}

// --- rendering -----------------------------------------------------------------------------

function renderKill(state, reason) {
  const k = $("kill-switch");
  k.textContent = state;
  k.className = "badge " + state;
  $("kill-reason").textContent = state === "ACTIVE" ? "" : `${state}: ${reason || ""}`;
  document.body.dataset.killSwitch = state;
}

function renderStatus(s) {
  $("mode").textContent = s.mode;
  $("feed-state").textContent = s.feed_state;
  $("session-time").textContent = s.session_time ? `${s.session_day} ${clock(s.session_time)}` : "not started";
  renderKill(s.trading_state, s.trading_reason);
}

const GREEKS = [["delta", 1], ["gamma", 3], ["vega", 0], ["theta", 0]]; // name, decimals shown

function greekCells(values) { return GREEKS.map(([g, digits]) => el("td", greek(values[g], digits), "n greek-" + g)); }

function renderPositions(p, seq) {
  const body = $("positions").tBodies[0];
  body.replaceChildren(...p.positions.map((x) => {
    const tr = el("tr");
    tr.append(el("td", x.strategy), el("td", contractName(x.contract)), el("td", x.quantity, "n" + (x.quantity < 0 ? " neg" : "")),
      el("td", price(x.avg_price), "n"), el("td", price(x.mark_price), "n"));
    const u = el("td", "", "n"); signed(u, x.unrealized);
    const r = el("td", "", "n"); signed(r, x.realized);
    const own = {}; // the position's greeks: quantity x the per-unit greek of its last mark
    for (const [g] of GREEKS) own[g] = x[g] === null || x[g] === undefined ? null : x.quantity * x[g];
    tr.append(u, r, ...greekCells(own));
    return tr;
  }));
  const foot = $("positions").tFoot;
  if (p.positions.length) {
    const tr = el("tr");
    const total = el("td", "", "n"); signed(total, p.unrealized);
    const missing = p.greeks_missing ? ` (${p.greeks_missing} leg(s) without greeks)` : "";
    tr.append(el("td", "Account" + missing), el("td"), el("td"), el("td"), el("td"), total, el("td"), ...greekCells(p));
    foot.replaceChildren(tr);
  } else {
    foot.replaceChildren();
  }
  for (const [g, digits] of GREEKS) $("g-" + g).textContent = greek(p[g], digits);
  const key = GREEKS.map(([g]) => p[g]).join("|");
  if (p.positions.length && key !== lastGreeks) { // the test watches greeks move with the market
    if (lastGreeks !== null) stats.greekUpdates += 1;
    document.body.dataset.greekUpdates = stats.greekUpdates;
  }
  lastGreeks = key;
  $("positions-empty").hidden = p.positions.length > 0;
  $("open-legs").textContent = p.open_legs;
  signed($("pnl-unrealized"), p.unrealized);
  signed($("pnl-realized"), p.realized);
  $("pnl-charges").textContent = money(p.charges);
  signed($("pnl-net"), p.net);
  $("positions-updated").textContent = `WebSocket message #${seq} at ${new Date().toLocaleTimeString("en-GB", { hour12: false })}`;
  document.body.dataset.openLegs = p.open_legs;
}

function renderPerf(perf) {
  signed($("day-pnl"), perf.day_pnl);
  $("order-counts").textContent = `${perf.orders} · ${perf.fills} · ${perf.rejected}`;
}

function renderStrategies(list) {
  const body = $("strategies").tBodies[0];
  body.replaceChildren(...list.map((s) => {
    const tr = el("tr");
    const label = el("label", null, "toggle");
    const box = el("input");
    box.type = "checkbox";
    box.checked = !s.halted;
    box.dataset.strategy = s.name;
    box.title = s.halted ? "Resume this strategy" : "Halt this strategy (its positions follow the halt policy)";
    box.addEventListener("change", () => toggleStrategy(s.name, box));
    label.append(box, el("span"));
    const on = el("td"); on.append(label);
    const state = el("td", s.halted ? `halted${s.halt_reason ? ": " + s.halt_reason : ""}` : "running",
      s.halted ? "state-off" : "state-on");
    const net = el("td", "", "n"); signed(net, s.net_pnl);
    tr.append(on, el("td", s.name), el("td", s.kind), state, el("td", s.open_legs, "n"), net);
    return tr;
  }));
}

async function toggleStrategy(name, box) {
  const action = box.checked ? "enable" : "disable";
  box.disabled = true;
  try {
    await api(`/api/strategies/${encodeURIComponent(name)}/${action}`, "POST", action === "disable" ? { reason: "dashboard" } : undefined);
    toast(`${name}: ${action === "enable" ? "resumed" : "halted"}`);
  } catch (e) {
    box.checked = !box.checked;
    toast(`${name}: ${e.message}`, true);
  } finally {
    box.disabled = false;
    refreshAll();
  }
}

function renderOrders(list) {
  $("orders").tBodies[0].replaceChildren(...list.slice().reverse().slice(0, 100).map((o) => {
    const tr = el("tr");
    const state = el("td", o.state, o.state === "REJECTED" ? "neg" : o.state === "FILLED" ? "pos" : "");
    if (o.reason) state.title = o.reason;
    tr.append(el("td", clock(o.updated_ts || o.created_ts)), el("td", o.strategy), el("td", o.tag), el("td", contractName(o.contract)),
      el("td", o.side), el("td", o.quantity, "n"), state, el("td", o.filled_qty ? price(o.avg_price) : "—", "n"));
    return tr;
  }));
}

function renderFills(list) {
  lastFills = list;
  const known = new Set(list.map((f) => f.fill_id));
  liveFills = liveFills.filter((f) => !known.has(f.fill_id)); // the list caught up with them
  $("fills").tBodies[0].replaceChildren(...list.slice().reverse().slice(0, 100).map((f) => {
    const tr = el("tr");
    tr.append(el("td", clock(f.ts)), el("td", f.tag), el("td", contractName(f.contract)),
      el("td", f.side, f.side === "SELL" ? "neg" : "pos"), el("td", f.quantity, "n"), el("td", price(f.price), "n"),
      el("td", price(f.charges), "n"));
    return tr;
  }));
  drawMarkers();
}

const seenAlerts = new Set();
function addAlert(a) {
  const key = `${a.ts}|${a.source}|${a.message}`;
  if (seenAlerts.has(key)) return;
  seenAlerts.add(key);
  const li = el("li");
  li.append(el("time", clock(a.ts)), el("span", a.level, "lvl " + a.level), el("span", `${a.message} (${a.source})`));
  const feed = $("alerts");
  feed.prepend(li);
  $("alerts-empty").hidden = true;
  while (feed.children.length > 200) feed.lastChild.remove();
}
function renderAlerts(list) { list.forEach((a) => addAlert(a)); }

// --- polling -------------------------------------------------------------------------------

async function refreshAll() {
  if (!token) return;
  try {
    const [status, perf, strategies, orders, fills, alerts] = await Promise.all([
      api("/integrated/trading/status"), api("/performance/stats"), api("/api/strategies"),
      api("/api/orders?limit=200"), api("/api/fills?limit=500"), api("/api/alerts?limit=100"),
    ]);
    renderStatus(status);
    renderPerf(perf);
    renderStrategies(strategies);
    renderOrders(orders);
    renderFills(fills);
    renderAlerts(alerts);
    document.body.dataset.refreshed = String(Date.now());
  } catch (e) {
    if (e.message !== "unauthorized") toast("Refresh failed: " + e.message, true);
  }
}

// --- actions -------------------------------------------------------------------------------

$("estop").addEventListener("click", () => {
  if (!token) { $("login-error").textContent = "Connect first: the emergency stop needs the token."; return; }
  $("confirm-text").value = "";
  $("confirm-go").disabled = true;
  $("confirm").hidden = false;
  $("confirm-text").focus();
});
$("confirm-text").addEventListener("input", () => {
  $("confirm-go").disabled = $("confirm-text").value.trim() !== "STOP";
});
$("confirm-cancel").addEventListener("click", () => { $("confirm").hidden = true; });
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("confirm").hidden = true; });
$("confirm-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if ($("confirm-text").value.trim() !== "STOP") return;
  $("confirm-go").disabled = true;
  try {
    const r = await api("/integrated/trading/stop", "POST", { reason: "emergency stop from the dashboard" });
    $("confirm").hidden = true;
    toast(`Emergency stop: ${r.flatten_orders.length} flatten order(s), ${r.cancelled.length} cancelled — ${r.message}`);
    document.body.dataset.stopped = "1";
  } catch (e) {
    toast("Emergency stop FAILED: " + e.message, true);
    $("confirm-go").disabled = false;
  }
  refreshAll();
});

async function setTrading(action) {
  try {
    const r = await api(`/api/trading/${action}`, "POST", { reason: `${action}d from the dashboard` });
    renderKill(r.state, r.reason);
    toast(`Trading ${r.state}`);
  } catch (e) { toast(e.message, true); }
}
$("trading-disable").addEventListener("click", () => setTrading("disable"));
$("trading-enable").addEventListener("click", () => setTrading("enable"));

if (token) { $("token").value = ""; login(token); } else { $("token").focus(); }
