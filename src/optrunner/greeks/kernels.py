"""Black-76 / Black-Scholes-Merton maths and the implied-vol solver, numba-compiled.

Both models are one formula in the cost of carry ``b`` (Haug ch. 1): Black-76 values an
option on a forward (underlying ``u = F``, ``b = 0``), Black-Scholes-Merton one on a spot
with continuous yield ``q`` (``u = S``, ``b = r - q``, forward ``S e^{(r-q)T}``). The price
is ``DF (F N(d1) - K N(d2))`` for a call either way; the greeks differ because they hold
different things fixed (F versus S). ``spot`` selects BSM.

Row functions never raise: an input outside the domain gives NaN, so one bad row of a
million cannot stop the rest (``error_model="numpy"`` makes a division by zero inf/NaN,
not an exception). ``is_call`` arrives as a float so NaN can mark a bad row: 0 is a put.
Greeks come out in trader units: vega per vol point, theta per calendar day (per-year
theta / 365), rho per 1 % of rate.

Everything compiled lives in this one file on purpose: numba's on-disk cache is checked
against the caller's own source file only, so a loop cached here would keep running an
old copy of a kernel edited in another module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# cache=True: compiled code is kept on disk, so only the first use after an install
# compiles. No fastmath: it would let LLVM assume there are no NaNs.
JIT = {"cache": True, "error_model": "numpy", "nogil": True}
INF, NAN = math.inf, math.nan
INV_SQRT2 = 1.0 / math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)
INV_SQRT_2PI = 1.0 / SQRT_2PI
VEGA_PER_POINT, THETA_PER_DAY, RHO_PER_PCT = 0.01, 1.0 / 365.0, 0.01
MAX_ITER = 40
# A Halley step of relative size e leaves an error ~K e^3: once both the relative price
# error and the step are below 1e-5 the step is taken without an evaluation to confirm
# it. (The price error alone is not enough: near the upper bound b is flat in v.)
ACCEPT_AFTER_STEP = 1e-5
# Below this many rows the whole-chain kernel runs on the calling thread: waking the
# worker pool (~10 us) costs more than it saves. Measured here: 80 rows 17 us serial vs
# 22 us on 2 threads; 512 rows 97 vs 76 us.
PARALLEL_MIN_ROWS = 512
CHUNKS_PER_THREAD = 8  # rows differ in cost and a shared core may stall: balance in chunks
Arr = np.ndarray


@njit(**JIT)
def norm_cdf(x: float) -> float:
    """Standard normal CDF via erfc: full relative accuracy deep in the left tail."""
    return 0.5 * math.erfc(-x * INV_SQRT2)


@njit(**JIT)
def valid_market(u: float, k: float, t: float, r: float, q: float, c: float) -> bool:
    """Underlying and strike positive and finite, T >= 0, r and q finite, is_call not NaN."""
    return (
        0.0 < u < INF
        and 0.0 < k < INF
        and 0.0 <= t < INF
        and abs(r) < INF
        and abs(q) < INF
        and c == c
    )


@njit(**JIT)
def price_row(
    u: float, k: float, t: float, r: float, q: float, s: float, c: float, spot: bool
) -> float:
    """Option price; at T == 0 or sigma == 0 the limit, the discounted intrinsic of the forward."""
    if not (valid_market(u, k, t, r, q, c) and 0.0 <= s < INF):
        return NAN
    w = 1.0 if c != 0.0 else -1.0
    f = u * math.exp((r - q) * t) if spot else u
    df = math.exp(-r * t)
    sd = s * math.sqrt(t)
    if sd == 0.0:
        return df * max(w * (f - k), 0.0)
    d1 = math.log(f / k) / sd + 0.5 * sd
    return df * w * (f * norm_cdf(w * d1) - k * norm_cdf(w * (d1 - sd)))


@njit(**JIT)
def _greeks(
    u: float,
    k: float,
    t: float,
    r: float,
    b: float,
    s: float,
    w: float,
    df: float,
    sqrt_t: float,
    log_uk: float,
    spot: bool,
) -> tuple[float, float, float, float, float]:
    """Greeks from pieces the caller already has (``w`` = +1 call / -1 put, ``log_uk`` =
    ln(u/K)); needs valid inputs with T > 0 and sigma > 0."""
    sd = s * sqrt_t
    carry = df if b == 0.0 else math.exp((b - r) * t)  # e^{-qT} for a spot, DF for a forward
    d1 = log_uk / sd + (b / s) * sqrt_t + 0.5 * sd
    pdf1 = INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    n1, n2 = norm_cdf(w * d1), norm_cdf(w * (d1 - sd))
    delta = w * carry * n1
    gamma = carry * pdf1 / (u * sd)
    vega = carry * u * pdf1 * sqrt_t
    theta = (
        -carry * u * pdf1 * s / (2.0 * sqrt_t) - w * (b - r) * carry * u * n1 - w * r * df * k * n2
    )
    # BSM holds S and q fixed, so the forward moves with r; Black-76 holds F: rho = -T V
    rho = w * k * t * df * n2 if spot else -t * w * (carry * u * n1 - df * k * n2)
    return delta, gamma, vega * VEGA_PER_POINT, theta * THETA_PER_DAY, rho * RHO_PER_PCT


@njit(**JIT)
def greeks_row(
    u: float, k: float, t: float, r: float, q: float, s: float, c: float, spot: bool
) -> tuple[float, float, float, float, float]:
    """(delta, gamma, vega, theta, rho), trader units; NaN unless T > 0 and sigma > 0.

    delta, gamma w.r.t. the model's underlying; theta = dV/dt (time passing).
    """
    if not (valid_market(u, k, t, r, q, c) and 0.0 < s < INF and t > 0.0):
        return NAN, NAN, NAN, NAN, NAN
    b = r - q if spot else 0.0
    w = 1.0 if c != 0.0 else -1.0
    return _greeks(u, k, t, r, b, s, w, math.exp(-r * t), math.sqrt(t), math.log(u / k), spot)


# --- implied volatility -----------------------------------------------------------------
# Every European option reduces to one problem. With x = ln(F/K) <= 0 (take the out-of-
# the-money side: an in-the-money option's time value is its OTM twin's price by parity,
# which also avoids iterating on price - intrinsic) and total vol v = sigma sqrt(T), the
# undiscounted OTM price over sqrt(F K) is
#     b(x, v) = e^{x/2} N(x/v + v/2) - e^{-x/2} N(x/v - v/2),  rising from 0 to e^{x/2}.


def _normal_model_h(y: float) -> float:
    """``H(y) = phi(y) / y - N(-y)``: in the normal (Bachelier) model an OTM option costs
    ``nu G(y)`` with ``G(y) = phi(y) - y N(-y)`` and ``y`` = moneyness / ``nu``; ``H = G / y``
    is that price per unit of moneyness, a function of ``y`` alone."""
    return math.exp(-0.5 * y * y) / (SQRT_2PI * y) - 0.5 * math.erfc(y * INV_SQRT2)


def _normal_model_table(
    nodes: int = 512, y_lo: float = 1e-3, y_hi: float = 8.0
) -> tuple[float, float, Arr]:
    """``ln y`` (row 0) and ``d ln y / dl`` (row 1) at uniform nodes of ``l = -ln H(y)``.

    Each node is solved by Newton in ``ln y`` (``dl / d ln y = phi(y) / (y H(y))``), so
    the table is exact at the nodes and cubic Hermite interpolation between them is good
    to ~1e-9. Built from the definition at import (a few ms).
    """
    start, end = -math.log(_normal_model_h(y_lo)), -math.log(_normal_model_h(y_hi))
    grid = np.linspace(start, end, nodes)
    table = np.empty((2, nodes))
    y = y_lo
    for j, target in enumerate(grid):
        for _ in range(50):
            h = _normal_model_h(y)
            step = (-math.log(h) - target) * y * h * SQRT_2PI * math.exp(0.5 * y * y)
            y *= math.exp(-step)
            if abs(step) < 1e-15:
                break
        table[0, j] = math.log(y)
        table[1, j] = y * _normal_model_h(y) * SQRT_2PI * math.exp(0.5 * y * y)
    return start, float(grid[1] - grid[0]), table


_TABLE_START, _TABLE_STEP, _TABLE = _normal_model_table()
_TABLE_END = _TABLE_START + _TABLE_STEP * (_TABLE.shape[1] - 1)
_TABLE_PER_STEP = 1.0 / _TABLE_STEP
_1_24, _1_5760 = 1.0 / 24.0, 1.0 / 5760.0  # Hagan's coefficients (multiplying is cheaper)

# Acklam's inverse normal CDF (relative error < 1.2e-9), only used for a starting point.
# fmt: off
ACKLAM_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
            1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
ACKLAM_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
            6.680131188771972e01, -1.328068155288572e01)
ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
            -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
            3.754408661907416e00)
# fmt: on


@njit(**JIT)
def _poly(coeffs: tuple[float, ...], x: float) -> float:
    """Horner's rule, highest power first."""
    acc = 0.0
    for c in coeffs:
        acc = acc * x + c
    return acc


@njit(**JIT)
def norm_ppf_approx(p: float) -> float:
    """Approximate inverse standard normal CDF for ``0 < p <= 0.5``."""
    if p < 0.02425:
        s = math.sqrt(-2.0 * math.log(p))
        return _poly(ACKLAM_C, s) / (_poly(ACKLAM_D, s) * s + 1.0)
    s = p - 0.5
    z = s * s
    return _poly(ACKLAM_A, z) * s / (_poly(ACKLAM_B, z) * z + 1.0)


@njit(**JIT)
def _table_log_y(ell: float) -> float:
    """Cubic Hermite interpolation of ln y at ``l`` in ``[_TABLE_START, _TABLE_END)``."""
    pos = (ell - _TABLE_START) * _TABLE_PER_STEP
    i = min(int(pos), _TABLE.shape[1] - 2)
    s = pos - i
    s2, s3 = s * s, s * s * s
    return (
        (2.0 * s3 - 3.0 * s2 + 1.0) * _TABLE[0, i]
        + (s3 - 2.0 * s2 + s) * _TABLE[1, i] * _TABLE_STEP
        + (3.0 * s2 - 2.0 * s3) * _TABLE[0, i + 1]
        + (s3 - s2) * _TABLE[1, i + 1] * _TABLE_STEP
    )


@njit(**JIT)
def initial_vol(beta: float, log_beta: float, x: float, ex: float) -> float:
    """Starting ``v`` for ``b(x, v) = beta``; ``ex = e^{x/2}``.

    Away from the money: the normal (Bachelier) model prices the option, normalised, at
    ``nu G(m / nu)`` with moneyness ``m = 2 sinh(|x|/2)``, so ``nu`` comes from the table;
    Hagan's expansion ``nu = v (m/|x|) / (1 + v^2/24 + v^4/5760)`` converts it to a Black
    vol. For index-option moneyness and vols that start is good to ~1e-7, and one Halley
    step finishes. Deep OTM, beyond the table: the asymptote
    ``ln b ~ -x^2/2v^2 + 3 ln v - 2 ln|x| - ln sqrt(2 pi)``. Both assume v << 1; near the
    money, or where they say v >= 1, ``-2 N^-1((e^{x/2} - beta) / (e^{x/2} + e^{-x/2}))``,
    which is exact at the money for every v (and an over-estimate elsewhere).
    """
    m = 1.0 / ex - ex
    ell = math.log(m) - log_beta if x < 0.0 else -INF
    v = INF
    if _TABLE_START <= ell < _TABLE_END:
        v = v0 = -x * math.exp(-_table_log_y(ell))  # nu |x| / m
        for _ in range(3):  # fixed point of Hagan's relation
            v2 = v * v
            v = v0 * (1.0 + v2 * (_1_24 + v2 * _1_5760))
    elif ell >= _TABLE_END:
        v = -x / math.sqrt(-2.0 * log_beta)
        for _ in range(2):  # fixed point on the asymptote
            excess = -log_beta + 3.0 * math.log(v) - 2.0 * math.log(-x) - math.log(SQRT_2PI)
            if excess <= 0.0:
                break
            v = -x / math.sqrt(2.0 * excess)
    if v < 1.0:
        return v
    return max(-2.0 * norm_ppf_approx((ex - beta) / (ex + 1.0 / ex)), SQRT_2PI * beta)


@njit(**JIT)
def normalised_vol(beta: float, x: float, v0: float) -> float:
    """Total vol ``v`` with ``b(x, v) = beta`` for ``x <= 0``; NaN unless ``0 < beta < e^{x/2}``.

    Starts from ``v0`` when it is a positive finite guess (a live chain's last solve for the
    row: one step then finishes), else from :func:`initial_vol`. Either way the same
    bracketed iteration and stopping rule decide, so a bad guess costs steps, not accuracy.

    Halley's method on ``ln b(v) - ln beta``: deep OTM ``b ~ exp(-x^2/2v^2)``, where Newton
    on ``b`` crawls and on ``ln b`` does not; the residual is the relative price error.
    Each evaluation narrows a bracket; a step leaving it, or an underflowed ``b``, falls back
    to bisection (doubling while there is no upper end), so it cannot run away. Stops when
    the relative price error is < 1e-14; after one more step when it and the step are both
    < 1e-5 relative; when a step moves v by < 1e-12 relative; or when steps stop shrinking
    at rounding-noise level (deep OTM the formula itself is only good to ~1e-11 relative).
    Not converged after MAX_ITER evaluations: NaN, never a half-solved number.
    """
    ex = math.exp(0.5 * x)
    if not (0.0 < beta < ex and x <= 0.0):
        return NAN
    inv_ex = 1.0 / ex
    log_beta = math.log(beta)
    v = v0 if 0.0 < v0 < INF else initial_vol(beta, log_beta, x, ex)
    lo, hi, prev_step = 0.0, INF, INF
    for _ in range(MAX_ITER):
        inv_v = 1.0 / v
        h, t = x * inv_v, 0.5 * v
        b = ex * norm_cdf(h + t) - inv_ex * norm_cdf(h - t)
        if not b > 0.0:  # underflow: v is far too small
            lo = v
            v = 2.0 * v if hi == INF else 0.5 * (lo + hi)
            continue
        f = math.log(b) - log_beta
        if abs(f) <= 1e-14:
            return v
        if f > 0.0:
            hi = v
        else:
            lo = v
        f1 = INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) / b  # d(ln b)/dv
        g = h * h * inv_v - 0.5 * t - f1  # (d2(ln b)/dv2) / f1
        # Halley: -f / (f1 - f f2 / 2 f1), while that is a correction of Newton's -f / f1
        halley = f1 - 0.5 * f * g
        step = -f / halley if halley > 0.5 * f1 else -f / f1
        new = v + step
        if not lo < new < hi:
            new = 2.0 * v if hi == INF else 0.5 * (lo + hi)
        elif abs(f) <= ACCEPT_AFTER_STEP and abs(step) <= ACCEPT_AFTER_STEP * v:
            return new
        moved = abs(new - v)
        if moved <= 1e-12 * v or (moved <= 1e-8 * v and moved >= 0.5 * prev_step):
            return new
        prev_step, v = moved, new
    return NAN


@njit(**JIT)
def _implied_vol(
    p: float, f: float, k: float, df: float, w: float, log_fk: float, sqrt_t: float, v0: float
) -> float:
    """IV from pieces the caller already has (``v0``: a total-vol guess or NaN, see
    :func:`normalised_vol`); NaN at or beyond the no-information bounds."""
    intrinsic = max(w * (f - k), 0.0)
    upper = f if w > 0.0 else k
    if p <= df * intrinsic or p >= df * upper or not f < INF:
        return NAN
    beta = (p / df - intrinsic) / math.sqrt(f * k)
    return normalised_vol(beta, -abs(log_fk), v0) / sqrt_t


@njit(**JIT)
def solvable(p: float, u: float, k: float, t: float, r: float, q: float, c: float) -> bool:
    """Inputs an implied vol can exist for: valid market, T > 0, a positive finite price."""
    return valid_market(u, k, t, r, q, c) and t > 0.0 and 0.0 < p < INF


@njit(**JIT)
def implied_vol_row(
    p: float, u: float, k: float, t: float, r: float, q: float, c: float, spot: bool
) -> float:
    """Black-76 (``u = F``) or BSM (``spot``, ``u = S``) implied vol.

    NaN where the price says nothing: ``p <= DF max(F-K, 0)`` (call) / ``DF max(K-F, 0)``
    (put), ``p >= DF F`` (call) / ``DF K`` (put), ``T <= 0``, or NaN/non-positive inputs.
    """
    if not solvable(p, u, k, t, r, q, c):
        return NAN
    b = r - q if spot else 0.0
    w = 1.0 if c != 0.0 else -1.0
    f = u * math.exp(b * t)
    return _implied_vol(p, f, k, math.exp(-r * t), w, math.log(u / k) + b * t, math.sqrt(t), NAN)


# --- array loops ------------------------------------------------------------------------
# Each column holds one value per row or a single value for all rows (a scalar T or r):
# _at serves both without a broadcast copy, and one compiled signature serves every mix.


@njit(**JIT)
def _at(a: Arr, i: int) -> float:
    return a[i] if a.size > 1 else a[0]


@njit(**JIT)
def price_loop(n: int, u: Arr, k: Arr, t: Arr, r: Arr, q: Arr, s: Arr, c: Arr, spot: bool) -> Arr:
    out = np.empty(n)
    for i in range(n):
        out[i] = price_row(
            _at(u, i), _at(k, i), _at(t, i), _at(r, i), _at(q, i), _at(s, i), _at(c, i), spot
        )
    return out


@njit(**JIT)
def greeks_loop(n: int, u: Arr, k: Arr, t: Arr, r: Arr, q: Arr, s: Arr, c: Arr, spot: bool) -> Arr:
    out = np.empty((5, n))
    for i in range(n):
        g = greeks_row(
            _at(u, i), _at(k, i), _at(t, i), _at(r, i), _at(q, i), _at(s, i), _at(c, i), spot
        )
        for j in range(5):
            out[j, i] = g[j]
    return out


@njit(**JIT)
def implied_vol_loop(
    n: int, p: Arr, u: Arr, k: Arr, t: Arr, r: Arr, q: Arr, c: Arr, spot: bool
) -> Arr:
    out = np.empty(n)
    for i in range(n):
        out[i] = implied_vol_row(
            _at(p, i), _at(u, i), _at(k, i), _at(t, i), _at(r, i), _at(q, i), _at(c, i), spot
        )
    return out


@njit(**JIT)
def _chain_rows(
    out: Arr, lo: int, hi: int, p: Arr, k: Arr, c: Arr, t: Arr, u: Arr, r: Arr, q: Arr, spot: bool
) -> None:
    """Rows ``[lo, hi)``: out[0..4] = iv, delta, gamma, theta, vega (NaN greeks without an IV).

    Same arithmetic as implied_vol_row then greeks_row, sharing DF, sqrt(T) and ln(u/K).
    """
    for i in range(lo, hi):
        pp, kk, cc, tt = _at(p, i), _at(k, i), _at(c, i), _at(t, i)
        uu, rr, qq = _at(u, i), _at(r, i), _at(q, i)
        iv = delta = gamma = vega = theta = NAN
        if solvable(pp, uu, kk, tt, rr, qq, cc):
            b = rr - qq if spot else 0.0
            w = 1.0 if cc != 0.0 else -1.0
            df, sqrt_t, log_uk = math.exp(-rr * tt), math.sqrt(tt), math.log(uu / kk)
            iv = _implied_vol(pp, uu * math.exp(b * tt), kk, df, w, log_uk + b * tt, sqrt_t, NAN)
            if iv == iv:
                delta, gamma, vega, theta, _ = _greeks(
                    uu, kk, tt, rr, b, iv, w, df, sqrt_t, log_uk, spot
                )
        out[0, i], out[1, i], out[2, i], out[3, i], out[4, i] = iv, delta, gamma, theta, vega


@njit(**JIT)
def chain_serial(n: int, p: Arr, k: Arr, c: Arr, t: Arr, u: Arr, r: Arr, q: Arr, spot: bool) -> Arr:
    out = np.empty((5, n))
    _chain_rows(out, 0, n, p, k, c, t, u, r, q, spot)
    return out


@njit(**JIT, parallel=True)
def chain_parallel(
    n: int, p: Arr, k: Arr, c: Arr, t: Arr, u: Arr, r: Arr, q: Arr, spot: bool, chunks: int
) -> Arr:
    """:func:`chain_serial` in ``chunks`` slices over numba's threads (the caller passes
    ``chunks``: calling numba.get_num_threads() in here would stop on-disk caching)."""
    out = np.empty((5, n))
    size = (n + chunks - 1) // chunks
    for j in prange(chunks):
        _chain_rows(out, j * size, min(n, (j + 1) * size), p, k, c, t, u, r, q, spot)
    return out
