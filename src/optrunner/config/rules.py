"""Rules that involve more than one field.

Each rule reads values through a ``Lookup`` — a function from a dotted path to the field's
validated value, or ``INVALID`` when that field is itself broken or its section is missing.
A rule whose inputs are not all valid stays silent (the broken field is already reported),
so the same rules serve two callers: the model (looking at its own attributes) and
``validate_config`` (looking at the raw file, field by field, while other fields are broken).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from optrunner.config.issues import ConfigIssue
from optrunner.config.kinds import KIND_SECTIONS, OPTIONAL_SECTIONS, kind_sections
from optrunner.config.legs_rules import legs_needs
from optrunner.config.sections import STRATEGY_FOR_ENTRY_TYPE
from optrunner.core.types import OrderType, Product
from optrunner.instruments import get_index


class _Invalid:
    """Marks a field that is broken or absent-and-required: rules using it stay silent."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
Lookup = Callable[[str], Any]
Rule = Callable[[Lookup], Iterator[ConfigIssue]]

MISSING = "missing required field"


def _values(get: Lookup, *paths: str) -> tuple[Any, ...] | None:
    values = tuple(get(p) for p in paths)
    return None if any(v is INVALID for v in values) else values


def strategy_type(get: Lookup) -> str | None:
    """The strategy the file runs: ``strategy`` if given, else the one its entry_type implies."""
    got = _values(get, "strategy", "entry.entry_type")
    if got is None:
        return None
    strategy, entry_type = got
    return strategy or STRATEGY_FOR_ENTRY_TYPE.get(entry_type)


def session_order(get: Lookup) -> Iterator[ConfigIssue]:
    got = _values(get, "entry.entry_time", "exit.exit_time")
    if got and got[1] <= got[0]:
        yield ConfigIssue(
            "exit.exit_time",
            f"{got[1]:%H:%M} is not after entry.entry_time {got[0]:%H:%M} — the exit must come after the entry",
        )


def market_source(get: Lookup) -> Iterator[ConfigIssue]:
    """live_feed_market needs feed_url; neither market type takes the other's source.

    database_market's db_path is optional here: backtest, sweep and run read the chain from
    ``--data``, so a file copied anywhere still validates. Only the Python runner reads
    db_path, and its market adapter says so when it is missing."""
    got = _values(
        get, "market_config.market_type", "market_config.db_path", "market_config.feed_url"
    )
    if got is None:
        return
    market_type, db_path, feed_url = got
    if market_type == "database_market":
        if feed_url is not None:
            yield ConfigIssue(
                "market_config.feed_url",
                "only used by live_feed_market — remove it or set market_type to live_feed_market",
            )
    else:
        if feed_url is None:
            yield ConfigIssue(
                "market_config.feed_url",
                f"{MISSING} — live_feed_market listens to this ws:// or wss:// feed",
            )
        if db_path is not None:
            yield ConfigIssue(
                "market_config.db_path",
                "only used by database_market — remove it or set market_type to database_market",
            )


def exchange_segment(get: Lookup) -> Iterator[ConfigIssue]:
    got = _values(get, "market_config.exchange", "market_config.symbol")
    if got is None:
        return
    exchange, symbol = got
    segment = get_index(symbol).segment
    if exchange != segment:
        yield ConfigIssue(
            "market_config.exchange", f'"{exchange}" does not list {symbol} options — use {segment}'
        )


def chain_matches_symbol(get: Lookup) -> Iterator[ConfigIssue]:
    """The chain source holds the configured index (the seed once read another symbol's file)."""
    got = _values(get, "market_config.db_path", "market_config.symbol")
    if got is None or got[0] is None:
        return
    db_path, symbol = got
    if db_path.is_dir():
        if not (db_path / "chains" / f"symbol={symbol}").is_dir():
            yield ConfigIssue(
                "market_config.db_path",
                f"catalog {db_path} has no {symbol} chains (no chains/symbol={symbol} folder in it) — "
                f"run optrunner data synth/import --symbol {symbol} --data {db_path}",
            )
        return
    try:
        found = _sqlite_meta_symbol(db_path)
    except sqlite3.Error as exc:
        yield ConfigIssue(
            "market_config.db_path", f"{db_path} cannot be read as an option-chain DB ({exc})"
        )
        return
    if found is not None and found.upper() != symbol:
        yield ConfigIssue(
            "market_config.db_path", f"{db_path} holds the {found} chain, not {symbol}"
        )


def _sqlite_meta_symbol(path: Path) -> str | None:
    """meta.symbol of a seed chain DB; None for a DB without one (e.g. an empty placeholder)."""
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        has_meta = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        row = (
            con.execute("SELECT value FROM meta WHERE key='symbol'").fetchone()
            if has_meta
            else None
        )
    finally:
        con.close()
    return str(row[0]) if row else None


def kind_needs(get: Lookup) -> Iterator[ConfigIssue]:
    """The kind's own section(s) are there, and no other kind's section is (it would do nothing)."""
    kind = strategy_type(get)
    if kind is None:
        if get("strategy") is None and get("entry") is None:
            yield ConfigIssue(
                "strategy", f"{MISSING} — name the strategy kind: {', '.join(KIND_SECTIONS)}"
            )
        return
    own = KIND_SECTIONS.get(kind, ())
    for section in own:
        if section not in OPTIONAL_SECTIONS and get(section) is None:
            yield ConfigIssue(section, f"{MISSING} — the {kind} strategy reads its parameters here")
    for section in sorted(kind_sections() - set(own)):
        if get(section) not in (None, INVALID):
            users = [k for k, secs in KIND_SECTIONS.items() if section in secs]
            yield ConfigIssue(
                section,
                f"only used by the {' / '.join(users)} strategy, not {kind} — remove it "
                f'or set "strategy" to {users[0]}',
            )


def order_type_supported(get: Lookup) -> Iterator[ConfigIssue]:
    """Stop orders need a trigger price that no strategy kind derives yet: refuse, never drop."""
    got = _values(get, "execution.order_type")
    kind = strategy_type(get)
    if got is None or kind is None:
        return
    if got[0] in (OrderType.SL, OrderType.SL_M):
        yield ConfigIssue(
            "execution.order_type",
            f"{got[0].value} (STOP / STOP_LIMIT) needs a trigger price, which the {kind} strategy "
            "does not set — use MARKET (sent as a marketable limit) or LIMIT",
        )


def allocator_needs_buying(get: Lookup) -> Iterator[ConfigIssue]:
    """The allocator sizes premium-buying entries; on a strategy that only sells it would do nothing."""
    got = _values(get, "risk_management.capital_alloc_pct")
    if got and got[0] is not None and strategy_type(get) == "dnss":
        yield ConfigIssue(
            "risk_management.capital_alloc_pct",
            "sizes premium-buying entries, and dnss only sells — size it with entry.quantity",
        )


def claims_need_a_backtest(get: Lookup) -> Iterator[ConfigIssue]:
    if get("backtesting.is_backtested") is not False:
        return
    for key in ("backtest_dates", "backtest_win_rate", "backtest_avg_profit", "backtest_avg_loss"):
        value = get(f"backtesting.{key}")
        if value is not None and value is not INVALID:
            yield ConfigIssue(
                f"backtesting.{key}",
                "is a backtest claim, but is_backtested is false — set is_backtested to true to have "
                "the claims compared with each backtest, or remove them",
            )


def dnss_needs(get: Lookup) -> Iterator[ConfigIssue]:
    if strategy_type(get) != "dnss":
        return
    legs = get("risk_management.max_concurrent_legs")
    if legs is not INVALID and legs < 2:
        yield ConfigIssue(
            "risk_management.max_concurrent_legs",
            f"{legs} is too few — dnss holds a CE and a PE leg: use at least 2",
        )


def weekly_zones_needs(get: Lookup) -> Iterator[ConfigIssue]:
    """A naked short only when asked for; a lock that can fire; room for every position's legs."""
    got = _values(get, "weekly_zones.hedge_offset", "weekly_zones.allow_unhedged")
    if got and got[0] == 0 and not got[1]:
        yield ConfigIssue(
            "weekly_zones.hedge_offset",
            "0 sells the option unhedged — set weekly_zones.allow_unhedged to true if that is meant",
        )
    got = _values(get, "weekly_zones.profit_lock_activate_pct", "weekly_zones.profit_lock_exit_pct")
    if got and got[1] >= got[0]:
        yield ConfigIssue(
            "weekly_zones.profit_lock_exit_pct",
            f"{got[1]:g} is not below profit_lock_activate_pct {got[0]:g} — the lock would exit as soon as it arms",
        )
    got = _values(
        get, "weekly_zones.max_positions", "weekly_zones.hedge_offset", "risk_management.max_concurrent_legs"
    )
    if got:
        need = got[0] * (2 if got[1] > 0 else 1)
        if got[2] < need:
            yield ConfigIssue(
                "risk_management.max_concurrent_legs",
                f"{got[2]} is too few — weekly_zones holds up to {got[0]} positions of "
                f"{2 if got[1] > 0 else 1} leg(s): use at least {need}",
            )


def momentum_buyer_needs(get: Lookup) -> Iterator[ConfigIssue]:
    got = _values(get, "momentum_buyer.premium_min", "momentum_buyer.premium_max")
    if got and None not in got and got[0] >= got[1]:
        yield ConfigIssue(
            "momentum_buyer.premium_max",
            f"{got[1]:g} is not above premium_min {got[0]:g} — no option could be chosen",
        )
    got = _values(get, "momentum_buyer.entry_cutoff", "momentum_buyer.exit_time")
    if got and got[1] < got[0]:
        yield ConfigIssue(
            "momentum_buyer.exit_time",
            f"{got[1]:%H:%M} is before entry_cutoff {got[0]:%H:%M} — entries would be closed at once",
        )


def leg_deltas_below_max(get: Lookup) -> Iterator[ConfigIssue]:
    """A leg opened at or above max_leg_delta would be closed again on the next evaluation."""
    got = _values(get, "adjustment.enabled", "adjustment.max_leg_delta")
    if not got or not got[0]:
        return
    cap = got[1]
    for path in (
        "entry.target_ce_delta",
        "entry.target_pe_delta",
        "adjustment.rebalance_target_delta",
    ):
        value = get(path)
        if value is not INVALID and value is not None and value >= cap:
            yield ConfigIssue(
                path,
                f"{value} is not below adjustment.max_leg_delta {cap} — the leg would be closed as soon as it is opened",
            )


def carry_needs_nrml(get: Lookup) -> Iterator[ConfigIssue]:
    got = _values(get, "exit.time_exit_override", "execution.product")
    if got and got[0] is False and got[1] == Product.MIS:
        yield ConfigIssue(
            "exit.time_exit_override",
            "false carries the position past exit_time, but the broker squares off MIS positions — "
            "use execution.product NRML or set this to true",
        )


def position_size(get: Lookup) -> Iterator[ConfigIssue]:
    got = _values(get, "entry.quantity", "risk_management.max_position_size")
    if got and None not in got and got[0] > got[1]:
        yield ConfigIssue(
            "entry.quantity",
            f"{got[0]} lots is more than risk_management.max_position_size {got[1]} — every entry would be rejected",
        )


RULES: tuple[Rule, ...] = (
    market_source,
    exchange_segment,
    chain_matches_symbol,
    kind_needs,
    order_type_supported,
    allocator_needs_buying,
    claims_need_a_backtest,
    dnss_needs,
    weekly_zones_needs,
    momentum_buyer_needs,
    legs_needs,
    session_order,
    leg_deltas_below_max,
    carry_needs_nrml,
    position_size,
)


def check_rules(get: Lookup) -> list[ConfigIssue]:
    return [issue for rule in RULES for issue in rule(get)]
