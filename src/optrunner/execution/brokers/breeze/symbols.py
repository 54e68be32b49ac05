"""Breeze's security master (``SecurityMaster.zip``) -> our canonical contracts, and the
stream keys of the quote feed.

The zip holds one CSV per segment; index options are in ``FONSEScripMaster.txt`` (NFO) and
``FOBSEScripMaster.txt`` (BFO, SENSEX). Columns used (names as in the files' header row):
``Token``, ``InstrumentName`` (``OPTIDX``...), ``ShortName`` (ICICI's stock code: ``NIFTY``,
``CNXBAN`` for BANKNIFTY, ``BSESEN`` for SENSEX), ``Series`` (``OPTION``), ``ExpiryDate``
(``29-Sep-2026``), ``StrikePrice`` (rupees), ``OptionType`` (``CE``/``PE``), ``LotSize`` and
``ExchangeCode`` (``NIFTY 50``). There is no trading symbol to parse, so each row is read
twice: ICICI's stock code through :data:`STOCK_CODES` and ``ExchangeCode`` through
:func:`~optrunner.instruments.symbology.canonical_symbol` must name the same index, or the
row is skipped and counted. Expired contracts (before ``as_of``) are dropped; a contract not
in the master is refused by :meth:`BreezeInstruments.require`.

Stream keys are ``<exchange>.<kind>!<token>``: ``4.1!`` NSE/NFO quotes, ``8.1!`` BFO quotes
(the SDK's rate-refresh code), ``1.1!`` BSE. An index's key is its token in the cash master
(``NSEScripMaster.txt`` row ``"NIFTY 50","NIFTY",...`` -> ``4.1!NIFTY 50``, as the SDK builds
it), with NIFTY and BANKNIFTY falling back to their known keys when the zip has no NSE file;
SENSEX has no fallback (its BSE token is not verified): without a BSE row naming it, a SENSEX
chain is refused rather than subscribed to a guessed key. A chain keys rows by int, so
NFO tokens are themselves, BFO tokens are offset by :data:`BFO_OFFSET` (the two exchanges'
tokens may collide) and indices get negative ids.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from optrunner.core.timeutil import IST
from optrunner.core.types import Right
from optrunner.execution.brokers.breeze.config import BROKER, instruments_url
from optrunner.execution.brokers.live.master import InstrumentMasterCache, http_download
from optrunner.execution.brokers.live.settings import LiveBrokerSettings
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import canonical_symbol

log = logging.getLogger(__name__)

#: ICICI stock code (ShortName) -> our index
STOCK_CODES = {"NIFTY": "NIFTY", "CNXBAN": "BANKNIFTY", "BSESEN": "SENSEX"}
#: index quotes used when the cash master does not list them: NIFTY's is in the SDK's README,
#: BANKNIFTY's is the NSE master's token for NIFTY BANK
INDEX_KEYS = {"NIFTY": "4.1!NIFTY 50", "BANKNIFTY": "4.1!NIFTY BANK"}
#: cash master file -> (stream prefix, ShortName -> our index) for the index rows
CASH_INDEX_CODES = {"NSESCRIPMASTER.TXT": ("4.1!", {"NIFTY": "NIFTY", "CNXBAN": "BANKNIFTY"}),
                    "BSESCRIPMASTER.TXT": ("1.1!", {"BSESEN": "SENSEX", "SENSEX": "SENSEX"})}  # fmt: skip
SPOT_IDS = {und: -(i + 1) for i, und in enumerate(("NIFTY", "BANKNIFTY", "SENSEX"))}
BFO_OFFSET = 1 << 40
#: file in the zip -> (exchange, stream prefix)
SEGMENTS = {"FONSESCRIPMASTER.TXT": ("NFO", "4.1!"), "FOBSESCRIPMASTER.TXT": ("BFO", "8.1!")}
REQUIRED_COLUMNS = ("Token", "InstrumentName", "ShortName", "ExpiryDate", "StrikePrice", "OptionType", "LotSize")


class InstrumentMasterError(ValueError):
    """The security master cannot be read (not a zip, no F&O file, wrong columns)."""


@dataclass(frozen=True, slots=True)
class BreezeInstrument:
    exchange: str  # NFO | BFO
    token: int  # the chain's id (BFO offset applied)
    stream_key: str  # 4.1!<token> | 8.1!<token>
    stock_code: str  # ICICI's ShortName
    lot_size: int
    contract: OptionContract


@dataclass
class BreezeInstruments:
    """Index options of the master (satisfies ``live.chain.ChainInstruments``)."""

    by_contract: dict[OptionContract, BreezeInstrument]
    skipped: int = 0
    index_keys: dict[str, str] = field(default_factory=lambda: dict(INDEX_KEYS))  # index -> stream key

    @property
    def index_token(self) -> dict[str, int]:
        return {u: SPOT_IDS[u] for u in self.index_keys}

    def strikes(self, underlying: str, expiry: date) -> list[float]:
        return sorted({c.strike for c in self.by_contract if c.underlying == underlying and c.expiry == expiry})

    def expiries(self, underlying: str, on_or_after: date) -> list[date]:
        return sorted({c.expiry for c in self.by_contract if c.underlying == underlying and c.expiry >= on_or_after})

    def require(self, contract: OptionContract) -> BreezeInstrument:
        """The instrument of ``contract``; a clear error for one the master does not list
        (unknown, or expired and so dropped)."""
        inst = self.by_contract.get(contract)
        if inst is None:
            raise KeyError(f"{contract.id}: not in Breeze's security master (unknown or expired)")
        return inst

    def stream_keys(self) -> dict[int, str]:
        """Chain id -> stream key, for every contract and index."""
        out = {i.token: i.stream_key for i in self.by_contract.values()}
        out.update({SPOT_IDS[u]: k for u, k in self.index_keys.items()})
        return out


def _files(data: bytes) -> dict[str, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            out = {}
            for name in z.namelist():
                key = name.rsplit("/", 1)[-1].upper()
                if key in SEGMENTS or key in CASH_INDEX_CODES:
                    out[key] = z.read(name).decode("utf-8-sig", errors="replace")
    except zipfile.BadZipFile as exc:
        raise InstrumentMasterError(f"Breeze's security master is not a valid zip: {exc}") from None
    if "FONSESCRIPMASTER.TXT" not in out:
        raise InstrumentMasterError("Breeze's security master zip holds no FONSEScripMaster.txt")
    return out


def _rows(text: str, name: str) -> csv.DictReader[str]:
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    reader.fieldnames = [f.strip().strip('"') for f in reader.fieldnames or ()]
    missing = [c for c in REQUIRED_COLUMNS if c not in reader.fieldnames]
    if missing:
        raise InstrumentMasterError(f"Breeze {name} lacks column(s) {', '.join(missing)}")
    return reader


def _index_keys(text: str, prefix: str, codes: dict[str, str]) -> dict[str, str]:
    """Stream keys of the index rows of a cash master (``Token`` is e.g. ``NIFTY 50``)."""
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = [h.strip().strip('"') for h in next(reader, [])]
    if "Token" not in header or "ShortName" not in header:
        return {}
    t, c = header.index("Token"), header.index("ShortName")
    return {codes[row[c].strip()]: prefix + row[t].strip() for row in reader
            if len(row) > max(t, c) and row[c].strip() in codes and row[t].strip()}  # fmt: skip


def parse_master(data: bytes, as_of: date | None) -> BreezeInstruments:
    """Index options in the zip ``data`` expiring on or after ``as_of`` (all when None)."""
    out: dict[OptionContract, BreezeInstrument] = {}
    skipped = 0
    files = _files(data)
    index_keys = dict(INDEX_KEYS)
    for name, (prefix, codes) in CASH_INDEX_CODES.items():
        if name in files:
            index_keys.update(_index_keys(files.pop(name), prefix, codes))
    for name, text in files.items():
        exchange, prefix = SEGMENTS[name]
        for row in _rows(text, name):
            code = (row.get("ShortName") or "").strip()
            if not (row.get("InstrumentName") or "").startswith("OPT") or code not in STOCK_CODES:
                continue
            und = STOCK_CODES[code]
            try:
                expiry = datetime.strptime(row["ExpiryDate"].strip().title(), "%d-%b-%Y").date()
                tok = int(row["Token"].strip())
                contract = OptionContract(und, expiry, float(row["StrikePrice"]), Right(row["OptionType"].strip()))
                lot = int(float(row["LotSize"]))
                named = canonical_symbol(row["ExchangeCode"].strip()) if (row.get("ExchangeCode") or "").strip() else und
            except (ValueError, KeyError, AttributeError):
                skipped += 1
                continue
            if named != und or lot < 1 or tok < 0 or contract.strike <= 0:
                skipped += 1
                continue
            if as_of is not None and expiry < as_of:
                continue
            chain_id = tok + (BFO_OFFSET if exchange == "BFO" else 0)
            out[contract] = BreezeInstrument(exchange, chain_id, f"{prefix}{tok}", code, lot, contract)
    return BreezeInstruments(out, skipped, index_keys)


def load_instruments(settings: LiveBrokerSettings, cache: InstrumentMasterCache | None = None,
                     now: datetime | None = None) -> BreezeInstruments:  # fmt: skip
    """Today's index options from ``SecurityMaster.zip`` (downloaded once per IST day; ICICI
    refreshes it each morning), expired contracts dropped."""
    cache = cache or InstrumentMasterCache(BROKER, http_download(instruments_url(settings)), ext="zip")
    today = (now or datetime.now(IST)).astimezone(IST).date()
    inst = parse_master(cache.get(now), today)
    if inst.skipped:  # a master whose columns disagree: loud, never a guessed contract
        log.warning("breeze: %d security-master row(s) skipped (stock code and ExchangeCode disagree, "
                    "or a value does not parse)", inst.skipped)  # fmt: skip
    return inst


__all__ = ["BFO_OFFSET", "CASH_INDEX_CODES", "INDEX_KEYS", "STOCK_CODES", "BreezeInstrument", "BreezeInstruments", "InstrumentMasterError",
           "load_instruments", "parse_master"]  # fmt: skip
