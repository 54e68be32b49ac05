"""`optrunner backtest`, `optrunner sweep` and `optrunner demo`."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.backtest.report import render_report
from optrunner.backtest.report_format import rupees
from optrunner.backtest.sweep import SweepJob, parse_grid, sweep, write_csv
from optrunner.config import ConfigError, iter_strategy_files, load_config_file
from optrunner.data.catalog import Catalog
from optrunner.execution.brokers.simulated import SimConfig

console = Console()


def parse_slippage(text: str) -> tuple[int, float]:
    """"2t" / "2" -> 2 ticks; "0.1%" -> 0.1 percent."""
    t = text.strip().lower()
    try:
        if t.endswith("%"):
            return 0, float(t[:-1])
        return int(float(t.removesuffix("t"))), 0.0
    except ValueError:
        raise typer.BadParameter(f"{text!r}: write ticks like 2t or a percentage like 0.1%") from None


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{flag} {text!r} is not a date like 2026-01-31") from None


def load_configs(paths: list[Path]) -> tuple[list[Any], list[str]]:
    """Strategy files from files and folders; every invalid file is reported before exiting."""
    configs, files, failed = [], [], []
    for path in paths:
        candidates = list(iter_strategy_files(path)) if path.is_dir() else [path]
        for f in candidates:
            try:
                configs.append(load_config_file(f))
                files.append(str(f))
            except ConfigError as exc:
                failed.append(str(exc))
    if failed:
        for text in failed:
            console.print(f"[red]✗[/] {text}")
        raise typer.Exit(2)
    if not configs:
        console.print(f"[red]no enabled strategy files in {', '.join(map(str, paths))}[/]")
        raise typer.Exit(2)
    return configs, files


def run_and_write(spec: BacktestSpec, out: Path, *, report: bool = True) -> dict[str, Any]:
    catalog = Catalog(spec.data)
    symbols = sorted({c.market_config.symbol for c in spec.configs})
    days = sorted({d for s in symbols for d in catalog.dates(s) if (spec.start is None or d >= spec.start)
                   and (spec.end is None or d <= spec.end)})  # fmt: skip
    if not days:
        available = "; ".join(f"{s}: {_range(catalog.dates(s))}" for s in symbols)
        raise typer.BadParameter(f"no data for {', '.join(symbols)} in that range (available — {available})")
    check_resolution(catalog, spec, days)
    began = time.perf_counter()
    with Progress(TextColumn("[bold]backtest[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:  # fmt: skip
        task = bar.add_task("days", total=len(days))
        result = run_backtest(spec, on_day=lambda _d: bar.advance(task))
    elapsed = time.perf_counter() - began
    result.summary["elapsed_seconds"] = round(elapsed, 3)
    result.summary["snapshots"] = result.snapshots
    result.recorder.write(out, result.summary, result.spot)
    if report:
        render_report(out)
    print_summary(result.summary, out, report=report)
    return result.summary


def check_resolution(catalog: Catalog, spec: BacktestSpec, days: list[date]) -> None:
    """Refuse, before running, an intraday strategy on an end-of-day catalog (one snapshot a
    day, e.g. a bhavcopy import): it would run to the end and report zero trades. Other
    strategies on such a catalog run with a warning."""
    daily = sorted({c.market_config.symbol for c in spec.configs if catalog.is_daily(c.market_config.symbol, days)})
    if not daily:
        return
    intraday = [c.name for c in spec.configs if c.market_config.symbol in daily and _intraday_window(c)]
    what = (f"{spec.data} holds one snapshot per day for {', '.join(daily)} (an end-of-day catalog, such as a "
            "bhavcopy import: one 15:30 IST snapshot a day)")  # fmt: skip
    if intraday:
        console.print(f"[red]error:[/] {what}; {', '.join(intraday)} enter(s) and exit(s) within the session, so "
                      "they could never trade on it. Backtest them on minute data (`optrunner data import tabular "
                      "... --mapping nse_minute`, or `optrunner data synth`).")  # fmt: skip
        raise typer.Exit(2)
    console.print(f"[yellow]warning:[/] {what}; strategies see one snapshot a day.")


def _intraday_window(config: Any) -> bool:
    """Whether a strategy trades inside one session (has an entry time and an exit time)."""
    entry, exit_ = getattr(config, "entry", None), getattr(config, "exit", None)
    return getattr(entry, "entry_time", None) is not None and getattr(exit_, "exit_time", None) is not None


def _range(ds: list[date]) -> str:
    return f"{ds[0]} to {ds[-1]}" if ds else "none"


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "—"
    if kind == "rs":
        return rupees(v)
    if kind == "pct":
        return f"{v:.2f}%"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def print_summary(s: dict[str, Any], out: Path, *, report: bool) -> None:
    t = Table(title=f"Backtest {s['start']} → {s['end']} ({s['days']} days, {s.get('snapshots', 0):,} snapshots)",
              show_header=False, title_justify="left")  # fmt: skip
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        ("Net P&L", _fmt(s["net_pnl"], "rs"), "Return", _fmt(s["return_pct"], "pct")),
        ("Gross P&L", _fmt(s["gross_pnl"], "rs"), "Charges", _fmt(s["charges"], "rs")),
        ("Max drawdown", _fmt(s["max_drawdown"], "rs"), "Max drawdown %", _fmt(s["max_drawdown_pct"], "pct")),
        ("Sharpe", _fmt(s["sharpe"]), "Sortino", _fmt(s["sortino"])),
        ("Calmar", _fmt(s["calmar"]), "Profit factor", _fmt(s["profit_factor"])),
        ("Trades", _fmt(s["trades"]), "Win rate", _fmt(s["win_rate"], "pct")),
        ("Avg win", _fmt(s["avg_win"], "rs"), "Avg loss", _fmt(s["avg_loss"], "rs")),
        ("Adjustments", _fmt(s["adjustments"]), "Orders", _fmt(s["orders"])),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)
    if len(s["strategies"]) > 1:
        st = Table("strategy", "net P&L", "trades", "win rate", "adjustments", title="Per strategy", title_justify="left")
        for name, v in s["strategies"].items():
            st.add_row(name, _fmt(v["net_pnl"], "rs"), _fmt(v["trades"]), _fmt(v["win_rate"], "pct"), _fmt(v["adjustments"]))
        console.print(st)
    if s["rejected_orders"]:
        console.print("Rejected orders: " + ", ".join(f"{k} {v}" for k, v in s["rejected_orders"].items()))
    for alert in s.get("alerts", [])[:5]:
        console.print(f"[yellow]alert[/] {alert}")
    console.print(f"Outputs in [bold]{out}[/]" + (f" — report: [bold]{out / 'report.html'}[/]" if report else ""))


def backtest_command(
    configs: Annotated[list[Path], typer.Argument(help="Strategy files or folders of them (run together on one account).")],
    data: Annotated[Path, typer.Option("--data", help="Catalog folder (optrunner data synth / import).")],
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: the data's first).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: the data's last).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("runs/latest"),
    capital: Annotated[float, typer.Option("--capital", help="Starting capital in rupees.")] = 1_000_000.0,
    slippage: Annotated[str, typer.Option("--slippage", help="Against you per fill: ticks (2t) or percent (0.1%).")] = "0",
    latency: Annotated[float, typer.Option("--latency", help="Order latency in ms (fills at a later snapshot when larger than its interval).")] = 0.0,
    risk_free: Annotated[float, typer.Option("--risk-free", help="Annual risk-free rate for Sharpe/Sortino, e.g. 0.065.")] = 0.0,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html.")] = True,
) -> None:
    """Backtest strategy files on a chain catalog with the live kernel, a simulated clock and exchange."""
    cfgs, files = load_configs(configs)
    ticks, pct = parse_slippage(slippage)
    spec = BacktestSpec(cfgs, data, _date(start, "--from"), _date(end, "--to"), capital,
                        SimConfig(latency_ms=latency, slippage_ticks=ticks, slippage_pct=pct),
                        risk_free=risk_free, config_files=files)  # fmt: skip
    run_and_write(spec, out, report=report)


def sweep_command(
    config: Annotated[Path, typer.Argument(help="One strategy file to vary.")],
    data: Annotated[Path, typer.Option("--data", help="Catalog folder.")],
    grid: Annotated[list[str], typer.Option("--grid", help="section.key=v1,v2,... (repeat for more axes).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for sweep.csv.")] = Path("runs/sweep"),
    workers: Annotated[int | None, typer.Option("--workers", help="Processes (default: CPU count).")] = None,
    metric: Annotated[str, typer.Option("--metric", help="Rank by this summary metric.")] = "sharpe",
    start: Annotated[str | None, typer.Option("--from")] = None,
    end: Annotated[str | None, typer.Option("--to")] = None,
    capital: Annotated[float, typer.Option("--capital")] = 1_000_000.0,
    slippage: Annotated[str, typer.Option("--slippage")] = "0",
    risk_free: Annotated[float, typer.Option("--risk-free")] = 0.0,
) -> None:
    """Backtest every combination of a parameter grid in a process pool; write sweep.csv ranked by a metric."""
    try:
        axes = parse_grid(grid)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    ticks, pct = parse_slippage(slippage)
    job = SweepJob(config, data, _date(start, "--from"), _date(end, "--to"), capital,
                   SimConfig(slippage_ticks=ticks, slippage_pct=pct), risk_free)  # fmt: skip
    total = 1
    for a in axes:
        total *= len(a.values)
    with Progress(TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:  # fmt: skip
        task = bar.add_task("runs", total=total)
        try:
            rows = sweep(job, axes, workers=workers, metric=metric, on_result=lambda _r: bar.advance(task))
        except ValueError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
    path = write_csv(rows, axes, out)
    t = Table("rank", *(a.path for a in axes), metric, "net P&L", "trades", title=f"Top runs by {metric}")
    for r in rows[:10]:
        t.add_row(str(r["rank"]), *(str(r[a.path]) for a in axes), _fmt(r.get(metric)), _fmt(r.get("net_pnl"), "rs"),
                  r.get("error") or _fmt(r.get("trades")))  # fmt: skip
    console.print(t)
    console.print(f"{len(rows)} runs → [bold]{path}[/]")


DEMO_START, DEMO_END = date(2026, 10, 1), date(2026, 10, 30)


def demo_command(
    data: Annotated[Path, typer.Option("--data", help="Where the demo's synthetic catalog lives (reused when present).")] = Path("data/demo"),
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("runs/demo"),
    config: Annotated[Path, typer.Option("--config", help="Strategy file to run.")] = Path("examples/configs/NIFTY_DNSS.json"),
) -> None:
    """The main job on bundled data: a synthetic month of NIFTY chains, the example DNSS backtested on it."""
    from optrunner.data.synthetic import generate

    if not config.is_file():
        console.print(f"[red]{config} not found — run the demo from the repository root (make demo)[/]")
        raise typer.Exit(2)
    catalog = Catalog.create(data) if not (data / "catalog.json").is_file() else Catalog(data)
    have = set(catalog.dates("NIFTY"))
    from optrunner.instruments import calendar_for

    need = set(calendar_for("NIFTY").trading_days(DEMO_START, DEMO_END))
    if need - have:
        console.print(f"Generating synthetic NIFTY minute chains {DEMO_START} → {DEMO_END} into {data} …")
        s = generate("NIFTY", DEMO_START, DEMO_END, seed=7, out=catalog)
        console.print(f"  {s.rows:,} option rows in {s.seconds:.1f}s")
    else:
        console.print(f"Reusing the synthetic NIFTY month in {data}")
    cfgs, files = load_configs([config])
    spec = BacktestSpec(cfgs, data, DEMO_START, DEMO_END, 1_000_000.0, SimConfig(), config_files=files)
    run_and_write(spec, out)
