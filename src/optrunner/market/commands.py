"""`optrunner find-option` (registered in optrunner/cli.py): option lookup from the shell."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from optrunner.core.timeutil import IST
from optrunner.data.snapshot import ChainSnapshot, OptionQuote
from optrunner.market.lookup import EXPIRY_CHOICES, ExpirySpec, find_option, find_options


def _load_chain(
    db: Path | None, data: Path | None, symbol: str | None, at: str | None
) -> ChainSnapshot:
    """The chain to search: the seed file, or the catalog's snapshot at ``--at`` (IST)."""
    if (db is None) == (data is None):
        raise typer.BadParameter("give exactly one of --db SEED.sqlite or --data CATALOG_ROOT")
    if db is not None:
        from optrunner.data.seed_db import read_seed_db

        return read_seed_db(db)[0]
    if not symbol or not at:
        raise typer.BadParameter('--data needs --symbol NIFTY and --at "YYYY-MM-DD HH:MM" (IST)')
    try:
        ts = datetime.fromisoformat(at)
    except ValueError:
        raise typer.BadParameter(f'--at {at!r} is not a time like "2026-01-06 10:30"') from None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=IST)
    from optrunner.data.catalog import Catalog, CatalogError

    try:
        chain = Catalog(data).chain_at(symbol, ts)
    except CatalogError as exc:
        raise LookupError(str(exc)) from None
    if chain is None:
        raise LookupError(
            f"{data}: no {symbol.upper()} snapshot at or before {ts:%Y-%m-%d %H:%M} IST that day"
        )
    return chain


def _expiry(text: str | None) -> ExpirySpec:
    if text is None or text.lower() in EXPIRY_CHOICES:
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"--expiry {text!r}: use YYYY-MM-DD or one of {', '.join(EXPIRY_CHOICES)}"
        ) from None


def _num(v: float, fmt: str) -> str:
    return "-" if not math.isfinite(v) else format(v, fmt)


def _table(quotes: list[OptionQuote], title: str) -> Table:
    table = Table(title=title)
    for name in (
        "strike",
        "expiry",
        "type",
        "ltp",
        "bid",
        "ask",
        "iv %",
        "delta",
        "gamma",
        "theta",
        "vega",
        "oi",
    ):
        table.add_column(name, justify="left" if name in ("expiry", "type") else "right")
    for q in quotes:
        c = q.contract
        table.add_row(
            f"{c.strike:g}", f"{c.expiry:%Y-%m-%d}", c.right.value,
            _num(q.ltp, ".2f"), _num(q.bid, ".2f"), _num(q.ask, ".2f"), _num(100 * q.iv, ".2f"),
            _num(q.delta, ".4f"), _num(q.gamma, ".6f"), _num(q.theta, ".2f"), _num(q.vega, ".2f"),
            _num(q.oi, ",.0f"),
        )  # fmt: skip
    return table


def find_option_command(
    db: Annotated[Path | None, typer.Option("--db", help="Seed option-chain SQLite file.")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Chain catalog root (with --symbol, --at).")
    ] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Underlying, e.g. NIFTY.")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help='Time in IST, e.g. "2026-01-06 10:30".')
    ] = None,
    field: Annotated[
        str, typer.Option("--field", help="Column to match: delta, iv, ltp, mid, ...")
    ] = "delta",
    value: Annotated[
        float, typer.Option("--value", help="Target value (delta: absolute, puts too).")
    ] = 0.30,
    option_type: Annotated[str, typer.Option("--type", help="CE or PE.")] = "CE",
    expiry: Annotated[
        str | None, typer.Option("--expiry", help="weekly, next_weekly, monthly or YYYY-MM-DD.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Show the nearest N instead of one.")
    ] = None,
    tolerance: Annotated[
        float | None, typer.Option("--tolerance", help="Largest accepted distance.")
    ] = None,
) -> None:
    """Find the option nearest a target (e.g. the 0.30-delta put) in a seed file or the catalog."""
    console = Console(highlight=False, soft_wrap=True)
    try:
        chain = _load_chain(db, data, symbol, at)
        spec = _expiry(expiry)
        if limit is None:
            found = find_option(chain, field, value, option_type, tolerance=tolerance, expiry=spec)
            quotes = [] if found is None else [found]
        else:
            quotes = find_options(
                chain, field, value, option_type, limit=limit, tolerance=tolerance, expiry=spec
            )
    except typer.BadParameter:
        raise
    except (ValueError, LookupError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if not quotes:
        console.print(
            f"[yellow]no {option_type.upper()} option with {field} near {value}[/yellow] in the {chain.symbol} "
            f"chain at {chain.ts:%Y-%m-%d %H:%M} (tolerance, expiry or ltp > 0 excluded every row)"
        )
        raise typer.Exit(1)
    spot = f"{chain.spot:,.2f}" if math.isfinite(chain.spot) else "n/a (no index level in this data)"
    title = f"{chain.symbol} at {chain.ts.astimezone(IST):%Y-%m-%d %H:%M} IST, spot {spot}: {field} ~ {value}"
    table = _table(quotes, escape(title))
    # Never truncate numbers: a pipe reports 80 columns, narrower than the table.
    console.width = max(
        console.width, Measurement.get(console, console.options.update_width(1_000), table).maximum
    )
    console.print(table)
