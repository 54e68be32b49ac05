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

from optrunner.clikit import examples, print_json
from optrunner.core.errors import RunFailed, UserError
from optrunner.core.timeutil import IST
from optrunner.data.snapshot import ChainSnapshot, OptionQuote
from optrunner.market.lookup import (
    EXPIRY_CHOICES,
    ExpirySpec,
    find_option,
    find_options,
    resolve_expiry,
)


def _load_chain(
    db: Path | None, data: Path | None, symbol: str | None, at: str | None
) -> ChainSnapshot:
    """The chain to search: the seed file, or the catalog's snapshot at ``--at`` (IST)."""
    if (db is None) == (data is None):
        raise UserError("give exactly one of --db-path SEED.sqlite or --data CATALOG_FOLDER")
    if db is not None:
        from optrunner.data.seed_db import read_seed_db

        try:
            return read_seed_db(db)[0]
        except (ValueError, LookupError, OSError) as exc:
            raise UserError(f"--db-path {db}: {exc}") from None
    if not symbol or not at:
        raise UserError('--data needs --symbol NIFTY and --at "YYYY-MM-DD HH:MM" (IST)')
    try:
        ts = datetime.fromisoformat(at)
    except ValueError:
        raise UserError(f'--at {at!r} is not a time like "2026-01-06 10:30"') from None
    ts = ts if ts.tzinfo else ts.replace(tzinfo=IST)
    from optrunner.data.catalog import Catalog

    chain = Catalog(data).chain_at(symbol, ts)
    if chain is None:
        raise UserError(
            f"{data}: no {symbol.upper()} snapshot at or before {ts:%Y-%m-%d %H:%M} IST that day"
        )
    return chain


def _expiry(text: str) -> ExpirySpec:
    """``--expiry``: a date, a word of EXPIRY_CHOICES, or "all" (None: search every expiry)."""
    if text.lower() == "all":
        return None
    if text.lower() in EXPIRY_CHOICES:
        return text.lower()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--expiry {text!r}: use YYYY-MM-DD, all, or one of {', '.join(EXPIRY_CHOICES)}"
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


FIND_EXAMPLES = examples(
    'optrunner find-option --data data/demo --symbol NIFTY --at "2026-10-05 10:30" --option-type PE --value 0.3',
    'optrunner find-option --data data/demo --symbol NIFTY --at "2026-10-05 10:30" --field ltp --value 100 --limit 5',
    "optrunner find-option --db-path examples/data/NFO_NIFTY_sample.sqlite --expiry monthly --json",
)


def find_option_command(
    db_path: Annotated[Path | None, typer.Option("--db-path", help="Seed option-chain SQLite file (instead of --data).", show_default=False)] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Chain catalog folder (with --symbol, --at).", show_default=False)] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Underlying, e.g. NIFTY.", show_default=False)] = None,
    at: Annotated[str | None, typer.Option("--at", help='Time in IST, e.g. "2026-01-06 10:30".', show_default=False)] = None,
    field: Annotated[str, typer.Option("--field", help="Column to match: delta, iv, ltp, mid, ...")] = "delta",
    value: Annotated[float, typer.Option("--value", help="Target value (delta: absolute, puts too).")] = 0.30,
    option_type: Annotated[str, typer.Option("--option-type", help="CE or PE.")] = "CE",
    expiry: Annotated[str, typer.Option("--expiry", help="nearest, weekly, next_weekly, monthly, all, or YYYY-MM-DD.")] = "nearest",
    limit: Annotated[int | None, typer.Option("--limit", help="Show the nearest N instead of one.", show_default=False)] = None,
    tolerance: Annotated[float | None, typer.Option("--tolerance", help="Largest accepted distance.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the matches as JSON instead of a table.")] = False,
    db_alias: Annotated[Path | None, typer.Option("--db", hidden=True)] = None,  # old name of --db-path
    type_alias: Annotated[str | None, typer.Option("--type", hidden=True)] = None,  # old name of --option-type
) -> None:
    """Find the option nearest a target (e.g. the 0.30-delta put) in a seed file or the catalog."""
    console = Console(highlight=False, soft_wrap=True)
    db_path = db_path or db_alias
    option_type = type_alias or option_type
    chain = _load_chain(db_path, data, symbol, at)
    spec = _expiry(expiry)
    try:
        chosen = None if spec is None else resolve_expiry(chain, spec)
        if spec is not None and chosen is None:
            raise UserError(f"--expiry {expiry}: this chain lists no such expiry; it has "
                            f"{', '.join(map(str, chain.expiries()))}")  # fmt: skip
        if limit is None:
            found = find_option(chain, field, value, option_type, tolerance=tolerance, expiry=chosen)
            quotes = [] if found is None else [found]
        else:
            quotes = find_options(chain, field, value, option_type, limit=limit, tolerance=tolerance, expiry=chosen)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    searched = "every expiry" if chosen is None else f"expiry {chosen} ({expiry}; --expiry to choose another)"
    if as_json:
        print_json({"symbol": chain.symbol, "ts": chain.ts, "spot": chain.spot, "field": field, "value": value,
                    "expiry": chosen, "matches": [q.as_dict() for q in quotes]})  # fmt: skip
    elif quotes:
        spot = f"{chain.spot:,.2f}" if math.isfinite(chain.spot) else "n/a (no index level in this data)"
        title = (f"{chain.symbol} at {chain.ts.astimezone(IST):%Y-%m-%d %H:%M} IST, spot {spot}: "
                 f"{field} ~ {value}, {searched}")  # fmt: skip
        table = _table(quotes, escape(title))
        # Never truncate numbers: a pipe reports 80 columns, narrower than the table.
        console.width = max(console.width, Measurement.get(console, console.options.update_width(1_000), table).maximum)
        console.print(table)
    if not quotes:
        raise RunFailed(f"no {option_type.upper()} option with {field} near {value} in the {chain.symbol} chain at "
                        f"{chain.ts:%Y-%m-%d %H:%M}, {searched} (tolerance or ltp > 0 excluded every row)")  # fmt: skip
