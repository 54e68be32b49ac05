"""Synthetic minute option chains and index bars on the real trading calendar.

Deterministic from a seed: the same (symbol, dates, seed, parameters) give byte-identical
tables, so the demo and the tests can rely on exact data without shipping any. Every
trading day has snapshots at each minute 09:15..15:30 IST (376); each listed expiry (every
expiry of the index within ``horizon_days``, and always the next one) carries the day's
opening ATM ± ``strikes_each_side`` strikes, each contract a row every minute. Prices are
Black-76 on F = S·e^{rT} (calendar T) with the variance to expiry counted on a trading-time
clock (:meth:`SyntheticMarket.trading_years`, the real calendar's sessions, nights, weekends
and holidays); the iv/greeks columns are then computed from the quoted mids exactly as an
import would compute them, in calendar time. The market model is in :mod:`.synthetic_model`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from optrunner.data import synthetic_model as model
from optrunner.data.catalog import DEFAULT_RATE, Catalog
from optrunner.data.enrich import add_greeks, years_to_expiry
from optrunner.data.schema import (
    BAR_SCHEMA,
    CHAIN_SCHEMA,
    IST_OFFSET_NS,
    NS_PER_DAY,
    NS_PER_MINUTE,
    TS_TYPE,
)
from optrunner.data.snapshot import contract_keys
from optrunner.instruments import calendar_for, get_index
from optrunner.instruments.calendar import holidays_years

SNAPSHOTS_PER_DAY = model.SESSION_MINUTES + 1  # 09:15 .. 15:30 inclusive
_OPEN_MINUTE = 9 * 60 + 15
_CLOSE_MINUTE = _OPEN_MINUTE + model.SESSION_MINUTES  # 15:30, when contracts expire
_OPEN_NS = _OPEN_MINUTE * NS_PER_MINUTE
_EPOCH = np.datetime64("1970-01-01", "D")


class SyntheticMarket:
    """One index's synthetic market, advanced a trading day at a time (state: level, vol, OI)."""

    def __init__(
        self, symbol: str, seed: int = 7, *, params: model.SynthParams | None = None,
        strikes_each_side: int = 30, horizon_days: int = 30, rate: float = DEFAULT_RATE,
    ) -> None:  # fmt: skip
        if strikes_each_side < 1 or horizon_days < 0:
            raise ValueError("strikes_each_side must be >= 1 and horizon_days >= 0")
        self.symbol = symbol.upper()
        self.spec = get_index(self.symbol)
        self.calendar = calendar_for(self.symbol)
        self.p = params or model.SynthParams.for_symbol(self.symbol)
        self.strikes_each_side = strikes_each_side
        self.horizon_days = horizon_days
        self.rate = rate
        self.rng = np.random.default_rng(
            np.random.SeedSequence([seed, zlib.crc32(self.symbol.encode())])
        )
        self._close: float | None = None
        self._vol = self.p.vol
        self._oi_keys = np.empty(0, np.int64)
        self._oi_close = np.empty(0)
        self._busdays = np.busdaycalendar(
            holidays=np.array(sorted(self.calendar.holidays), dtype="datetime64[D]")
        )

    def listed_expiries(self, d: date) -> list[date]:
        """Expiries trading on ``d``: all within the horizon, and at least the next one."""
        found = set(self.calendar.expiries(self.spec, d, d + timedelta(days=self.horizon_days)))
        found.add(self.calendar.next_expiry(self.spec, d))
        return sorted(found)

    def trading_years(self, ts: np.ndarray, exp_days: np.ndarray) -> np.ndarray:
        """Trading-time years from session instants ``ts`` (int64 ns UTC) to 15:30 IST on expiry.

        ``exp_days`` are expiry dates as days since 1970-01-01; the two broadcast. Counts the
        rest of ``ts``'s session and every trading day of the index's calendar after it up to
        the expiry, each with the gap before it (:func:`.synthetic_model.trading_years`); 0
        once expired. Only defined at session instants (09:15-15:30 IST of a trading day):
        raises otherwise.
        """
        local = np.asarray(ts, np.int64) + IST_OFFSET_NS
        day, minute = local // NS_PER_DAY, (local % NS_PER_DAY) / NS_PER_MINUTE
        in_session = (minute >= _OPEN_MINUTE) & (minute <= _CLOSE_MINUTE)
        in_session &= np.is_busday(_EPOCH + day, busdaycal=self._busdays)
        if not np.all(in_session):
            first_bad = int(np.ravel(local)[np.argmin(np.ravel(in_session))])
            when = np.datetime64(first_bad, "ns").astype("datetime64[m]")
            raise ValueError(
                f"trading_years: {when} IST is not in a {self.calendar.name} session "
                "(09:15-15:30 on a trading day); the trading-time clock is defined only there"
            )
        exp = np.asarray(exp_days, np.int64)
        sessions = np.busday_count(_EPOCH + day + 1, _EPOCH + exp + 1, busdaycal=self._busdays)
        tau = model.trading_years(minute - _OPEN_MINUTE, sessions, self.p.overnight_share)
        return np.where(exp >= day, tau, 0.0)

    def day(self, d: date) -> tuple[pa.Table, pa.Table]:
        """(chain table, minute-bar table) for trading day ``d``; days must come in order."""
        rng, p = self.rng, self.p
        gap = 0.0 if self._close is None else model.overnight_gap(rng, self._vol, p)
        prev_close = p.spot0 if self._close is None else self._close
        path = model.day_path(rng, round(prev_close * np.exp(gap), 2), self._vol, p)
        spot = path[:: model.SUBSTEPS]
        open_ns = (d - date(1970, 1, 1)).days * NS_PER_DAY - IST_OFFSET_NS + _OPEN_NS
        ts = open_ns + np.arange(SNAPSHOTS_PER_DAY, dtype=np.int64) * NS_PER_MINUTE

        exp_days, strike, is_call, rank, lot = self._contracts(d, float(spot[0]))
        t_years = years_to_expiry(ts[:, None], exp_days[None, :])
        tau = self.trading_years(ts[:, None], exp_days[None, :])
        forward = spot[:, None] * np.exp(self.rate * t_years)
        atm = model.atm_vol(rng, self._vol, spot, tau, p)
        iv, x = model.smile(atm, forward, strike, tau, p)
        price = model.trading_time_price(forward, strike, t_years, tau, self.rate, iv, is_call)
        bid, ask, ltp = model.quotes(rng, price, x, t_years, self.spec.tick_size)
        bid_qty, ask_qty = model.displayed_sizes(rng, x, lot)
        oi = self._open_interest(spot, strike, is_call, rank, t_years, lot, exp_days)
        volume = model.cumulative_volume(rng, x, is_call, t_years, rank, lot, p)

        m, c = t_years.shape
        n = m * c
        nan = pa.array(np.full(n, np.nan))
        cols = {
            "ts": pa.array(np.repeat(ts, c)).cast(TS_TYPE),
            "expiry": pa.array(np.tile(exp_days.astype(np.int32), m)).cast(pa.date32()),
            "strike": np.tile(strike, m),
            "right": pa.array(np.tile(np.where(is_call, "CE", "PE"), m)),
            "spot": np.repeat(spot, c),
            "future": np.round(forward, 2).ravel(),
            "bid": bid.ravel(), "ask": ask.ravel(), "ltp": ltp.ravel(),
            "bid_qty": bid_qty.ravel(), "ask_qty": ask_qty.ravel(),
            "volume": volume.ravel().astype(np.float64), "oi": oi.ravel(),
            **{name: nan for name in ("iv", "delta", "gamma", "theta", "vega", "iv_source")},
        }  # fmt: skip
        chain = add_greeks(pa.Table.from_pydict(cols, schema=CHAIN_SCHEMA), rate=self.rate)

        window = path[:-1].reshape(model.SESSION_MINUTES, model.SUBSTEPS)
        bars = pa.Table.from_arrays(
            [
                pa.array(ts[:-1]).cast(TS_TYPE),
                pa.array(window[:, 0]),
                pa.array(np.maximum(window.max(axis=1), path[model.SUBSTEPS :: model.SUBSTEPS])),
                pa.array(np.minimum(window.min(axis=1), path[model.SUBSTEPS :: model.SUBSTEPS])),
                pa.array(path[model.SUBSTEPS :: model.SUBSTEPS]),
                pa.array(np.zeros(model.SESSION_MINUTES)),  # an index has no traded volume
            ],
            schema=BAR_SCHEMA,
        )
        self._vol = model.next_regime_vol(rng, self._vol, float(np.log(path[-1] / prev_close)), p)
        self._close = float(path[-1])
        return chain, bars

    def _contracts(self, d: date, open_level: float) -> tuple[np.ndarray, ...]:
        """Per contract, in ChainSnapshot key order: expiry day number, strike, is_call, rank, lot."""
        step = self.spec.strike_step
        strikes = self.spec.round_strike(open_level) + step * np.arange(
            -self.strikes_each_side, self.strikes_each_side + 1
        )
        expiries = self.listed_expiries(d)
        k = len(strikes)
        exp_days = np.repeat([(e - date(1970, 1, 1)).days for e in expiries], 2 * k).astype(
            np.int64
        )
        strike = np.tile(strikes, 2 * len(expiries)).astype(np.float64)
        is_call = np.tile(np.repeat([False, True], k), len(expiries))
        rank = np.repeat(np.arange(len(expiries)), 2 * k)
        lot = np.repeat([float(self.spec.lot_size(e)) for e in expiries], 2 * k)
        return exp_days, strike, is_call, rank, lot

    def _open_interest(
        self, spot: np.ndarray, strike: np.ndarray, is_call: np.ndarray, rank: np.ndarray,
        t_years: np.ndarray, lot: np.ndarray, exp_days: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """OI per minute: opens at yesterday's close (new contracts at part of their target)."""
        noise = self.rng.lognormal(0.0, 0.25, strike.shape)
        target = (
            model.oi_target(spot, strike, is_call, rank, t_years, self.spec.strike_step, self.p)
            * noise
        )
        keys = contract_keys(exp_days, strike, is_call)
        pos = np.minimum(np.searchsorted(self._oi_keys, keys), max(len(self._oi_keys) - 1, 0))
        seen = (self._oi_keys[pos] == keys) if len(self._oi_keys) else np.zeros(len(keys), bool)
        fresh = target[0] * self.rng.uniform(0.5, 0.9, strike.shape)
        oi_open = np.where(
            seen, self._oi_close[pos] if len(self._oi_close) else 0.0, np.round(fresh / lot) * lot
        )
        oi = model.open_interest(self.rng, oi_open, target, lot)
        self._oi_keys, self._oi_close = keys, oi[-1]
        return oi


@dataclass(slots=True)
class GenerateSummary:
    symbol: str
    days: int = 0
    rows: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def generate(
    symbol: str, start: date, end: date, seed: int = 7, out: Catalog | str | Path = "data",
    *, strikes_each_side: int = 30, horizon_days: int = 30,
    params: model.SynthParams | None = None, progress: bool = True,
    on_day: Callable[[date], None] | None = None,
) -> GenerateSummary:  # fmt: skip
    """Generate ``symbol``'s chains and minute bars for trading days in [start, end] into ``out``.

    ``out`` is a Catalog or a folder (created if needed). Prices use the catalog's rate, so
    the stored IVs invert the quotes exactly. Returns days, rows and the time taken.
    ``on_day`` is called after each day is stored (the CLI's progress in a pipe or log).
    """
    calendar = calendar_for(symbol.upper())
    days = calendar.trading_days(start, end)  # before anything is written
    if not days:
        raise ValueError(f"no {calendar.name} trading days between {start} and {end}; nothing written")
    catalog = out if isinstance(out, Catalog) else Catalog.create(out)
    market = SyntheticMarket(
        symbol, seed, params=params, strikes_each_side=strikes_each_side,
        horizon_days=horizon_days, rate=catalog.rate,
    )  # fmt: skip
    summary = GenerateSummary(market.symbol)
    covered = holidays_years(market.calendar)
    outside = sorted({d.year for d in days} - set(covered))
    if outside:
        summary.notes.append(
            f"holiday list covers {covered[0]}-{covered[-1]}; {outside} use weekends only as non-trading days"
        )
    began = time.perf_counter()
    job = f"data synth --symbol {market.symbol} --from {start} --to {end} --seed {seed}"
    with catalog.writing(job), _progress(progress) as bar:
        task = bar.add_task(f"{market.symbol} synthetic", total=len(days), rows=0)
        for d in days:
            chain, bars = market.day(d)
            catalog.write_chain(market.symbol, chain, compute_greeks=False)
            catalog.write_bars(market.symbol, bars)
            summary.days += 1
            summary.rows += chain.num_rows
            bar.update(task, advance=1, rows=summary.rows, description=f"{market.symbol} {d}")
            if on_day is not None:
                on_day(d)
        summary.seconds = time.perf_counter() - began
        catalog.add_provenance({
            "kind": "synthetic", "symbol": market.symbol, "from": days[0].isoformat(), "to": days[-1].isoformat(),
            "seed": seed, "strikes_each_side": strikes_each_side, "horizon_days": horizon_days,
            "rate": catalog.rate, "params": {k: getattr(market.p, k) for k in market.p.__slots__},
            "days": summary.days, "rows": summary.rows,
        })  # fmt: skip
    return summary


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rows]:,} rows"), TimeElapsedColumn(), TimeRemainingColumn(),
        disable=not enabled,
    )  # fmt: skip
