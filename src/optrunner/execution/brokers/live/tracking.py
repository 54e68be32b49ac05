"""What the live-broker skeleton tracks: broker orders and trades in our terms, our own
orders' progress, and the client id <-> broker tag mapping that survives a crash.

Split from adapter.py (which holds the behaviour) to keep each file readable.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from optrunner.core.orders import Order
from optrunner.core.types import OrderState
from optrunner.instruments.contracts import OptionContract

S = OrderState


def tag_for(client_id: str, max_len: int = 20) -> str:
    """``client_id`` itself when it fits ``max_len`` alphanumerics, else ``"X"`` + a base32
    digest of it (19 characters: collisions are out of reach for a day's orders)."""
    if client_id.isascii() and client_id.isalnum() and len(client_id) <= max_len:
        return client_id
    digest = base64.b32encode(hashlib.sha256(client_id.encode()).digest()).decode().rstrip("=")
    return "X" + digest[: max_len - 1]


@dataclass(slots=True)
class OrderView:
    """One broker order in our terms. ``tag`` is what the broker holds in its tag field
    ("" for an order we did not place); ``state`` SUBMITTED means pending at the broker."""

    broker_id: str
    tag: str
    state: OrderState
    quantity: int
    filled_qty: int = 0
    avg_price: float = 0.0
    limit_price: float | None = None
    reason: str = ""
    contract: OptionContract | None = None
    ts: datetime | None = None


@dataclass(slots=True, frozen=True)
class TradeView:
    exec_id: str
    broker_id: str
    quantity: int
    price: float
    ts: datetime


@dataclass(slots=True)
class _Track:
    """What we know of one of our orders. ``order`` is None for one learnt from the broker
    (after a restart); ``state``/``filled``/``exec_ids`` are what the outbox has told."""

    client_id: str
    strategy: str
    quantity: int
    tag: str
    order: Order | None = None
    broker_id: str | None = None
    state: OrderState = S.SUBMITTED
    filled: int = 0
    exec_ids: set[str] = field(default_factory=set)
    limit: float | None = None
    ambiguous: bool = False  # a submit ended without a clear answer: look it up before resending
    cancel_sent: bool = False  # we asked for a cancel (one without it was cancelled at the broker)


class TagFile:
    """tag -> client id, appended (and flushed) before each request leaves: survives ``kill -9``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.tags: dict[str, str] = {}
        self._file: Any = None
        if path is not None and path.is_file():
            for line in path.read_text().splitlines():
                t, _, cid = line.partition(" ")
                if t and cid:
                    self.tags[t] = cid

    def remember(self, tag: str, client_id: str) -> None:
        if self.tags.get(tag) == client_id:
            return
        self.tags[tag] = client_id
        if self.path is not None:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a")  # noqa: SIM115 - kept open: one write per order
            self._file.write(f"{tag} {client_id}\n")
            self._file.flush()  # in the OS's hands: survives kill -9 (fsync would only add power loss)


__all__ = ["OrderView", "TagFile", "TradeView", "tag_for"]
