"""Garbage-collector settings for a trading session (a backtest, a paper or live day).

A session keeps what it makes: every order, its record, the exchange's copy, fills,
equity marks. CPython's cyclic collector rescans *all* long-lived objects in a full
collection, and by default runs one whenever they have grown by a quarter since the last,
so over a session it walks the whole growing heap again and again. Measured on the order
benchmark (benchmarks/bench_orders.py, 20,000 orders): three full collections of ~50 ms
each, a sixth of the run with the SQLite journal and a third without one.

None of that work finds garbage: the session's objects hold no cycles that die young,
and reference counting frees everything else at once. :func:`session_collector` keeps the
collector on (young generations are still collected as usual, so a cycle made by a bug
is still reclaimed) but lets a full collection run only after ``full_every`` collections of
the middle generation instead of CPython's 10, i.e. about every 700,000 net allocations of
container objects. The previous thresholds come back when the session ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Middle-generation collections between two full ones during a session (CPython: 10).
FULL_EVERY = 100


@contextmanager
def session_collector(full_every: int = FULL_EVERY) -> Iterator[None]:
    """Run the body with full collections ``full_every`` times rarer than CPython's default
    cadence allows (see the module docstring); nested sessions keep the outer setting."""
    if not isinstance(full_every, int) or full_every < 1:
        raise ValueError(f"full_every must be an integer >= 1, got {full_every!r}")
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], max(before[2], full_every))
    try:
        yield
    finally:
        gc.set_threshold(*before)
