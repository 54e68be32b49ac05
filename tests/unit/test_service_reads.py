"""API reads through ``TradingService.read``: answered by the replay thread at its next safe
point (between two strategies' orders, before the checkpoint, after the input) or, when the
kernel is idle, at once on the event loop — never half way through one strategy's orders."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from optrunner.backtest.engine import merged_snapshots
from optrunner.live.commands import open_paper_session
from optrunner.live.service import TradingService
from service_cases import DAY, STRATEGY, make_case

SECOND = f"{STRATEGY}2"
SLOW = 0.3  # seconds each order takes to reach the broker


def _two_strategies(tmp_path) -> TradingService:
    catalog, configs = make_case(tmp_path)
    config = json.loads((configs / f"{STRATEGY}.json").read_text())
    (configs / f"{SECOND}.json").write_text(json.dumps({**config, "name": SECOND}))
    s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}")
    return TradingService(s.node, merged_snapshots(s.catalog, s.symbols, s.day, s.day))


def test_a_read_is_answered_after_one_strategys_orders_before_the_next_strategys(tmp_path) -> None:
    service = _two_strategies(tmp_path)
    kernel, broker = service.kernel, service.node.kernel.broker
    assert list(kernel.runner.strategies()) == [STRATEGY, SECOND]  # the order the runner forwards in
    first_order = threading.Event()
    inner = broker.submit

    def slow_submit(order) -> None:  # a slow broker round trip, while the kernel holds its lock
        if order.strategy == STRATEGY:
            first_order.set()
        time.sleep(SLOW)
        inner(order)

    broker.submit = slow_submit

    def look() -> tuple[int, dict[str, int], str]:
        by_strategy: dict[str, int] = {}
        for o in kernel.om.orders():
            by_strategy[o.strategy] = by_strategy.get(o.strategy, 0) + 1
        return service.node.inputs, by_strategy, threading.current_thread().name

    async def main() -> tuple[int, tuple[int, dict[str, int], str], float]:
        service.start()
        assert await asyncio.to_thread(first_order.wait, 30), "the strategies never entered"
        inputs_before = service.node.inputs  # the entry input is in flight
        t = time.monotonic()
        answer = await service.read(look)
        return inputs_before, answer, time.monotonic() - t

    try:
        inputs_before, (inputs_seen, orders, thread), waited = asyncio.run(main())
    finally:
        service.stop()
    first = [o for o in kernel.om.orders() if o.strategy == STRATEGY]
    entry = sum(1 for o in first if o.created_ts == first[0].created_ts)  # its legs of the entry input
    assert thread == "optrunner-replay"  # answered by the replay thread, at a safe point
    assert inputs_seen == inputs_before  # inside the entry input, not after it
    assert entry >= 2 and orders == {STRATEGY: entry}  # the first strategy's legs whole, none of the second's
    assert waited < (entry + 0.5) * SLOW  # the first strategy's legs, not the second's too


def test_an_idle_kernel_answers_on_the_event_loop_at_once(tmp_path) -> None:
    service = _two_strategies(tmp_path)

    async def main() -> tuple[list[str], str, str]:
        names = await service.read(lambda: list(service.kernel.runner.strategies()))
        loop_thread = threading.current_thread().name
        ran_on = await service.read(lambda: threading.current_thread().name)
        return names, ran_on, loop_thread

    names, ran_on, loop_thread = asyncio.run(main())
    service.stop()
    assert names == [STRATEGY, SECOND] and ran_on == loop_thread


def test_a_read_that_fails_raises_in_its_caller_and_the_next_read_works(tmp_path) -> None:
    service = _two_strategies(tmp_path)

    def broken() -> None:
        raise LookupError("no such thing")

    async def main() -> int:
        with pytest.raises(LookupError, match="no such thing"):
            await service.read(broken)
        return await service.read(lambda: service.node.inputs)

    assert asyncio.run(main()) == 0
    service.stop()


def test_a_read_left_waiting_when_the_input_ends_is_answered_by_the_loop(tmp_path) -> None:
    """The replay thread may finish its answers just before the read arrives and then wait
    for a live feed's next chain, lock released: the loop looks again and answers it."""
    service = _two_strategies(tmp_path)
    lock = service.kernel.lock
    held, release = threading.Event(), threading.Event()

    def input_in_flight() -> None:
        with lock:
            held.set()
            release.wait(5)

    async def main() -> tuple[bool, str, str]:
        holder = threading.Thread(target=input_in_flight, name="kernel")
        holder.start()
        await asyncio.to_thread(held.wait, 5)
        pending = asyncio.ensure_future(service.read(lambda: threading.current_thread().name))
        await asyncio.sleep(0.05)
        waited = not pending.done()  # the kernel's lock is held: the read waits
        release.set()  # the input ends without a safe point (nothing answers the read there)
        holder.join(5)
        name = await asyncio.wait_for(pending, 1.0)
        return waited, name, threading.current_thread().name

    waited, name, loop_thread = asyncio.run(main())
    service.stop()
    assert waited and name == loop_thread
