"""`optrunner data synth|import|info` and `optrunner chain` (registered in optrunner/cli.py).

Errors a user can fix (no catalog, no data that day, a bad mapping, a corrupt file) print
one line saying what to do next, never a traceback.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optrunner.core.timeutil import IST

if TYPE_CHECKING:
    from optrunner.data.importers import ImportReport

# The data layer (pyarrow, DuckDB, numba greeks) is imported inside each command, so that
# `optrunner --help` and unrelated commands do not pay ~1 s of imports.

data_app = typer.Typer(
    help="Option-chain data: generate synthetic chains, import files, list what a catalog holds.",
    no_args_is_help=True,
)
DataOpt = Annotated[Path, typer.Option("--data", help="Catalog folder (holds catalog.json, chains/, bars/).")]
_out = Console()
_err = Console(stderr=True)


class Kind(StrEnum):
    seed_sqlite = "seed-sqlite"
    tabular = "tabular"
    bhavcopy = "bhavcopy"


class IvConvention(StrEnum):
    black76 = "black76"
    nse = "nse"


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not a date like 2026-01-06") from None


@data_app.command("synth")
def synth_command(
    data: DataOpt,
    symbol: Annotated[str, typer.Option(help="Index, e.g. NIFTY or BANKNIFTY.")],
    start: Annotated[str, typer.Option("--from", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last date, YYYY-MM-DD (inclusive).")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data, byte for byte.")] = 7,
    strikes_each_side: Annotated[int, typer.Option(help="Strikes either side of the opening ATM.")] = 30,
    horizon_days: Annotated[int, typer.Option(help="List every expiry within this many days.")] = 30,
) -> None:
    """Generate synthetic minute chains and index bars on the real NSE calendar (deterministic)."""
    from optrunner.data.catalog import CatalogError
    from optrunner.data.synthetic import generate

    try:
        summary = generate(
            symbol, _day(start, "--from"), _day(end, "--to"), seed, data,
            strikes_each_side=strikes_each_side, horizon_days=horizon_days,
        )  # fmt: skip
    except (KeyError, ValueError, CatalogError) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    for note in summary.notes:
        _err.print(f"[yellow]note:[/yellow] {escape(note)}")
    rate = summary.rows / summary.seconds if summary.seconds else 0
    _out.print(f"{summary.symbol}: {summary.days} day(s), {summary.rows:,} rows in {summary.seconds:.1f} s "
               f"({rate:,.0f} rows/s) -> {data}")  # fmt: skip


@data_app.command("import")
def import_command(
    kind: Annotated[Kind, typer.Argument(help="seed-sqlite | tabular (CSV/Parquet + mapping) | bhavcopy.")],
    paths: Annotated[list[str], typer.Argument(help="Files, folders or glob patterns.")],
    data: DataOpt,
    symbol: Annotated[str | None, typer.Option(help="Import only this index (tabular: the index when files have no symbol column).")] = None,
    mapping: Annotated[str | None, typer.Option(help="tabular: a YAML/JSON mapping file, or nse_minute.")] = None,
    recompute_greeks: Annotated[bool, typer.Option(help="Replace IV/greeks the files carry with Black-76 ones.")] = False,
    index_close: Annotated[Path | None, typer.Option(help="bhavcopy: a CSV of index closes (Date, Close[, Index Name]), e.g. NSE's index history download, used as spot.")] = None,
) -> None:
    """Import option-chain files into the catalog; bad rows are counted by reason, never dropped silently."""
    from optrunner.data.catalog import Catalog, CatalogError
    from optrunner.data.importers import (
        DataImportError,
        bhavcopy,
        expand_inputs,
        import_bhavcopy,
        import_seed_sqlite,
        import_tabular,
        seed_sqlite,
        tabular,
    )
    from optrunner.data.schema import SchemaError

    if kind is Kind.tabular and mapping is None:
        raise _fail("tabular import needs --mapping FILE.yaml (or --mapping nse_minute); see docs/data.md")
    if index_close is not None and kind is not Kind.bhavcopy:
        raise _fail("--index-close applies to bhavcopy imports (other sources carry their own spot)")
    suffixes = {Kind.seed_sqlite: seed_sqlite.SUFFIXES, Kind.tabular: tabular.SUFFIXES, Kind.bhavcopy: bhavcopy.SUFFIXES}
    new_catalog = not (data / "catalog.json").is_file()
    try:
        files = expand_inputs(paths, suffixes[kind])
        closes = None if index_close is None else bhavcopy.read_index_closes(index_close, symbol)
        catalog = Catalog.create(data)
        with _progress() as bar:
            task = bar.add_task(f"import {kind.value}", total=len(files))

            def advance(path: Path) -> None:
                bar.update(task, advance=1, description=f"import {path.name}")

            common = {"symbol": symbol, "recompute_greeks": recompute_greeks, "on_file": advance}
            if kind is Kind.tabular:
                report = import_tabular(catalog, files, mapping, **common)
            elif kind is Kind.bhavcopy:
                report = import_bhavcopy(catalog, files, index_closes=closes, **common)
            else:
                report = import_seed_sqlite(catalog, files, **common)
        if report.rows_imported == 0:
            _print_report(report)
            if new_catalog:
                _remove_empty_catalog(data)
            why = "every row was rejected (reasons above)" if report.rows_rejected else "the files held no rows to import"
            raise _fail(f"nothing imported: {why}; {'no catalog written' if new_catalog else f'{data} unchanged'}")
        catalog.add_provenance({"kind": f"import:{kind.value}", "files": [str(f) for f in files][:200],
                                "file_count": len(files), "rows": report.rows_imported,
                                "rejected": dict(report.rejected), "mapping": mapping})  # fmt: skip
    except (DataImportError, CatalogError, SchemaError) as exc:
        if new_catalog:
            _remove_empty_catalog(data)
        raise _fail(str(exc)) from None
    _print_report(report)


def _remove_empty_catalog(root: Path) -> None:
    """Undo ``Catalog.create`` when an import wrote nothing: a catalog.json over no data would
    let a later backtest start on an empty catalog instead of failing at once."""
    (root / "catalog.json").unlink(missing_ok=True)
    for folder in (root / "chains", root / "bars", root):
        with suppress(OSError):
            folder.rmdir()  # only when empty


@data_app.command("info")
def info_command(data: DataOpt) -> None:
    """What the catalog holds: per symbol the date range, days, rows and size on disk."""
    from optrunner.data.catalog import Catalog, CatalogError

    try:
        catalog = Catalog(data)
        rows = catalog.info()
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"catalog {data}  (greeks at r = {catalog.rate:.2%})", header_style="bold")
    for name, justify in (("symbol", "left"), ("first", "left"), ("last", "left"), ("days", "right"),
                          ("rows", "right"), ("size", "right"), ("bar days", "right")):  # fmt: skip
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r["symbol"], str(r["first"]), str(r["last"]), str(r["days"]), f"{r['rows']:,}",
                      f"{r['bytes'] / 1e6:,.1f} MB", str(r["bar_days"]))  # fmt: skip
    if not rows:
        _out.print(f"{data}: empty catalog — fill it with `optrunner data synth --data {data}` or `optrunner data import`")
        return
    _out.print(table)


def chain_command(
    data: DataOpt,
    symbol: Annotated[str, typer.Option(help="Index, e.g. NIFTY.")],
    at: Annotated[str, typer.Option(help='Time, IST: "2026-01-06 10:30" (the latest snapshot at or before it).')],
    expiry: Annotated[str | None, typer.Option(help="Expiry YYYY-MM-DD (default: the nearest listed).")] = None,
    strikes: Annotated[int, typer.Option(help="Strikes shown either side of ATM.")] = 10,
    iv: Annotated[IvConvention, typer.Option("--iv", help="IV/delta shown: black76 (the catalog's, on the forward) or nse (NSE's screen: spot Black-Scholes, r = 10 %).")] = IvConvention.black76,
) -> None:
    """Show an option chain from the catalog: calls left, strike centre, puts right, ATM highlighted."""
    from optrunner.data.catalog import Catalog, CatalogError
    from optrunner.data.chain_view import render_chain

    try:
        ts = datetime.fromisoformat(at)
    except ValueError:
        raise _fail(f'--at {at!r} is not a time like "2026-01-06 10:30"') from None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=IST)
    try:
        catalog = Catalog(data)
        snap = catalog.chain_at(symbol, ts)
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    if snap is None:
        days = catalog.dates(symbol)
        when = ts.astimezone(IST)
        if when.date() in days:
            first = catalog.day(symbol, when.date(), columns=[]).snapshot(0).ts
            raise _fail(f"{symbol.upper()} on {when.date()} starts at {first:%H:%M} IST; ask for a later time")
        span = (f"{len(days)} day(s) from {days[0]} to {days[-1]}" if days
                else f"no data at all (symbols here: {', '.join(catalog.symbols()) or 'none'})")  # fmt: skip
        raise _fail(f"no {symbol.upper()} chain on {when.date()} in {data}; {symbol.upper()} has {span}")
    listed = snap.expiries()
    if expiry is None:
        chosen = listed[0]
    else:
        chosen = _day(expiry, "--expiry")
        if chosen not in listed:
            raise _fail(f"expiry {chosen} is not in this chain; listed: {', '.join(map(str, listed))}")
    _out.print(render_chain(snap, chosen, strikes, iv.value))
    others = [str(e) for e in listed if e != chosen]
    if others:
        _out.print(f"other expiries: {', '.join(others)}  (--expiry YYYY-MM-DD)")


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=_err)  # fmt: skip


def _print_report(report: ImportReport) -> None:
    summary = Table(title=f"{report.kind} import", header_style="bold", show_header=False)
    summary.add_column(justify="left")
    summary.add_column(justify="right")
    summary.add_row("files", f"{report.files:,}")
    summary.add_row("rows read", f"{report.rows_read:,}")
    summary.add_row("rows imported", f"[green]{report.rows_imported:,}[/green]")
    summary.add_row("rows rejected", f"[red]{report.rows_rejected:,}[/red]" if report.rows_rejected else "0")
    for sym, days in sorted(report.days.items()):
        summary.add_row(f"{sym} days", f"{len(days)} ({min(days)} .. {max(days)})")
    _out.print(summary)
    if report.rejected:
        rejected = Table(title="rejected rows by reason", header_style="bold")
        for name in ("reason", "rows", "examples"):
            rejected.add_column(name)
        for reason, count in report.rejected.most_common():
            rejected.add_row(escape(reason), f"{count:,}", escape("; ".join(report.examples.get(reason, []))))
        _out.print(rejected)
    if report.skipped:
        skipped = Table(title="rows outside this import (not errors)", header_style="bold")
        skipped.add_column("why")
        skipped.add_column("rows", justify="right")
        for why, count in report.skipped.most_common():
            skipped.add_row(escape(why), f"{count:,}")
        _out.print(skipped)
    for note in report.all_notes():
        _out.print(f"[yellow]note:[/yellow] {escape(note)}")
