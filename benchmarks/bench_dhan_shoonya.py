"""Dhan and Shoonya order-placement overhead against their fakes on 127.0.0.1 (issue 15: <= 1 ms p99),
and Dhan's market-feed parsing speed next to Kite's.

Overhead = ``broker.submit`` (symbol lookup and refusals, tag, tag file, request body, the
REST client's error taxonomy, answer parsing, tracking) minus the HTTP exchange itself, timed
around the httpx call inside the adapter's REST client, per order. A raw ``httpx.Client``
posting the same body (interleaved) is shown for scale. Limit orders below the market rest at
the fakes, so the server does the same work for each.

Tick parsing: messages of 200 full packets (Dhan 162-byte little-endian packets, Kite 184-byte
big-endian ones in a Kite frame), 200 mixed ones (an index, 150 full, 49 ticker/LTP) and a single
full packet, each parser timed in turn within every repeat; ticks/s medians and Dhan / Kite.

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_dhan_shoonya.py [--orders 400] [--ticks-only]

A shared 2-core machine is noisy: compare medians of repeated runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from fakes.rigs import CALL, LOT, open_rig  # noqa: E402
from optrunner.core.orders import Order  # noqa: E402
from optrunner.core.types import OrderType, Side, Tag  # noqa: E402
from optrunner.execution.brokers.shoonya.auth import body as noren_body  # noqa: E402


def bench(name: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rig = open_rig(name, Path(tmp))
        broker = rig.broker
        broker.poll_seconds = None
        client = broker.http._client  # type: ignore[attr-defined]
        inner = client.request
        http: list[float] = []

        def timed(*a: object, **kw: object) -> object:
            t = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                http.append(time.perf_counter() - t)

        client.request = timed  # type: ignore[method-assign]
        raw = httpx.Client(timeout=7)
        if name == "dhan":
            url = rig.server.url + "/v2/orders"
            headers = {"access-token": rig.fake.access_token, "client-id": rig.fake.client_id}
            payload = {"dhanClientId": rig.fake.client_id, "correlationId": "RAW", "transactionType": "BUY",
                       "exchangeSegment": "NSE_FNO", "productType": "MARGIN", "orderType": "LIMIT", "validity": "DAY",
                       "securityId": "35001", "quantity": LOT, "price": 90.0, "triggerPrice": 0.0}  # fmt: skip

            def send_raw() -> None:
                raw.post(url, json=payload, headers=headers).json()
        else:
            url = rig.server.url + "/PlaceOrder"
            key = broker._key  # type: ignore[attr-defined]
            jdata = {"ordersource": "API", "uid": rig.fake.uid, "actid": rig.fake.uid, "trantype": "B", "prd": "M",
                     "exch": "NFO", "tsym": broker.instruments[CALL].trading_symbol, "qty": str(LOT), "dscqty": "0",
                     "prctyp": "LMT", "prc": "90.00", "ret": "DAY", "remarks": "RAW"}  # type: ignore[attr-defined]  # fmt: skip

            def send_raw() -> None:
                raw.post(url, content=noren_body(jdata, key)).json()

        ours, base, overhead = [], [], []
        for i in range(n + 50):
            o = Order(f"BENCH-{i:06d}", "BENCH", Tag.ENTRY, CALL, Side.BUY, LOT, OrderType.LIMIT, 90.0)
            http.clear()
            t0 = time.perf_counter()
            broker.submit(o)
            t1 = time.perf_counter()
            send_raw()
            t2 = time.perf_counter()
            if i >= 50:
                ours.append((t1 - t0) * 1e3)
                base.append((t2 - t1) * 1e3)
                overhead.append((t1 - t0 - sum(http)) * 1e3)
        raw.close()
        rig.close()
    return {
        "submit_median_ms": statistics.median(ours), "raw_median_ms": statistics.median(base),
        "overhead_median_ms": statistics.median(overhead), "overhead_p99_ms": float(np.percentile(overhead, 99)),
    }  # fmt: skip


def bench_ticks(repeats: int = 7, k: int = 2000) -> dict[str, float]:
    """Median ticks/s of each parser on 200-packet messages; parsers alternate within a repeat."""
    from fakes import dhan_packets as D
    from fakes.kite_packets import full_packet, index_packet, ltp_packet, tick_frame
    from optrunner.execution.brokers.dhan.ticks import parse_frame as dhan_parse
    from optrunner.execution.brokers.kite.ticks import parse_frame as kite_parse

    frames = {
        ("kite", "full200"): tick_frame([full_packet(10_000_002 + 256 * i, 100 + i * 0.05, 99.95, 100.05, oi=i)
                                         for i in range(200)]),
        ("dhan", "full200"): b"".join(D.full(D.NSE_FNO, 40000 + i, 100 + i * 0.05, 99.95, 100.05, oi=i)
                                      for i in range(200)),
        ("kite", "mixed200"): tick_frame([index_packet(256265, 24000.0, 1764900000)]
                                         + [full_packet(10_000_002 + 256 * i, 100.0, 99.9, 100.1) for i in range(150)]
                                         + [ltp_packet(10_000_002 + 256 * i, 50.0) for i in range(49)]),
        ("dhan", "mixed200"): D.ticker(D.IDX_I, 13, 24000.0)
                              + b"".join(D.full(D.NSE_FNO, 40000 + i, 100.0, 99.9, 100.1) for i in range(150))
                              + b"".join(D.ticker(D.NSE_FNO, 40000 + i, 50.0) for i in range(49)),
        ("kite", "full1"): tick_frame([full_packet(10_000_002, 100.0, 99.95, 100.05)]),
        ("dhan", "full1"): D.full(D.NSE_FNO, 40000, 100.0, 99.95, 100.05),  # one packet a message, as the SDK reads
    }  # fmt: skip
    parsers = {"kite": kite_parse, "dhan": dhan_parse}
    count = {key: 1 if key[1] == "full1" else 200 for key in frames}
    for (who, kind), frame in frames.items():
        assert len(parsers[who](frame) if who == "kite" else parsers[who](frame).ticks) == count[(who, kind)]
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in frames}
    for _ in range(repeats):
        for (who, kind), frame in frames.items():
            parse = parsers[who]
            t = time.perf_counter()
            for _ in range(k):
                parse(frame)
            rates[(who, kind)].append(k * count[(who, kind)] / (time.perf_counter() - t))
    out = {f"{who}_{kind}_ticks_per_s": statistics.median(r) for (who, kind), r in rates.items()}
    for kind in ("full200", "mixed200", "full1"):
        out[f"dhan_over_kite_{kind}"] = out[f"dhan_{kind}_ticks_per_s"] / out[f"kite_{kind}_ticks_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=400)
    ap.add_argument("--ticks-only", action="store_true", help="only the tick-parsing comparison")
    args = ap.parse_args()
    t = bench_ticks()
    for kind in ("full200", "mixed200", "full1"):
        print(f"ticks {kind}: dhan {t[f'dhan_{kind}_ticks_per_s'] / 1e3:,.0f}k/s | kite "
              f"{t[f'kite_{kind}_ticks_per_s'] / 1e3:,.0f}k/s | dhan/kite {t[f'dhan_over_kite_{kind}']:.2f} (medians)")  # fmt: skip
    if args.ticks_only:
        return
    for name in ("dhan", "shoonya"):
        r = bench(name, args.orders)
        print(f"{name:8s} submit {r['submit_median_ms']:.3f} ms median | raw HTTP {r['raw_median_ms']:.3f} ms | "
              f"adapter overhead {r['overhead_median_ms']:.3f} ms median, {r['overhead_p99_ms']:.3f} ms p99 "
              f"(target <= 1 ms p99)")  # fmt: skip


if __name__ == "__main__":
    main()
