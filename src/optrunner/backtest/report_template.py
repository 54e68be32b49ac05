"""The report's page shell: inline CSS, plotly.js embedded once, and a tiny table sorter.

Everything is inline so the file opens anywhere (an e-mail attachment, an air-gapped desk)
with no network: no CDN script, no web font, no external stylesheet.

plotly.js alone is 4.8 MB, which would make a month's report larger than an e-mail wants; it
is embedded gzip-compressed (2 MB as base64) and unpacked by the browser's own
DecompressionStream (every current browser has it). Charts are therefore JSON blocks drawn
once the library is unpacked, and the page marks ``<body data-charts="ready">`` when done (or
"failed", with the reason shown at the top of the page).
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import lru_cache
from html import escape
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

CSS = """
:root { --pos: #15803d; --neg: #b91c1c; --mute: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 -apple-system, "Segoe UI", Roboto,
  "Noto Sans", Arial, sans-serif; color: #111827; background: #f9fafb; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 10px; }
.meta, .note { color: var(--mute); font-size: 12.5px; } .note { margin: 6px 0; }
.alarm { background: #fdecea; color: #8a1c12; border: 1px solid #f2b8b0; border-radius: 6px;
  padding: 8px 12px; margin: 10px 0; font-weight: 600; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
  margin-top: 16px; overflow-x: auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px;
  margin-top: 16px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--mute); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 20px; font-weight: 600; margin-top: 2px; white-space: nowrap; }
.card .sub { color: var(--mute); font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; position: sticky; top: 0; }
td.text, th.text, th:first-child, td:first-child { text-align: left; }
.grid h2 { margin-top: 12px; }
.trades th, .trades td, .scroll th, .scroll td { padding: 4px 7px; }
td.legs { text-align: left; white-space: nowrap; font-size: 12.5px; line-height: 1.35; }
section.bare { background: none; border: none; padding: 0; } section > h2:first-child { margin-top: 2px; }
tbody tr:nth-child(even) td { background: #fafafa; }
.pos { color: var(--pos); } .neg { color: var(--neg); }
table.sortable th { cursor: pointer; } table.sortable th[data-dir=asc]::after { content: " ▲"; }
table.sortable th[data-dir=desc]::after { content: " ▼"; }
.trades, .scroll { max-height: 520px; overflow-y: auto; }
table.monthly td { min-width: 64px; }
nav.toc { margin-top: 12px; font-size: 13px; } nav.toc a { margin-right: 14px; color: #1d4ed8; text-decoration: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 8px 28px; align-items: start; }
.chart { min-height: 120px; } #chart-status { color: var(--neg); font-weight: 600; }
.inspect select { font: inherit; padding: 3px 6px; margin: 4px 0 8px; max-width: 100%; }
tr.total td { font-weight: 600; border-top: 2px solid #d1d5db; }
"""

# Click a heading to sort by it; numbers sort as numbers (cells carry their raw value in data-v).
SORT_JS = """
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const asc = th.dataset.dir !== "asc";
  th.closest("tr").querySelectorAll("th").forEach(h => delete h.dataset.dir);
  th.dataset.dir = asc ? "asc" : "desc";
  const key = tr => { const td = tr.children[col]; const v = td.dataset.v ?? td.textContent;
    return v !== "" && !isNaN(v) ? Number(v) : v; };
  const rows = Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)))
      * (asc ? 1 : -1); });
  body.append(...rows);
}));
"""


# Unpack plotly.js, draw every chart block, then tell the trade inspector (report_trades.py).
BOOT_JS = """
(async () => {
  const status = document.getElementById("chart-status");
  try {
    const raw = atob(document.getElementById("plotly-gz").textContent.trim());
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const lib = document.createElement("script");
    lib.textContent = await new Response(stream).text();
    performance.mark("plotly-unpacked");
    document.head.appendChild(lib);
    performance.mark("plotly-loaded");
    const config = JSON.parse(document.getElementById("chart-config").textContent);
    for (const block of document.querySelectorAll("script.chart-data")) {
      const fig = JSON.parse(block.textContent);
      await Plotly.newPlot(block.dataset.for, fig.data, fig.layout, config);
      performance.mark(block.dataset.for);
    }
    const wait = [];  // listeners push the promises of the charts they draw
    document.dispatchEvent(new CustomEvent("charts-ready", {detail: {config, wait}}));
    await Promise.all(wait);
    performance.mark("charts-ready");
    document.body.dataset.charts = "ready";
  } catch (err) {
    document.body.dataset.charts = "failed";
    status.textContent = "Charts could not be drawn in this browser: " + err;
    throw err;
  }
})();
"""


@lru_cache(maxsize=1)
def plotly_gzip_base64() -> str:
    """plotly.js gzip-compressed and base64-encoded (computed once per process, ~0.1 s)."""
    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 6, mtime=0)).decode("ascii")


def json_block(payload: Any, attrs: str) -> str:
    """JSON inside a non-executed script tag; "</" is escaped so no string can close the tag."""
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    safe = text.replace("</", "<\\/")
    return f'<script type="application/json" {attrs}>{safe}</script>'


def chart(fig: go.Figure, div_id: str) -> str:
    """A chart placeholder and its figure as JSON (plotly's compact typed arrays for numbers)."""
    return f'<div class="chart" id="{div_id}"></div>' + json_block(fig.to_json(), f'class="chart-data" data-for="{div_id}"')


def page(title: str, body: str, config: dict[str, Any]) -> str:
    """The whole document: ``body`` is trusted HTML built by the report; ``config`` is plotly's."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body data-charts="loading">\n<p id="chart-status"></p>\n{body}\n'
        + json_block(config, 'id="chart-config"')
        + f'\n<script type="application/octet-stream" id="plotly-gz">{plotly_gzip_base64()}</script>\n'
        f"<script>{SORT_JS}</script>\n<script>{BOOT_JS}</script>\n</body>\n</html>\n"
    )


__all__ = ["chart", "json_block", "page", "plotly_gzip_base64"]
