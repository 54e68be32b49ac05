"""ChainSnapshot: one underlying's option chain at one instant, held as NumPy columns.

Columns rather than row objects because everything wide (greeks, lookups, marking a
portfolio, filling orders) is a vector operation, and a backtest walks ~100k of these a
year. Rows are materialised only on demand, as :class:`OptionQuote`.

Conventions: ``delta`` is signed (puts negative); ``vega`` is per 1 vol point; ``theta``
per calendar day; ``iv`` a fraction (0.14 = 14 %). Missing numbers are NaN, never 0.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract

FLOAT_COLUMNS = (
    "bid", "ask", "ltp", "bid_qty", "ask_qty", "volume", "oi", "future",
    "iv", "delta", "gamma", "theta", "vega",
)  # fmt: skip
_EPOCH = np.datetime64("1970-01-01", "D")


def contract_keys(expiry_days: np.ndarray, strike: np.ndarray, is_call: np.ndarray) -> np.ndarray:
    """An int64 key per contract that sorts by (expiry, right, strike): exact, vectorised.

    expiry_days: days since 1970-01-01; strike in rupees (kept to the paisa).
    """
    e = np.asarray(expiry_days, dtype=np.int64)
    c = np.asarray(is_call, dtype=np.int64)
    k = np.rint(np.asarray(strike, dtype=np.float64) * 100.0).astype(np.int64)
    return (e * 2 + c) * 100_000_000 + k


@lru_cache(maxsize=65_536)
def contract_key(contract: OptionContract) -> int:
    """The int64 key of one contract (cached: strategies and portfolios look up the same legs every minute)."""
    days = (contract.expiry - date(1970, 1, 1)).days
    return (days * 2 + int(contract.is_call)) * 100_000_000 + round(contract.strike * 100)


@dataclass(slots=True, frozen=True)
class OptionQuote:
    """One row of a chain: the contract and its quote, greeks and size."""

    contract: OptionContract
    ts: datetime
    spot: float
    bid: float
    ask: float
    ltp: float
    bid_qty: float
    ask_qty: float
    volume: float
    oi: float
    future: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float

    # Seed compatibility: the seed returned a dict per row, so a quote is also a read-only
    # mapping over its columns (``as_dict``): ``q["strike"]``, ``q.strike``, ``dict(q)``,
    # ``q.keys()``, ``q.items()``; an unknown key raises KeyError as a dict would.
    @property
    def strike(self) -> float:
        return self.contract.strike

    @property
    def expiry(self) -> date:
        return self.contract.expiry

    @property
    def option_type(self) -> Right:
        """``Right.CE``/``Right.PE``, a str enum: equal to "CE"/"PE" as the seed's text was."""
        return self.contract.right

    @property
    def right(self) -> Right:
        return self.contract.right

    @property
    def symbol(self) -> str:
        return self.contract.underlying

    @property
    def id(self) -> str:
        return self.contract.id

    def __getitem__(self, name: str) -> Any:
        if name not in _QUOTE_KEYS and name not in _EXTRA_KEYS:
            raise KeyError(name)
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in _QUOTE_KEYS or name in _EXTRA_KEYS

    def __iter__(self) -> Any:
        return iter(_QUOTE_KEYS)

    def __len__(self) -> int:
        return len(_QUOTE_KEYS)

    def keys(self) -> tuple[str, ...]:
        return _QUOTE_KEYS

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in _QUOTE_KEYS]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in _QUOTE_KEYS]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    @property
    def mid(self) -> float:
        if np.isfinite(self.bid) and np.isfinite(self.ask) and self.bid > 0 and self.ask > 0:
            return 0.5 * (self.bid + self.ask)
        return self.ltp

    @property
    def spread_pct(self) -> float:
        m = self.mid
        if not (np.isfinite(self.bid) and np.isfinite(self.ask)) or not m:
            return float("nan")
        return 100.0 * (self.ask - self.bid) / m

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())


_QUOTE_KEYS: tuple[str, ...] = (
    *(f.name for f in fields(OptionQuote) if f.name != "contract"),
    "symbol", "expiry", "strike", "option_type", "id",
)  # fmt: skip
_EXTRA_KEYS = frozenset({"right", "mid", "spread_pct", "contract"})  # readable by key, not listed


@dataclass(slots=True, eq=False)
class ChainSnapshot:
    """An option chain at ``ts``. Every array has one entry per row; rows sorted by key."""

    symbol: str
    ts: datetime
    spot: float
    expiry: np.ndarray  # datetime64[D]
    strike: np.ndarray  # float64
    is_call: np.ndarray  # bool
    bid: np.ndarray
    ask: np.ndarray
    ltp: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    volume: np.ndarray
    oi: np.ndarray
    future: np.ndarray
    iv: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    key: np.ndarray | None = None  # int64 contract keys, sorted ascending

    def __post_init__(self) -> None:
        if self.key is None:
            days = (self.expiry.astype("datetime64[D]") - _EPOCH).astype(np.int64)
            key = contract_keys(days, self.strike, self.is_call)
            if len(key) > 1 and np.any(key[1:] < key[:-1]):
                order = np.argsort(key, kind="stable")
                for name in ("expiry", "strike", "is_call", *FLOAT_COLUMNS):
                    setattr(self, name, getattr(self, name)[order])
                key = key[order]
            self.key = key

    # --- construction -----------------------------------------------------------------

    @classmethod
    def from_columns(
        cls, symbol: str, ts: datetime, spot: float, columns: Mapping[str, Any]
    ) -> ChainSnapshot:
        """Build from a mapping of column -> array-like. Missing float columns become NaN.

        ``right`` may be given instead of ``is_call`` (values "CE"/"PE"/"C"/"P").
        """
        strike = np.asarray(columns["strike"], dtype=np.float64)
        n = len(strike)
        if "is_call" in columns:
            is_call = np.asarray(columns["is_call"], dtype=bool)
        else:
            right = np.asarray(columns["right"]).astype(str)
            is_call = np.char.startswith(np.char.upper(right), "C")
        expiry = np.asarray(columns["expiry"]).astype("datetime64[D]")
        if expiry.shape == ():
            expiry = np.full(n, expiry)
        floats = {}
        for name in FLOAT_COLUMNS:
            v = columns.get(name)
            floats[name] = np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64)
        return cls(symbol, ts, float(spot), expiry, strike, is_call, **floats)

    @classmethod
    def from_quotes(cls, symbol: str, ts: datetime, spot: float, rows: Iterable[Mapping[str, Any]]) -> ChainSnapshot:
        """Build from row dicts (``strike``, ``expiry``, ``option_type``/``right`` and quote fields)."""
        rows = list(rows)
        cols: dict[str, Any] = {
            "strike": [r["strike"] for r in rows],
            "expiry": [np.datetime64(r["expiry"], "D") for r in rows],
            "right": [r.get("right", r.get("option_type")) for r in rows],
        }
        for name in FLOAT_COLUMNS:
            cols[name] = [_num(r.get(name)) for r in rows]
        return cls.from_columns(symbol, ts, spot, cols)

    # --- access -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.strike)

    def expiries(self) -> list[date]:
        return [d.item() for d in np.unique(self.expiry)]

    def index_of(self, contract: OptionContract) -> int | None:
        """Row of ``contract`` or None when the chain does not carry it (O(log n)).

        A bisect over a memoryview, not ``ndarray.searchsorted``: NumPy releases the GIL
        around the search, and while the catalog reads the next day on its thread, taking
        the GIL back cost ~8 µs a lookup in the backtest (a 0.5 µs search).
        """
        if contract.underlying != self.symbol:
            return None
        k = contract_key(contract)
        key = memoryview(self.key)
        i = bisect_left(key, k)
        return i if i < len(key) and key[i] == k else None

    def contract(self, i: int) -> OptionContract:
        return OptionContract(
            self.symbol,
            self.expiry[i].item(),
            float(self.strike[i]),
            Right.CE if self.is_call[i] else Right.PE,
        )

    def quote(self, i: int) -> OptionQuote:
        return OptionQuote(
            self.contract(i), self.ts, self.spot,
            *(float(getattr(self, name)[i]) for name in FLOAT_COLUMNS),
        )  # fmt: skip

    def quote_for(self, contract: OptionContract) -> OptionQuote | None:
        i = self.index_of(contract)
        return None if i is None else self.quote(i)

    def select(self, mask: np.ndarray) -> ChainSnapshot:
        """Rows where ``mask`` is true (keeps key order)."""
        cols = {name: getattr(self, name)[mask] for name in ("expiry", "strike", "is_call", *FLOAT_COLUMNS)}
        return ChainSnapshot(self.symbol, self.ts, self.spot, key=self.key[mask], **cols)

    def for_expiry(self, expiry: date) -> ChainSnapshot:
        return self.select(self.expiry == np.datetime64(expiry, "D"))

    def forward(self, expiry: date) -> float:
        """The chain's forward for ``expiry`` (its ``future`` column), else spot."""
        rows = self.future[self.expiry == np.datetime64(expiry, "D")]
        rows = rows[np.isfinite(rows)]
        return float(rows[0]) if len(rows) else self.spot

    def atm_strike(self, expiry: date | None = None) -> float:
        """The listed strike nearest the forward (or spot) of ``expiry`` (default: nearest expiry)."""
        exp = expiry or self.expiries()[0]
        strikes = self.strike[self.expiry == np.datetime64(exp, "D")]
        if not len(strikes):
            raise ValueError(f"{self.symbol} chain at {self.ts} has no rows for expiry {exp}")
        f = self.forward(exp)
        return float(strikes[np.argmin(np.abs(strikes - f))])

    def to_rows(self) -> list[dict[str, Any]]:
        return [self.quote(i).as_dict() for i in range(len(self))]


def _num(v: Any) -> float:
    try:
        return float("nan") if v is None else float(v)
    except (TypeError, ValueError):
        return float("nan")
