"""Breeze quote-stream cost per message: Breeze pushes one instrument per socket.io event, so
what matters is the cost of one ``42["stock", [...]]`` message — JSON decode, field parse, and
the chain update — for an 81-strike (162-row) NIFTY chain. Two paths are timed: the feed's
(``LiveChain.apply_quote``, one row) and the generic frame path (``LiveChain.apply`` with a
one-row ``Ticks``) it replaced, whose NumPy calls dominate on one row [issue 15's target for a
chain update: <= 100 us].

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_breeze_feed.py

Numbers on a shared 2-core machine are noisy: medians of repeats are what to compare.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from fakes.breeze_server import (  # noqa: E402
    BreezeFake,
    master_row,
    quote_list,
)
from optrunner.execution.brokers.breeze.feed import BreezeFeed, parse_quote  # noqa: E402
from optrunner.execution.brokers.breeze.symbols import parse_master  # noqa: E402
from optrunner.execution.brokers.kite.ticks import Ticks  # noqa: E402
from optrunner.execution.brokers.live.chain import LiveChain  # noqa: E402
from optrunner.execution.brokers.live.secrets import Secret  # noqa: E402

EXPIRY = date.today() + timedelta(days=6)
STRIKES = [23000.0 + 50 * i for i in range(81)]


class _Socket:
    async def send(self, message: str) -> None:  # subscriptions go nowhere
        pass


def _setup() -> tuple[BreezeFeed, LiveChain, list[str]]:
    rows = [master_row(50000 + 2 * i + j, "NIFTY", EXPIRY, k, r, 65)
            for i, k in enumerate(STRIKES) for j, r in enumerate(("CE", "PE"))]  # fmt: skip
    inst = parse_master(BreezeFake(master_rows=rows).master_zip(), date.today())
    chain = LiveChain("NIFTY", EXPIRY, inst, width=40, recentre_steps=100, greeks=False)
    feed = BreezeFeed("ws://127.0.0.1:1", "USER", Secret("bench-session-key"), inst, [chain])
    msgs = ["42" + json.dumps(["stock", quote_list(f"4.1!{50000 + n}", 50.0 + n % 7, bid=49.5, bid_qty=650, ask=50.5,
                                                   ask_qty=650, oi=100, volume=1000)]) for n in range(162)]  # fmt: skip
    return feed, chain, msgs


def _time(fn: Any, n: int, repeats: int = 7) -> float:
    xs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(xs)


def main() -> None:
    feed, chain, msgs = _setup()
    ws = _Socket()
    feed._joined = ws  # as after the namespace connect

    async def feed_path() -> None:
        for _ in range(30):
            for m in msgs:
                await feed._on_message(ws, m)

    asyncio.run(feed._on_message(ws, "42" + json.dumps(["stock", quote_list("4.1!NIFTY 50", 25000.0)])))
    ids = feed._id_of

    def frame_path() -> None:  # the generic path: a one-row Ticks through LiveChain.apply + recentre
        for _ in range(30):
            for m in msgs:
                key, f = parse_quote(json.loads(m[2:])[1])  # type: ignore[misc]
                chain.apply(Ticks(np.asarray([ids[key]], np.int64), *(np.asarray([f.get(c, np.nan)]) for c in
                                  ("ltp", "volume", "oi", "bid", "ask", "bid_qty", "ask_qty")),
                                  np.zeros(1, np.int64), np.asarray([False])))  # fmt: skip
                chain.recentre()

    n = 30 * len(msgs)
    print(f"rows in the chain              {len(chain.tokens):8d}")
    print(f"feed path, us per message      {_time(lambda: asyncio.run(feed_path()), n):8.1f}")
    print(f"frame path, us per message     {_time(frame_path, n):8.1f}")


if __name__ == "__main__":
    main()
