"""Deterministic client order ids: ``{strategy}-{n:06d}``, slices ``{parent}-s{k}``.

Ids come from a per-strategy counter that is part of the order manager's saved state, so
a replay issues the same ids and a restart never reuses one. An id is what makes a retry
safe: the broker and the journal both key on it.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^(?P<strategy>.+)-(?P<n>\d{6,})(?:-s(?P<k>[1-9]\d*))?$")


class ClientIds:
    """Issues order and basket ids per strategy and recognises the ones it issued."""

    def __init__(self, orders: dict[str, int] | None = None, baskets: dict[str, int] | None = None) -> None:
        self._orders: dict[str, int] = dict(orders or {})
        self._baskets: dict[str, int] = dict(baskets or {})

    def next(self, strategy: str) -> str:
        _check_strategy(strategy)
        n = self._orders.get(strategy, 0) + 1
        self._orders[strategy] = n
        return f"{strategy}-{n:06d}"

    def next_basket(self, strategy: str) -> str:
        _check_strategy(strategy)
        n = self._baskets.get(strategy, 0) + 1
        self._baskets[strategy] = n
        return f"{strategy}-B{n:06d}"

    @staticmethod
    def slice_id(parent: str, k: int) -> str:
        """The id of the k-th (1-based) freeze-quantity slice of ``parent``."""
        if k < 1:
            raise ValueError(f"slice number must be >= 1, got {k}")
        return f"{parent}-s{k}"

    def was_issued(self, client_id: str, strategy: str) -> bool:
        """True when ``client_id`` (or the parent of a slice id) was issued here for ``strategy``."""
        m = _ID.match(client_id)
        if m is None or m.group("strategy") != strategy:
            return False
        return 1 <= int(m.group("n")) <= self._orders.get(strategy, 0)

    def to_state(self) -> dict[str, dict[str, int]]:
        return {"orders": dict(self._orders), "baskets": dict(self._baskets)}

    @classmethod
    def from_state(cls, state: dict[str, dict[str, int]]) -> ClientIds:
        return cls(state.get("orders"), state.get("baskets"))


def strategy_of(client_id: str) -> str | None:
    """The strategy an order (or slice) id of ours was issued for; None for any other id (a
    broker's order placed by hand carries none of ours)."""
    m = _ID.match(client_id)
    return None if m is None else m.group("strategy")


def _check_strategy(strategy: str) -> None:
    if not isinstance(strategy, str) or not strategy.strip():
        raise ValueError(f"strategy name must be a non-empty string, got {strategy!r}")
