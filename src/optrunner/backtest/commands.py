"""`optrunner backtest`, `optrunner sweep` and `optrunner demo`.

Inputs are checked before any work starts (strategy files, the catalog and its symbols,
account settings and flags), so a mistake costs one ``error:`` line and exit code 2, not a
traceback halfway through. Results are written atomically (backtest/outputs.py).
"""

from __future__ import annotations

import json
import time
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from optrunner.backtest.engine import BacktestSpec, run_backtest
from optrunner.backtest.outputs import atomic_folder, check_out, write_text_atomic
from optrunner.backtest.report import render_report
from optrunner.backtest.report_format import rupees
from optrunner.backtest.sweep import REPORTED, SweepJob, parse_grid, sweep, write_csv
from optrunner.clikit import Status, examples
from optrunner.config import ConfigError, iter_strategy_files, load_config_file
from optrunner.config.account import AccountSettings, load_account
from optrunner.config.files import check_file, skip_reason
from optrunner.core.errors import RunFailed, UserError
from optrunner.data.catalog import Catalog
from optrunner.execution.brokers.faults import FaultConfig, parse_faults

console = Console()

# --- options every runner shares (an account file, then flags over it) ----------------------

AccountOpt = Annotated[Path | None, typer.Option("--account", help="Account settings file (default: ./account.yaml when present; see README).")]
CapitalOpt = Annotated[float | None, typer.Option("--capital", help="Starting capital in rupees (overrides the account file; default 10,00,000).", show_default=False)]
SlippageOpt = Annotated[str | None, typer.Option("--slippage", help="Against you per fill: ticks (2t) or percent (0.1%); default 0.", show_default=False)]
LatencyOpt = Annotated[float | None, typer.Option("--latency", help="Order latency in ms (fills at a later snapshot when larger than its interval); default 0.", show_default=False)]
RiskFreeOpt = Annotated[float | None, typer.Option("--risk-free", help="Annual risk-free rate for Sharpe/Sortino, e.g. 0.065; default 0.", show_default=False)]


def account_settings(
    path: Path | None, *, capital: float | None = None, slippage: str | None = None,
    latency: float | None = None, risk_free: float | None = None,
) -> tuple[AccountSettings, dict[str, Any]]:  # fmt: skip
    """The effective account settings and their record for summary.json (file, then flags)."""
    account, source = load_account(path, {"capital": capital, "fills.slippage": slippage,
                                          "fills.latency_ms": latency, "risk_free_rate": risk_free})  # fmt: skip
    console.print(account.describe(source), markup=False, highlight=False)
    return account, account.record(source)


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag} {text!r} is not a date like 2026-01-31") from None


class HaltPolicy(StrEnum):
    flatten = "flatten"
    hold_and_alert = "hold_and_alert"


ON_HALT_HELP = ("What a halted strategy's positions get: flatten or hold_and_alert (a human decides); "
                "default: the account file's risk.on_halt (flatten).")
FAULTS_HELP = (
    "Chaos mode: the simulated exchange misbehaves, e.g. reject=0.05,lost=0.03,hidden=0.1,partial=0.15,"
    "burst=0.01,burst_seconds=1,spike=0.02,spike_ms=5000,seed=7 (see docs/recovery.md, Faults)."
)


def faults_option(text: str | None) -> tuple[FaultConfig | None, int]:
    """``--faults`` parsed and validated (a clear error naming every problem), or (None, 0)."""
    if text is None:
        return None, 0
    try:
        config, seed = parse_faults(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--faults: "), param_hint="--faults") from None
    return config, seed


def print_safety(injected: dict[str, int], differences: list[Any], violations: list[str]) -> None:
    """Faults injected, reconciliation differences and invariant violations (red), if any."""
    if injected:
        console.print("Faults injected: " + ", ".join(f"{k} {v}" for k, v in injected.items()))
    if differences:
        console.print(f"[red]Reconciliation: {len(differences)} difference(s) with the venue (see summary.json)[/]")
    if violations:
        console.print(f"[bold red]Invariants violated ({len(violations)}):[/]")
        for v in violations[:10]:
            console.print(f"  [red]{v}[/]")
    else:
        console.print("Invariants: all hold")


def load_configs(paths: list[Path]) -> tuple[list[Any], list[str]]:
    """Strategy files from files and folders; every invalid file is reported before exiting.

    The same files ``optrunner validate`` calls loadable: a folder's templates and disabled
    files are skipped (and said so); naming one explicitly is an error, not a silent run.
    """
    configs, files, failed = [], [], []
    for path in paths:
        if not path.exists():
            failed.append(f"{path}: no such file or folder")
            continue
        if path.is_dir():
            candidates = list(iter_strategy_files(path, on_skip=lambda p, why: console.print(f"skipped {p}: {why}")))
        else:
            candidates = [path]
        for f in candidates:
            report = check_file(f)
            reason = skip_reason(f, report.data)
            if reason and report.config is not None:
                failed.append(f"{f}: not a strategy to run ({reason}) — copy it under a new name, "
                              "give it a name not ending in TEMPLATE and set enabled: true")  # fmt: skip
                continue
            try:
                configs.append(load_config_file(f))
                files.append(str(f))
            except ConfigError as exc:
                failed.append(str(exc))
    if failed:
        for text in failed:
            console.print(f"[red]✗[/] {text}", markup=True, highlight=False)
        raise UserError(f"{len(failed)} strategy file(s) cannot be run — fix them (optrunner validate shows the same)")
    if not configs:
        raise UserError(f"no enabled strategy files in {', '.join(map(str, paths))}")
    return configs, files


def open_catalog(data: Path, configs: list[Any], files: list[str] | None = None) -> Catalog:
    """The catalog at ``data``, checked to hold every symbol the strategies trade."""
    catalog = Catalog(data)
    present = catalog.symbols()
    for i, config in enumerate(configs):
        symbol = config.market_config.symbol
        if symbol not in present:
            where = f" ({files[i]})" if files else ""
            holds = ", ".join(present) if present else "no data at all"
            raise UserError(
                f"{data} has no {symbol} chains for strategy {config.name}{where}; it holds {holds} — "
                f"add them with `optrunner data synth --symbol {symbol} --data {data} --from ... --to ...` "
                "or leave that strategy out"
            )
    return catalog


def run_and_write(spec: BacktestSpec, out: Path, *, report: bool = True) -> dict[str, Any]:
    """Run one backtest and write its folder atomically (old run or new run, never a mix)."""
    check_out(out, "summary.json")
    catalog = open_catalog(spec.data, list(spec.configs), list(spec.config_files))
    symbols = sorted({c.market_config.symbol for c in spec.configs})
    days = sorted({d for s in symbols for d in catalog.dates(s) if (spec.start is None or d >= spec.start)
                   and (spec.end is None or d <= spec.end)})  # fmt: skip
    if not days:
        available = "; ".join(f"{s}: {_range(catalog.dates(s))}" for s in symbols)
        raise UserError(f"no data for {', '.join(symbols)} in that range (available — {available}); "
                        "change --from/--to")  # fmt: skip
    check_resolution(catalog, spec, days)
    began = time.perf_counter()
    with Status("backtest", len(days), console=console, unit="days") as status:
        result = run_backtest(spec, on_day=lambda _d: status.advance())
    elapsed = time.perf_counter() - began
    result.summary["elapsed_seconds"] = round(elapsed, 3)
    result.summary["snapshots"] = result.snapshots
    with atomic_folder(out) as tmp:
        result.recorder.write(tmp, result.summary, result.spot)
        if report:
            render_report(tmp)
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
    quality = s.get("data_quality")
    if quality and (quality["dropped"] or quality["stale_snapshots"]):
        dropped = ", ".join(f"{k} {v:,}" for k, v in quality["dropped"].items()) or "none"
        console.print(f"[yellow]Data quality[/]: rows dropped — {dropped}; "
                      f"stale snapshots skipped {quality['stale_snapshots']:,}")  # fmt: skip
    if s["rejected_orders"]:
        console.print("Rejected orders: " + ", ".join(f"{k} {v}" for k, v in s["rejected_orders"].items()))
    for alert in s.get("alerts", [])[:5]:
        console.print(f"[yellow]alert[/] {alert}")
    if s.get("open_positions"):  # a backtest that ends holding options has unrealised, unsettled P&L
        console.print(f"[bold red]warning:[/] the run ended with {s['open_positions']} open position(s) — their "
                      "P&L is marked, not realised; see summary.json open_positions and the report")  # fmt: skip
    print_safety(s.get("faults_injected", {}), s.get("reconciliation", []), s.get("invariants", []))
    console.print(f"Outputs in [bold]{out}[/]" + (f" — report: [bold]{out / 'report.html'}[/]" if report else ""))


BACKTEST_EXAMPLES = examples(
    "optrunner backtest my_strangle.json --data data/q1 --out runs/q1 --slippage 1t",
    "optrunner backtest examples/configs --data data/demo --from 2026-10-05 --to 2026-10-09",
    "optrunner backtest my_strangle.json --data data/q1 --account account.yaml --capital 500000",
)
SWEEP_EXAMPLES = examples(
    "optrunner sweep my_strangle.json --data data/q1 --grid entry.target_ce_delta=0.2,0.25,0.3",
    "optrunner sweep my_strangle.json --data data/q1 --slippage 1t --grid adjustment.delta_drift_trigger=0.3,0.5 --metric net_pnl",
    "optrunner sweep my_strangle.json --data /shared/q1 --grid entry.target_ce_delta=0.2,0.25 --dask tcp://scheduler:8786",
)


def backtest_command(
    configs: Annotated[list[Path], typer.Argument(help="Strategy files or folders of them (run together on one account).", show_default=False)],
    data: Annotated[Path, typer.Option("--data", help="Catalog folder (optrunner data synth / import).")],
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: the data's first).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: the data's last).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (replaced whole when the run completes).")] = Path("runs/latest"),
    account: AccountOpt = None,
    capital: CapitalOpt = None,
    slippage: SlippageOpt = None,
    latency: LatencyOpt = None,
    risk_free: RiskFreeOpt = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html.")] = True,
    faults: Annotated[str | None, typer.Option("--faults", help=FAULTS_HELP)] = None,
    on_halt: Annotated[HaltPolicy | None, typer.Option("--on-halt", help=ON_HALT_HELP, show_default=False)] = None,
) -> None:
    """Backtest strategy files on a chain catalog with the live kernel, a simulated clock and exchange."""
    fault_config, fault_seed = faults_option(faults)  # a bad option is reported before anything runs
    settings, record = account_settings(account, capital=capital, slippage=slippage, latency=latency, risk_free=risk_free)
    settings, record = with_halt_policy(settings, record, on_halt)
    cfgs, files = load_configs(configs)
    first, last = _date(start, "--from"), _date(end, "--to")
    record.update({"data": str(data), "from": start, "to": end, "strategy_files": files, "faults": faults})
    spec = _spec(cfgs, files, data, first, last, settings, record)
    spec.faults, spec.fault_seed = fault_config, fault_seed
    run_and_write(spec, out, report=report)


def with_halt_policy(settings: AccountSettings, record: dict[str, Any], on_halt: HaltPolicy | None
                     ) -> tuple[AccountSettings, dict[str, Any]]:  # fmt: skip
    """``--on-halt`` over the account file's ``risk.on_halt``."""
    if on_halt is None:
        return settings, record
    risk = settings.risk.model_copy(update={"on_halt": on_halt.value})
    record = {**record, "risk": {**record.get("risk", {}), "on_halt": on_halt.value}}
    return settings.model_copy(update={"risk": risk}), record


def _spec(cfgs: list[Any], files: list[str], data: Path, start: date | None, end: date | None,
          settings: AccountSettings, record: dict[str, Any]) -> BacktestSpec:  # fmt: skip
    return BacktestSpec(cfgs, data, start, end, settings.capital, settings.sim_config(), risk=settings.risk,
                        risk_free=settings.risk_free_rate, config_files=files, charges=settings.charge_schedule(),
                        settings=record)  # fmt: skip


def sweep_command(
    config: Annotated[Path, typer.Argument(help="One strategy file to vary.", show_default=False)],
    data: Annotated[Path, typer.Option("--data", help="Catalog folder (optrunner data synth / import).")],
    grid: Annotated[list[str], typer.Option("--grid", help="section.key=v1,v2,... or legs[0].key=v1,v2 — one axis; repeat for more (every combination runs).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for sweep.csv.")] = Path("runs/sweep"),
    workers: Annotated[int | None, typer.Option("--workers", help="Processes (default: CPU count).", show_default=False)] = None,
    metric: Annotated[str, typer.Option("--metric", help="Rank by this summary metric (net_pnl, sharpe, calmar, ...).")] = "sharpe",
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: the data's first).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: the data's last).")] = None,
    account: AccountOpt = None,
    capital: CapitalOpt = None,
    slippage: SlippageOpt = None,
    latency: LatencyOpt = None,
    risk_free: RiskFreeOpt = None,
    dask: Annotated[str | None, typer.Option("--dask", help="Run on Dask distributed: a scheduler address "
                                             "(tcp://host:8786; workers read --data at the same path) or local[:N] "
                                             "for a local cluster of N processes (docs/sweeps.md).", show_default=False)] = None,
    search_kind: Annotated[str | None, typer.Option("--search", help="random or tpe: an Optuna search over the grid's values "
                                                    "instead of every combination, with a walk-forward out-of-sample check "
                                                    "(search.csv; docs/sweeps.md).", show_default=False)] = None,
    trials: Annotated[int, typer.Option("--trials", min=1, help="--search: how many trials (in-sample runs).")] = 20,
    oos: Annotated[float, typer.Option("--oos", help="--search: the last fraction of the days kept out of sample.")] = 0.3,
    top: Annotated[int, typer.Option("--top", min=1, help="--search: how many best sets are run out of sample.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="--search: the sampler's seed (same seed, same trials).")] = 0,
) -> None:
    """Backtest every combination of a parameter grid in a process pool (or on Dask); write sweep.csv ranked by a metric."""
    try:
        axes = parse_grid(grid)
        if dask is not None:
            from optrunner.backtest.sweep_dask import parse_address

            parse_address(dask)
        if search_kind is not None and search_kind not in ("random", "tpe"):
            raise ValueError(f"--search {search_kind!r}: choose random or tpe")
        if search_kind is not None and not 0 < oos < 1:
            raise ValueError(f"--oos {oos}: give a fraction between 0 and 1, e.g. 0.3")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if metric not in REPORTED:
        raise UserError(f"--metric {metric!r}: choose one of {', '.join(REPORTED)}")
    settings, record = account_settings(account, capital=capital, slippage=slippage, latency=latency, risk_free=risk_free)
    cfgs, files = load_configs([config])
    check_out(out, "sweep.csv")
    first, last = _date(start, "--from"), _date(end, "--to")
    catalog = open_catalog(data, cfgs, files)
    symbol = cfgs[0].market_config.symbol
    if not [d for d in catalog.dates(symbol) if (first is None or d >= first) and (last is None or d <= last)]:
        raise UserError(f"no {symbol} data in {data} in that range ({symbol}: {_range(catalog.dates(symbol))}); change --from/--to")
    job = SweepJob(config, data, first, last, settings.capital, settings.sim_config(), settings.risk_free_rate,
                   risk=settings.risk, charges=settings.charges)  # fmt: skip
    if search_kind is not None:
        _search(job, axes, search_kind, trials, metric, oos, top, workers, dask, seed, out, record,
                {"data": str(data), "from": start, "to": end, "strategy_files": files})  # fmt: skip
        return
    total = 1
    for a in axes:
        total *= len(a.values)
    with Status("sweep", total, console=console, unit="runs") as status:
        try:
            rows = sweep(job, axes, workers=workers, metric=metric, on_result=lambda _r: status.advance(), dask=dask)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    path = write_csv(rows, axes, out)
    record.update({"data": str(data), "from": start, "to": end, "strategy_files": files,
                   "grid": {a.path: list(a.values) for a in axes}, "metric": metric, "dask": dask})  # fmt: skip
    write_text_atomic(out / "settings.json", json.dumps(record, indent=2) + "\n")
    t = Table("rank", *(a.path for a in axes), metric, "net P&L", "trades", title=f"Top runs by {metric}")
    for r in rows[:10]:
        t.add_row(str(r["rank"]), *(str(r[a.path]) for a in axes), _fmt(r.get(metric)), _fmt(r.get("net_pnl"), "rs"),
                  _fmt(r.get("trades")))  # fmt: skip
    console.print(t)
    failed = [r for r in rows if r.get("error")]
    for r in failed[:5]:
        console.print(f"[red]run {r['run']} failed:[/] {r['error']}", highlight=False)
    console.print(f"{len(rows)} runs ({len(failed)} failed) → [bold]{path}[/]")
    if rows and len(failed) == len(rows):
        raise RunFailed(f"every one of the {len(rows)} sweep runs failed (errors above and in {path})")


def _search(job: SweepJob, axes: list[Any], kind: str, trials: int, metric: str, oos: float, top: int,
            workers: int | None, dask: str | None, seed: int, out: Path, record: dict[str, Any],
            extra: dict[str, Any]) -> None:  # fmt: skip
    """``sweep --search``: the Optuna search, search.csv and a table of in- vs out-of-sample."""
    from optrunner.backtest.search import search, write_search_csv

    with Status("search", trials, console=console, unit="runs") as status:
        try:
            result = search(job, axes, search=kind, trials=trials, metric=metric, oos_fraction=oos, top=top,
                            workers=workers, dask=dask, seed=seed, on_result=lambda _r: status.advance())  # fmt: skip
        except ValueError as exc:
            raise UserError(str(exc)) from None
    path = write_search_csv(result, out)
    (a, b), (c, d) = result.in_sample, result.out_of_sample
    record.update({**extra, "grid": {x.path: list(x.values) for x in axes}, "metric": metric, "dask": dask,
                   "search": kind, "trials": trials, "seed": seed, "in_sample": [str(a), str(b)],
                   "out_of_sample": [str(c), str(d)]})  # fmt: skip
    write_text_atomic(out / "settings.json", json.dumps(record, indent=2) + "\n")
    t = Table("rank", *(x.path for x in axes), f"{metric} in", f"{metric} out", "net P&L in", "net P&L out",
              title=f"{kind} search, {trials} trials: in-sample {a} – {b}, out-of-sample {c} – {d}")  # fmt: skip
    for r in [r for r in result.rows if r.get(f"oos_{metric}") is not None or r.get("oos_net_pnl") is not None][:top]:
        t.add_row(str(r["rank"]), *(str(r[x.path]) for x in axes), _fmt(r.get(f"is_{metric}")),
                  _fmt(r.get(f"oos_{metric}")), _fmt(r.get("is_net_pnl"), "rs"), _fmt(r.get("oos_net_pnl"), "rs"))  # fmt: skip
    console.print(t)
    failed = [r for r in result.rows if r.get("error")]
    console.print(f"{len(result.rows)} distinct parameter sets ({len(failed)} failed) → [bold]{path}[/]")
    if result.rows and len(failed) == len(result.rows):
        raise RunFailed(f"every one of the {len(result.rows)} searched parameter sets failed (errors in {path})")


DEMO_START, DEMO_END = date(2026, 10, 1), date(2026, 10, 30)
DEMO_DATA, DEMO_CONFIG = Path("data/demo"), Path("examples/configs/NIFTY_DNSS.json")


def ensure_demo_data(data: Path) -> None:
    """The bundled demo catalog (a synthetic NIFTY month) at ``data``: generated once, reused
    after (``optrunner demo``, ``optrunner serve --demo``); an interrupted generation is redone."""
    from optrunner.data.synthetic import generate
    from optrunner.instruments import calendar_for

    catalog = Catalog.create(data) if not (data / "catalog.json").is_file() else Catalog(data, allow_incomplete=True)
    have = set() if catalog.incomplete else set(catalog.dates("NIFTY"))
    need = set(calendar_for("NIFTY").trading_days(DEMO_START, DEMO_END))
    if need - have:
        console.print(f"Generating synthetic NIFTY minute chains {DEMO_START} → {DEMO_END} into {data} …")
        s = generate("NIFTY", DEMO_START, DEMO_END, seed=7, out=catalog)
        console.print(f"  {s.rows:,} option rows in {s.seconds:.1f}s")
    else:
        console.print(f"Reusing the synthetic NIFTY month in {data}")


def demo_command(
    data: Annotated[Path, typer.Option("--data", help="Where the demo's synthetic catalog lives (reused when present).")] = DEMO_DATA,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("runs/demo"),
    config: Annotated[Path, typer.Option("--config", help="Strategy file to run.")] = DEMO_CONFIG,
) -> None:
    """The main job on bundled data: a synthetic month of NIFTY chains, the example DNSS backtested on it."""
    if not config.is_file():
        raise UserError(f"{config} not found — run the demo from the repository root (make demo)")
    ensure_demo_data(data)
    settings, record = account_settings(None)
    cfgs, files = load_configs([config])
    record.update({"data": str(data), "from": str(DEMO_START), "to": str(DEMO_END), "strategy_files": files})
    run_and_write(_spec(cfgs, files, data, DEMO_START, DEMO_END, settings, record), out)
