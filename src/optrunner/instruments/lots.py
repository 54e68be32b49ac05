"""Lot sizes as NSE revises them: per contract, not per trade date or per expiry alone.

A revision circular (NSE/FAOP/47854 of 2021, 70616 of 2025, ...) never re-sizes every
contract on one day. It says, in effect:

* contracts *introduced* from trade date ``from`` carry the new size;
* the existing contracts expiring up to ``old_through`` (and the existing monthlies named in
  ``old_monthlies``, which expire after the last old weekly) keep the old size until expiry;
* existing long-dated contracts (quarterly / half-yearly, expiring after those) switch on
  trade date ``long_dated_from`` (default ``from``).

So a contract's size depends on its expiry and, for a long-dated contract during the weeks of
a transition, on the trade date: a Feb-2024 bhavcopy row for the May-2024 NIFTY monthly counts
lots of 50, the same contract on 2024-04-26 lots of 25. Asked without a trade date,
:meth:`LotHistory.size` answers for the contract's own expiry day (exact for every contract
except a long-dated one read inside its transition window).

Long-dated means "expires in March, June, September or December, after the kept contracts":
inside a transition window (at most a few months) the only listed contracts of a quarter
month beyond the kept ones are quarterlies and half-yearlies. An entry of the older shape
``{"expiry_from": D, "size": N}`` still works and means "contracts expiring on or after D".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

_QUARTER_MONTHS = frozenset({3, 6, 9, 12})


@dataclass(frozen=True, slots=True)
class LotRevision:
    """One circular: the new size from trade date ``start`` and which existing contracts keep the old."""

    start: date
    size: int
    old_through: date  # existing contracts expiring on/before this keep the old size
    old_monthlies: frozenset[date]  # later existing monthlies that also keep it
    long_dated_from: date  # trade date existing quarterlies / half-yearlies switch
    by_expiry_only: bool = False  # the legacy {"expiry_from": D} form

    def applies(self, expiry: date, trade: date) -> bool:
        """Whether the contract expiring ``expiry`` carries this revision's size on ``trade``."""
        if self.by_expiry_only:
            return expiry >= self.start
        if trade < self.start or expiry <= self.old_through or expiry in self.old_monthlies:
            return False
        return not (expiry.month in _QUARTER_MONTHS and trade < self.long_dated_from)


@dataclass(frozen=True, slots=True)
class LotHistory:
    """Every revision of one index, oldest first (the first one is the base size)."""

    symbol: str
    revisions: tuple[LotRevision, ...]

    def size(self, expiry: date, on: date | None = None) -> int:
        """Units per lot of the contract expiring ``expiry`` traded on ``on`` (default ``expiry``)."""
        trade = expiry if on is None else min(on, expiry)
        first = self.revisions[0]
        if (expiry if first.by_expiry_only else trade) < first.start:
            raise ValueError(
                f"{self.symbol}: no lot size known before {first.start} (asked for expiry {expiry}, "
                f"trade date {trade}); add it to instruments/data/indices.json"
            )
        size = first.size
        for rev in self.revisions[1:]:
            if not rev.applies(expiry, trade):
                break
            size = rev.size
        return size


def parse_lot_history(symbol: str, entries: Sequence[Mapping[str, Any]]) -> LotHistory:
    """Revisions from ``indices.json`` entries, sorted by their start.

    Each entry: ``from`` and ``size``, optional ``old_through``, ``old_monthlies`` and
    ``long_dated_from`` (module docstring); or the older ``expiry_from`` and ``size``.
    """
    revisions = []
    for e in entries:
        size = int(e["size"])
        if size <= 0:
            raise ValueError(f"lot size must be positive, got {size}")
        if "expiry_from" in e:
            start = date.fromisoformat(e["expiry_from"])
            revisions.append(LotRevision(start, size, start - timedelta(days=1), frozenset(), start, True))
            continue
        start = date.fromisoformat(e["from"])
        old = date.fromisoformat(e["old_through"]) if e.get("old_through") else start - timedelta(days=1)
        monthlies = frozenset(date.fromisoformat(d) for d in e.get("old_monthlies", []))
        long_dated = date.fromisoformat(e["long_dated_from"]) if e.get("long_dated_from") else start
        revisions.append(LotRevision(start, size, old, monthlies, long_dated))
    if not revisions:
        raise ValueError("no lot sizes")
    return LotHistory(symbol, tuple(sorted(revisions, key=lambda r: r.start)))
