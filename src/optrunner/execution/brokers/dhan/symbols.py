"""Dhan's instrument master (``api-scrip-master.csv``) -> our canonical contracts.

Dhan addresses an instrument by ``securityId`` + ``exchangeSegment`` (``NSE_FNO`` for NIFTY and
BANKNIFTY options, ``BSE_FNO`` for SENSEX), never by symbol. The compact master has one row per
instrument; an index option row carries its trading symbol (``NIFTY-Jan2026-25000-CE``), expiry
date, strike and option type in separate columns. Each row is read from its columns *and* its
trading symbol is parsed through :mod:`optrunner.instruments.symbology`; a row where the two
disagree is skipped and counted (never half-trusted).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import known_indices
from optrunner.instruments.symbology import SymbolError, parse_symbol

#: exchange (SEM_EXM_EXCH_ID) of a derivative row -> Dhan's exchangeSegment
SEGMENTS = {"NSE": "NSE_FNO", "BSE": "BSE_FNO"}
REQUIRED_COLUMNS = (
    "SEM_EXM_EXCH_ID", "SEM_SEGMENT", "SEM_SMST_SECURITY_ID", "SEM_INSTRUMENT_NAME", "SEM_TRADING_SYMBOL",
    "SEM_LOT_UNITS", "SEM_EXPIRY_DATE", "SEM_STRIKE_PRICE", "SEM_OPTION_TYPE",
)  # fmt: skip


class InstrumentMasterError(ValueError):
    """The instrument master cannot be read (wrong columns, not CSV)."""


@dataclass(frozen=True, slots=True)
class DhanInstrument:
    """How Dhan names one option contract."""

    security_id: str
    segment: str  # NSE_FNO / BSE_FNO
    trading_symbol: str
    lot_size: int
    contract: OptionContract


@dataclass(frozen=True, slots=True)
class ParsedMaster:
    instruments: dict[OptionContract, DhanInstrument]
    skipped: int  # option rows whose columns and trading symbol disagree, or that are malformed


def parse_scrip_master(text: str) -> ParsedMaster:
    """The index options of a compact scrip master, keyed by canonical contract."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InstrumentMasterError(f"Dhan scrip master lacks column(s) {', '.join(missing)}")
    indices = set(known_indices())
    out: dict[OptionContract, DhanInstrument] = {}
    skipped = 0
    for row in reader:
        if row["SEM_INSTRUMENT_NAME"] != "OPTIDX" or row["SEM_SEGMENT"] != "D":
            continue
        symbol = row["SEM_TRADING_SYMBOL"]
        if symbol.split("-", 1)[0] not in indices or row["SEM_EXM_EXCH_ID"] not in SEGMENTS:
            continue
        try:
            expiry = date.fromisoformat(row["SEM_EXPIRY_DATE"][:10])
            by_columns = OptionContract(
                symbol.split("-", 1)[0], expiry, float(row["SEM_STRIKE_PRICE"]), Right(row["SEM_OPTION_TYPE"])
            )
            by_symbol = parse_symbol(symbol, "dhan", expiry=expiry)
            lot = float(row["SEM_LOT_UNITS"])
        except (ValueError, SymbolError):
            skipped += 1
            continue
        if by_symbol != by_columns or not lot.is_integer() or lot < 1:
            skipped += 1
            continue
        out[by_columns] = DhanInstrument(
            row["SEM_SMST_SECURITY_ID"], SEGMENTS[row["SEM_EXM_EXCH_ID"]], symbol, int(lot), by_columns
        )
    return ParsedMaster(out, skipped)
