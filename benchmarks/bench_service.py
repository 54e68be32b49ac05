"""The trading service's targets (issue 14), each measured against a real server:

1. **Emergency stop**: 20 strategies each holding 4 legs (a DNSS-like short strangle with
   long wings: sell the 25-delta CE and PE, buy the 10-delta CE and PE — 80 open legs),
   the kernel replaying at full speed; from sending ``POST /integrated/trading/stop`` to the
   paper broker receiving the last flatten order. Target <= 1 s.
2. **API latency**: GET endpoints at a fixed 200 requests/s (open loop: each request is sent
   at its scheduled time, latency counted from that time, so a stalled server is not hidden)
   while the kernel replays 20 DNSS strategies at full speed. Target p99 <= 20 ms.
3. **WebSocket fan-out**: the kernel's replay throughput (inputs/s) with 50 WebSocket
   clients connected and reading vs none. Target >= 90 % of the no-client rate.
4. **Checkpoint cost** (``--only ckpt``): what the API threads wait for on the kernel lock
   after every input: the node's checkpoint, timed per input over the 20 DNSS replay (in
   this process, no server), and the bytes it writes (the checkpoint and, from version 2
   on, its batch of finished orders). Runs against an older build too (PYTHONPATH), for a
   before/after.

The server runs in its own process, as ``optrunner serve`` does (uvicorn in the main thread,
the replay in a thread); clients run in this process. Times across the two processes use
``time.monotonic`` (CLOCK_MONOTONIC, one clock for the machine).

Run: .venv/bin/python benchmarks/bench_service.py [--repeats 3] [--days 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from optrunner.core.orders import OrderIntent
from optrunner.core.timeutil import to_ist
from optrunner.core.types import LegRole, Side, Tag
from optrunner.instruments.specs import get_index
from optrunner.strategies.base import NO_INTENTS, BaseStrategy, Subscriptions

DAY = date(2026, 11, 16)  # a Monday: the weekly expires the next day
TOKEN = "bench-service-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STRATEGIES = 20
LEGS = 4
CLIENTS = 50
RATE = 200.0
GETS = ["/integrated/trading/positions", "/integrated/trading/status", "/performance/stats",
        "/api/orders?limit=50", "/api/health", "/api/strategies"]  # fmt: skip


class Condor(BaseStrategy):
    """DNSS-like with wings: at the first chain from 09:20 on, sell the 25-delta CE and PE of
    the nearest expiry and buy the 10-delta CE and PE; then hold (4 open legs)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = False

    def subscriptions(self) -> Subscriptions:
        return Subscriptions(chains={"NIFTY"})

    def on_chain(self, snapshot: Any) -> Any:
        if self.entered or to_ist(snapshot.ts).time() < datetime(2000, 1, 1, 9, 20).time():
            return NO_INTENTS
        from optrunner.market.lookup import find_option

        legs = []
        for right, target, side, role in (("CE", 0.25, Side.SELL, LegRole.MAIN), ("PE", 0.25, Side.SELL, LegRole.MAIN),
                                          ("CE", 0.10, Side.BUY, LegRole.HEDGE), ("PE", 0.10, Side.BUY, LegRole.HEDGE)):  # fmt: skip
            q = find_option(snapshot, field="delta", value=target, option_type=right, expiry="nearest")
            if q is None:
                return NO_INTENTS
            lot = get_index("NIFTY").lot_size(q.contract.expiry, to_ist(snapshot.ts).date())
            legs.append(OrderIntent(self.name, Tag.ENTRY, q.contract, side, lot, role=role,
                                    leg=f"{side.value}-{right}-{target}", reason="bench entry"))  # fmt: skip
        self.entered = True
        return legs

    def get_state(self) -> dict[str, Any]:
        return {"entered": self.entered}


# --- the server process -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dnss_config(i: int) -> dict[str, Any]:
    return {
        "name": f"DNSS_{i:02d}", "enabled": True, "strategy": "dnss",
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY"},
        "entry": {"entry_time": f"09:{20 + i % 10:02d}", "target_ce_delta": 0.2 + 0.005 * i,
                  "target_pe_delta": 0.2 + 0.005 * i, "delta_tolerance": 0.08, "quantity": 1, "max_attempts": 3},
        "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60,
                       "max_adjustments_per_day": 20, "max_leg_delta": 0.65},
        "exit": {"exit_time": "15:15", "time_exit_override": True},
    }  # fmt: skip


def condor_config(i: int) -> Any:
    """A validated strategy config for the bench strategy: DNSS's, with 4 legs allowed."""
    from optrunner.config import validate_config

    raw = {**dnss_config(i), "name": f"CONDOR_{i:02d}", "risk_management": {"max_concurrent_legs": LEGS}}
    config, issues = validate_config(raw, Path.cwd())
    if config is None:
        raise SystemExit(f"bench config invalid: {issues}")
    return config


def server_main(conn: Any, work: str, kind: str, days: int, port: int) -> None:
    """Build the service (``kind`` "condor" or "dnss"), serve the API, start the replay on
    "go", and report to ``conn``."""
    import logging

    import uvicorn

    from optrunner.api.app import create_app
    from optrunner.api.commands import UVICORN_SETTINGS
    from optrunner.backtest.commands import account_settings, load_configs
    from optrunner.backtest.engine import merged_snapshots
    from optrunner.core.clock import SimClock
    from optrunner.data.catalog import Catalog
    from optrunner.instruments import calendar_for
    from optrunner.live.node import TradingNode
    from optrunner.live.paper_broker import PaperBroker
    from optrunner.live.service import TradingService
    from optrunner.risk.settings import EntryGuardSettings
    from optrunner.store import Store

    logging.basicConfig(level=logging.ERROR)
    if os.environ.get("BENCH_SWITCH"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))
    logging.getLogger("optrunner").setLevel(logging.ERROR)
    root = Path(work)
    tag = f"{kind}-{time.monotonic_ns()}"
    catalog = Catalog(root / "catalog")
    last = calendar_for("NIFTY").trading_days(DAY, date(2026, 12, 31))[days - 1]
    settings, _ = account_settings(None, capital=1e9)
    if kind == "condor":  # 20 strategies short the same strikes: no account-wide pyramiding guard
        guard = EntryGuardSettings(max_same_side=1000, pyramid_min_age_seconds=0, pyramid_requires_profit=False)
        settings = settings.model_copy(update={"risk": settings.risk.model_copy(update={"entry_guard": guard})})
    clock = SimClock()
    broker = PaperBroker(root / f"{tag}.broker.json", clock, settings.sim_config())
    store = Store(f"sqlite:///{root / f'{tag}.sqlite'}")
    store.create_schema()
    configs = []
    if kind == "dnss":
        configs, _ = load_configs([root / "dnss"])
    node = TradingNode(configs, store, broker, clock, capital=settings.capital, risk=settings.risk,
                       charges=settings.charge_schedule())  # fmt: skip
    if kind == "condor":
        for i in range(STRATEGIES):  # a strategy file's limits (4 legs) on the bench strategy
            node.kernel.add_strategy(Condor(f"CONDOR_{i:02d}"), condor_config(i))
    snapshots = iter(merged_snapshots(catalog, ["NIFTY"], DAY, last))
    submits: list[tuple[float, str]] = []
    if kind == "condor":  # open every strategy's 4 legs before the service starts
        for snap in snapshots:
            node.process(snap)
            if len(node.kernel.portfolio.positions()) >= STRATEGIES * LEGS:
                break
        inner = broker.submit

        def timed_submit(order: Any) -> None:
            submits.append((time.monotonic(), order.client_id))
            inner(order)

        broker.submit = timed_submit  # type: ignore[method-assign]
    service = TradingService(node, snapshots, catalog=catalog)
    app = create_app(service, TOKEN, start_service=False)
    server = uvicorn.Server(uvicorn.Config(app, **UVICORN_SETTINGS, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.01)
    conn.send({"ready": True, "open_legs": len(node.kernel.portfolio.positions()), "pid": os.getpid()})
    while True:
        msg = conn.recv()
        if msg == "go":
            started = time.monotonic()
            cpu0 = time.process_time()  # every thread of this process: the kernel's and the API's
            inputs0 = node.inputs
            service.start()
            conn.send({"started": started})
        elif msg == "wait":
            service.wait()
            ended = time.monotonic()
            conn.send({"ended": ended, "inputs": node.inputs - inputs0, "seconds": ended - started,
                       "cpu_s": time.process_time() - cpu0,
                       "clients": len(app.state.hub.clients) if hasattr(app.state.hub, "clients") else None})  # fmt: skip
        elif msg == "submits":
            conn.send({"submits": list(submits), "open_legs": len(node.kernel.portfolio.positions())})
        elif msg == "quit":
            server.should_exit = True
            t.join(10)
            service.stop()
            conn.send({"bye": True})
            return


class Server:
    """A server process and its pipe."""

    def __init__(self, work: Path, kind: str, days: int) -> None:
        self.port = _free_port()
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=server_main, args=(child, str(work), kind, days, self.port), daemon=True)
        self.proc.start()
        self.hello = self.ask(None)
        self.base = f"http://127.0.0.1:{self.port}"

    def ask(self, msg: Any, timeout: float = 600.0) -> dict[str, Any]:
        if msg is not None:
            self.conn.send(msg)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the server did not answer {msg!r}")
        return self.conn.recv()

    def close(self) -> None:
        try:
            self.ask("quit", 30)
        finally:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


# --- the measurements ---------------------------------------------------------------------------


def emergency_stop(work: Path, days: int) -> dict[str, float]:
    server = Server(work, "condor", days)
    try:
        assert server.hello["open_legs"] == STRATEGIES * LEGS, server.hello
        server.ask("go")
        with httpx.Client(base_url=server.base, timeout=30) as http:
            http.get("/api/health")  # connection warm
            time.sleep(0.3)  # the replay is running at full speed
            sent = time.monotonic()
            r = http.post("/integrated/trading/stop", headers=AUTH)
            answered = time.monotonic()
        r.raise_for_status()
        flatten = set(r.json()["flatten_orders"])
        got = server.ask("submits")
        times = [t for t, cid in got["submits"] if cid in flatten]
        assert len(flatten) >= STRATEGIES * LEGS and len(times) == len(flatten), (len(flatten), len(times))
        return {"to_last_submit_ms": (max(times) - sent) * 1e3, "answer_ms": (answered - sent) * 1e3,
                "flatten_orders": len(flatten), "open_after": got["open_legs"]}  # fmt: skip
    finally:
        server.close()


class _Connections:
    """Keep-alive HTTP/1.1 GETs over plain asyncio streams. httpx's async client took more
    CPU than the server's replay thread at 200 requests/s (py-spy), on the same two cores:
    the open loop measured its own load generator. This one parses only what a GET of a
    JSON answer needs (status line, Content-Length)."""

    def __init__(self, base: str, n: int) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port, self.n = host, int(port), n
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.all: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        for _ in range(self.n):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.all.append(writer)
            self.idle.put_nowait((reader, writer))

    async def get(self, path: str) -> int:
        reader, writer = await self.idle.get()
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: {AUTH['Authorization']}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except Exception:
            writer.close()
            raise
        self.idle.put_nowait((reader, writer))
        return status

    def close(self) -> None:
        for w in self.all:
            w.close()


async def _open_loop(base: str, seconds: float, stop: asyncio.Event, errors: list[str]) -> list[float]:
    """GETs at RATE per second for ``seconds`` (or until ``stop``); latency in ms from each
    request's scheduled time; failed requests go to ``errors``."""
    latencies: list[float] = []
    conns = _Connections(base, 64)
    await conns.open()

    async def one(path: str, due: float) -> None:
        try:
            status = await conns.get(path)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(f"{path}: {type(exc).__name__}")
            return
        if status != 200:
            errors.append(f"{path}: {status}")
            return
        latencies.append((time.monotonic() - due) * 1e3)

    t0 = time.monotonic()
    tasks = []
    i = 0
    while not stop.is_set() and time.monotonic() - t0 < seconds:
        due = t0 + i / RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(GETS[i % len(GETS)], due)))
        i += 1
    await asyncio.gather(*tasks)
    conns.close()
    return latencies


def _closed_loop(base: str, stop: threading.Event) -> list[float]:
    """One GET at a time (at most RATE per second) until ``stop``: each request's own service
    time, without the queueing an overloaded machine adds to the open loop."""
    latencies = []
    with httpx.Client(base_url=base, timeout=10, headers=AUTH) as http:
        i = 0
        while not stop.is_set():
            t = time.monotonic()
            http.get(GETS[i % len(GETS)]).raise_for_status()
            latencies.append((time.monotonic() - t) * 1e3)
            i += 1
            time.sleep(max(0.0, t + 1 / RATE - time.monotonic()))
    return latencies


def api_closed_loop(work: Path, days: int) -> dict[str, float]:
    server = Server(work, "dnss", days)
    try:
        stop = threading.Event()
        out: list[list[float]] = []
        t = threading.Thread(target=lambda: out.append(_closed_loop(server.base, stop)))
        server.ask("go")
        t.start()
        done = server.ask("wait")
        stop.set()
        t.join()
        a = np.array(out[0])
        return {"requests": len(a), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
                "rate": len(a) / done["seconds"], "inputs_per_s": done["inputs"] / done["seconds"]}  # fmt: skip
    finally:
        server.close()


def api_latency(work: Path, days: int) -> dict[str, float]:
    server = Server(work, "dnss", days)
    try:
        async def run() -> tuple[list[float], dict[str, Any]]:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            server.ask("go")
            waiter = loop.run_in_executor(None, server.ask, "wait")
            waiter.add_done_callback(lambda _f: loop.call_soon_threadsafe(stop.set))
            lat = await _open_loop(server.base, 600.0, stop, errors)
            return lat, await waiter

        errors: list[str] = []
        lat, done = asyncio.run(run())
        a = np.array(lat)
        return {"requests": len(a), "errors": len(errors), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
                "max_ms": float(a.max()), "replay_s": done["seconds"], "inputs_per_s": done["inputs"] / done["seconds"]}  # fmt: skip
    finally:
        server.close()


async def _ws_clients(port: int, n: int, conn: Any) -> dict[str, int]:
    """``n`` clients that connect, read the snapshot, say "ready" on ``conn``, then read every
    message until "stop" arrives on ``conn``."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    stop = asyncio.Event()
    counts = [0] * n  # messages
    frames = [0] * n  # each a JSON array of messages (docs/service.md)
    dropped = [0]

    async def client(k: int, connected: asyncio.Event) -> None:
        async with connect(f"ws://127.0.0.1:{port}/ws?token={TOKEN}", open_timeout=60, max_size=None,
                           compression=None) as ws:  # fmt: skip
            await ws.recv()  # the snapshot
            connected.set()
            try:
                while not stop.is_set():
                    try:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))  # a client reads what it gets
                    except TimeoutError:
                        continue
                    counts[k] += len(frame)
                    frames[k] += 1
            except ConnectionClosed:
                dropped[0] += 1

    events = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.ensure_future(client(k, events[k])) for k in range(n)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 120)
    conn.send("ready")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)
    stop.set()
    await asyncio.gather(*tasks)
    return {"messages": sum(counts), "frames": sum(frames), "dropped": dropped[0]}


def clients_main(conn: Any, port: int, n: int) -> None:
    """The WebSocket clients' process, at the lowest CPU priority: dashboards run on other
    machines, so the clients must not take the server's CPU on this one."""
    os.nice(19)
    conn.send(asyncio.run(_ws_clients(port, n, conn)))


def replay_rate(work: Path, days: int, clients: int) -> dict[str, float]:
    server = Server(work, "dnss", days)
    try:
        if not clients:
            server.ask("go")
            done = server.ask("wait")
            return {"inputs_per_s": done["inputs"] / done["seconds"], "seconds": done["seconds"], "messages": 0,
                    "frames": 0, "dropped": 0, "cpu_ms_per_input": 1e3 * done["cpu_s"] / done["inputs"]}  # fmt: skip
        ctx = mp.get_context("spawn")
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=clients_main, args=(child, server.port, clients), daemon=True)
        proc.start()
        try:
            if not conn.poll(180) or conn.recv() != "ready":
                raise RuntimeError("the WebSocket clients did not connect")
            server.ask("go")
            done = server.ask("wait")
            conn.send("stop")
            got = conn.recv() if conn.poll(60) else {"messages": -1, "frames": -1, "dropped": -1}
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        return {"inputs_per_s": done["inputs"] / done["seconds"], "seconds": done["seconds"],
                "cpu_ms_per_input": 1e3 * done["cpu_s"] / done["inputs"], **got}  # fmt: skip
    finally:
        server.close()


def checkpoint_cost(work: Path, days: int) -> dict[str, float]:
    """The 20 DNSS replayed through a TradingNode on SQLite, each checkpoint timed; sizes from
    the journal afterwards (nothing pruned)."""
    from optrunner.backtest.commands import account_settings, load_configs
    from optrunner.backtest.engine import merged_snapshots
    from optrunner.core.clock import SimClock
    from optrunner.data.catalog import Catalog
    from optrunner.instruments import calendar_for
    from optrunner.live.node import TradingNode
    from optrunner.live.paper_broker import PaperBroker
    from optrunner.store import Store

    tag = f"ckpt-{time.monotonic_ns()}"
    last = calendar_for("NIFTY").trading_days(DAY, date(2026, 12, 31))[days - 1]
    settings, _ = account_settings(None, capital=1e9)
    clock = SimClock()
    store = Store(f"sqlite:///{work / f'{tag}.sqlite'}")
    store.create_schema()
    configs, _ = load_configs([work / "dnss"])
    node = TradingNode(configs, store, PaperBroker(work / f"{tag}.broker.json", clock, settings.sim_config()), clock,
                       capital=settings.capital, risk=settings.risk, charges=settings.charge_schedule(),
                       keep_checkpoints=None)  # fmt: skip
    times: list[float] = []
    inner = node.checkpoint

    def timed() -> None:
        t = time.perf_counter()
        inner()
        times.append(time.perf_counter() - t)

    node.checkpoint = timed  # type: ignore[method-assign]
    node.run(merged_snapshots(Catalog(work / "catalog"), ["NIFTY"], DAY, last))
    sizes: dict[str, list[int]] = {}
    for e in store.journal():
        if e.kind.startswith("checkpoint"):
            sizes.setdefault(e.kind, []).append(len(json.dumps(e.payload, separators=(",", ":"))))
    store.close()
    a = np.array(times) * 1e3
    ck = sizes["checkpoint"]
    written = sum(sum(v) for v in sizes.values())
    return {"checkpoints": len(a), "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()), "last_bytes": ck[-1], "max_bytes": max(ck),
            "bytes_per_checkpoint": written / len(ck), "orders": len(node.kernel.om.orders())}  # fmt: skip


def prepare(work: Path, days: int) -> None:
    from optrunner.data.synthetic import generate
    from optrunner.instruments import calendar_for

    last = calendar_for("NIFTY").trading_days(DAY, date(2026, 12, 31))[days - 1]
    generate("NIFTY", DAY, last, seed=11, out=work / "catalog", strikes_each_side=15, progress=False)
    (work / "dnss").mkdir()
    for i in range(STRATEGIES):
        (work / "dnss" / f"DNSS_{i:02d}.json").write_text(json.dumps(dnss_config(i)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--days", type=int, default=1, help="days replayed at full speed (longer: more samples)")
    ap.add_argument("--only", choices=["stop", "api", "closed", "ws", "ckpt"],
                    help="one measurement (closed: only the API's closed loop)", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        prepare(work, args.days)
        print(f"data: {args.days} synthetic NIFTY day(s), {STRATEGIES} strategies ({time.perf_counter() - t:.1f}s)")
        if args.only in (None, "ckpt"):
            runs = [checkpoint_cost(work, args.days) for _ in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"checkpoint per input, {STRATEGIES} DNSS ({med['checkpoints']:.0f} checkpoints, {med['orders']:.0f} orders): "
                  f"p50 {med['p50_ms']:.2f} ms, p99 {med['p99_ms']:.2f} ms, max {med['max_ms']:.1f} ms (median of {len(runs)}; "
                  f"p99s {[round(r['p99_ms'], 2) for r in runs]}); last checkpoint {med['last_bytes'] / 1e3:.1f} kB, "
                  f"largest {med['max_bytes'] / 1e3:.1f} kB, {med['bytes_per_checkpoint'] / 1e3:.1f} kB written per checkpoint")  # fmt: skip
        if args.only in (None, "stop"):
            runs = [emergency_stop(work, 1) for _ in range(args.repeats)]
            last = statistics.median(r["to_last_submit_ms"] for r in runs)
            answer = statistics.median(r["answer_ms"] for r in runs)
            print(f"emergency stop, {STRATEGIES} x {LEGS} legs, replay at full speed: last flatten order submitted "
                  f"{last:.1f} ms after the request (median of {len(runs)}; runs {[round(r['to_last_submit_ms'], 1) for r in runs]}), "
                  f"answer {answer:.1f} ms; {runs[0]['flatten_orders']} flatten orders, open legs after: "
                  f"{[r['open_after'] for r in runs]}  target <= 1000 ms: {'OK' if last <= 1000 else 'MISSED'}")  # fmt: skip
        if args.only in (None, "api"):  # the open loop
            runs = [api_latency(work, args.days) for _ in range(args.repeats)]
            p99 = statistics.median(r["p99_ms"] for r in runs)
            print(f"API at {RATE:.0f} req/s during a full-speed replay of {STRATEGIES} DNSS: p50 "
                  f"{statistics.median(r['p50_ms'] for r in runs):.1f} ms, p99 {p99:.1f} ms (median of {len(runs)}; "
                  f"p99s {[round(r['p99_ms'], 1) for r in runs]}, max {[round(r['max_ms']) for r in runs]}), "
                  f"{runs[0]['requests']} requests ({[r['errors'] for r in runs]} failed) over {runs[0]['replay_s']:.1f} s, replay "
                  f"{statistics.median(r['inputs_per_s'] for r in runs):.0f} inputs/s  "
                  f"target p99 <= 20 ms: {'OK' if p99 <= 20 else 'MISSED'}")  # fmt: skip
        if args.only in (None, "api", "closed"):
            closed = [api_closed_loop(work, args.days) for _ in range(args.repeats)]
            print(f"  the same, one request at a time (closed loop, at most {RATE:.0f}/s): p50 "
                  f"{statistics.median(r['p50_ms'] for r in closed):.1f} ms, p99 "
                  f"{statistics.median(r['p99_ms'] for r in closed):.1f} ms ({[round(r['p99_ms'], 1) for r in closed]}), "
                  f"{statistics.median(r['rate'] for r in closed):.0f} requests/s achieved, replay "
                  f"{statistics.median(r['inputs_per_s'] for r in closed):.0f} inputs/s")  # fmt: skip
        if args.only in (None, "ws"):
            base, loaded = [], []
            for _ in range(args.repeats):  # interleaved: machine noise hits both alike
                base.append(replay_rate(work, args.days, 0))
                loaded.append(replay_rate(work, args.days, CLIENTS))
            b = statistics.median(r["inputs_per_s"] for r in base)
            w = statistics.median(r["inputs_per_s"] for r in loaded)
            pairs = [x["inputs_per_s"] / y["inputs_per_s"] for x, y in zip(loaded, base, strict=True)]
            pair = statistics.median(pairs)  # each pair ran back to back: the least noisy ratio
            print(f"replay of {STRATEGIES} DNSS at full speed: {b:.0f} inputs/s without clients "
                  f"({[round(r['inputs_per_s']) for r in base]}), {w:.0f} inputs/s with {CLIENTS} WebSocket clients "
                  f"({[round(r['inputs_per_s']) for r in loaded]}; {loaded[0]['messages']} messages in {loaded[0]['frames']} frames read, "
                  f"{[r['dropped'] for r in loaded]} clients dropped): "
                  f"ratio of medians {w / b:.2f}, median of pairwise ratios {pair:.2f} {[round(x, 2) for x in pairs]}  "
                  f"target >= 0.90: {'OK' if pair >= 0.9 else 'MISSED'}")  # fmt: skip
            # the server's CPU per input (all its threads): what the clients cost it, far less
            # sensitive than the wall-clock rate to other work on a shared machine
            cb = statistics.median(r["cpu_ms_per_input"] for r in base)
            cw = statistics.median(r["cpu_ms_per_input"] for r in loaded)
            print(f"  server CPU per input: {cb:.2f} ms without clients ({[round(r['cpu_ms_per_input'], 2) for r in base]}), "
                  f"{cw:.2f} ms with {CLIENTS} ({[round(r['cpu_ms_per_input'], 2) for r in loaded]}): "
                  f"throughput bound {cb / cw:.2f} of without")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
