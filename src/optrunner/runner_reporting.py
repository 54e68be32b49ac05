"""The runner's reporting side: strategy states for crash recovery, status and metrics.

Kept apart from the dispatch core in runner.py (a mixin of ``StrategyRunner``): these are
read by the store, the API and ``print_metrics``, never on the hot path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from optrunner.core.buckets import MS_BUCKETS, Buckets
from optrunner.runner_support import format_metrics

if TYPE_CHECKING:
    from optrunner.runner_support import StrategySlot

log = logging.getLogger("optrunner.runner")


class RunnerReporting:
    """``states``/``restore_states``, ``get_status``, ``get_metrics``, ``print_metrics``."""

    _slots: dict[str, StrategySlot]

    def states(self) -> dict[str, dict[str, Any]]:
        """Every strategy's ``get_state()`` (crash recovery); a failing one counts as an error."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name, slot in self._slots.items():
                try:
                    out[name] = slot.strategy.get_state()
                except Exception as exc:
                    self._handler_failed(slot, "get_state", self.clock.now(), exc)
        return out

    def restore_states(self, states: dict[str, dict[str, Any]]) -> None:
        """Give each strategy its saved state. A strategy that cannot take it is halted: it must
        not trade on a state it does not know."""
        with self._lock:
            for name, state in states.items():
                slot = self._slots.get(name)
                if slot is None:
                    log.warning("saved state for %r, which is not registered — ignored", name)
                    continue
                try:
                    slot.strategy.restore_state(state)
                except Exception as exc:
                    slot.errors += 1
                    slot.logger.error("%s could not restore its state", name, exc_info=exc)
                    self.halt(name, f"state restore failed: {type(exc).__name__}: {exc}")

    def get_status(self) -> dict[str, Any]:
        slots = list(self._slots.values())
        return {
            "running": self._running,
            "total_strategies": len(slots),
            "strategy_names": [s.name for s in slots],
            "halted": [s.name for s in slots if s.halted],
            "draining": [s.name for s in slots if s.draining],
            "poll_interval": self.poll_interval,
            "markets": {
                ":".join(map(str, k)): m.stats()
                for k, m in self._markets.items()
                if hasattr(m, "stats")
            },
            "queued_events": self._queue.qsize(),
            "trading_disabled": self.trading_disabled,
            "intents_blocked": self.intents_blocked,
        }

    def halt_reasons(self) -> dict[str, str]:
        """Why each halted strategy was halted (the API shows it next to the name)."""
        return {s.name: s.halt_reason for s in list(self._slots.values()) if s.halted}

    def get_metrics(self) -> dict[str, Any]:
        strategies = {s.name: s.metrics() for s in list(self._slots.values()) if s.collects_metrics}
        return {
            "global": {
                "total_ticks": sum(m["total_ticks"] for m in strategies.values()),
                "total_commands": sum(m["total_commands"] for m in strategies.values()),
                "total_errors": sum(m["total_errors"] for m in strategies.values()),
                "events_dispatched": self.events_dispatched,
                "events_unrouted": self.events_unrouted,
                "bot_errors": self.bot_errors,
                "loop_errors": self.loop_errors,
                "halted_strategies": sum(1 for m in strategies.values() if m["halted"]),
            },
            "strategies": strategies,
        }

    def format_metrics(self) -> str:
        return format_metrics(self.get_metrics())

    def print_metrics(self) -> None:
        print(self.format_metrics())

    def evaluation_buckets(self) -> dict[str, Any]:
        """Each strategy's handler durations (``Buckets`` in ms), the ones reporting metrics
        (``monitoring.metrics_collection``) only: ``strategy_evaluation_duration_ms``."""
        return {s.name: Buckets.from_counts(MS_BUCKETS, s.eval_counts, s.total_ns / 1e6)
                for s in list(self._slots.values()) if s.collects_metrics}  # fmt: skip

    def hand_over_webhooks(self) -> dict[str, str]:
        """Stop posting ``monitoring.alert_webhook`` from here (each alert on a thread of its own,
        no retry) because an alert router delivers them now; returns {strategy: url} it held."""
        out = {}
        for slot in list(self._slots.values()):
            if slot.webhook:
                out[slot.name] = slot.webhook
                slot.webhook = None
        return out
