"""Kite's instrument master (``GET /instruments``, CSV) mapped to our contracts.

Columns (documented): instrument_token, exchange_token, tradingsymbol, name, last_price,
expiry, strike, tick_size, lot_size, instrument_type, segment, exchange. Options are
``instrument_type`` CE/PE in segments NFO-OPT / BFO-OPT; index spot rows are segment
INDICES (``NIFTY 50`` ...). Every option row is parsed through ``instruments/symbology``
(the trading symbol must name the row's own expiry), so a contract we send is one Kite
lists; unknown or expired contracts are refused with a clear error.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from optrunner.core.types import Right
from optrunner.execution.brokers.kite.config import EXCHANGE_FOR, INDEX_SYMBOL
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import SymbolError, parse_symbol


class UnknownInstrument(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class KiteInstrument:
    token: int
    tradingsymbol: str
    exchange: str
    lot_size: int
    tick_size: float
    contract: OptionContract | None  # None for an index


class KiteInstruments:
    """Lookups both ways: contract -> instrument (to send orders, subscribe), token /
    (exchange, tradingsymbol) -> contract (to read books and ticks)."""

    def __init__(self, rows: list[KiteInstrument], as_of: date | None = None) -> None:
        self.as_of = as_of
        self.by_contract: dict[OptionContract, KiteInstrument] = {}
        self.by_token: dict[int, KiteInstrument] = {}
        self.by_symbol: dict[tuple[str, str], KiteInstrument] = {}
        self.index_token: dict[str, int] = {}
        index_names = {v: k for k, v in INDEX_SYMBOL.items()}
        for r in rows:
            self.by_token[r.token] = r
            self.by_symbol[(r.exchange, r.tradingsymbol)] = r
            if r.contract is not None:
                self.by_contract[r.contract] = r
            elif r.tradingsymbol in index_names:
                self.index_token[index_names[r.tradingsymbol]] = r.token

    @classmethod
    def from_csv(cls, data: bytes, as_of: date | None = None, underlyings: set[str] | None = None) -> KiteInstruments:
        """Parse the master; ``underlyings`` keeps only those indices' options (the full file is ~100k rows)."""
        rows: list[KiteInstrument] = []
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        need = {"instrument_token", "tradingsymbol", "name", "expiry", "strike", "lot_size", "instrument_type",
                "segment", "exchange", "tick_size"}  # fmt: skip
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise ValueError(f"the Kite instrument master lacks columns {sorted(need - set(reader.fieldnames or []))}")
        for row in reader:
            seg, itype = row["segment"], row["instrument_type"]
            try:
                token = int(row["instrument_token"])
                if seg == "INDICES":
                    rows.append(KiteInstrument(token, row["tradingsymbol"], row["exchange"], 0, 0.0, None))
                    continue
                if itype not in ("CE", "PE") or not seg.endswith("-OPT"):
                    continue
                if underlyings is not None and row["name"] not in underlyings:
                    continue
                expiry = date.fromisoformat(row["expiry"])
                contract = parse_symbol(row["tradingsymbol"], "kite", expiry=expiry)
                if contract.right is not Right(itype) or contract.strike != float(row["strike"]):
                    raise SymbolError(f"{row['tradingsymbol']} disagrees with its row (strike/type)")
            except (ValueError, SymbolError):
                continue  # not an index option we trade (stock options, odd rows): skipped
            rows.append(KiteInstrument(token, row["tradingsymbol"], row["exchange"], int(row["lot_size"]),
                                       float(row["tick_size"]), contract))  # fmt: skip
        return cls(rows, as_of)

    def instrument(self, contract: OptionContract, today: date | None = None) -> KiteInstrument:
        """The listed instrument of ``contract``; refuses unknown and expired contracts."""
        day = today or self.as_of
        if day is not None and contract.expiry < day:
            raise UnknownInstrument(f"{contract.id} expired on {contract.expiry}: not tradable")
        inst = self.by_contract.get(contract)
        if inst is None:
            ex = EXCHANGE_FOR.get(contract.underlying, "NFO")
            raise UnknownInstrument(f"{contract.id} is not in today's Kite instrument master ({ex})")
        return inst

    def contract_of(self, exchange: str, tradingsymbol: str) -> OptionContract | None:
        inst = self.by_symbol.get((exchange, tradingsymbol))
        return None if inst is None else inst.contract

    def strikes(self, underlying: str, expiry: date) -> list[float]:
        return sorted({c.strike for c in self.by_contract if c.underlying == underlying and c.expiry == expiry})

    def expiries(self, underlying: str) -> list[date]:
        return sorted({c.expiry for c in self.by_contract if c.underlying == underlying})
