"""One underlying's live option chain built from a broker's ticks: the subscribed window of
ATM ± N strikes, re-centred as spot moves, snapshotted with greeks from our engine.

Every broker feed (Kite, Shoonya, Dhan, Breeze) parses its own wire format into
:class:`~optrunner.execution.brokers.kite.ticks.Ticks` keyed by int tokens and hands them
to :meth:`LiveChain.apply`; the chain is broker-neutral, reading the broker's instruments
through :class:`ChainInstruments`. The feed thread writes, the kernel thread snapshots, under
the chain's lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import numpy as np
from numba import njit

from optrunner.data.snapshot import ChainSnapshot, contract_keys
from optrunner.execution.brokers.kite.ticks import Ticks
from optrunner.greeks.live import OUT_COLUMNS, LiveGreeks

QUOTE_FIELDS = ("ltp", "bid", "ask", "oi", "volume", "bid_qty", "ask_qty")  # LiveChain's quote block, in this order


@njit(cache=True, nogil=True)
def _apply_ticks(q: np.ndarray, sorted_tokens: np.ndarray, order: np.ndarray, token: np.ndarray,
                 *fields: np.ndarray) -> int:  # fmt: skip
    """Write each tick's fields (in ``QUOTE_FIELDS`` order) into its row of ``q``, in packet order; a
    NaN field (the packet's mode lacks it) keeps the row's value. Returns the ticks taken.
    Compiled: a frame is a handful of packets, and a dozen NumPy calls cost more than the work."""
    hits = 0
    for i in range(token.size):
        pos = np.searchsorted(sorted_tokens, token[i])
        if pos == sorted_tokens.size or sorted_tokens[pos] != token[i]:
            continue
        row = order[pos]
        for j in range(len(fields)):
            v = fields[j][i]
            if v == v:
                q[j, row] = v
        hits += 1
    return hits


class ChainInstruments(Protocol):
    """What a chain reads of a broker's instrument master: int tokens per contract and index."""

    by_contract: dict[Any, Any]  # OptionContract -> an object with an int ``token``
    index_token: dict[str, int]

    def strikes(self, underlying: str, expiry: date) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class _Token:
    token: int


class TokenView:  # satisfies ChainInstruments
    """A broker's instruments as a chain reads them, for brokers whose master has no int token
    of its own shape (Shoonya's strings, Dhan's segment + security id): the broker's feed
    says which int stands for each contract and each underlying's index."""

    def __init__(self, tokens: dict[Any, int], index_token: dict[str, int]) -> None:
        self.by_contract = {c: _Token(int(t)) for c, t in tokens.items()}
        self.index_token = dict(index_token)

    def strikes(self, underlying: str, expiry: date) -> list[float]:
        return sorted({c.strike for c in self.by_contract if c.underlying == underlying and c.expiry == expiry})


class LiveChain:
    """One underlying's chain for one expiry, from ticks of the subscribed window of strikes."""

    def __init__(self, underlying: str, expiry: date, instruments: ChainInstruments, *, width: int = 20,
                 recentre_steps: int = 2, greeks: bool = True) -> None:  # fmt: skip
        self.underlying, self.expiry, self.width, self.recentre_steps = underlying, expiry, width, recentre_steps
        self.greeks = greeks
        self.spot_token = instruments.index_token.get(underlying)
        if self.spot_token is None:
            raise ValueError(f"the instrument master has no index row for {underlying}")
        self.all_strikes = np.asarray(instruments.strikes(underlying, expiry))
        if not len(self.all_strikes):
            raise ValueError(f"the instrument master lists no {underlying} options expiring {expiry}")
        self._inst = instruments
        self._lock = threading.Lock()
        self.spot = float("nan")
        self.spot_ts = 0.0  # monotonic time of the last spot tick
        self.centre: float | None = None
        self._rows(self.all_strikes[: 0])
        self.last_tick = 0.0

    def _rows(self, strikes: np.ndarray) -> None:
        """Allocate quote arrays for ``strikes`` x (CE, PE), keeping quotes of strikes kept."""
        old = getattr(self, "_token_row", {})
        old_q: np.ndarray | None = getattr(self, "_q", None)
        n = 2 * len(strikes)
        # rows in ChainSnapshot's key order (puts then calls, strikes ascending), so a snapshot
        # is built with its keys as they are: no sort, no key computation per update
        self.strike = np.tile(np.asarray(strikes, np.float64), 2)
        self.is_call = np.repeat([False, True], len(strikes))
        self._expiry_col = np.full(n, np.datetime64(self.expiry, "D"))
        days = (self._expiry_col - np.datetime64("1970-01-01", "D")).astype(np.int64)
        self._key = contract_keys(days, self.strike, self.is_call)
        keys = self._by_key()
        self.tokens = np.asarray([keys[(float(k), bool(c))].token for k, c in zip(self.strike, self.is_call, strict=True)],
                                 np.int64)  # fmt: skip
        self._order = np.argsort(self.tokens)
        self._sorted_tokens = self.tokens[self._order]
        self._token_row = {int(t): r for r, t in enumerate(self.tokens)}
        # one (columns x rows) block, so a frame updates every column in a few NumPy calls
        self._q = np.full((len(QUOTE_FIELDS), n), np.nan)
        kept = [(r, old[t]) for t, r in self._token_row.items() if t in old]
        new_rows, old_rows = (np.asarray(x, np.int64) for x in zip(*kept, strict=True)) if kept else (None, None)
        if old_q is not None and new_rows is not None:
            self._q[:, new_rows] = old_q[:, old_rows]
        for i, name in enumerate(QUOTE_FIELDS):
            setattr(self, name, self._q[i])
        # greeks warm-started from the last snapshot; rows the window keeps keep their start
        before: LiveGreeks | None = getattr(self, "_greeks", None)
        self._greeks = LiveGreeks(self.expiry, self.strike, self.is_call)
        if before is not None and new_rows is not None:
            self._greeks.take_over(before, new_rows, old_rows)

    def _by_key(self) -> dict[tuple[float, bool], Any]:
        if not hasattr(self, "_key_cache"):
            self._key_cache = {(c.strike, c.is_call): i for c, i in self._inst.by_contract.items()
                               if c.underlying == self.underlying and c.expiry == self.expiry}  # fmt: skip
        return self._key_cache

    def window(self, spot: float) -> np.ndarray:
        i = int(np.abs(self.all_strikes - spot).argmin())
        return self.all_strikes[max(0, i - self.width): i + self.width + 1]

    def recentre(self) -> tuple[set[int], set[int]]:
        """(tokens to subscribe, tokens to drop) when spot moved ``recentre_steps`` strikes from
        the window's centre (or the first time spot is known); else two empty sets."""
        with self._lock:
            if self.spot != self.spot:  # NaN: no spot yet
                return set(), set()
            i = int(np.abs(self.all_strikes - self.spot).argmin())
            if self.centre is not None:
                c = int(np.abs(self.all_strikes - self.centre).argmin())
                if abs(i - c) < self.recentre_steps:
                    return set(), set()
            before = set(self._token_row)
            self.centre = float(self.all_strikes[i])
            self._rows(self.window(self.spot))
            after = set(self._token_row)
        return after - before, before - after

    def apply(self, t: Ticks) -> None:
        """Take a frame's ticks (vectorised: token -> row by binary search)."""
        with self._lock:
            now = time.monotonic()
            spot = t.ltp[t.token == self.spot_token]
            spot = spot[~np.isnan(spot)]  # a packet without a price (OI only) says nothing of spot
            if len(spot):
                self.spot, self.spot_ts, self.last_tick = float(spot[-1]), now, now
            if not len(self.tokens):
                return
            if _apply_ticks(self._q, self._sorted_tokens, self._order, t.token, t.ltp, t.bid, t.ask, t.oi,
                            t.volume, t.bid_qty, t.ask_qty):  # fmt: skip
                self.last_tick = now

    def apply_quote(self, token: int, values: tuple[float, ...]) -> bool:
        """One option's quote, ``values`` in ``QUOTE_FIELDS`` order (NaN: keep the last value); True
        when the token is in the window. For feeds that push one instrument per message
        (Shoonya, Breeze: ``ChainFeed._apply_quote``), without building a frame's arrays."""
        with self._lock:
            row = self._token_row.get(token)
            if row is None:
                return False
            q = self._q
            for i, v in enumerate(values):
                if v == v:
                    q[i, row] = v
            self.last_tick = time.monotonic()
        return True

    def snapshot(self, ts: datetime | None = None) -> ChainSnapshot | None:
        """The chain now, greeks from our engine (black76 on parity forwards); None before spot.

        The greeks are ``chain_greeks(snapshot)``'s, computed by the window's
        :class:`~optrunner.greeks.live.LiveGreeks` (warm-started from the last snapshot).
        """
        ts = ts or datetime.now(UTC)
        with self._lock:
            if self.spot != self.spot or not len(self.tokens):
                return None
            bid, ask, ltp = self.bid.copy(), self.ask.copy(), self.ltp.copy()
            extra = (self.bid_qty.copy(), self.ask_qty.copy(), self.volume.copy(), self.oi.copy())
            spot, strike, is_call, expiry, key, greeks = (self.spot, self.strike, self.is_call, self._expiry_col,
                                                          self._key, self._greeks)  # fmt: skip
        # outside the chain's lock: the feed thread keeps applying ticks meanwhile
        g = greeks.update(bid, ask, ltp, ts) if self.greeks else np.full((len(OUT_COLUMNS), len(strike)), np.nan)
        return ChainSnapshot(self.underlying, ts, spot, expiry, strike, is_call, bid, ask, ltp, *extra, *g, key=key)

    def age(self) -> float:
        """Seconds since the last tick (inf before any)."""
        return time.monotonic() - self.last_tick if self.last_tick else float("inf")


__all__ = ["QUOTE_FIELDS", "ChainInstruments", "LiveChain", "TokenView"]
