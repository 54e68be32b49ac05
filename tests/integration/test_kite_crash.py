"""kill -9 between a Kite submission and its answer, then recovery finds the order by its tag.

A child process places one order through the real SDK; the fake Kite books it and holds the
answer back; the test SIGKILLs the child while it waits. A fresh process state (new broker,
new order manager with the restored id counter and the order marked "possibly sent", as
``TradingNode.recover`` does) places the same intent again: the order is found in Kite's
order book by its tag and adopted — never sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kite_cases import SYM, T0, intent, make_broker, make_om, settings_env, start_fake, step

from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.core.types import OrderState

TOKEN = "fake-access-token-000000000031"
CHILD = """
import sys, time
from pathlib import Path
sys.path[:0] = [{here!r}, {tests!r}]
from kite_cases import intent, make_broker, make_om, T0
from optrunner.core.clock import SimClock
clock = SimClock(T0)
broker = make_broker(FakeHandle, Path({tmp!r}), {token!r}, clock)
om = make_om(broker, clock)
print("placing", flush=True)
om.place(intent())
time.sleep(60)
"""


def test_kill_9_between_submit_and_ack_then_recovery_adopts_by_tag(tmp_path: Path) -> None:
    fake = start_fake()
    try:
        fake.issue_token(TOKEN)
        fake.set_price(SYM, 101.0, T0)
        fake.delay_seconds = 30.0
        fake.script("place", "timeout_after")
        tests = str(Path(__file__).resolve().parents[1])
        inst_file = tmp_path / "instruments.csv"
        inst_file.write_bytes(fake.instruments)
        code = (f"import types\nFakeHandle = types.SimpleNamespace(api_root={fake.api_root!r}, ws_root={fake.ws_root!r}, "
                f"instruments=open({str(inst_file)!r}, 'rb').read())\n"
                + CHILD.format(here=str(Path(__file__).parent), tests=tests, tmp=str(tmp_path), token=TOKEN))  # fmt: skip
        env = os.environ | settings_env(fake, tmp_path) | {"PYTHONPATH": os.pathsep.join([str(Path.cwd() / "src"), tests])}
        child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        end = time.monotonic() + 20
        while not fake.orders and time.monotonic() < end and child.poll() is None:
            time.sleep(0.02)
        assert fake.orders, child.stdout.read().decode() if child.poll() is not None else "no order reached the fake"
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        assert child.returncode == -signal.SIGKILL
        (order_id, booked), = fake.orders.items()
        tag = booked.form["tag"]
        assert (tmp_path / "kite-tags.txt").read_text().split() == [tag, "STRANGLE-000001"]

        # the restarted session: same ids, the journaled order possibly sent
        clock = SimClock(T0)
        broker = make_broker(fake, tmp_path, TOKEN, clock)
        om = make_om(broker, clock)
        journaled = Order("STRANGLE-000001", "STRANGLE", intent().tag, intent().contract, intent().side, 65,
                          intent().order_type, 100.0, state=OrderState.SUBMITTED)  # fmt: skip
        om.mark_possibly_sent([journaled])
        again = om.place(intent())
        om.drain()
        step(om, clock, 1.0)
        assert again.client_id == "STRANGLE-000001"
        assert again.state is OrderState.FILLED and again.broker_id == order_id
        assert len(fake.orders) == 1 and sum(1 for m, p in fake.requests if (m, p) == ("POST", "/orders/regular")) == 1
        assert [o.client_id for o in broker.orders()] == ["STRANGLE-000001"]  # the tag maps back to our id
    finally:
        fake.stop()
