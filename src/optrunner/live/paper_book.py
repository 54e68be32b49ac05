"""The paper broker's book on disk: the whole book once, then one line per change.

Writing the whole book (``SimulatedExchange.to_state``) after every answer cost a replay of
20 strategies ~2 ms an input by midday, growing with the day's orders, all of it on the
kernel's thread while API requests waited (benchmarks/bench_service.py). The file is now a
log: its first line is the whole book (the format of earlier versions, so their files load
as they are), each further line a change since the line before — the orders that changed,
the executions added, the small fields in full — appended and fsynced before any answer it
holds can be read. A ``kill -9`` can cut only the last line, which never reached fsync: its
answers were never read, so loading drops it (and cuts it off the file), exactly as the old
file kept the previous book. The log is compacted into a new first line (written aside,
fsynced, renamed) at each session close and when the changes outgrow the book.

Which orders can have changed is known without looking at all of them: an order changes only
when we send it a request (``touched``) or while it is working, so a change line holds the
touched orders, those working now and those working at the previous line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from optrunner.execution.brokers.simulated import SimulatedExchange
from optrunner.execution.brokers.simulated_book import event_to_dict, exchange_order_to_dict
from optrunner.execution.brokers.simulated_state import SMALL_FIELDS, small_fields

COMPACT_MIN_BYTES = 256_000  # the changes may grow to max(this, the book's size) before a compaction


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def load_book(path: Path) -> dict[str, Any] | None:
    """The book (``book_state``'s dict) the file holds, or None when there is no file. A last
    line cut by a crash is dropped and cut off the file. Raises ValueError on anything else."""
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
        complete, _, torn = raw.rpartition(b"\n")
        if not complete and torn:  # a book written before the log (one line, no newline)
            state = json.loads(torn)
            _durable_append(path, b"\n")
            return state
        lines = complete.split(b"\n") if complete else []
        if not lines:
            raise ValueError("it holds no complete book")
        state = json.loads(lines[0])
        _apply_changes(state, [json.loads(line)["change"] for line in lines[1:]])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"paper broker state {path} cannot be read: {exc}") from exc
    if torn:  # the last append did not finish: its answers were never read
        with open(path, "r+b") as f:
            f.truncate(len(raw) - len(torn))
            os.fsync(f.fileno())
    return state


def _apply_changes(state: dict[str, Any], changes: list[dict[str, Any]]) -> None:
    """Change lines onto a book dict, in order."""
    if not changes:
        return
    orders = {d["order"]["client_id"]: d for d in state["orders"]}
    positions = {(s, c): n for s, c, n in state["positions"]}
    session = state.setdefault("session", {"orders": [], "exec_from": 0})
    in_session = dict.fromkeys(session["orders"])
    for change in changes:
        orders.update((d["order"]["client_id"], d) for d in change["orders"])
        state["rejected"].update(change["rejected"])
        state["accepted"].update(change["accepted"])
        state["executions"].extend(change["executions"])
        positions.update(((s, c), n) for s, c, n in change["positions"])
        state.update((k, change[k]) for k in SMALL_FIELDS)
        if change["session"] is not None:
            in_session = dict.fromkeys(change["session"])
        in_session.update(dict.fromkeys(change["session_add"]))
        session["exec_from"] = change["exec_from"]
    state["orders"] = sorted(orders.values(), key=lambda d: d["exchange_id"])
    state["positions"] = [[s, c, n] for (s, c), n in positions.items()]
    session["orders"] = list(in_session)


def _durable_append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class BookFile:
    """Keeps ``path`` equal to an exchange's book: :meth:`write` after every change."""

    def __init__(self, path: Path, exchange: SimulatedExchange) -> None:
        self.path = path
        self.ex = exchange
        self.compactions = 0
        self._log_bytes = 0  # change lines since the first line
        self._book_bytes = 0
        self._written = False  # a first line exists for this exchange (from load or written)
        self._mark()

    def _working(self) -> set[str]:
        return {o.order.client_id for by_id in self.ex._working.values() for o in by_id.values()}

    def _mark(self) -> None:
        """Remember what the file holds now: the base the next change line is taken against."""
        ex = self.ex
        self._open = self._working()
        self._n_exec = len(ex.executions)
        self._positions = dict(ex.net_positions)
        self._exec_from = ex._session_exec_from

    def loaded(self) -> None:
        """The exchange was built from this file: append to it from here."""
        self._written = True
        self._book_bytes = self.path.stat().st_size
        self._mark()

    def write(self, touched: set[str], *, compact: bool = False) -> None:
        """Make the file hold the book: a change line (``touched``: the client ids sent a
        request since the last write), or a whole new book when ``compact``, on the first
        write, or when the changes outgrew the book."""
        if compact or not self._written or self._log_bytes > max(COMPACT_MIN_BYTES, self._book_bytes):
            self._rewrite()
        else:
            self._append(touched)
        self._mark()

    def _rewrite(self) -> None:
        text = _dumps(self.ex.to_state()) + "\n"
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself is durable
        finally:
            os.close(fd)
        self._written, self._book_bytes, self._log_bytes = True, len(text), 0
        self.compactions += 1

    def _append(self, touched: set[str]) -> None:
        line = (_dumps({"change": self._change(touched)}) + "\n").encode()
        _durable_append(self.path, line)
        self._log_bytes += len(line)

    def _change(self, touched: set[str]) -> dict[str, Any]:
        ex = self.ex
        by_client = ex._by_client
        changed = (touched | self._open | self._working()) & by_client.keys()
        session_reset = ex._session_exec_from != self._exec_from
        return {
            "orders": [exchange_order_to_dict(by_client[c]) for c in changed],
            "rejected": {c: ex._rejected[c] for c in touched if c in ex._rejected},
            "accepted": {c: ex.accepted[c] for c in touched if c in ex.accepted},
            "executions": [event_to_dict(e) for e in ex.executions[self._n_exec :]],
            "positions": [[s, c.id, n] for (s, c), n in ex.net_positions.items() if self._positions.get((s, c)) != n],
            **small_fields(ex),
            "session": list(ex._session_orders) if session_reset else None,
            "session_add": [] if session_reset else [c for c in touched if c in ex._session_orders],
            "exec_from": ex._session_exec_from,
        }


__all__ = ["BookFile", "load_book"]
