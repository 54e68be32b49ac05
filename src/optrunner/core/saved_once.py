"""Incremental saving of a growing dict whose entries settle (issue 14, live/recovery.py).

The order manager's orders and the portfolio's positions are insertion-ordered dicts that
only grow over a session, and most of their entries end up settled: a finished order, a
flat position. Nothing changes those until they are reopened (a rejected order retried, a
position traded again), so a checkpoint saves each settled entry once, in a batch, and holds
only the live ones. ``SavedOnce`` keeps the two facts this needs: each key's *rank* (its
place in the dict, so the dict can be rebuilt in its order from entries saved at different
times) and the settled entries changed since the last save. An entry settled again after a
save (reopened, then settled) is saved again; the newer copy wins on reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SavedOnce(Generic[K, V]):
    """Ranks of ``items``'s keys and its settled entries not saved yet."""

    __slots__ = ("_settled", "rank", "unsaved")

    def __init__(self, items: dict[K, V], settled: Callable[[V], bool], *, unsaved: bool = True) -> None:
        """``settled``: whether an entry is settled now; ``unsaved``: every settled entry of
        ``items`` counts as not saved yet (False: they are saved, e.g. just restored)."""
        self._settled = settled
        self.rank: dict[K, int] = {k: n for n, k in enumerate(items)}
        self.unsaved: dict[K, V] = {k: v for k, v in items.items() if settled(v)} if unsaved else {}

    def added(self, key: K) -> None:
        """``key`` was just added to the dict (at its end)."""
        self.rank[key] = len(self.rank)

    def pending(self, to_dict: Callable[[V], Any]) -> list[list[Any]]:
        """The settled entries not saved yet, as ``[rank, to_dict(entry)]``; they stay unsaved
        until :meth:`saved`, so a failed write loses none."""
        rank, settled = self.rank, self._settled
        return [[rank[k], to_dict(v)] for k, v in self.unsaved.items() if settled(v)]

    def saved(self) -> None:
        """What :meth:`pending` returned is durable."""
        self.unsaved.clear()

    def ranked(self, entries: Iterable[tuple[K, V]], to_dict: Callable[[V], Any]) -> list[list[Any]]:
        """``[rank, to_dict(entry)]`` of ``entries`` (the live ones, for the checkpoint itself)."""
        rank = self.rank
        return [[rank[k], to_dict(v)] for k, v in entries]


def merge_ranked(batches: Iterable[Iterable[list[Any]]], live: Iterable[list[Any]], key: Callable[[Any], Any]) -> list[Any]:
    """The dict's entries in rank order, from the saved batches (oldest first) and the live
    ones: a later copy of an entry (same ``key``) replaces an earlier one."""
    out: dict[Any, tuple[int, Any]] = {}
    for batch in batches:
        for n, d in batch:
            out[key(d)] = (int(n), d)
    for n, d in live:
        out[key(d)] = (int(n), d)
    return [d for _, d in sorted(out.values(), key=lambda nd: nd[0])]
