"""The publisher: kernel events -> metrics and WebSocket messages, on the API's event loop.

The kernel's observer only appends to ``TradingService.events``. A task here drains that
queue every ``interval`` seconds, updates the Prometheus counters, turns each event into a
typed JSON message with a sequence number and hands it to every connected client's own
bounded queue; every ``positions_every`` seconds it adds a positions/P&L message. A client
too slow to keep up is disconnected (close code 1013), never waited for: neither the kernel
nor the other clients slow down for one reader.

Messages: ``{"seq": n, "type": t, "ts": ..., "data": {...}}`` with ``type`` one of
``snapshot`` (first message of every connection: the current positions, P&L, kill switch
and working orders, ``seq`` = the last message it includes), ``order``, ``fill``,
``alert``, ``kill_switch``, ``positions``, ``pnl`` (every ``positions_every`` seconds),
``tick`` (spot, at most 4 a second) and ``bar`` (closed and building bars; hub_market.py).

Resume: a client reconnecting with ``?since=<seq>&epoch=<epoch>`` (both from what it last
received; the epoch is in every snapshot) gets the event messages after ``seq`` from a
replay buffer of the last ``REPLAY`` messages instead of a snapshot — order, fill, alert,
kill_switch and closed bars; the periodic state messages (positions, pnl, tick, building
bars) are not replayed, the next one supersedes them. A ``seq`` the buffer no longer covers,
one from another epoch (the service restarted) or none: a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
from collections import deque
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket

from optrunner.alerts.watch import ServiceWatch
from optrunner.api.hub_market import TICK_EVERY, MarketStream
from optrunner.api.metrics import ServiceMetrics
from optrunner.api.views import orders_out, positions_out
from optrunner.core.events import AlertEvent, FillEvent
from optrunner.live.service import OrderNote, TradingService

log = logging.getLogger(__name__)
CLIENT_QUEUE = 1000  # messages a client may lag behind before it is disconnected
REPLAY = 10_000  # event messages kept for clients resuming with ?since=
PERIODIC = frozenset({"positions", "pnl", "tick"})  # superseded by the next one: not replayed


def _ts(ts: datetime) -> str:
    return ts.isoformat()


def event_message(event: Any) -> tuple[str, dict[str, Any]] | None:
    """(type, data) of one queued kernel event."""
    if isinstance(event, OrderNote):
        d = asdict(event)
        d["ts"] = _ts(event.ts)
        return "order", d
    if isinstance(event, FillEvent):
        f = event.fill
        return "fill", {"fill_id": f.fill_id, "client_id": f.client_id, "strategy": f.strategy,
                        "tag": f.tag.value, "contract": f.contract.id, "side": f.side.value,
                        "quantity": f.quantity, "price": f.price, "charges": f.charges.total,
                        "ts": _ts(f.ts), "is_settlement": f.is_settlement}  # fmt: skip
    if isinstance(event, AlertEvent):
        kind = "kill_switch" if event.source.startswith("kill_switch:") else "alert"
        return kind, {"ts": _ts(event.ts), "level": event.level, "source": event.source, "message": event.message}
    return None


class Hub:
    """Connected WebSocket clients and the task that feeds them."""

    def __init__(self, service: TradingService, metrics: ServiceMetrics, *, interval: float = 0.1,
                 positions_every: float = 1.0, watch: ServiceWatch | None = None) -> None:  # fmt: skip
        self.service = service
        self.metrics = metrics
        self.watch = watch  # alerts: kernel events and seed 001's rules -> channels
        self._pump_lock = threading.Lock()  # the loop's task and /metrics (a worker thread) both pump
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.interval = interval
        self.positions_every = positions_every
        self.seq = 0
        self.clients: set[asyncio.Queue[str | None]] = set()  # each client's encoded messages
        self.recent: deque[dict[str, Any]] = deque(maxlen=REPLAY)  # event messages, for resuming clients
        self.evicted = 0  # seq of the newest event message dropped from ``recent``
        self.epoch = secrets.token_hex(4)  # seqs restart with the process: a resume names its epoch
        self.market = MarketStream(service)
        self._task: asyncio.Task[None] | None = None

    # --- publishing -----------------------------------------------------------------------------

    def _message(self, kind: str, data: Any) -> dict[str, Any]:
        self.seq += 1
        msg = {"seq": self.seq, "type": kind, "ts": datetime.now(UTC).isoformat(), "data": data}
        if kind not in PERIODIC and not (kind == "bar" and not data.get("closed")):
            if len(self.recent) == self.recent.maxlen:
                self.evicted = self.recent[0]["seq"]
            self.recent.append(msg)
        return msg

    def _publish(self, msg: dict[str, Any]) -> None:
        """``_broadcast`` on the loop's thread. ``/metrics`` pumps from a worker thread:
        asyncio's queues belong to the loop, so from there the hand-over is scheduled onto it."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread and not loop.is_closed():
            loop.call_soon_threadsafe(self._broadcast, msg)
        else:
            self._broadcast(msg)

    def _broadcast(self, msg: dict[str, Any]) -> None:
        if not self.clients:
            return
        text = json.dumps(msg, separators=(",", ":"))  # once, not once per client
        for q in list(self.clients):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:  # too slow: drop the client, not the kernel's pace
                self.clients.discard(q)
                with contextlib.suppress(asyncio.QueueFull):
                    q.get_nowait()
                    q.put_nowait(None)

    def pump(self) -> int:
        """Drain the service's queued events once; returns how many were handled."""
        with self._pump_lock:
            return self._pump()

    def _pump(self) -> int:
        events = self.service.events
        n = 0
        while events:
            event = events.popleft()
            n += 1
            self.metrics.consume(event)
            if self.watch is not None:
                self.watch.consume(event)
            out = event_message(event)
            if out is not None:
                self._publish(self._message(*out))
        self.metrics.poll()
        if self.watch is not None:
            for alert in self.watch.poll():  # the rules' and the service's own alerts, as kernel ones look
                self._publish(self._message("alert", {"ts": alert.ts.isoformat(), "level": alert.level,
                                                        "source": f"alerts:{alert.rule}", "message": alert.message}))  # fmt: skip
        return n

    def positions_message(self) -> dict[str, Any]:
        return self._message("positions", positions_out(self.service).model_dump(mode="json"))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_positions = next_tick = loop.time()
        while True:
            self.pump()
            if self.clients and loop.time() >= next_tick:
                next_tick = loop.time() + TICK_EVERY
                for kind, data in self.market.ticks():
                    self._broadcast(self._message(kind, data))
            if self.clients and loop.time() >= next_positions:
                next_positions = loop.time() + self.positions_every
                self._broadcast(self.positions_message())
                for kind, data in [*self.market.bars(), self.market.pnl()]:
                    self._broadcast(self._message(kind, data))
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = self._loop.create_task(self.run(), name="optrunner-hub")

    async def stop(self) -> None:
        for q in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(None)
        self.clients.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pump()  # count what the last inputs did

    # --- one client ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state a (re)connecting client starts from; its seq is the last message it covers."""
        s = self.service
        self.pump()  # everything up to now is in it
        with s.lock:
            switch = s.kernel.risk.kill_switch
            data = {
                "positions": positions_out(s).model_dump(mode="json"),
                "working_orders": [o.model_dump(mode="json") for o in orders_out(s, working=True)],
                "kill_switch": {"state": switch.state.value, "reason": switch.reason},
                "feed_state": s.state,
                "epoch": self.epoch,
            }
        return {"seq": self.seq, "type": "snapshot", "ts": datetime.now(UTC).isoformat(), "data": data}

    def replay_after(self, since: int | None, epoch: str | None) -> list[dict[str, Any]] | None:
        """The buffered event messages after ``since``; None when a snapshot is needed (no
        ``since``, another epoch, or messages after it already dropped from the buffer)."""
        if since is None or (epoch is not None and epoch != self.epoch) or since > self.seq or since < 0:
            return None
        self.pump()
        if since == self.seq:
            return []
        if since < self.evicted:  # event messages after it have left the buffer
            return None
        return [m for m in self.recent if m["seq"] > since]

    async def serve(self, ws: WebSocket, since: int | None = None, epoch: str | None = None) -> None:
        """Send the snapshot (or, resuming, the messages after ``since``), then every
        message, until the client goes or is dropped."""
        q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        replay = self.replay_after(since, epoch)
        first = [self.snapshot()] if replay is None else replay
        self.clients.add(q)  # before any await: nothing published from now on is missed
        reader = asyncio.create_task(self._read_until_closed(ws))
        try:
            for msg in first:
                await ws.send_json(msg)
            while True:
                getter = asyncio.create_task(q.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    getter.cancel()
                    return
                msg: str | None = getter.result()
                while msg is not None:  # what is queued already goes out without another wait
                    await ws.send_text(msg)
                    try:
                        msg = q.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                else:
                    await ws.close(code=1013)
                    return
        finally:
            self.clients.discard(q)
            reader.cancel()

    async def _read_until_closed(self, ws: WebSocket) -> None:
        """Clients send nothing after authenticating; reading notices when they leave."""
        with contextlib.suppress(Exception):
            while True:
                await ws.receive_text()
