"""Kite adapter costs against the fake Kite on 127.0.0.1 (issue 15 targets in brackets):

1. order placement: our adapter (``KiteBroker.submit``: symbol lookup, tag, tag file, the
   SDK's request building and answer parsing, error mapping, tracking) minus the HTTP exchange
   itself (timed around the SDK's ``requests`` call, per order) [<= 1 ms p99]; the raw call (a
   ``requests`` session posting the same form and headers, interleaved) is shown for scale;
2. Kite Ticker binary parsing: frames of 200 full-mode packets, and mixed frames [>= 500k ticks/s];
3. chain update from ticks for 80 strikes (160 rows): applying one frame, and a full
   ``snapshot()`` with greeks from our engine [<= 100 us per update].

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_broker.py [--orders 400]

Numbers on a shared 2-core machine are noisy: medians of repeats are what to compare.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=400)
    args = ap.parse_args()
    results = {**bench_ticks(), **bench_chain(), **bench_orders(args.orders)}
    for k, v in results.items():
        print(f"{k:28s} {v:14,.3f}")
    print(f"\ntargets: overhead p99 <= 1 ms: {results['overhead_p99_ms']:.3f} ms; ticks >= 500k/s: "
          f"{results['ticks_per_s_full200'] / 1e3:,.0f}k/s; chain update <= 100 us: apply {results['apply_all_ticks_us']:.1f} us, "
          f"snapshot+greeks {results['snapshot_with_greeks_us']:.1f} us")  # fmt: skip


if __name__ == "__main__":
    main()
