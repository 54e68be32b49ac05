/* optrunner dashboard, the spot chart (lightweight-charts from static/vendor): the index's
   hourly bars of the day from GET /api/bars at each snapshot, then extended live by the
   WebSocket's bar messages (a closed bar once, the building one when it changed) and ticks (the
   building candle and the spot), with entry/exit/adjustment markers from the fills. Loaded
   before dashboard.js, whose helpers ($, api, clock, price, IST) and fills it uses when called. */
"use strict";

let chart = null, candles = null, markers = null, lastBars = []; // lastBars: the series' data, plus end and closed

// --- the chart -----------------------------------------------------------------------------

function initChart() {
  if (chart || !window.LightweightCharts) return;
  const LC = window.LightweightCharts;
  chart = LC.createChart($("chart"), {
    autoSize: true,
    layout: { background: { color: "#182028" }, textColor: "#c4cdd5", attributionLogo: false },
    grid: { vertLines: { color: "#222d37" }, horzLines: { color: "#222d37" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3540" },
    rightPriceScale: { borderColor: "#2a3540" },
  });
  candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#2fbf71", downColor: "#e5484d", borderVisible: false, wickUpColor: "#2fbf71", wickDownColor: "#e5484d",
  });
  markers = LC.createSeriesMarkers(candles, []);
}

async function refreshBars() {
  try {
    const b = await api("/api/bars?timeframe=1h");
    $("chart-symbol").textContent = b.symbol;
    const fresh = b.bars.map((x) => ({ time: toTime(x.ts), end: toTime(x.end), closed: x.closed,
      open: x.open, high: x.high, low: x.low, close: x.close }));
    // what the WebSocket brought while this answer was on its way stays: newer bars, and a bar
    // it already saw close (the answer may still show it building)
    const seen = new Map(lastBars.map((x) => [x.time, x]));
    const merged = fresh.map((x) => (seen.get(x.time)?.closed && !x.closed ? seen.get(x.time) : x));
    const newer = lastBars.filter((x) => x.time > (fresh.length ? fresh[fresh.length - 1].time : 0));
    lastBars = merged.concat(newer);
    if (candles) candles.setData(lastBars.map(plain));
    fitChart();
    barStatus();
    drawMarkers();
  } catch (e) {
    if (e.message !== "unauthorized") $("bar-status").textContent = "bars: " + e.message;
  }
}

function plain(b) { return { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close }; }

function fitChart() { // the session's 7 hourly slots (09:15 ... 15:15) stay in view
  if (chart) chart.timeScale().setVisibleLogicalRange({ from: -0.6, to: Math.max(6.6, lastBars.length - 0.4) });
}

function barStatus() {
  const closed = lastBars.filter((x) => x.closed).length;
  const open = lastBars.find((x) => !x.closed);
  const clockOf = (t) => clock((t - IST) * 1000);
  $("bar-status").textContent = lastBars.length
    ? `${closed} closed bar(s) today` + (open ? ` · current ${clockOf(open.time)}–${clockOf(open.end)} last ${price(open.close)}` : "")
    : "no bars yet";
  document.body.dataset.bars = lastBars.length;
  document.body.dataset.chartBars = candles ? candles.data().length : 0;
}

function onBar(d) { // a closed bar once, and the building one whenever it changed
  stats.wsBars += 1;
  document.body.dataset.wsBars = stats.wsBars;
  $("chart-symbol").textContent = d.symbol;
  const bar = { time: toTime(d.ts), end: toTime(d.end), closed: d.closed, open: d.open, high: d.high, low: d.low, close: d.close };
  const last = lastBars[lastBars.length - 1];
  if (last && bar.time < last.time) return; // older than the chart: the REST answer had it
  if (last && bar.time === last.time) lastBars[lastBars.length - 1] = bar; else lastBars.push(bar);
  if (candles) candles.update(plain(bar));
  if (!last || bar.time !== last.time) fitChart();
  barStatus();
  drawMarkers();
}

function onTick(d) { // the spot moves the building bar between two bar messages
  stats.wsTicks += 1;
  document.body.dataset.wsTicks = stats.wsTicks;
  $("spot").textContent = price(d.spot);
  document.body.dataset.spot = d.spot;
  const last = lastBars[lastBars.length - 1];
  const t = toTime(d.ts);
  if (!last || last.closed || t < last.time || t >= last.end) return;
  last.close = d.spot;
  last.high = Math.max(last.high, d.spot);
  last.low = Math.min(last.low, d.spot);
  if (candles) candles.update(plain(last));
}

function drawMarkers() {
  if (!markers || !lastBars.length) return;
  const groups = new Map();
  for (const f of lastFills.concat(liveFills)) {
    const t = toTime(f.ts);
    let bar = null;
    for (const b of lastBars) { if (b.time <= t) bar = b.time; else break; }
    if (bar === null) continue;
    const kind = f.tag === "ENTRY" || f.tag === "HEDGE" ? "entry" : f.tag.startsWith("ADJUST") ? "adjust" : "exit";
    const key = bar + kind;
    const g = groups.get(key) || { time: bar, kind, n: 0 };
    g.n += 1;
    groups.set(key, g);
  }
  const style = {
    entry: { position: "belowBar", color: "#2fbf71", shape: "arrowUp", text: "Entry" },
    exit: { position: "aboveBar", color: "#e5484d", shape: "arrowDown", text: "Exit" },
    adjust: { position: "aboveBar", color: "#f5a524", shape: "circle", text: "Adj" },
  };
  const list = [...groups.values()].sort((a, b) => a.time - b.time)
    .map((g) => ({ time: g.time, ...style[g.kind], text: `${style[g.kind].text} ×${g.n}` }));
  markers.setMarkers(list);
  document.body.dataset.markers = list.length;
}
