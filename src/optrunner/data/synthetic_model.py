"""The synthetic market: an index path, an implied-vol surface, quotes, sizes, OI and volume.

Pure NumPy functions of a random generator and the day's arrays, so the generator
(:mod:`optrunner.data.synthetic`) only has to arrange days, contracts and tables. The model
aims at what a trader checks first on a chain screen, not at being a calibrated model:

- spot: log-returns on 1/``SUBSTEPS``-minute steps with Student-t shocks, a U-shaped
  intraday volatility profile, rare intraday jumps, overnight gaps (occasionally large);
  the day's volatility follows a mean-reverting log process that rises after down days;
- implied vol: the realised regime times a risk premium, moving against spot within the
  day; a put skew with a smile in standardised moneyness; a term structure (upward when
  calm, flatter or inverted when stressed) and a rise for contracts in their last days;
- time: options are priced on a trading-time variance clock (:func:`trading_years`), the
  way market makers price them: a session minute decays as much variance as the spot path
  realises in it, and the gap between two sessions (a night, a weekend or a holiday) only
  the overnight share of a day. Quoted in calendar time, as every importer and the
  catalog's iv column do, that shows as IV drifting down through the session and jumping
  back at the next open;
- quotes: the model price on the 0.05 tick, spreads in ticks widening with price, with
  distance from the money, with time to expiry and on expiry afternoon; displayed sizes in
  lots, larger near the money;
- OI and volume shaped like NSE's: OI peaking at round strikes and at out-of-the-money
  calls above / puts below spot, carried over from the previous day and building through
  the session; volume heaviest near the money and on expiry day, U-shaped in time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optrunner.greeks import black76_price

SUBSTEPS = 5  # path points per minute (bar high/low come from them)
SESSION_MINUTES = 375
TRADING_DAYS_PER_YEAR = 252  # the spot path's and the model vols' annualisation
_T_FLOOR = 1.0 / (365 * 1440)  # one calendar minute
_TAU_FLOOR = 1.0 / (TRADING_DAYS_PER_YEAR * SESSION_MINUTES)  # about a session minute


@dataclass(frozen=True, slots=True)
class SynthParams:
    """Model parameters (annualised vols as fractions). ``for_symbol`` gives per-index defaults."""

    spot0: float
    vol: float  # long-run realised vol
    oi_scale: float  # units of OI at the busiest strike of the nearest expiry
    volume_scale: float  # lots traded per minute at the money, nearest expiry
    vol_of_vol: float = 0.05  # daily sd of log-vol shocks (slow regime drift)
    vol_halflife_days: float = 30.0
    leverage: float = 2.0  # log-vol change per unit of the day's (negative) log return
    drift: float = 0.08
    overnight_share: float = 0.2  # share of daily variance in the gap between sessions
    gap_prob: float = 0.03  # chance of a large extra gap
    gap_sd: float = 0.012
    jump_rate: float = 0.15  # intraday jumps per day
    jump_sd: float = 0.004
    tail_df: float = 5.0  # Student-t degrees of freedom of the minute shocks
    vrp: float = 1.12  # implied / realised, both on the trading-time clock
    spot_vol_beta: float = 4.0  # d ln(IV) / d ln(S) = -beta within the day
    skew: float = -0.07  # IV slope per standard deviation of moneyness
    smile: float = 0.012  # IV curvature per squared standard deviation
    term_slope: float = 0.06  # calm-regime term-structure slope
    expiry_bump: float = 0.10  # extra IV for contracts in their last days

    def __post_init__(self) -> None:
        if not 0.0 <= self.overnight_share < 1.0:
            raise ValueError(
                f"SynthParams.overnight_share must be in [0, 1), got {self.overnight_share}"
            )

    @classmethod
    def for_symbol(cls, symbol: str) -> SynthParams:
        known = {
            "NIFTY": cls(spot0=26_000.0, vol=0.135, oi_scale=9.0e6, volume_scale=2_000.0),
            "BANKNIFTY": cls(spot0=59_000.0, vol=0.17, oi_scale=2.0e6, volume_scale=900.0),
            "FINNIFTY": cls(spot0=27_500.0, vol=0.15, oi_scale=4.0e5, volume_scale=60.0),
            "MIDCPNIFTY": cls(spot0=13_500.0, vol=0.18, oi_scale=6.0e5, volume_scale=80.0),
            "SENSEX": cls(spot0=85_000.0, vol=0.135, oi_scale=1.5e6, volume_scale=1_500.0),
        }
        return known.get(
            symbol.upper(), cls(spot0=20_000.0, vol=0.16, oi_scale=1.0e6, volume_scale=200.0)
        )


def intraday_profile(points: int = SESSION_MINUTES * SUBSTEPS) -> np.ndarray:
    """Relative volatility of each step of the session (mean square 1): high at open and close."""
    u = (np.arange(points) + 0.5) / points
    minute = u * SESSION_MINUTES
    shape = (
        0.6
        + 1.6 * (u - 0.5) ** 2
        + 1.5 * np.exp(-minute / 12.0)
        + 0.5 * np.exp(-(SESSION_MINUTES - minute) / 20.0)
    )
    return shape / np.sqrt(np.mean(shape**2))


_PROFILE_MINUTES = np.arange(SESSION_MINUTES * SUBSTEPS + 1) / SUBSTEPS  # step boundaries
_PROFILE_VARIANCE_LEFT = np.concatenate((np.cumsum((intraday_profile() ** 2)[::-1])[::-1], [0.0]))
_PROFILE_VARIANCE_LEFT /= _PROFILE_VARIANCE_LEFT[0]


def next_regime_vol(
    rng: np.random.Generator, vol: float, day_return: float, p: SynthParams
) -> float:
    """Tomorrow's realised-vol level: mean-reverting in logs, pushed up by a down day."""
    kappa = np.log(2.0) / p.vol_halflife_days
    log_v = (
        np.log(vol) + kappa * (np.log(p.vol) - np.log(vol)) + p.vol_of_vol * rng.standard_normal()
    )
    log_v -= p.leverage * day_return
    return float(np.clip(np.exp(log_v), 0.5 * p.vol, 2.5 * p.vol))


def overnight_gap(rng: np.random.Generator, vol: float, p: SynthParams) -> float:
    """Log-return from yesterday's close to today's open."""
    sd = vol * np.sqrt(p.overnight_share / TRADING_DAYS_PER_YEAR)
    gap = sd * rng.standard_t(p.tail_df) * np.sqrt((p.tail_df - 2) / p.tail_df)
    if rng.random() < p.gap_prob:
        gap += p.gap_sd * rng.standard_normal()
    return float(gap)


def day_path(rng: np.random.Generator, open_level: float, vol: float, p: SynthParams) -> np.ndarray:
    """The index at 09:15 + k/SUBSTEPS minutes, k = 0 .. 375*SUBSTEPS (rounded to 0.01)."""
    steps = SESSION_MINUTES * SUBSTEPS
    var_step = vol**2 * (1.0 - p.overnight_share) / TRADING_DAYS_PER_YEAR / steps
    sd = np.sqrt(var_step) * intraday_profile(steps)
    shocks = rng.standard_t(p.tail_df, steps) * np.sqrt((p.tail_df - 2) / p.tail_df)
    log_ret = (p.drift / TRADING_DAYS_PER_YEAR / steps - 0.5 * sd**2) + sd * shocks
    for _ in range(rng.poisson(p.jump_rate)):
        log_ret[rng.integers(steps)] += p.jump_sd * rng.standard_normal() - 0.3 * p.jump_sd
    path = open_level * np.exp(np.concatenate(([0.0], np.cumsum(log_ret))))
    return np.round(path, 2)


def session_variance_left(session_minute: np.ndarray) -> np.ndarray:
    """Share of a session's (diffusive) variance still to come ``session_minute`` minutes after
    09:15 (0 .. 375, fractions allowed): 1 at the open, 0 at 15:30, falling fastest at the open
    and the close, as the spot path's :func:`intraday_profile` realises it."""
    return np.interp(session_minute, _PROFILE_MINUTES, _PROFILE_VARIANCE_LEFT)


def trading_years(
    session_minute: np.ndarray, sessions_after: np.ndarray, overnight_share: float
) -> np.ndarray:
    """Time to expiry on the variance clock, in trading years of 252 sessions.

    A trading day (the gap before a session plus the session) is 1/252: the session carries
    ``1 - overnight_share`` of it, spread over its minutes as the spot's intraday volatility
    profile spreads the variance, and the gap ``overnight_share``, however many calendar
    days it spans — exactly how :func:`overnight_gap` and :func:`day_path` split the spot's
    variance. So vol^2 x this is the variance the index is expected to realise to expiry:
    the rest of today's session from ``session_minute`` (minutes after 09:15) to 15:30, plus
    ``sessions_after`` whole trading days (each with the gap before it) up to and including
    the expiry day. Pricing on it puts an option's decay where its risk is. (The rare extra
    gaps and intraday jumps are not on the clock: like real tail risk, they are what the
    volatility premium pays for.)
    """
    today = (1.0 - overnight_share) * session_variance_left(session_minute)
    return (today + np.asarray(sessions_after)) / TRADING_DAYS_PER_YEAR


def trading_time_price(
    forward: np.ndarray, strike: np.ndarray, t_years: np.ndarray, tau: np.ndarray,
    rate: float, iv: np.ndarray, is_call: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Black-76 with total variance ``iv^2 tau`` (trading clock), discounted on calendar T.

    Priced as Black-76 on calendar ``t_years`` at the vol ``iv sqrt(tau / T)`` — the vol a
    screen quoting calendar time shows — so discounting and put-call parity stay on
    calendar time, where the importer's parity forward and IV inversion look for them.
    """
    sigma = iv * np.sqrt(np.maximum(tau, 0.0) / np.maximum(t_years, _T_FLOOR))
    return black76_price(forward, strike, t_years, rate, sigma, is_call)


def term_structure(regime_vol: float, tau: np.ndarray, p: SynthParams) -> np.ndarray:
    """ATM vol multiplier by trading time to expiry: a slope (inverted when stressed) and a
    rise in a contract's last days. Days are trading time x 365 (calendar-equivalent), so the
    curve moves smoothly through nights and weekends instead of jumping at every Monday open."""
    stress = regime_vol / p.vol - 1.0
    slope = p.term_slope - 0.3 * stress  # stressed markets invert the term structure
    days = np.maximum(tau, _TAU_FLOOR) * 365.0
    return 1.0 + slope * (np.sqrt(days / 30.0) - 1.0) + p.expiry_bump * np.exp(-days / 2.0)


def atm_vol(
    rng: np.random.Generator,
    regime_vol: float,
    spot: np.ndarray,
    tau: np.ndarray,
    p: SynthParams,
) -> np.ndarray:
    """At-the-money model vol (trading time) per (minute, contract): regime, spot moves, term."""
    minutes = len(spot)
    wobble = np.exp(np.cumsum(rng.standard_normal(minutes)) * 0.0005)  # slow intraday noise
    level = regime_vol * p.vrp * np.exp(-p.spot_vol_beta * np.log(spot / spot[0])) * wobble
    return np.maximum(level[:, None] * term_structure(regime_vol, tau, p), 0.03)


def smile(
    atm: np.ndarray, forward: np.ndarray, strike: np.ndarray, tau: np.ndarray, p: SynthParams
):
    """(model IV, standardised moneyness x = ln(K/F) / (atm sqrt tau)) with skew and smile in x.

    x counts standard deviations of the variance left to expiry, the same whether read on
    the trading clock or in calendar time at the quoted vol."""
    x = np.log(strike / forward) / (atm * np.sqrt(np.maximum(tau, _TAU_FLOOR)))
    xc = np.clip(x, -5.0, 5.0)
    return atm * (1.0 + p.skew * xc + p.smile * xc**2), x


def quotes(
    rng: np.random.Generator, price: np.ndarray, x: np.ndarray, t_years: np.ndarray, tick: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bid, ask, ltp) on the tick around model ``price``; bid >= 1 tick, ask >= bid + 1 tick.

    The quote brackets the model price (bid <= price <= ask) unless the option is worth less
    than a tick, where the book shows the floor quote 0.05 / 0.10.
    """
    days = t_years * 365.0
    ticks = (
        (1.0 + 0.0008 * price / tick)
        * (1.0 + 0.25 * np.minimum(np.abs(x), 6.0))
        * (1.0 + days / 30.0)
    )
    ticks *= 1.0 + 0.8 * np.exp(-days * 1440.0 / 90.0)  # expiry afternoon: gamma makes makers wide
    ticks *= rng.lognormal(0.0, 0.25, price.shape)
    ticks = np.clip(np.ceil(ticks), 1.0, np.maximum(1.0, np.ceil(0.5 * price / tick)))
    spread = ticks * tick
    bid = np.round((price - 0.5 * spread) / tick) * tick
    bid = np.maximum(bid, tick)
    ask = np.maximum(bid + spread, 2.0 * tick)
    mid = 0.5 * (bid + ask)
    ltp = np.maximum(
        np.round((mid + rng.uniform(-0.5, 0.5, price.shape) * spread) / tick) * tick, tick
    )
    return np.round(bid, 2), np.round(ask, 2), np.round(ltp, 2)


def displayed_sizes(
    rng: np.random.Generator, x: np.ndarray, lot: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask quantities in units, whole lots, larger near the money."""
    depth = 2.0 + 60.0 * np.exp(-0.5 * (x / 1.5) ** 2)
    bid_lots = 1.0 + np.floor(depth * rng.lognormal(0.0, 0.7, x.shape))
    ask_lots = 1.0 + np.floor(depth * rng.lognormal(0.0, 0.7, x.shape))
    return bid_lots * lot, ask_lots * lot


def oi_target(
    spot: np.ndarray, strike: np.ndarray, is_call: np.ndarray, expiry_rank: np.ndarray,
    t_years: np.ndarray, step: float, p: SynthParams,
) -> np.ndarray:  # fmt: skip
    """The OI (units) a contract drifts towards: round strikes, OTM sides, near expiries."""
    dist = (strike - spot[:, None]) / spot[:, None]  # > 0: strike above spot
    otm = np.where(is_call, dist, -dist)
    shape = np.where(
        otm > 0, np.exp(-(((otm - 0.012) / 0.025) ** 2)), 0.3 * np.exp(-((otm / 0.01) ** 2))
    )
    paise = np.rint(strike * 100).astype(np.int64)
    round_strike = np.where(
        paise % round(step * 1000) == 0,
        2.5,
        np.where(paise % round(step * 200) == 0, 1.5, 1.0),
    )
    nearness = 1.0 / (1.0 + 0.6 * expiry_rank) * (0.4 + 0.6 * np.exp(-t_years * 365.0 / 20.0))
    return p.oi_scale * shape * round_strike * nearness


def open_interest(
    rng: np.random.Generator, oi_open: np.ndarray, target: np.ndarray, lot: np.ndarray
) -> np.ndarray:
    """Per minute, OI moving from the open towards ``target`` through the session (whole lots)."""
    minutes = target.shape[0]
    progress = (np.arange(minutes) / (minutes - 1)) ** 0.8
    pace = rng.lognormal(0.0, 0.3, oi_open.shape)
    noise = 1.0 + 0.01 * rng.standard_normal(target.shape)
    oi = oi_open + (target - oi_open) * np.clip(progress[:, None] * pace, 0.0, 1.0) * noise
    return np.maximum(np.round(oi / lot), 0.0) * lot


def cumulative_volume(
    rng: np.random.Generator, x: np.ndarray, is_call: np.ndarray, t_years: np.ndarray,
    expiry_rank: np.ndarray, lot: np.ndarray, p: SynthParams,
) -> np.ndarray:  # fmt: skip
    """Day volume so far (units) per minute: 0 at 09:15, heaviest near the money, in the
    out-of-the-money option of each strike and on expiry day; U-shaped through the session."""
    minutes = x.shape[0]
    u = np.arange(minutes) / (minutes - 1)
    season = 0.5 + 2.0 * (u - 0.5) ** 2 + 1.2 * np.exp(-u * 25.0)
    days = t_years * 365.0
    otm = 1.0 / (1.0 + np.exp(-3.0 * np.clip(np.where(is_call, x, -x), -20.0, 20.0)))  # ~1 OTM, ~0 ITM
    liquidity = np.exp(-0.5 * (x / 1.2) ** 2) * (0.25 + 0.75 * otm) / (1.0 + expiry_rank) * (1.0 + 2.0 * np.exp(-days))
    rate = p.volume_scale * season[:, None] * liquidity
    lots = rng.poisson(rate)
    lots[0] = 0
    return np.cumsum(lots, axis=0) * lot
