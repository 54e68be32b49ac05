"""kill -9 between a Dhan / Shoonya submission and its answer; recovery finds the order by client id.

A child process places one order through the adapter; the fake books it and holds the answer
back; the test SIGKILLs the child while it waits. A fresh process state (new adapter on the same
tag file, new order manager told the journaled order is possibly sent, as
``TradingNode.recover`` does) places the same intent again: the order is found in the broker's
order book by its tag (Dhan ``correlationId``, Shoonya ``remarks``) and adopted — never sent
twice — and its fill is read from the trade book.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from fakes.rigs import CALL, LOT, open_rig, reopen_broker
from optrunner.core.clock import SimClock
from optrunner.core.orders import Order, OrderIntent
from optrunner.core.timeutil import IST
from optrunner.core.types import OrderState, OrderType, Side, Tag
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy

CHILD = """
import sys, time, pickle
from pathlib import Path
sys.path[:0] = [{src!r}, {tests!r}]
from optrunner.core.clock import SimClock
from optrunner.execution.order_manager import OrderManager
from optrunner.execution.policy import ExecutionPolicy
settings, token, instruments, intent, start = pickle.loads(bytes.fromhex({blob!r}))
cls = {cls!r}
if cls == "dhan":
    from optrunner.execution.brokers.dhan.adapter import DhanBroker as B
else:
    from optrunner.execution.brokers.shoonya.adapter import ShoonyaBroker as B
clock = SimClock(start)
broker = B(settings, token, instruments, clock, tag_file=Path({tags!r}), poll_seconds=0.0)
om = OrderManager(broker, clock, default_policy=ExecutionPolicy(market_as_limit=False))
print("placing", flush=True)
om.place(intent)
time.sleep(60)
"""


def intent() -> OrderIntent:
    return OrderIntent("STRANGLE", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 100.0)


@pytest.mark.parametrize("name", ["dhan", "shoonya"])
def test_kill_9_between_submit_and_ack_then_recovery_adopts_by_client_id(tmp_path: Path, name: str) -> None:
    import pickle

    start = datetime.now(IST).replace(microsecond=0)
    rig = open_rig(name, tmp_path, SimClock(start))
    try:
        rig.fake.fill_at_limit = True
        rig.fake.timeout_seconds = 30.0  # the answer is held back far beyond the child's life
        rig.place_fault("timeout_after")
        b = rig.broker
        settings = type(b.settings)(**{**b.settings.__dict__, "timeout_seconds": 60.0})  # type: ignore[attr-defined]
        token = rig.store.require_valid(name)
        blob = pickle.dumps((settings, token, b.instruments, intent(), start)).hex()  # type: ignore[attr-defined]
        tests = str(Path(__file__).resolve().parents[1])
        src = str(Path(__file__).resolve().parents[2] / "src")
        code = CHILD.format(src=src, tests=tests, blob=blob, cls=name, tags=str(tmp_path / "tags.txt"))
        child = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {"PYTHONPATH": src},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        end = time.monotonic() + 20
        while not rig.fake.orders and time.monotonic() < end and child.poll() is None:
            time.sleep(0.02)
        assert rig.fake.orders, child.stdout.read().decode() if child.poll() is not None else "no order reached the fake"  # type: ignore[union-attr]
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        assert child.returncode == -signal.SIGKILL
        [broker_id] = rig.order_ids()
        assert (tmp_path / "tags.txt").read_text().split()[1] == "STRANGLE-000001"  # written before the request left

        # the restarted session: same ids, the journaled order possibly sent
        clock = SimClock(start)
        after = reopen_broker(rig, clock)
        om = OrderManager(after, clock, default_policy=ExecutionPolicy(market_as_limit=False))
        journaled = Order("STRANGLE-000001", "STRANGLE", Tag.ENTRY, CALL, Side.SELL, LOT, OrderType.LIMIT, 100.0,
                          state=OrderState.SUBMITTED)  # fmt: skip
        om.mark_possibly_sent([journaled])
        again = om.place(intent())
        om.drain()
        assert again.client_id == "STRANGLE-000001" and again.broker_id == broker_id
        assert again.state is OrderState.FILLED and again.avg_price == 100.0
        assert rig.places() == 1 and len(rig.order_ids()) == 1  # never sent twice
        assert [o.client_id for o in after.orders()] == ["STRANGLE-000001"]  # the tag maps back to our id
        after.close()  # type: ignore[attr-defined]
    finally:
        rig.close()
