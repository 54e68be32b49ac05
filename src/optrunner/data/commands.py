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
from rich.table import Table

from optrunner.clikit import Status, examples, new_app
from optrunner.core.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_RUN_FAILED
from optrunner.core.timeutil import IST

if TYPE_CHECKING:
    from optrunner.data.importers import ImportReport

# The data layer (pyarrow, DuckDB, numba greeks) is imported inside each command, so that
# `optrunner --help` and unrelated commands do not pay ~1 s of imports.

data_app = new_app("Option-chain data: generate synthetic chains, import files, list what a catalog holds.")
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


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _interrupted(data: Path) -> typer.Exit:
    """Ctrl-C during a catalog write: the catalog keeps its incomplete mark (see Catalog.writing)."""
    return _fail(f"interrupted: {data} is marked incomplete (readers refuse it); run the same command "
                 "again to finish it", EXIT_INTERRUPTED)  # fmt: skip


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not a date like 2026-01-06") from None


@data_app.command("synth", epilog=examples(
    "optrunner data synth --symbol NIFTY --from 2026-01-05 --to 2026-01-09 --data data/q1",
    "optrunner data synth --symbol BANKNIFTY --from 2026-10-01 --to 2026-10-30 --data data/demo --seed 11",
))
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
    from optrunner.instruments import calendar_for, get_index

    first, last = _day(start, "--from"), _day(end, "--to")
    try:
        get_index(symbol.upper())  # an unknown symbol is named as such, not as a calendar
        total = len(calendar_for(symbol.upper()).trading_days(first, last))
        with Status(f"synth {symbol.upper()}", max(total, 1), console=_err, unit="days") as status:
            summary = generate(
                symbol, first, last, seed, data, strikes_each_side=strikes_each_side,
                horizon_days=horizon_days, progress=False, on_day=lambda _d: status.advance(),
            )  # fmt: skip
    except (KeyError, ValueError, CatalogError) as exc:
        raise _fail(str(exc).strip("'\"")) from None
    except KeyboardInterrupt:
        raise _interrupted(data) from None
    for note in summary.notes:
        _err.print(f"[yellow]note:[/yellow] {escape(note)}")
    rate = summary.rows / summary.seconds if summary.seconds else 0
    _out.print(f"{summary.symbol}: {summary.days} day(s), {summary.rows:,} rows in {summary.seconds:.1f} s "
               f"({rate:,.0f} rows/s) -> {data}")  # fmt: skip


@data_app.command("import", epilog=examples(
    "optrunner data import seed-sqlite examples/data/NFO_NIFTY_sample.sqlite --data data/seed",
    "optrunner data import tabular 'exports/*.csv' --mapping nse_minute --symbol NIFTY --data data/nse",
    "optrunner data import bhavcopy bhav/ --data data/eod",
))
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
        status = Status(f"import {kind.value}", len(files), console=_err, unit="files")
        with catalog.writing(f"data import {kind.value} {' '.join(paths)}"), status:

            def advance(path: Path) -> None:
                status.advance()

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
    except KeyboardInterrupt:
        raise _interrupted(data) from None
    _print_report(report)


def _remove_empty_catalog(root: Path) -> None:
    """Undo ``Catalog.create`` when an import wrote nothing: a catalog.json over no data would
    let a later backtest start on an empty catalog instead of failing at once."""
    (root / "catalog.json").unlink(missing_ok=True)
    for folder in (root / "chains", root / "bars", root):
        with suppress(OSError):
            folder.rmdir()  # only when empty


@data_app.command("info", epilog=examples("optrunner data info --data data/demo"))
def info_command(data: DataOpt) -> None:
    """What the catalog holds: per symbol the date range, days, rows and size on disk."""
    from optrunner.data.catalog import Catalog, CatalogError

    try:
        catalog = Catalog(data, allow_incomplete=True)
        rows = catalog.info()
    except CatalogError as exc:
        raise _fail(str(exc)) from None
    state = "  [red]INCOMPLETE[/red]" if catalog.incomplete else ""
    table = Table(title=f"catalog {escape(str(data))}  (greeks at r = {catalog.rate:.2%}){state}", header_style="bold")
    for name, justify in (("symbol", "left"), ("first", "left"), ("last", "left"), ("days", "right"),
                          ("rows", "right"), ("size", "right"), ("bar days", "right")):  # fmt: skip
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r["symbol"], str(r["first"]), str(r["last"]), str(r["days"]), f"{r['rows']:,}",
                      f"{r['bytes'] / 1e6:,.1f} MB", str(r["bar_days"]))  # fmt: skip
    if not rows:
        _out.print(f"{data}: empty catalog — fill it with `optrunner data synth --data {data}` or `optrunner data import`")
    else:
        _out.print(table)
    if catalog.incomplete:
        raise _fail(catalog.incomplete_message(), EXIT_RUN_FAILED)


CHAIN_EXAMPLES = examples(
    'optrunner chain --data data/demo --symbol NIFTY --at "2026-10-05 10:30"',
    'optrunner chain --data data/demo --symbol NIFTY --at "2026-10-05 10:30" --strikes 5 --columns oi,iv,ltp',
    'optrunner chain --data data/demo --symbol NIFTY --at "2026-10-05 10:30" --json',
)


def chain_command(
    data: DataOpt,
    symbol: Annotated[str, typer.Option(help="Index, e.g. NIFTY.")],
    at: Annotated[str, typer.Option(help='Time, IST: "2026-01-06 10:30" (the latest snapshot at or before it).')],
    expiry: Annotated[str | None, typer.Option(help="Expiry YYYY-MM-DD (default: the nearest listed).", show_default=False)] = None,
    strikes: Annotated[int, typer.Option(help="Strikes shown either side of ATM.")] = 10,
    iv: Annotated[IvConvention, typer.Option("--iv", help="IV/delta shown: black76 (the catalog's, on the forward) or nse (NSE's screen: spot Black-Scholes, r = 10 %).")] = IvConvention.black76,
    columns: Annotated[str | None, typer.Option(help="Columns per side, e.g. oi,iv,delta,ltp (from oi,volume,iv,delta,bid,ask,ltp; default all but volume).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the shown rows as JSON instead of a table.")] = False,
) -> None:
    """Show an option chain from the catalog: calls left, strike centre, puts right, ATM highlighted."""
    from optrunner.clikit import print_json
    from optrunner.data.catalog import Catalog, CatalogError
    from optrunner.data.chain_view import (
        parse_columns,
        render_chain,
        shown_strikes,
        with_iv_convention,
    )

    try:
        chosen_columns = parse_columns(columns)
    except ValueError as exc:
        raise _fail(str(exc)) from None

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
    others = [str(e) for e in listed if e != chosen]
    if as_json:
        snap = with_iv_convention(snap, iv.value)
        keep = set(shown_strikes(snap, chosen, strikes).tolist())
        rows = [q.as_dict() for q in (snap.quote(i) for i in range(len(snap)))
                if q.expiry == chosen and q.strike in keep]  # fmt: skip
        print_json({"symbol": snap.symbol, "ts": snap.ts, "spot": snap.spot, "expiry": chosen,
                    "other_expiries": others, "rows": rows})  # fmt: skip
        return
    _out.print(render_chain(snap, chosen, strikes, chosen_columns, iv.value))
    if others:
        _out.print(f"other expiries: {', '.join(others)}  (--expiry YYYY-MM-DD)")


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
