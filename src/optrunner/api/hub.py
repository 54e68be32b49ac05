"""The publisher: kernel events -> metrics and WebSocket frames, on the API's event loop.

The kernel's observer only appends to ``TradingService.events``. A task here drains that
queue every ``interval`` seconds (100 ms), updates the Prometheus counters and turns each
event into a typed JSON message with a sequence number; every ``positions_every`` seconds it
adds positions, P&L and bar messages, every 100 ms a tick when the spot moved. What one round
made goes out as **one frame, a JSON array of messages in ``seq`` order, encoded once** and
handed to every connected client's own bounded queue: at full replay speed (hundreds of
events a second) each client gets about ten frames a second, not one per event, so the
fan-out costs the interpreter the kernel shares little. Periodic messages superseded within
the round (an older tick of the same symbol, positions, pnl, a building bar) are dropped
before encoding. A client too slow to keep up is disconnected (close code 1013), never waited
for: neither the kernel nor the other clients slow down for one reader.

Messages: ``{"seq": n, "type": t, "ts": ..., "data": {...}}`` with ``type`` one of
``snapshot`` (first message of every connection, alone in its frame: the current positions,
P&L, kill switch and working orders, ``seq`` = the last message it includes), ``order``,
``fill``, ``alert``, ``kill_switch``, ``positions``, ``pnl`` (every ``positions_every``
seconds), ``tick`` (spot) and ``bar`` (closed and building bars; hub_market.py).

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
from collections.abc import Iterable
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
CLIENT_QUEUE = 600  # frames (about ten a second) a client may lag behind before it is disconnected
REPLAY = 10_000  # event messages kept for clients resuming with ?since=
REPLAY_FRAME = 500  # messages per frame when a resuming client catches up


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


def _encode(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, separators=(",", ":"))


def _topic(msg: dict[str, Any]) -> tuple[str, str] | None:
    """What a periodic message supersedes (None: an event, always sent)."""
    kind = msg["type"]
    if kind in ("positions", "pnl"):
        return kind, ""
    if kind == "tick" or (kind == "bar" and not msg["data"].get("closed")):
        return kind, str(msg["data"].get("symbol", ""))
    return None


def coalesce(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``batch`` without the periodic messages a later one of the same topic supersedes."""
    seen: set[tuple[str, str]] = set()
    keep = []
    for msg in reversed(batch):
        topic = _topic(msg)
        if topic is not None:
            if topic in seen:
                continue
            seen.add(topic)
        keep.append(msg)
    keep.reverse()
    return keep


class Client:
    """One connection's queue of encoded frames (``None``: close, it fell behind) and the
    last ``seq`` it already has (its snapshot's or replay's): a frame overlapping that is
    trimmed for it alone, so a (re)connecting client sees nothing twice and misses nothing."""

    __slots__ = ("after", "queue")

    def __init__(self, after: int, maxsize: int = CLIENT_QUEUE) -> None:
        self.after = after
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=maxsize)


class Hub:
    """Connected WebSocket clients and the task that feeds them."""

    def __init__(self, service: TradingService, metrics: ServiceMetrics, *, interval: float = 0.1,
                 positions_every: float = 1.0, watch: ServiceWatch | None = None) -> None:  # fmt: skip
        self.service = service
        self.metrics = metrics
        self.watch = watch  # alerts: kernel events and seed 001's rules -> channels
        self._pump_lock = threading.Lock()  # the loop's task and /metrics (a worker thread) both pump
        self._seq_lock = threading.Lock()  # seq order == outbox order, whichever thread numbers
        self.interval = interval
        self.positions_every = positions_every
        self.seq = 0
        self.clients: set[Client] = set()
        self._outbox: list[dict[str, Any]] = []  # numbered, not yet sent: the next frame
        self.recent: deque[dict[str, Any]] = deque(maxlen=REPLAY)  # event messages, for resuming clients
        self.evicted = 0  # seq of the newest event message dropped from ``recent``
        self.epoch = secrets.token_hex(4)  # seqs restart with the process: a resume names its epoch
        self.market = MarketStream(service)
        self.frames = 0  # frames encoded (once each, whatever the number of clients)
        self._task: asyncio.Task[None] | None = None

    # --- publishing -----------------------------------------------------------------------------

    def _message(self, kind: str, data: Any) -> dict[str, Any]:
        """Number a message and queue it for the next frame (any thread)."""
        with self._seq_lock:
            self.seq += 1
            msg = {"seq": self.seq, "type": kind, "ts": datetime.now(UTC).isoformat(), "data": data}
            if _topic(msg) is None:
                if len(self.recent) == self.recent.maxlen:
                    self.evicted = self.recent[0]["seq"]
                self.recent.append(msg)
            self._outbox.append(msg)
        return msg

    def flush(self) -> int:
        """Send what was numbered since the last flush as one frame to every client, on the
        loop's thread (asyncio's queues belong to it). Returns the messages sent."""
        with self._seq_lock:
            batch, self._outbox = self._outbox, []
        if not batch or not self.clients:
            return 0
        batch = coalesce(batch)
        lo, hi = batch[0]["seq"], batch[-1]["seq"]
        shared: str | None = None
        for client in list(self.clients):
            if client.after >= hi:
                continue
            if client.after < lo:
                if shared is None:
                    shared = _encode(batch)  # once, not once per client
                    self.frames += 1
                self._put(client, shared)
            else:  # connected while this batch was made: only what its snapshot lacks
                self._put(client, _encode([m for m in batch if m["seq"] > client.after]))
        return len(batch)

    def _put(self, client: Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:  # too slow: drop the client, not the kernel's pace
            self.clients.discard(client)
            with contextlib.suppress(asyncio.QueueFull, asyncio.QueueEmpty):
                client.queue.get_nowait()
                client.queue.put_nowait(None)

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
                self._message(*out)
        self.metrics.poll()
        if self.watch is not None:
            for alert in self.watch.poll():  # the rules' and the service's own alerts, as kernel ones look
                self._message("alert", {"ts": alert.ts.isoformat(), "level": alert.level,
                                        "source": f"alerts:{alert.rule}", "message": alert.message})  # fmt: skip
        return n

    def positions_message(self) -> dict[str, Any]:
        return self._message("positions", positions_out(self.service).model_dump(mode="json"))

    def _periodic(self, kinds: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for kind, data in kinds:
            self._message(kind, data)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_positions = next_tick = loop.time()
        while True:
            self.pump()
            if self.clients and loop.time() >= next_tick:
                next_tick = loop.time() + TICK_EVERY
                self._periodic(self.market.ticks())
            if self.clients and loop.time() >= next_positions:
                next_positions = loop.time() + self.positions_every
                self.positions_message()
                self._periodic([*self.market.bars(), self.market.pnl()])
            self.flush()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="optrunner-hub")

    async def stop(self) -> None:
        for client in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(None)
        self.clients.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pump()  # count what the last inputs did

    # --- one client ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state a (re)connecting client starts from; its seq is the last message it covers."""
        with self._pump_lock:
            self._pump()  # everything up to now is in it
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        s = self.service
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
        with self._pump_lock:
            self._pump()
            return self._replay_after(since, epoch)

    def _replay_after(self, since: int | None, epoch: str | None) -> list[dict[str, Any]] | None:
        if since is None or (epoch is not None and epoch != self.epoch) or since > self.seq or since < 0:
            return None
        if since == self.seq:
            return []
        if since < self.evicted:  # event messages after it have left the buffer
            return None
        return [m for m in self.recent if m["seq"] > since]

    def connect(self, since: int | None = None, epoch: str | None = None) -> tuple[Client, list[str]]:
        """Register a client and return it with its first frames: the snapshot alone, or
        the replayed messages after ``since``. Numbering is held still meanwhile (no pump
        on another thread), so the client's ``after`` is exactly what those frames cover."""
        with self._pump_lock:
            self._pump()
            replay = self._replay_after(since, epoch)
            if replay is None:
                snap = self._snapshot()
                first, after = [_encode([snap])], snap["seq"]
            else:
                first = [_encode(replay[i:i + REPLAY_FRAME]) for i in range(0, len(replay), REPLAY_FRAME)]
                after = self.seq
            client = Client(after)
            self.clients.add(client)
        return client, first

    async def serve(self, ws: WebSocket, since: int | None = None, epoch: str | None = None) -> None:
        """Send the snapshot (or, resuming, the messages after ``since``), then every
        frame, until the client goes or is dropped."""
        client, first = self.connect(since, epoch)  # before any await: nothing published from now on is missed
        q = client.queue
        reader = asyncio.create_task(self._read_until_closed(ws))
        try:
            for text in first:
                await ws.send_text(text)
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
            self.clients.discard(client)
            reader.cancel()

    async def _read_until_closed(self, ws: WebSocket) -> None:
        """Clients send nothing after authenticating; reading notices when they leave."""
        with contextlib.suppress(Exception):
            while True:
                await ws.receive_text()
