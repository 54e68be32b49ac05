"""A WebSocket server speaking the optrunner feed protocol, replaying stored chains at a set speed.

Paper mode points a ``live_feed_market`` at it to trade a past day through the live code
path; tests use it as a real server to disconnect, pause and feed garbage to the client.
It behaves like a market feed, not a file download: one replay is broadcast to every
subscriber, so a client that connects late (or reconnects) gets the data from then on.
The replay starts when the first client subscribes to a symbol, so the day is not half over
before anyone listens; ``speed=60`` plays one market minute per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from optrunner.core.clock import LiveClock
from optrunner.data.snapshot import ChainSnapshot
from optrunner.market.adapters.feed_codec import (
    FeedProtocolError,
    decode_client_message,
    encode_chain,
    encode_error,
    encode_heartbeat,
    encode_tick,
)
from optrunner.market.adapters.protocol import ticks_from_snapshot

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    symbols: set[str] = field(default_factory=set)
    instruments: set[str] = field(default_factory=set)


class FeedServer:
    """Replays ``snapshots`` (time-ordered, e.g. ``Catalog.snapshots(...)``) to WebSocket clients."""

    def __init__(
        self,
        snapshots: Iterable[ChainSnapshot],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 60.0,
        heartbeat_interval: float = 1.0,
    ) -> None:
        if not speed > 0:
            raise ValueError(
                f"speed must be positive (60 = one market minute per second), got {speed}"
            )
        if not heartbeat_interval > 0:
            raise ValueError(f"heartbeat_interval must be positive, got {heartbeat_interval}")
        self._snapshots: Iterator[ChainSnapshot] = iter(snapshots)
        self.host = host
        self.port = port
        self.speed = float(speed)
        self.heartbeat_interval = float(heartbeat_interval)
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._subscribed: asyncio.Event | None = None
        self._playing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.snapshots_sent = 0  # snapshots replayed (each sent to every subscriber)
        self.finished = False  # the replay reached its end

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def subscribed_instruments(self) -> set[str]:
        return {i for c in list(self._clients) for i in c.instruments}

    # --- running ------------------------------------------------------------------------

    async def serve(self, ready: threading.Event | None = None) -> None:
        """Serve until ``stop()`` (or cancellation)."""
        self._loop = asyncio.get_running_loop()
        self._stop, self._subscribed, self._playing = (
            asyncio.Event(),
            asyncio.Event(),
            asyncio.Event(),
        )
        self._playing.set()
        async with serve(self._handle, self.host, self.port) as server:
            self.port = _bound_port(server)
            log.info("feed server on %s (speed x%g)", self.url, self.speed)
            if ready is not None:
                ready.set()
            tasks = [
                asyncio.ensure_future(self._replay()),
                asyncio.ensure_future(self._heartbeats()),
            ]
            try:
                await self._stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def serve_forever(self) -> None:
        """Run in this thread until interrupted (the CLI)."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.serve())

    def start(self, timeout: float = 10.0) -> int:
        """Serve from a background thread; returns the bound port."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.serve(ready)), name="feed-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(
                f"feed server did not start on {self.host}:{self.port} within {timeout}s"
            )
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # --- controls (thread-safe) ---------------------------------------------------------

    def pause(self) -> None:
        """Stop sending market data (heartbeats go on): the feed goes quiet."""
        self._call(lambda: self._playing.clear())

    def resume(self) -> None:
        self._call(lambda: self._playing.set())

    def disconnect_all(self) -> None:
        """Drop every client's connection without a closing handshake, as a network failure would."""
        self._call(self._abort_clients)

    def broadcast_raw(self, frame: str | bytes) -> None:
        """Send ``frame`` as-is to every client (fault injection: malformed frames)."""
        self._call_async(self._send_all(frame))

    def _call(self, fn: Any) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the feed server is not running")
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        done.wait(5.0)

    def _call_async(self, coro: Any) -> None:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the feed server is not running")
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5.0)

    def _abort_clients(self) -> None:
        for client in list(self._clients):
            client.ws.transport.abort()

    # --- protocol -----------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws)
        self._clients.add(client)
        try:
            async for frame in ws:
                try:
                    request = decode_client_message(frame)
                except FeedProtocolError as exc:
                    await ws.send(encode_error("bad_request", str(exc)))
                    continue
                if request.action == "subscribe":
                    client.symbols.update(request.symbols)
                    client.instruments.update(request.instruments)
                    if client.symbols or client.instruments:
                        self._subscribed.set()
                else:
                    client.symbols.difference_update(request.symbols)
                    client.instruments.difference_update(request.instruments)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    async def _replay(self) -> None:
        await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        prev: datetime | None = None
        try:
            while True:
                # the next snapshot may need a day read from disk: keep that off the event loop
                snapshot = await loop.run_in_executor(None, next, self._snapshots, None)
                if snapshot is None:
                    break
                if prev is not None:
                    await asyncio.sleep(max(0.0, (snapshot.ts - prev).total_seconds()) / self.speed)
                prev = snapshot.ts
                await self._playing.wait()
                await self._publish(snapshot)
        except Exception:  # a broken source ends the replay; clients see the feed go quiet
            log.exception("feed server: the replay source failed after %d snapshots", self.snapshots_sent)
        self.finished = True
        log.info("feed server: replay finished after %d snapshots", self.snapshots_sent)

    async def _publish(self, snapshot: ChainSnapshot) -> None:
        chain_frame: str | None = None
        sends = []
        for client in list(self._clients):
            frames = []
            if snapshot.symbol in client.symbols:
                chain_frame = chain_frame or encode_chain(snapshot)
                frames.append(chain_frame)
            frames.extend(encode_tick(t) for t in ticks_from_snapshot(snapshot, client.instruments))
            if frames:
                sends.append(_send(client.ws, frames))
        self.snapshots_sent += 1
        await asyncio.gather(*sends)

    async def _heartbeats(self) -> None:
        clock = LiveClock()
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self._send_all(encode_heartbeat(clock.now()))

    async def _send_all(self, frame: str | bytes) -> None:
        await asyncio.gather(*(_send(c.ws, [frame]) for c in list(self._clients)))


async def _send(ws: ServerConnection, frames: list[str | bytes]) -> None:
    with contextlib.suppress(ConnectionClosed):  # the client is gone; its handler cleans up
        for frame in frames:
            await ws.send(frame)


def _bound_port(server: Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def serve_command(
    data: Annotated[
        Path, typer.Option("--data", help="Catalog root (as written by `optrunner data ...`).")
    ],
    symbol: Annotated[str, typer.Option("--symbol", help="Underlying to replay, e.g. NIFTY.")],
    day: Annotated[str, typer.Option("--date", help="Trading day to replay, YYYY-MM-DD.")],
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed: 60 plays one market minute per second.")
    ] = 60.0,
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
) -> None:
    """Replay a stored day as a live WebSocket feed (docs/feed-protocol.md) for paper trading."""
    from optrunner.data.catalog import Catalog, CatalogError

    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(
            f"{day!r} is not a date like 2026-01-13", param_hint="--date"
        ) from None
    try:
        catalog = Catalog(data)
        sym = symbol.upper()
        if when not in catalog.dates(sym):
            raise typer.BadParameter(
                f"the catalog has no {sym} chain for {when}", param_hint="--date"
            )
        server = FeedServer(catalog.snapshots(sym, when, when), host=host, port=port, speed=speed)
    except (CatalogError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Serving {sym} {when} at x{speed:g} on ws://{host}:{port} — Ctrl-C to stop")
    server.serve_forever()
