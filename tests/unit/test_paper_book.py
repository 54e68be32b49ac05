"""The paper broker's book file (live/paper_book.py): a whole book, then one line per change.

What a user relies on: whatever the broker answered before a crash is what a restarted
broker answers — after any sequence of requests, market moves and session closes, and when
the crash cut the last line in half — and a write costs the change, not the whole book."""

from __future__ import annotations

import json
import random
from datetime import time, timedelta

from _execution_support import DAY, DEFAULT_QUOTES, EXPIRY, LOT, NAN, chain, contract

from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.timeutil import ist
from optrunner.core.types import OrderType, Side, Tag
from optrunner.live.paper_broker import PaperBroker

STRIKES = sorted({k for k in DEFAULT_QUOTES})


def _order(rng: random.Random, n: int) -> Order:
    strike, right = rng.choice(STRIKES)
    limit = rng.choice([None, None, 1.0, 100.0, 200.0, 400.0])  # markets, far and near limits
    qty = LOT * rng.randint(1, 3) + (1 if rng.random() < 0.05 else 0)  # a few odd lots: rejected
    return Order(f"o{n}", rng.choice(["a", "b", "c"]), Tag.ENTRY, contract(strike, right),
                 rng.choice([Side.BUY, Side.SELL]), qty,
                 order_type=OrderType.MARKET if limit is None else OrderType.LIMIT, limit_price=limit)  # fmt: skip


def _moved(rng: random.Random, ts):
    quotes = {}
    for key, (bid, *_rest) in DEFAULT_QUOTES.items():
        shift = rng.uniform(-120.0, 120.0)
        b = max(0.05, round(bid + shift, 1))
        quotes[key] = (b, round(b + 1.0, 1), round(b + 0.5, 1), rng.choice([NAN, float(LOT)]), rng.choice([NAN, float(LOT)]))
    return chain(ts, spot=25010.0 + rng.uniform(-200, 200), quotes=quotes)


MARKET = ("seen", "taken", "close_spot", "day")  # what a snapshot that changed no order moves


def _same_book(path, clock, broker: PaperBroker, *, written: bool = True) -> None:
    """A restart from the file has the broker's book; when the last call wrote nothing (a
    snapshot that executed nothing is fed again after a restart), all but the market fields."""
    again, now = PaperBroker(path, clock).exchange.to_state(), broker.exchange.to_state()
    if not written:
        again, now = ({k: v for k, v in x.items() if k not in MARKET} for x in (again, now))
    assert again == now


def test_a_restart_after_any_write_answers_exactly_as_before(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "book.json"
    day = DAY
    clock = SimClock(ist(day, time(9, 30)))
    broker = PaperBroker(path, clock)
    snap = chain(clock.now())
    broker.on_snapshot(snap)
    n = 0
    for step in range(400):
        saves = broker.saves
        r = rng.random()
        if r < 0.45:
            n += 1
            broker.submit(_order(rng, n))
        elif r < 0.6 and n:
            broker.cancel(f"o{rng.randint(1, n)}")
        elif r < 0.7 and n:
            broker.modify(f"o{rng.randint(1, n)}", rng.choice([50.0, 150.0, 300.0]))
        elif r < 0.97:
            clock.advance(clock.now() + timedelta(seconds=30))
            broker.on_snapshot(_moved(rng, clock.now()))
        else:  # the session closes; the next one opens
            broker.events()
            broker.end_of_day(day)
            day = day + timedelta(days=1)
            clock.advance(ist(day, time(9, 30)))
            broker.on_snapshot(_moved(rng, clock.now()))
        broker.events()  # answers read: the file holds them
        if step % 5 == 0 or step > 390:
            _same_book(path, clock, broker, written=broker.saves > saves)
    assert broker.saves > 100
    assert n > 150 and len(broker.exchange.executions) > 50


def test_a_change_line_costs_the_change_not_the_book(tmp_path):
    clock = SimClock(ist(DAY, time(9, 30)))
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain(clock.now()))
    for i in range(300):  # a day of filled orders
        broker.submit(Order(f"f{i}", "s", Tag.ENTRY, contract(), Side.BUY, LOT))
    book = len(json.dumps(broker.exchange.to_state()))
    before = path.stat().st_size
    broker.submit(Order("one-more", "s", Tag.ENTRY, contract(), Side.BUY, LOT))
    line = path.stat().st_size - before
    assert 0 < line < book / 50  # one order and its fill, not 300 of them
    _same_book(path, clock, broker)


def test_a_last_line_cut_by_a_crash_is_dropped_and_the_file_goes_on(tmp_path):
    clock = SimClock(ist(DAY, time(9, 30)))
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain(clock.now()))
    broker.submit(Order("kept", "s", Tag.ENTRY, contract(), Side.BUY, LOT))
    kept = broker.exchange.to_state()
    good = path.stat().st_size
    broker.submit(Order("lost", "s", Tag.ENTRY, contract(), Side.BUY, LOT))
    whole = path.read_bytes()
    path.write_bytes(whole[: good + (len(whole) - good) // 2])  # kill -9 in the middle of the append
    again = PaperBroker(path, clock)
    assert again.exchange.to_state() == kept  # "lost" was never answered: the broker never heard of it
    assert again.order_status("lost") is None and path.stat().st_size == good
    again.submit(Order("next", "s", Tag.ENTRY, contract(), Side.BUY, LOT))  # appends after the cut
    _same_book(path, clock, again)


def test_a_book_written_before_the_log_loads_and_goes_on(tmp_path):
    clock = SimClock(ist(DAY, time(9, 30)))
    old = PaperBroker(tmp_path / "scratch.json", clock)
    old.on_snapshot(chain(clock.now()))
    old.submit(Order("x", "s", Tag.ENTRY, contract(), Side.BUY, 2 * LOT))
    path = tmp_path / "book.json"
    path.write_text(json.dumps(old.exchange.to_state(), separators=(",", ":")))  # the earlier format
    broker = PaperBroker(path, clock)
    assert broker.exchange.to_state() == old.exchange.to_state()
    broker.submit(Order("y", "s", Tag.ENTRY, contract(), Side.SELL, LOT))
    _same_book(path, clock, broker)


def test_the_session_close_folds_the_day_into_one_book(tmp_path):
    clock = SimClock(ist(EXPIRY, time(10, 0)))
    path = tmp_path / "book.json"
    broker = PaperBroker(path, clock)
    broker.on_snapshot(chain(clock.now()))
    for i in range(20):
        broker.submit(Order(f"o{i}", "s", Tag.ENTRY, contract(), Side.BUY, LOT))
    assert len(path.read_bytes().splitlines()) == 20  # the first write is the whole book, then a line each
    broker.events()
    broker.end_of_day(EXPIRY)  # settles the long calls
    assert len(path.read_bytes().splitlines()) == 1
    _same_book(path, clock, broker)
