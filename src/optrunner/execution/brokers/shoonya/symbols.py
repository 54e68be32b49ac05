"""Shoonya's instrument master (``NFO_symbols.txt``, zipped) -> our canonical contracts.

NorenOMS addresses an instrument by exchange + trading symbol (``tsym``, e.g.
``NIFTY13JAN26C25950``) for orders and by exchange + token for market data. The master is a
CSV (``Exchange,Token,LotSize,Symbol,TradingSymbol,Expiry,Instrument,OptionType,StrikePrice,
TickSize,`` — note the trailing comma) inside a zip. Each option row is read from its
columns *and* its trading symbol is parsed through :mod:`optrunner.instruments.symbology`;
a row where the two disagree is skipped and counted.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime

from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import known_indices
from optrunner.instruments.symbology import SymbolError, parse_symbol

REQUIRED_COLUMNS = ("Exchange", "Token", "LotSize", "Symbol", "TradingSymbol", "Expiry", "Instrument", "OptionType",
                    "StrikePrice")  # fmt: skip


class InstrumentMasterError(ValueError):
    """The instrument master cannot be read (not a zip, wrong columns)."""


@dataclass(frozen=True, slots=True)
class ShoonyaInstrument:
    exchange: str  # NFO
    token: str
    trading_symbol: str
    lot_size: int
    contract: OptionContract


@dataclass(frozen=True, slots=True)
class ParsedMaster:
    instruments: dict[OptionContract, ShoonyaInstrument]
    skipped: int


def unzip_master(data: bytes) -> str:
    """The text of the single ``*_symbols.txt`` inside Shoonya's zip (plain text passes through)."""
    if not data.startswith(b"PK"):
        return data.decode("utf-8-sig")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.endswith(".txt")]
            if len(names) != 1:
                raise InstrumentMasterError(f"Shoonya master zip holds {z.namelist()}, expected one .txt")
            return z.read(names[0]).decode("utf-8-sig")
    except zipfile.BadZipFile as exc:
        raise InstrumentMasterError(f"Shoonya master is not a valid zip: {exc}") from None


def parse_symbols(text: str) -> ParsedMaster:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InstrumentMasterError(f"Shoonya symbols file lacks column(s) {', '.join(missing)}")
    indices = set(known_indices())
    out: dict[OptionContract, ShoonyaInstrument] = {}
    skipped = 0
    for row in reader:
        if row["Instrument"] != "OPTIDX" or row["Symbol"] not in indices or row["Exchange"] != "NFO":
            continue
        try:
            expiry = datetime.strptime(row["Expiry"].strip().title(), "%d-%b-%Y").date()
            by_columns = OptionContract(row["Symbol"], expiry, float(row["StrikePrice"]), Right(row["OptionType"]))
            by_symbol = parse_symbol(row["TradingSymbol"], "shoonya")
            lot = int(row["LotSize"])
        except (ValueError, SymbolError):
            skipped += 1
            continue
        if by_symbol != by_columns or lot < 1:
            skipped += 1
            continue
        out[by_columns] = ShoonyaInstrument("NFO", row["Token"], row["TradingSymbol"], lot, by_columns)
    return ParsedMaster(out, skipped)
