"""Kite adapter costs against the fake Kite on 127.0.0.1 (issue 15 targets in brackets):

1. order placement: our adapter (``KiteBroker.submit``: symbol lookup, tag, tag file, the
   SDK's request building and answer parsing, error mapping, tracking) minus the HTTP exchange
   itself (timed around the SDK's ``requests`` call, per order) [<= 1 ms p99]; the raw call (a
   ``requests`` session posting the same form and headers, interleaved) is shown for scale;
2. Kite Ticker binary parsing: frames of 200 full-mode packets, and mixed frames [>= 500k ticks/s];
3. chain update from ticks for 80 strikes (160 rows): applying one frame, and a full
   ``snapshot()`` with greeks from our engine; then per update on a moving market (a frame of
   ticks applied + a snapshot with greeks, median and p99), the live path (warm-started
   :class:`~optrunner.greeks.live.LiveGreeks`) beside the cold ``chain_greeks`` one it
   replaced [<= 100 us per update].

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_broker.py [--orders 400] [--only-chain]

Numbers on a shared 2-core machine are noisy: medians of repeats are what to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from kite_cases import EXPIRY, SYM, T0, intent, make_broker, start_fake  # noqa: E402

from fakes.kite_server import API_KEY, full_packet, index_packet, ltp_packet, tick_frame  # noqa: E402
from optrunner.core.clock import SimClock  # noqa: E402
from optrunner.core.orders import Order  # noqa: E402
from optrunner.execution.brokers.kite.symbols import KiteInstruments  # noqa: E402
from optrunner.execution.brokers.kite.ticks import parse_frame  # noqa: E402
from optrunner.execution.brokers.live.chain import LiveChain  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def bench_orders(n: int) -> dict[str, float]:
    import requests

    fake = start_fake()
    token = fake.issue_token()
    fake.set_price(SYM, 101.0, T0)  # orders below the market rest: the server does the same work each time
    with tempfile.TemporaryDirectory() as tmp:
        broker = make_broker(fake, Path(tmp), token, SimClock(T0), poll=None)
        raw = requests.Session()
        headers = {"X-Kite-Version": "3", "Authorization": f"token {API_KEY}:{token}"}
        form = {"exchange": "NFO", "tradingsymbol": SYM, "transaction_type": "BUY", "quantity": "65",
                "product": "NRML", "order_type": "LIMIT", "price": "90.0", "validity": "DAY", "tag": "RAW"}  # fmt: skip
        url = fake.api_root + "/orders/regular"
        it = intent(price=90.0)
        ours, base, overhead = [], [], []
        http: list[float] = []
        session = broker.kite.reqsession
        inner = session.request

        def timed(*a: object, **kw: object) -> object:  # the HTTP exchange itself, inside the SDK
            t = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                http.append(time.perf_counter() - t)

        session.request = timed
        for i in range(n + 50):
            o = Order(f"BENCH-{i:06d}", "BENCH", it.tag, it.contract, it.side, 65, it.order_type, 90.0)
            t0 = time.perf_counter()
            broker.submit(o)
            t1 = time.perf_counter()
            r = raw.post(url, data=form, headers=headers, timeout=7)
            r.json()
            t2 = time.perf_counter()
            if i >= 50:  # warm-up: connections, caches
                ours.append((t1 - t0) * 1e3)
                base.append((t2 - t1) * 1e3)
                overhead.append((t1 - t0 - http[-1]) * 1e3)  # everything but the HTTP exchange
        assert len(fake.orders) == 2 * (n + 50)
    fake.stop()
    return {"adapter_p50_ms": pct(ours, 50), "adapter_p99_ms": pct(ours, 99), "raw_p50_ms": pct(base, 50),
            "raw_p99_ms": pct(base, 99), "overhead_p50_ms": pct(overhead, 50), "overhead_p99_ms": pct(overhead, 99),
            "p50_difference_vs_raw_ms": pct(ours, 50) - pct(base, 50)}  # fmt: skip


def bench_ticks(repeats: int = 5) -> dict[str, float]:
    full = tick_frame([full_packet(10_000_002 + 256 * i, 100 + i * 0.05, 99.95, 100.05, oi=i) for i in range(200)])
    mixed = tick_frame([index_packet(256265, 24000.0, 1764900000)]
                       + [full_packet(10_000_002 + 256 * i, 100.0, 99.9, 100.1) for i in range(150)]
                       + [ltp_packet(10_000_002 + 256 * i, 50.0) for i in range(49)])  # fmt: skip
    out = {}
    for name, frame in (("full200", full), ("mixed200", mixed)):
        rates = []
        for _ in range(repeats):
            k = 2000
            t = time.perf_counter()
            for _ in range(k):
                parse_frame(frame)
            rates.append(k * 200 / (time.perf_counter() - t))
        out[f"ticks_per_s_{name}"] = statistics.median(rates)
    return out


def bench_chain(repeats: int = 5) -> dict[str, float]:
    from kite_cases import CONTRACTS

    from fakes.kite_server import instrument_csv

    inst = KiteInstruments.from_csv(instrument_csv(CONTRACTS), None, {"NIFTY"})
    chain = LiveChain("NIFTY", EXPIRY, inst, width=40, recentre_steps=100)  # 81 strikes, 162 rows
    chain.apply(parse_frame(tick_frame([index_packet(256265, 24000.0)])))
    chain.recentre()
    rows = len(chain.tokens)
    prices = [(max(0, 24000 - k) if c else max(0, k - 24000)) + 60 * np.exp(-((k - 24000) / 500) ** 2) + 1
              for k, c in zip(chain.strike, chain.is_call, strict=True)]  # fmt: skip
    pk = [full_packet(int(t), round(p, 1), round(p, 1) - 0.5, round(p, 1) + 0.5) for t, p in
          zip(chain.tokens, prices, strict=True)]  # fmt: skip
    frame_all = parse_frame(tick_frame(pk))
    frame_20 = parse_frame(tick_frame(pk[:20]))
    chain.apply(frame_all)
    assert chain.snapshot() is not None  # compile/warm the greeks
    out: dict[str, float] = {"rows": float(rows)}
    for name, fn, k in (("apply_20_ticks_us", lambda: chain.apply(frame_20), 5000),
                        ("apply_all_ticks_us", lambda: chain.apply(frame_all), 5000),
                        ("snapshot_no_greeks_us", lambda: _snap(chain, False), 2000),
                        ("snapshot_with_greeks_us", lambda: _snap(chain, True), 1000)):  # fmt: skip
        xs = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(k):
                fn()
            xs.append((time.perf_counter() - t) / k * 1e6)
        out[name] = statistics.median(xs)
    return out


def _snap(chain: LiveChain, greeks: bool) -> None:
    chain.greeks = greeks
    chain.snapshot()


def bench_updates(updates: int = 400) -> dict[str, float]:
    """Per-update cost on a moving market: apply one frame of ticks, then a snapshot with greeks.

    ``warm``: ``LiveChain.snapshot()`` (LiveGreeks: warm-started IVs, one compiled call);
    ``cold``: the same frame into a second chain, its snapshot without greeks, then
    ``chain_greeks`` from scratch (what snapshot() did before). Interleaved, each update timed
    alone; the forward takes a random walk and the clock 250 ms per frame, so every row's T
    (and most rows' forward) changes every update: nothing is served from an unchanged row.
    Frames of 20 ticks (rows near the money) and of every row, priced by Black-76 on a fixed
    smile, on the 0.05 tick, with a random 1-3 tick spread (so mids jitter as real ones do);
    ``all_bump``: every row priced intrinsic + a bump + 1 (the older model: not
    arbitrage-consistent, so every wing's IV jumps every frame, the solver's worst case).
    """
    from datetime import UTC, datetime, timedelta

    from kite_cases import CONTRACTS

    from fakes.kite_server import instrument_csv
    from optrunner.greeks import black76_price
    from optrunner.greeks.chain import chain_greeks
    from optrunner.instruments import time_to_expiry

    inst = KiteInstruments.from_csv(instrument_csv(CONTRACTS), None, {"NIFTY"})
    warm, cold = (LiveChain("NIFTY", EXPIRY, inst, width=40, recentre_steps=100) for _ in range(2))
    for c in (warm, cold):
        c.apply(parse_frame(tick_frame([index_packet(256265, 24000.0)])))
        c.recentre()
    cold.greeks = False
    rng = np.random.default_rng(15)
    strike, is_call, tokens = warm.strike, warm.is_call, warm.tokens
    fwd, ts = 24000.0, datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    out: dict[str, float] = {}
    for name, width in (("20", 20), ("all", len(tokens)), ("all_bump", len(tokens))):
        w_us: list[float] = []
        c_us: list[float] = []
        w_cpu: list[float] = []  # this thread's CPU time: what the update costs when the machine is busy
        for i in range(updates + 20):
            fwd += rng.normal(0.0, 3.0)
            ts += timedelta(milliseconds=250)
            if name == "all_bump":
                px = np.maximum(np.where(is_call, fwd - strike, strike - fwd), 0) + 60 * np.exp(-((strike - fwd) / 500) ** 2) + 1
                bid, ask = np.round(px, 1) - 0.5, np.round(px, 1) + 0.5
            else:
                m = np.log(strike / fwd)
                px = black76_price(fwd, strike, time_to_expiry(ts, EXPIRY), 0.055, 0.12 + 0.5 * m * m - 0.1 * m, is_call)
                tick = np.maximum(np.round(px / 0.05), 1.0)
                bid = 0.05 * (tick - rng.integers(0, 2, len(px)))
                ask = 0.05 * (tick + rng.integers(1, 3, len(px)))
            atm = int(np.abs(strike - fwd).argmin())
            rows = np.arange(len(tokens)) if width == len(tokens) else (
                np.r_[atm - 5: atm + 5, atm - 5 + len(tokens) // 2: atm + 5 + len(tokens) // 2] % len(tokens))
            frame = parse_frame(tick_frame([full_packet(int(tokens[r]), 0.5 * (bid[r] + ask[r]), bid[r], ask[r])
                                            for r in rows]))  # fmt: skip
            c0, t0 = time.thread_time_ns(), time.perf_counter()
            warm.apply(frame)
            warm.snapshot(ts)
            t1, c1 = time.perf_counter(), time.thread_time_ns()
            cold.apply(frame)
            chain_greeks(cold.snapshot(ts))  # type: ignore[arg-type]
            t2 = time.perf_counter()
            if i >= 20:  # warm-up: first solves, caches
                w_us.append((t1 - t0) * 1e6)
                c_us.append((t2 - t1) * 1e6)
                w_cpu.append((c1 - c0) / 1e3)
        out |= {f"update_{name}_warm_p50_us": pct(w_us, 50), f"update_{name}_warm_p99_us": pct(w_us, 99),
                f"update_{name}_warm_cpu_p50_us": pct(w_cpu, 50), f"update_{name}_warm_cpu_p99_us": pct(w_cpu, 99),
                f"update_{name}_cold_p50_us": pct(c_us, 50), f"update_{name}_cold_p99_us": pct(c_us, 99),
                f"update_{name}_cold_over_warm": pct(c_us, 50) / pct(w_us, 50)}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--only-chain", action="store_true", help="just the chain numbers (3.)")
    args = ap.parse_args()
    if args.only_chain:
        for k, v in {**bench_chain(), **bench_updates()}.items():
            print(f"{k:32s} {v:14,.3f}")
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return
    results = {**bench_ticks(), **bench_chain(), **bench_updates(), **bench_orders(args.orders)}
    for k, v in results.items():
        print(f"{k:32s} {v:14,.3f}")
    print(f"\ntargets: overhead p99 <= 1 ms: {results['overhead_p99_ms']:.3f} ms; ticks >= 500k/s: "
          f"{results['ticks_per_s_full200'] / 1e3:,.0f}k/s; chain update <= 100 us: apply {results['apply_all_ticks_us']:.1f} us, "
          f"snapshot+greeks {results['snapshot_with_greeks_us']:.1f} us; per update (frame of 20 ticks + snapshot "
          f"with greeks) p50 {results['update_20_warm_p50_us']:.1f} us, p99 {results['update_20_warm_p99_us']:.1f} us "
          f"({results['update_20_cold_over_warm']:.1f}x faster than cold chain_greeks)")  # fmt: skip


if __name__ == "__main__":
    main()
