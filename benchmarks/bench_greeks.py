"""Benchmark: implied vol + greeks over 1,000,000 NIFTY-like rows, and one chain refresh.

Compares ``optrunner.greeks.chain_iv_greeks`` (numba, parallel for large inputs) with a
plain-NumPy baseline written the way a careful NumPy user would: vectorised, masked
Newton (only unconverged rows are recomputed), the same normalised formulation, starting
point, safeguards and stopping rule as the kernel (which takes Halley steps instead).
NumPy has no erf, so the baseline carries its own double-precision normal CDF
(Hart/West rational below |x| = 3, a 40-term continued fraction beyond; checked against
math.erfc at start-up).

Targets (2-core machine): >= 3,000,000 rows/s, >= 5x the baseline, 80-option refresh
<= 50 us. Run: ``.venv/bin/python benchmarks/bench_greeks.py [--rows N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numba
import numpy as np

from optrunner.greeks import black76_price, chain_iv_greeks
from optrunner.greeks.kernels import (  # the kernel's start, for the like-for-like baseline
    _TABLE,
    _TABLE_END,
    _TABLE_PER_STEP,
    _TABLE_START,
    _TABLE_STEP,
    ACKLAM_A,
    ACKLAM_B,
    ACKLAM_C,
    ACKLAM_D,
    PARALLEL_MIN_ROWS,
)

R = 0.055
SQRT_2PI = math.sqrt(2 * math.pi)


# --- data -----------------------------------------------------------------------------


def nifty_rows(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Rows like a day of NIFTY chains: ATM +/- 30 strikes of 50, T 0..30 days, vol 0.1-0.4.

    Prices are exact Black-76 prices (not rounded to the tick), so every row with T > 0 has
    an IV to find; rows with T = 0 (expiry close) and prices that underflow are NaN rows.
    """
    rng = np.random.default_rng(seed)
    days = rng.uniform(0.0, 30.0, n)
    days[rng.random(n) < 0.002] = 0.0  # some rows at the expiry instant
    t = days / 365.0
    forward = 24000.0 * np.exp(rng.normal(0.0, 0.02, n) + R * t)
    strike = np.round(forward / 50.0) * 50.0 + 50.0 * rng.integers(-30, 31, n)
    sigma = rng.uniform(0.10, 0.40, n)
    is_call = rng.random(n) < 0.5
    price = black76_price(forward, strike, t, R, sigma, is_call)
    return {"price": price, "strike": strike, "is_call": is_call, "T": t, "forward": forward}


# --- the plain-NumPy baseline ---------------------------------------------------------

# fmt: off
_HART_NUM = (3.52624965998911e-02, 0.700383064443688, 6.37396220353165, 33.912866078383,
             112.079291497871, 221.213596169931, 220.206867912376)
_HART_DEN = (8.83883476483184e-02, 1.75566716318264, 16.064177579207, 86.7807322029461,
             296.564248779674, 637.333633378831, 793.826512519948, 440.413735824752)
# fmt: on


def np_norm_cdf(x: np.ndarray) -> np.ndarray:
    """Normal CDF to ~1e-13 relative everywhere (NumPy has no erf)."""
    z = np.abs(x)
    lower = np.empty_like(z)  # N(-|x|)
    near = z < 3.0
    zn = z[near]
    lower[near] = np.exp(-0.5 * zn * zn) * np.polyval(_HART_NUM, zn) / np.polyval(_HART_DEN, zn)
    zf = z[~near]
    frac = zf.copy()
    for k in range(40, 0, -1):  # Mills ratio continued fraction
        frac = zf + k / frac
    lower[~near] = np.exp(-0.5 * zf * zf) / SQRT_2PI / frac
    return np.where(x > 0, 1.0 - lower, lower)


def np_norm_ppf_approx(p: np.ndarray) -> np.ndarray:
    """Acklam's inverse normal CDF for 0 < p <= 0.5 (the solver's starting point)."""
    out = np.empty_like(p)
    tail = p < 0.02425
    s = np.sqrt(-2.0 * np.log(p[tail]))
    out[tail] = np.polyval(ACKLAM_C, s) / np.polyval((*ACKLAM_D, 1.0), s)
    s = p[~tail] - 0.5
    z = s * s
    out[~tail] = np.polyval(ACKLAM_A, z) * s / np.polyval((*ACKLAM_B, 1.0), z)
    return out


def np_start_atm(
    beta: np.ndarray, log_beta: np.ndarray, x: np.ndarray, ex: np.ndarray
) -> np.ndarray:
    """The classic start: v = -2 N^-1((e^{x/2} - beta) / (e^{x/2} + e^{-x/2})), exact at the money."""
    return np.maximum(-2.0 * np_norm_ppf_approx((ex - beta) / (ex + 1.0 / ex)), SQRT_2PI * beta)


def np_start_kernel(
    beta: np.ndarray, log_beta: np.ndarray, x: np.ndarray, ex: np.ndarray
) -> np.ndarray:
    """The kernel's own start (normal-model table + Hagan, the asymptote deep OTM) in NumPy."""
    v = np.full_like(x, np.inf)
    m = 1.0 / ex - ex
    with np.errstate(divide="ignore"):
        ell = np.where(x < 0, np.log(m) - log_beta, -np.inf)
    inside = (ell >= _TABLE_START) & (ell < _TABLE_END)
    pos = (ell[inside] - _TABLE_START) * _TABLE_PER_STEP
    i = np.minimum(pos.astype(np.int64), _TABLE.shape[1] - 2)
    s = pos - i
    log_y = ((2 * s**3 - 3 * s**2 + 1) * _TABLE[0, i] + (s**3 - 2 * s**2 + s) * _TABLE[1, i] * _TABLE_STEP
             + (3 * s**2 - 2 * s**3) * _TABLE[0, i + 1] + (s**3 - s**2) * _TABLE[1, i + 1] * _TABLE_STEP)  # fmt: skip
    v0 = w = -x[inside] * np.exp(-log_y)
    for _ in range(3):
        w = v0 * (1 + w * w / 24 + w**4 / 5760)
    v[inside] = w
    deep = ell >= _TABLE_END
    xd, lb = x[deep], log_beta[deep]
    w = -xd / np.sqrt(-2 * lb)
    for _ in range(2):
        excess = -lb + 3 * np.log(w) - 2 * np.log(-xd) - np.log(SQRT_2PI)
        w = np.where(excess > 0, -xd / np.sqrt(np.abs(2 * excess)), w)
    v[deep] = w
    return np.where(v < 1.0, v, np_start_atm(beta, log_beta, x, ex))


def np_implied_vol(price, strike, is_call, t, forward, r, start=np_start_atm):
    """Masked Newton on ln b(v) = ln beta: the kernel's problem, safeguards and tolerances.

    Newton is quadratic, so its accept-after-step threshold is 1e-7 (the step leaves
    ~1e-14) where the kernel's Halley step uses 1e-5.
    """
    n = price.size
    iv = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        df = np.exp(-r * t)
        intrinsic = np.where(
            is_call, np.maximum(forward - strike, 0), np.maximum(strike - forward, 0)
        )
        upper = np.where(is_call, forward, strike)
        ok = (
            (t > 0) & (price > df * intrinsic) & (price < df * upper) & (strike > 0) & (forward > 0)
        )
        idx = np.flatnonzero(ok)
        x = -np.abs(np.log(forward[idx] / strike[idx]))
        beta = (price[idx] / df[idx] - intrinsic[idx]) / np.sqrt(forward[idx] * strike[idx])
        ex = np.exp(0.5 * x)
        log_beta = np.log(beta)
        v = start(beta, log_beta, x, ex)
        lo, hi = np.zeros_like(v), np.full_like(v, np.inf)
        prev = np.full_like(v, np.inf)
        result = np.full(v.size, np.nan)
        active = np.arange(v.size)
        for _ in range(40):
            if active.size == 0:
                break
            va, xa, exa = v[active], x[active], ex[active]
            b = exa * np_norm_cdf(xa / va + 0.5 * va) - np_norm_cdf(xa / va - 0.5 * va) / exa
            f = np.log(b) - log_beta[active]
            vega = np.exp(-0.5 * (xa * xa / (va * va) + 0.25 * va * va)) / SQRT_2PI
            lo[active] = np.where(f < 0, va, lo[active])
            hi[active] = np.where(f > 0, va, hi[active])
            new = va - f * b / vega
            la, ha = lo[active], hi[active]
            outside = ~((new > la) & (new < ha)) | ~(b > 0)
            new = np.where(outside, np.where(np.isinf(ha), 2 * va, 0.5 * (la + ha)), new)
            moved = np.abs(new - va)
            exact = np.abs(f) <= 1e-14
            stop = (
                exact
                | (~outside & (np.abs(f) <= 1e-7) & (moved <= 1e-7 * va))
                | (moved <= 1e-12 * va)
                | ((moved <= 1e-8 * va) & (moved >= 0.5 * prev[active]))
            )
            result[active[exact]] = va[exact]
            stepped = stop & ~exact
            result[active[stepped]] = new[stepped]
            v[active] = new
            prev[active] = moved
            active = active[~stop]
        iv[idx] = result / np.sqrt(t[idx])
    return iv


def np_iv_greeks(price, strike, is_call, t, forward, r, start=np_start_atm):
    iv = np_implied_vol(price, strike, is_call, t, forward, r, start)
    with np.errstate(all="ignore"):
        w = np.where(is_call, 1.0, -1.0)
        sqrt_t = np.sqrt(t)
        sd = iv * sqrt_t
        df = np.exp(-r * t)
        d1 = np.log(forward / strike) / sd + 0.5 * sd
        d2 = d1 - sd
        pdf1 = np.exp(-0.5 * d1 * d1) / SQRT_2PI
        n1, n2 = np_norm_cdf(w * d1), np_norm_cdf(w * d2)
        delta = w * df * n1
        gamma = df * pdf1 / (forward * sd)
        vega = df * forward * pdf1 * sqrt_t * 0.01
        theta = (
            -df * forward * pdf1 * iv / (2 * sqrt_t) + w * r * df * (forward * n1 - strike * n2)
        ) / 365
    return iv, delta, gamma, theta, vega


# --- measurement ----------------------------------------------------------------------


def timings(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time each function once per round, round after round, so load changes hit all alike."""
    for fn in fns.values():
        timings(fn, 0, warmup=2)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name] += timings(fn, 1, warmup=0)
    return times


def on_one_thread(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return fn()
        finally:
            numba.set_num_threads(threads)

    return run


def first_call_seconds(cache_dir: str) -> float:
    """Import + first small and first large call in a fresh interpreter using ``cache_dir``."""
    code = (
        "import time; t = time.perf_counter();"
        "import numpy as np; from optrunner.greeks import chain_iv_greeks;"
        "chain_iv_greeks(np.full(80, 5.0), 100.0, True, 0.1, 100.0, 0.05);"
        f"chain_iv_greeks(np.full({PARALLEL_MIN_ROWS}, 5.0), 100.0, True, 0.1, 100.0, 0.05);"
        "print(time.perf_counter() - t)"
    )
    env = os.environ | {"NUMBA_CACHE_DIR": cache_dir}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def chain_80() -> tuple[np.ndarray, ...]:
    """One expiry's 40 strikes around the money, calls and puts, 3 days out."""
    fwd, t = 24012.35, 3.0 / 365
    strikes = np.repeat(24000.0 + 50.0 * np.arange(-20, 20), 2)
    is_call = np.tile([True, False], 40)
    vol = 0.13 + 0.3 * np.log(strikes / fwd) ** 2
    return black76_price(fwd, strikes, t, R, vol, is_call), strikes, is_call, t, fwd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    x = np.linspace(-37, 37, 20001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    cdf_err = float(np.max(np.abs(np_norm_cdf(x) - exact) / exact))
    assert cdf_err < 1e-12, f"baseline normal CDF off by {cdf_err:.1e}"

    load_before = os.getloadavg()[0]
    rows = nifty_rows(args.rows)
    n = args.rows
    cols = (rows["price"], rows["strike"], rows["is_call"], rows["T"], rows["forward"], R)
    threads = numba.get_num_threads()
    variants = {
        f"numba chain_iv_greeks, {threads} threads": lambda: chain_iv_greeks(*cols),
        "numba chain_iv_greeks, 1 thread": on_one_thread(lambda: chain_iv_greeks(*cols)),
        "NumPy Newton (baseline)": lambda: np_iv_greeks(*cols),
        "NumPy Newton, kernel's start": lambda: np_iv_greeks(*cols, start=np_start_kernel),
    }
    times = interleaved(variants, args.repeats)

    ours, base = chain_iv_greeks(*cols), np_iv_greeks(*cols)
    determined = np.isfinite(ours[0]) & np.isfinite(base[0]) & (ours[4] > 1e-3)  # vega/pt
    agree = float(np.max(np.abs(ours[0][determined] - base[0][determined])))
    reprice = black76_price(rows["forward"], rows["strike"], rows["T"], R, ours[0], rows["is_call"])
    price_err = float(np.nanmax(np.abs(reprice - rows["price"])))

    price80, k80, c80, t80, f80 = chain_80()
    refresh = timings(lambda: chain_iv_greeks(price80, k80, c80, t80, f80, R), 20_000, warmup=500)
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = first_call_seconds(cache), first_call_seconds(cache)

    baseline = statistics.median(times["NumPy Newton (baseline)"])
    ref_med, ref_p90 = np.quantile(np.array(refresh) * 1e6, [0.5, 0.9])
    lines = [
        f"optrunner.greeks: {n:,} NIFTY-like rows; numba {numba.__version__} on "
        f"{threads} threads ({numba.threading_layer()}); numpy {np.__version__}",
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
        "(a shared machine: read the numbers against it)",
        f"rows with an IV {np.isfinite(ours[0]).mean():.1%}; max |reprice - price| {price_err:.1e}; "
        f"max |IV numba - IV NumPy| where vega > 0.001/pt {agree:.1e}",
        "",
        f"{'IV + delta, gamma, theta, vega':<36}{'median s':>9}{'rows/s':>12}{'vs baseline':>13}",
    ]
    for name, runs in times.items():
        median = statistics.median(runs)
        lines.append(f"{name:<36}{median:>9.3f}{n / median:>12,.0f}{baseline / median:>12.1f}x")
    lines += [
        f"targets: >= 3,000,000 rows/s and >= 5x the baseline with {threads} threads",
        "",
        f"{'80-option chain refresh':<36}{'median us':>9}{'p90 us':>12}{'target':>13}",
        f"{'chain_iv_greeks, 80 rows':<36}{ref_med:>9.1f}{ref_p90:>12.1f}{'<= 50 us':>13}",
        "",
        f"first use in a new process (import + compile or cache load): "
        f"cold cache {cold:.2f} s, warm cache {warm:.2f} s",
        f"runs: {args.repeats} rounds of each after warm-up, interleaved; "
        f"refresh {len(refresh):,} calls",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
