"""``--strategies db`` for a paper session (``optrunner run``, ``optrunner serve``): the
strategies of ``--store``'s ``strategy_configurations`` table, followed while the session runs."""

from __future__ import annotations

import logging
from typing import Any

from optrunner.core.errors import RunFailed, UserError
from optrunner.strategy_db.watch import StrategyTableSync, StrategyTableWatcher

log = logging.getLogger("optrunner.strategy_db")


def config_symbol(config: Any) -> str:
    """The underlying a config trades: a strategy file's ``market_config.symbol``, or for a
    seed 004 composition row the underlying of its first instrument (``NIFTY:...:CE``)."""
    market = getattr(config, "market_config", None)
    if market is not None:
        return str(market.symbol)
    instruments = list(getattr(config, "instruments", ()) or ())
    return str(instruments[0]).split(":", 1)[0].upper() if instruments else ""


def open_strategy_table(store_text: str) -> tuple[StrategyTableWatcher, list[Any]]:
    """The watcher on ``store_text``'s table and the configs of its active rows now (a row that
    does not validate is logged and left out); one clear error when there is nothing to run."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        watcher = StrategyTableWatcher(store_text)
        configs, bad = watcher.current()
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "no such table" in first or "does not exist" in first:
            raise UserError(f"--strategies db: {store_text} has no strategy_configurations table yet — "
                            "add strategies with `optrunner strategies import FILE --store URL`") from None  # fmt: skip
        raise RunFailed(f"--strategies db: cannot read strategy_configurations in {store_text}: {first}") from None
    for name, why in bad.items():
        log.error("strategy_configurations row %r left out: %s", name, why)
    if not configs:
        watcher.store.close()
        raise UserError(f"--strategies db: no active, valid strategy in {store_text}'s strategy_configurations — "
                        "add one with `optrunner strategies import FILE --store URL` (`optrunner strategies list` shows them)")  # fmt: skip
    return watcher, [configs[name] for name in sorted(configs)]


def follow_table(node: Any, watcher: StrategyTableWatcher, on_change: Any = "drain") -> StrategyTableSync:
    """Start the watcher and swap ``node``'s strategies between two of its inputs."""
    sync = StrategyTableSync(watcher, node.kernel.runner, on_change=on_change)
    node.before_input.append(sync.at_safe_point)
    watcher.start()
    return sync
