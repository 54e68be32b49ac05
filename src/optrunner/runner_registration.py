"""The runner's strategy set: registering, replacing and removing strategies, and loading them
from strategy files or ``strategy_configurations`` rows.

A mixin of ``StrategyRunner`` (runner.py), kept apart so the runner reads as the event flow.
Each change rebuilds the routing tables (``build_routes``) under the runner's lock, so an event
is routed by the old set or the new one, never half of each; a hot swap of a running session
goes through ``runner_reload.apply_strategy_changes``, which calls these at a safe point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optrunner.runner_support import (
    StrategySlot,
    build_routes,
    check_strategy,
    load_strategy_files,
    load_strategy_rows,
)
from optrunner.strategies.base import Strategy


class RunnerRegistration:
    """``register``, ``unregister``, ``replace``, ``load_strategies_from_json|store`` and the
    per-strategy lookups (``strategies``, ``configs``, ``state_of``, ``strategy_metrics``)."""

    _slots: dict[str, StrategySlot]
    _markets: dict[tuple[Any, ...], Any]
    _lock: threading.RLock
    _bot: Any
    _bot_takes_market: bool
    _running: bool
    poll_interval: float

    def strategies(self) -> dict[str, Strategy]:
        """Each registered strategy by name."""
        return {name: slot.strategy for name, slot in self._slots.items()}

    def configs(self) -> dict[str, Any]:
        """Each registered strategy's config (None for one registered without a file)."""
        return {name: slot.config for name, slot in self._slots.items()}

    def state_of(self, name: str) -> dict[str, Any]:
        """One strategy's ``get_state()`` (the kernel saves it before acting on its intents)."""
        return self._slots[name].strategy.get_state()

    def strategy_metrics(self, name: str) -> dict[str, Any]:
        """A strategy's own counters — its optional ``metrics()`` — e.g. for a backtest summary."""
        fn = getattr(self._slots[name].strategy, "metrics", None)
        return dict(fn()) if callable(fn) else {}

    def register(
        self, name: str, strategy: Strategy, market: Any = None, config: Any = None
    ) -> None:
        """Add ``strategy`` under ``name`` (which must equal ``strategy.name``: fills route by it).

        ``market`` is its market adapter; adapters with the same ``source_key`` are shared,
        and the strategy's tick instruments are subscribed on it. ``config`` (a
        StrategyConfig) supplies monitoring: log file, alert webhook, timer interval.
        """
        problem = check_strategy(strategy)
        if problem:
            raise TypeError(f"cannot register {name!r}: {problem}")
        if strategy.name != name:
            raise ValueError(
                f"cannot register {name!r}: the strategy calls itself {strategy.name!r}"
            )
        with self._lock:
            if name in self._slots:
                raise ValueError(f"a strategy named {name!r} is already registered")
            subs = strategy.subscriptions()
            lower = sorted(s for s in (*subs.chains, *(b[0] for b in subs.bars)) if s != s.upper())
            if lower:
                raise ValueError(f"cannot register {name!r}: symbols are upper case ({lower} never match)")
            market = self._attach_market(name, market, subs.ticks)
            slot = StrategySlot(name, strategy, market, config, subs, self.poll_interval)
            self._slots[name] = slot
            configure = getattr(self._bot, "configure_strategy", None)
            if callable(configure):  # the file's risk limits and execution policy, however loaded
                configure(name, config)
            self._routes = build_routes(self._slots)
            running = self._running
        if running:
            if market is not None and getattr(market, "is_live", False):
                market.start(self.submit)
            self._lifecycle(slot, "on_start", self.clock.now())

    def _attach_market(self, name: str, market: Any, instruments: set[str]) -> Any:
        """The shared adapter for ``market``'s source, subscribed to the strategy's instruments."""
        if market is None:
            return None
        key = getattr(market, "source_key", None) or ("object", id(market))
        existing = self._markets.get(key)
        symbol = getattr(market, "symbol", None)
        if existing is None and symbol is not None:
            for other_key, other in self._markets.items():
                if getattr(other, "symbol", None) == symbol:
                    raise ValueError(
                        f"cannot register {name!r}: {symbol} already comes from {other_key}, not {key} — "
                        "chains route by underlying, so a runner takes each symbol from one source"
                    )
        market = existing or market
        wanted = [i for i in instruments if i == symbol or i.split(":", 1)[0] == symbol]
        if wanted and hasattr(market, "subscribe") and not self._bot_takes_market:
            # (a kernel bot derives these ticks from the chains itself)
            market.subscribe(wanted)
        self._markets[key] = market
        return market

    def unregister(self, name: str) -> None:
        """Remove a strategy (its market stays while another strategy uses it)."""
        with self._lock:
            slot = self._slots.pop(name)
            self._routes = build_routes(self._slots)
            slot.close()
            if slot.market is not None and not any(
                s.market is slot.market for s in self._slots.values()
            ):
                self._markets = {k: m for k, m in self._markets.items() if m is not slot.market}
                slot.market.stop()

    def replace(self, name: str, strategy: Strategy, config: Any = None) -> None:
        """Swap a registered strategy for a new build of it (a hot reload), at a point the
        caller knows is between two events: same market, same halt state; the bot applies
        the new config's limits. Counters restart with the new object."""
        problem = check_strategy(strategy) or (None if strategy.name == name else f"it calls itself {strategy.name!r}")
        if problem:
            raise TypeError(f"cannot replace {name!r}: {problem}")
        with self._lock:
            old = self._slots[name]
            slot = StrategySlot(name, strategy, old.market, config, strategy.subscriptions(), self.poll_interval)
            slot.halted, slot.halt_reason = old.halted, old.halt_reason
            self._slots[name] = slot
            old.close()
            configure = getattr(self._bot, "configure_strategy", None)
            if callable(configure):
                configure(name, config)
            self._routes = build_routes(self._slots)

    def load_strategies_from_json(
        self, config_dir: str | Path, strategy_factory: Callable[[Any], Any] | None = None
    ) -> dict[str, bool]:
        """Load every strategy file in ``config_dir``: ``{name: loaded}``.

        Templates, schemas and disabled files are skipped (logged, not reported). A file
        that fails — invalid config (all its problems are logged), a factory error or a
        factory result that is not a Strategy, a market adapter that cannot be made — is
        reported False under its ``name`` (the file name when it has none, or when another
        file already took the name). The factory defaults to the strategy registry.
        """
        loaded = load_strategy_files(self, config_dir, strategy_factory)
        self.apply_environment()  # a reload picks up a kill switch set since the start
        return loaded

    def load_strategies_from_store(
        self, store: Any, strategy_factory: Callable[[Any], Any] | None = None
    ) -> dict[str, bool]:
        """Load every active row of the store's ``strategy_configurations`` table (a Store or
        its URL): ``{id: loaded}``, like ``load_strategies_from_json``; a later call reloads."""
        from optrunner.store import Store

        if isinstance(store, str):
            store = Store(store)
        loaded = load_strategy_rows(self, store.active_strategy_configurations(), strategy_factory)
        self.apply_environment()
        return loaded
