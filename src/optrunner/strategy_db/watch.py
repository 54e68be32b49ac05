"""``--strategies db``: follow ``strategy_configurations`` and swap strategies at a safe point.

A ``StrategyTableWatcher`` thread learns that the table changed — at once on PostgreSQL
(``LISTEN optrunner_strategies``, fed by the table's trigger, with a slow re-read as a
safety net), by reading it every ``poll_seconds`` (2 s) on SQLite — and, when the active
rows differ from the last ones it saw, turns them into configs (``row_config``; a row that
does not validate is logged and left out) and keeps them as the wanted set. It never touches
the runner: ``StrategyTableSync.at_safe_point`` does, from the session's own thread between
two inputs (``TradingNode.before_input``), under the kernel lock, through
``runner_reload.apply_strategy_changes``; it also finishes drains that became flat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optrunner.runner_reload import OnChange, ReloadReport, apply_strategy_changes, finish_drains
from optrunner.runner_support import row_config
from optrunner.store import Store
from optrunner.store.strategy_configs import NOTIFY_CHANNEL

log = logging.getLogger("optrunner.strategy_db")

POLL_SECONDS = 2.0  # SQLite: how often the table is read
FALLBACK_SECONDS = 30.0  # PostgreSQL: re-read even without a notification (a lost connection)


def _fingerprint(rows: list[Any]) -> tuple[Any, ...]:
    return tuple((r.id, r.is_active, r.strategy_type, repr(r.instruments), repr(r.parameters), r.updated_at)
                 for r in rows)  # fmt: skip


def wanted_configs(rows: list[Any], base_dir: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The configs of the active rows, and why each bad one was left out."""
    configs: dict[str, Any] = {}
    bad: dict[str, str] = {}
    for row in rows:
        if not row.is_active:
            continue
        try:
            configs[row.id] = row_config(row, base_dir)
        except Exception as exc:  # one bad row never stops the others
            bad[row.id] = str(exc)
    return configs, bad


class StrategyTableWatcher:
    """Reads the table when it changes; ``take()`` hands over the newest wanted set, once."""

    def __init__(self, store_url: str, *, poll_seconds: float = POLL_SECONDS,
                 fallback_seconds: float = FALLBACK_SECONDS, base_dir: Path | None = None) -> None:  # fmt: skip
        if not poll_seconds > 0:
            raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
        self.store = Store(store_url)
        self.url = store_url
        self.poll_seconds = poll_seconds
        self.fallback_seconds = fallback_seconds
        self.base_dir = base_dir
        self.postgres = self.store.engine.dialect.name == "postgresql"
        self.reads = 0  # how often the table was read (tests, status)
        self.notifications = 0
        self._lock = threading.Lock()
        self._latest: tuple[dict[str, Any], dict[str, str]] | None = None
        self._seen: tuple[Any, ...] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None

    # --- reading ------------------------------------------------------------------------------

    def current(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The wanted set now (the session's start); later changes come through ``take``."""
        rows = self.store.all_strategy_configurations()
        self._seen = _fingerprint(rows)
        return wanted_configs(rows, self.base_dir)

    def refresh(self) -> bool:
        """Read the table; True when it differs from the last read (the new set is then kept)."""
        rows = self.store.all_strategy_configurations()
        self.reads += 1
        fp = _fingerprint(rows)
        if fp == self._seen:
            return False
        self._seen = fp
        configs, bad = wanted_configs(rows, self.base_dir)
        for name, why in bad.items():
            log.error("strategy_configurations row %r left out: %s", name, why)
        with self._lock:
            self._latest = (configs, bad)
        return True

    def take(self) -> tuple[dict[str, Any], dict[str, str]] | None:
        """The newest wanted set since the last call, or None when nothing changed."""
        with self._lock:
            latest, self._latest = self._latest, None
        return latest

    # --- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.postgres:
            self._listener = self._listen()  # before the thread: no change is missed after start()
        self._thread = threading.Thread(target=self._run, name="strategy-table-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        self.store.close()

    def _listen(self) -> Any:
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def _run(self) -> None:
        waited = 0.0
        while not self._stop.is_set():
            try:
                if self._listener is not None:
                    got = sum(1 for _ in self._listener.notifies(timeout=0.25, stop_after=1))
                    self.notifications += got
                    waited += 0.25
                    if got or waited >= self.fallback_seconds:
                        waited = 0.0
                        self.refresh()
                else:
                    self.refresh()
                    self._stop.wait(self.poll_seconds)
            except Exception as exc:  # a database hiccup: say so, try again shortly
                log.warning("strategy_configurations watcher: %s: %s", type(exc).__name__, exc)
                self._stop.wait(self.poll_seconds)


class StrategyTableSync:
    """The watcher plus the swap: ``at_safe_point()`` is called between two inputs."""

    def __init__(self, watcher: StrategyTableWatcher, runner: Any, *, on_change: OnChange = "drain",
                 on_report: Callable[[ReloadReport], None] | None = None) -> None:  # fmt: skip
        self.watcher = watcher
        self.runner = runner
        self.on_change = on_change
        self.on_report = on_report
        self.reports: list[ReloadReport] = []

    def at_safe_point(self) -> None:
        wanted = self.watcher.take()
        if wanted is not None:
            configs, bad = wanted
            running = self.runner.configs()
            # a row edited into something invalid leaves its running strategy as it was
            kept = {name: running[name] for name in bad if name in running}
            report = apply_strategy_changes(self.runner, {**kept, **configs}, on_change=self.on_change)
        elif self.runner.pending_changes:
            report = finish_drains(self.runner)
        else:
            return
        if report.changed or report.failed:
            self.reports.append(report)
            log.warning("strategies from the table: %s", report.as_dict())
            if self.on_report is not None:
                self.on_report(report)
