"""The four services against the real Redis: a replayed day through feed -> strategies ->
risk -> gateway makes exactly the orders and fills of one process (`optrunner run`), and
kill -9 of any one service mid-day, then the same command again, loses and duplicates
nothing. Reuses the crash-recovery scenario (a DNSS trading ~70 orders, freeze slices,
resting limits, reprices) and its end-state reader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_crash_recovery import DAY, end_state, order_count
from test_crash_recovery import reference as crash_reference  # noqa: F401 (the fixture)

from optrunner.bus import messages as m
from optrunner.bus.streams import StreamBus, connect
from optrunner.bus.topics import Topics

pytestmark = [pytest.mark.slow, pytest.mark.services]


class Services:
    """One deployment (its own Redis namespace) of the four services on the crash scenario's files."""

    def __init__(self, root: Path, redis_url: str, name: str) -> None:
        self.root, self.redis_url, self.name = root, redis_url, name
        self.entry = ["optrunner.bus"]  # the light entry; the parity test uses `optrunner service`
        self.ns = f"t-{name}-{uuid.uuid4().hex[:6]}"
        self.bus = StreamBus(connect(redis_url), Topics("paper", self.ns))
        self.procs: dict[str, subprocess.Popen] = {}

    def cmd(self, service: str, *extra: str) -> list[str]:
        r = self.root
        args = {
            "feed": ["--data", str(r / "catalog"), "--date", DAY.isoformat(), "--symbol", "NIFTY"],
            "strategies": [str(r / "crashy.json"), "--data", str(r / "catalog"), "--date", DAY.isoformat(),
                           "--store", f"sqlite:///{r / self.name}.sqlite", "--capital", "50000000"],
            "risk": [str(r / "crashy.json"), "--capital", "50000000"],
            "gateway": ["--broker-state", str(r / f"{self.name}.json")],
        }[service]  # fmt: skip
        return [sys.executable, "-m", *self.entry, service, *args, *extra,
                "--redis", self.redis_url, "--namespace", self.ns]  # fmt: skip

    def start(self, service: str, *extra: str) -> subprocess.Popen:
        p = subprocess.Popen(self.cmd(service, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs[service] = p
        return p

    def wait(self, service: str, timeout: float = 120) -> str:
        out, _ = self.procs[service].communicate(timeout=timeout)
        assert self.procs[service].returncode == 0, f"{service} failed:\n{out[-3000:]}"
        return out

    def kill(self, service: str) -> None:
        p = self.procs[service]
        os.kill(p.pid, signal.SIGKILL)
        p.communicate(timeout=30)
        assert p.returncode == -signal.SIGKILL

    def stop(self) -> dict[str, str]:
        outs = {}
        for service, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            outs[service] = p.communicate(timeout=30)[0]
            if service in ("risk", "gateway"):
                assert p.returncode == 0, f"{service} did not stop cleanly on SIGTERM:\n{outs[service][-2000:]}"
        return outs

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.bus.reset()


@pytest.fixture
def services(crash_reference, redis_url: str, request):  # noqa: F811
    root, ref = crash_reference
    s = Services(root, redis_url, f"svc-{request.node.name[-40:].replace('[', '-').replace(']', '')}")
    yield s, ref
    s.close()


def assert_same_as_one_process(got: dict[str, Any], ref: dict[str, Any]) -> None:
    assert got["orders"] == ref["orders"]  # every field: ids, contracts, sides, quantities, states, times
    assert got["fills"] == ref["fills"]  # ids, prices, quantities, charges, times
    assert got["portfolio"] == ref["portfolio"]
    assert got["strategies"] == ref["strategies"]
    assert got["risk"] == ref["risk"] and got["bookkeeping"] == ref["bookkeeping"]
    assert got["executions"] == ref["executions"]  # the paper broker traded exactly the same
    assert set(got["accepted"].values()) == {1}, "a client id was accepted twice"
    assert len({f.fill_id for f in got["fills"]}) == len(got["fills"]) == len(ref["executions"])


def test_a_day_through_the_four_services_makes_the_same_orders_and_fills_as_one_process(services):
    s, ref = services
    s.entry = ["optrunner.cli", "service"]
    s.start("gateway")
    s.start("risk")
    s.start("feed")
    assert "published 376 snapshot(s)" in s.wait("feed")
    s.start("strategies")
    assert "processed 376 snapshot(s)" in s.wait("strategies")
    s.stop()
    assert_same_as_one_process(end_state(s.root, s.name), ref)
    topics = {t: [msg for _, msg in s.bus.read_all(t)] for t in ("signals.raw", "signals.validated",
              "signals.rejected", "orders.submitted", "orders.fills", "pnl.snapshots")}  # fmt: skip
    submits = [c.order.client_id for c in topics["signals.raw"] if isinstance(c, m.Submit)]
    assert sorted(submits) == sorted(o.client_id for o in ref["orders"])  # each order is one signal
    assert topics["signals.validated"] == topics["signals.raw"] and topics["signals.rejected"] == []
    assert sorted(x.order.client_id for x in topics["orders.submitted"]) == sorted(submits)
    assert sorted(f.event.exec_id for f in topics["orders.fills"]) == sorted(e["exec_id"] for e in ref["executions"])
    flat_net = sum(f.premium - f.charges.total for f in ref["fills"])  # the day ends flat: net is cash
    assert topics["pnl.snapshots"][-1].net == pytest.approx(flat_net, abs=0.01)
    assert s.bus.read_all("risk.dlq") == [] and s.bus.read_all("gateway.dlq") == []


@pytest.mark.parametrize("victim", ["gateway", "risk", "strategies", "feed"])
def test_kill_9_of_one_service_mid_day_then_restart_loses_and_duplicates_nothing(services, victim):
    s, ref = services
    half = len(ref["orders"]) // 2
    s.start("gateway")
    s.start("risk")
    if victim == "feed":
        s.start("feed", "--pace-ms", "10")
        s.start("strategies")
        deadline = time.monotonic() + 60
        while order_count(s.root / f"{s.name}.sqlite") < half // 2:
            assert time.monotonic() < deadline, "no orders before the kill"
            time.sleep(0.005)
        s.kill("feed")
        s.start("feed")
        assert "published" in s.wait("feed")
    else:
        s.start("feed")
        s.wait("feed")
        s.start("strategies")
        deadline = time.monotonic() + 60
        while order_count(s.root / f"{s.name}.sqlite") < half:
            assert time.monotonic() < deadline and s.procs["strategies"].poll() is None, "no orders before the kill"
            time.sleep(0.005)
        s.kill(victim)
        time.sleep(0.3)  # the others go on (or wait for it) meanwhile
        s.start(victim)
    out = s.wait("strategies")
    assert "processed" in out
    s.stop()
    got = end_state(s.root, s.name)
    assert_same_as_one_process(got, ref)
    if victim == "strategies":
        assert "resumed its session" in out
