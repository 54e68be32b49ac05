"""The report's page shell: inline CSS, plotly.js embedded once, and a tiny table sorter.

Everything is inline so the file opens anywhere (an e-mail attachment, an air-gapped desk)
with no network: no CDN script, no web font, no external stylesheet.
"""

from __future__ import annotations

from html import escape

from plotly.offline import get_plotlyjs

CSS = """
:root { --pos: #15803d; --neg: #b91c1c; --mute: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 -apple-system, "Segoe UI", Roboto,
  "Noto Sans", Arial, sans-serif; color: #111827; background: #f9fafb; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 32px 0 10px; }
.meta, .note { color: var(--mute); font-size: 12.5px; } .note { margin: 6px 0; }
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
td.text, th:first-child, td:first-child { text-align: left; }
td.legs { text-align: left; white-space: normal; min-width: 220px; font-family: ui-monospace, monospace;
  font-size: 12px; }
tbody tr:nth-child(even) td { background: #fafafa; }
.pos { color: var(--pos); } .neg { color: var(--neg); }
table.sortable th { cursor: pointer; } table.sortable th[data-dir=asc]::after { content: " ▲"; }
table.sortable th[data-dir=desc]::after { content: " ▼"; }
.trades { max-height: 640px; overflow-y: auto; }
table.monthly td { min-width: 64px; }
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


def page(title: str, body: str) -> str:
    """The whole document: ``body`` is trusted HTML built by the report."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n'
        f"<body>\n{body}\n<script>{SORT_JS}</script>\n</body>\n</html>\n"
    )


__all__ = ["page"]
