"""Brokerage, taxes and exchange fees on Indian index options, from an editable dated table.

Every rate changed at least once during 2023-26 (STT twice, exchange fees once) and will
change again, so none is a constant here: they live in ``data/charges.json`` (override it
with ``OPTRUNNER_CHARGES`` or pass your own file/dict), each as a list of entries with the
trade date it applies from. A backtest over older data then pays the rates of its own
dates, and a trade dated before a table's first entry is refused rather than guessed.

Values are kept unrounded (the contract notes round to the paisa only when printed): the
sum over the pieces of a partially filled order then equals the charge on the whole order.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from optrunner.core.orders import ChargeBreakdown
from optrunner.core.timeutil import to_ist
from optrunner.core.types import Side

ENV_OVERRIDE = "OPTRUNNER_CHARGES"


# --- file schema (validated up front, every problem reported with its path) -------------


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    from_: date = Field(alias="from")
    unverified: bool = False
    source: str = ""
    note: str = ""


class _PctEntry(_Entry):
    rate_pct: float = Field(ge=0.0, le=100.0)


class _BrokerageEntry(_Entry):
    per_order: float = Field(ge=0.0)
    per_settlement: float = Field(default=0.0, ge=0.0)


def _dated(entries: list[Any]) -> list[Any]:
    if not entries:
        raise ValueError("needs at least one dated entry")
    starts = [e.from_ for e in entries]
    if len(set(starts)) != len(starts):
        dupes = sorted({d.isoformat() for d in starts if starts.count(d) > 1})
        raise ValueError(f"two entries share a 'from' date ({', '.join(dupes)})")
    return sorted(entries, key=lambda e: e.from_)


_PctTable = Annotated[list[_PctEntry], AfterValidator(_dated)]
_BrokerageTable = Annotated[list[_BrokerageEntry], AfterValidator(_dated)]


class _ChargesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gst_on_ipft: bool = False
    brokerage: dict[str, _BrokerageTable]
    stt_sell_pct: _PctTable
    stt_exercise_pct: _PctTable
    exchange_txn_pct: dict[str, _PctTable]
    ipft_pct: dict[str, _PctTable]
    sebi_pct: _PctTable
    stamp_buy_pct: _PctTable
    gst_pct: _PctTable


# --- lookup ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatedRate:
    """One charge's history: ``values[i]`` applies from ``starts[i]`` to the next start.

    Percentages are stored as fractions (0.1 % -> 0.001) so callers multiply directly.
    """

    what: str
    starts: tuple[date, ...]
    values: tuple[float, ...]
    unverified: tuple[bool, ...]

    def _index(self, on: date) -> int:
        i = bisect.bisect_right(self.starts, on) - 1
        if i < 0:
            raise ValueError(
                f"no {self.what} known before {self.starts[0]} (trade date {on}); add an "
                f"entry to the charge schedule (see portfolio/data/charges.json)"
            )
        return i

    def at(self, on: date) -> float:
        return self.values[self._index(on)]

    def is_unverified(self, on: date) -> bool:
        return self.unverified[self._index(on)]


def _pct_rate(what: str, entries: list[_PctEntry]) -> DatedRate:
    return DatedRate(
        what,
        tuple(e.from_ for e in entries),
        tuple(e.rate_pct / 100.0 for e in entries),
        tuple(e.unverified for e in entries),
    )


def _amount(what: str, entries: list[_BrokerageEntry], field: str) -> DatedRate:
    return DatedRate(
        what,
        tuple(e.from_ for e in entries),
        tuple(float(getattr(e, field)) for e in entries),
        tuple(e.unverified for e in entries),
    )


def _trade_day(trade_date: date | datetime) -> date:
    """A datetime is taken in IST (the exchange's day); a date is used as it is."""
    return to_ist(trade_date).date() if isinstance(trade_date, datetime) else trade_date


def _check_trade(quantity: int, price: float, what: str) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, Integral) or quantity <= 0:
        raise ValueError(
            f"charges: quantity must be a positive whole number of units, got {quantity!r}"
        )
    if not (isinstance(price, Real) and math.isfinite(price) and price >= 0):
        raise ValueError(f"charges: {what} must be a finite price >= 0, got {price!r}")


class ChargeSchedule:
    """The charge tables in force, for one broker's brokerage tariff.

    Build with :meth:`load` (packaged table, or ``OPTRUNNER_CHARGES``), :meth:`from_file`
    or directly from a dict of the same shape as ``data/charges.json``.
    ``gst_on_ipft`` overrides the file's switch (whether GST is also due on the IPFT
    levy is disputed; the default file says no).
    """

    def __init__(
        self,
        raw: Mapping[str, Any],
        *,
        broker: str = "default",
        gst_on_ipft: bool | None = None,
        source: str = "charge schedule dict",
    ) -> None:
        try:
            parsed = _ChargesFile.model_validate(
                {k: v for k, v in raw.items() if not k.startswith("_")}
            )
        except ValidationError as exc:
            problems = "\n".join(
                f"  {'.'.join(str(part) for part in e['loc'])}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ValueError(f"{source}: invalid charge schedule\n{problems}") from exc
        tariffs = {name.lower(): table for name, table in parsed.brokerage.items()}
        if broker.lower() not in tariffs:
            raise ValueError(
                f"{source}: no brokerage tariff for broker {broker!r}; known: {', '.join(sorted(tariffs))}"
            )
        tariff = tariffs[broker.lower()]
        self.broker = broker.lower()
        self.source = source
        self.gst_on_ipft = parsed.gst_on_ipft if gst_on_ipft is None else bool(gst_on_ipft)
        self._brokerage = _amount(f"brokerage per order ({self.broker})", tariff, "per_order")
        self._settle_brokerage = _amount(
            f"settlement brokerage ({self.broker})", tariff, "per_settlement"
        )
        self._stt_sell = _pct_rate("STT on option sales", parsed.stt_sell_pct)
        self._stt_exercise = _pct_rate("STT on exercise", parsed.stt_exercise_pct)
        self._exchange = {
            x.upper(): _pct_rate(f"{x.upper()} transaction charge", t)
            for x, t in parsed.exchange_txn_pct.items()
        }
        self._ipft = {
            x.upper(): _pct_rate(f"{x.upper()} IPFT charge", t) for x, t in parsed.ipft_pct.items()
        }
        self._sebi = _pct_rate("SEBI turnover fee", parsed.sebi_pct)
        self._stamp = _pct_rate("stamp duty", parsed.stamp_buy_pct)
        self._gst = _pct_rate("GST", parsed.gst_pct)
        missing = sorted(set(self._exchange) ^ set(self._ipft))
        if missing:
            raise ValueError(
                f"{source}: exchanges {missing} need both an exchange_txn_pct and an ipft_pct table"
            )

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> ChargeSchedule:
        p = Path(path)
        try:
            raw = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: cannot read charge schedule ({exc})") from exc
        return cls(raw, source=str(p), **kwargs)

    @classmethod
    def load(cls, path: str | Path | None = None, **kwargs: Any) -> ChargeSchedule:
        """``path``, else the file named by ``OPTRUNNER_CHARGES``, else the packaged table."""
        chosen = path or os.environ.get(ENV_OVERRIDE)
        if chosen:
            return cls.from_file(chosen, **kwargs)
        text = resources.files("optrunner.portfolio").joinpath("data/charges.json").read_text()
        return cls(json.loads(text), source="optrunner/portfolio/data/charges.json", **kwargs)

    @property
    def exchanges(self) -> tuple[str, ...]:
        return tuple(sorted(self._exchange))

    # --- charges -----------------------------------------------------------------------

    def _exchange_rates(self, exchange: str) -> tuple[DatedRate, DatedRate]:
        key = exchange.upper()
        if key not in self._exchange:
            raise ValueError(
                f"charges: unknown exchange {exchange!r}; known: {', '.join(self.exchanges)}"
            )
        return self._exchange[key], self._ipft[key]

    def charges_for_fill(
        self,
        exchange: str,
        side: Side | str,
        quantity: int,
        price: float,
        trade_date: date | datetime,
        *,
        first_fill_of_order: bool,
        brokerage: float | None = None,
    ) -> ChargeBreakdown:
        """Charges on one fill of ``quantity`` units at ``price`` (premium per unit).

        Brokerage is per executed *order*: it is charged on the order's first fill only
        (``brokerage`` overrides the tariff for this order). Percentage charges are
        pro-rata on this fill's premium turnover, so the pieces of a partial fill sum to
        the whole order's charges.
        """
        side = Side(side)
        _check_trade(quantity, price, "fill price")
        on = _trade_day(trade_date)
        exch_rate, ipft_rate = self._exchange_rates(exchange)
        turnover = float(quantity) * float(price)
        brk = 0.0
        if first_fill_of_order:
            brk = (
                self._brokerage.at(on)
                if brokerage is None
                else _non_negative(brokerage, "brokerage")
            )
        exch = exch_rate.at(on) * turnover
        sebi = self._sebi.at(on) * turnover
        ipft = ipft_rate.at(on) * turnover
        gst_base = brk + exch + sebi + (ipft if self.gst_on_ipft else 0.0)
        return ChargeBreakdown(
            brokerage=brk,
            stt=self._stt_sell.at(on) * turnover if side is Side.SELL else 0.0,
            exchange=exch,
            sebi=sebi,
            stamp=self._stamp.at(on) * turnover if side is Side.BUY else 0.0,
            ipft=ipft,
            gst=self._gst.at(on) * gst_base,
        )

    def settlement_charges(
        self,
        exchange: str,
        side: Side | str,
        quantity: int,
        intrinsic: float,
        trade_date: date | datetime,
        *,
        brokerage: float | None = None,
    ) -> ChargeBreakdown:
        """Charges on cash settlement at expiry of ``quantity`` units worth ``intrinsic`` each.

        ``side`` is the side of the *settlement fill*: SELL settles a long (the holder,
        who pays exercise STT on intrinsic x quantity), BUY settles a short (no STT).
        An OTM contract (intrinsic 0) expires with no charges at all. Brokerage on an
        exercised/assigned contract is the tariff's ``per_settlement`` (0 by default),
        or ``brokerage`` when given; GST is due on it.
        """
        side = Side(side)
        _check_trade(quantity, intrinsic, "intrinsic value")
        on = _trade_day(trade_date)
        self._exchange_rates(exchange)  # an unknown exchange is an error here too
        if intrinsic == 0:
            return ChargeBreakdown()
        brk = (
            self._settle_brokerage.at(on)
            if brokerage is None
            else _non_negative(brokerage, "brokerage")
        )
        stt = self._stt_exercise.at(on) * intrinsic * quantity if side is Side.SELL else 0.0
        return ChargeBreakdown(brokerage=brk, stt=stt, gst=self._gst.at(on) * brk)

    def unverified_rates(self, exchange: str, trade_date: date | datetime) -> list[str]:
        """Names of the rates in force for ``exchange`` on ``trade_date`` that are marked unverified.

        For reports: a backtest whose costs rest on an unconfirmed rate should say so.
        """
        on = _trade_day(trade_date)
        rates = [
            self._stt_sell,
            self._stt_exercise,
            *self._exchange_rates(exchange),
            self._sebi,
            self._stamp,
            self._gst,
        ]
        return [r.what for r in rates if r.is_unverified(on)]


def _non_negative(value: float, what: str) -> float:
    if not (isinstance(value, Real) and math.isfinite(value) and value >= 0):
        raise ValueError(f"charges: {what} must be a finite amount >= 0, got {value!r}")
    return float(value)
