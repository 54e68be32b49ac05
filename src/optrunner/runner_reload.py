"""Hot swap: bring a running StrategyRunner's strategies to a new set, at a safe point.

``apply_strategy_changes(runner, new_set)`` is the one place a strategy set changes while a
session runs — ``--strategies db`` calls it when ``strategy_configurations`` changes
(strategy_db/watch.py), and an API reload can call it the same way. ``new_set`` maps each
wanted strategy name to its config (what ``runner_support.row_config`` makes of a row):

- a name not running is **added**;
- a name running with a different config is **replaced** (a new instance, fresh state);
- a running name missing from ``new_set`` (disabled or removed) is **removed**.

A strategy that holds positions or working orders is not cut off mid-trade: the change waits
until it is flat. Meanwhile ``on_change="drain"`` (the default) refuses its new entries
(risk code STRATEGY_DRAINING, so the strategy hears it) while its exits run; ``"keep"``
lets it run unchanged, entries too. ``finish_drains(runner)`` — called at every safe point —
applies a waiting change once its strategy is flat. A config whose strategy cannot be built
(an ML model that will not load, a factory error) is skipped and logged, never fatal: a new
one is not added, a replaced one keeps running as it was.

The caller must be at a safe point: between two inputs. Both functions take the kernel's
lock (when the runner's bot has one) and the runner's, so an input is never half-seen by
an old and a new set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optrunner.runner import StrategyRunner
from optrunner.runner_support import build_and_register, check_strategy

log = logging.getLogger("optrunner.runner.reload")

OnChange = Literal["drain", "keep"]
ON_CHANGE: tuple[str, ...] = ("drain", "keep")


@dataclass
class ReloadReport:
    """What one call changed (names), and why a config was not applied."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # held positions: drained / kept until flat
    failed: dict[str, str] = field(default_factory=dict)  # name -> why it could not be built

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed or self.waiting)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "replaced": self.replaced, "removed": self.removed,
                "waiting": self.waiting, "failed": self.failed}  # fmt: skip


@contextlib.contextmanager
def _safe_point(runner: StrategyRunner) -> Iterator[None]:
    lock = getattr(runner.bot, "lock", None)
    with lock if lock is not None else contextlib.nullcontext(), runner._lock:
        yield


def _is_flat(runner: StrategyRunner, name: str) -> bool:
    flat = getattr(runner.bot, "strategy_is_flat", None)
    return bool(flat(name)) if callable(flat) else True  # a bot without books: nothing to wait for


def _remove(runner: StrategyRunner, name: str) -> None:
    remove = getattr(runner.bot, "remove_strategy", None)
    (remove if callable(remove) else runner.unregister)(name)


def _build(config: Any, factory: Callable[[Any], Any]) -> Any:
    strategy = factory(config)
    problem = check_strategy(strategy)
    if problem:
        raise TypeError(f"the strategy factory returned {type(strategy).__name__}: {problem}")
    return strategy


def _register(runner: StrategyRunner, name: str, config: Any, strategy: Any, factory: Callable[[Any], Any]) -> None:
    if getattr(runner, "_bot_takes_market", False):  # a kernel feeds its strategies itself
        runner.register(name, strategy, config=config)
    else:  # a plain runner: the file's market adapter too, as when it was loaded
        build_and_register(runner, name, config, lambda _c: strategy, reload=False)


def apply_strategy_changes(
    runner: StrategyRunner,
    new_set: Mapping[str, Any],
    *,
    on_change: OnChange = "drain",
    factory: Callable[[Any], Any] | None = None,
) -> ReloadReport:
    """Make ``runner``'s strategies ``new_set`` ({name: config}); see the module docstring."""
    from optrunner.strategies.registry import create_strategy

    if on_change not in ON_CHANGE:
        raise ValueError(f"on_change must be one of {', '.join(ON_CHANGE)}, got {on_change!r}")
    factory = factory or create_strategy
    report = ReloadReport()
    with _safe_point(runner):
        current = runner.configs()
        pending = runner.pending_changes
        for name in sorted(new_set.keys() - current.keys()):
            try:
                _register(runner, name, new_set[name], _build(new_set[name], factory), factory)
            except Exception as exc:  # seed 004: a model that fails to load is skipped, logged
                report.failed[name] = f"{type(exc).__name__}: {exc}"
                log.error("strategy %r not added: %s", name, report.failed[name])
                continue
            report.added.append(name)
            log.warning("strategy %r added", name)
        for name in sorted(current):
            want = new_set.get(name)
            if name in pending:  # already waiting to be flat: only its target moves
                if want is not None and want == current[name]:
                    del pending[name]  # back to what runs: nothing to wait for any more
                    runner.set_draining(name, False)
                    log.warning("strategy %r: change withdrawn, it runs on as it was", name)
                else:
                    pending[name] = want
                continue
            if want is not None and want == current[name]:
                continue
            if _is_flat(runner, name):
                _swap(runner, name, want, factory, report)
                continue
            pending[name] = want
            report.waiting.append(name)
            if on_change == "drain":
                runner.set_draining(name, True)
            what = "removed" if want is None else "changed"
            how = "drained (exits only)" if on_change == "drain" else "kept running"
            log.warning("strategy %r %s while holding positions: %s until flat", name, what, how)
        _finish(runner, factory, report)
    return report


def finish_drains(runner: StrategyRunner, factory: Callable[[Any], Any] | None = None) -> ReloadReport:
    """Apply every waiting change whose strategy is now flat (cheap when none waits)."""
    report = ReloadReport()
    if not runner.pending_changes:
        return report
    from optrunner.strategies.registry import create_strategy

    with _safe_point(runner):
        _finish(runner, factory or create_strategy, report)
    return report


def _finish(runner: StrategyRunner, factory: Callable[[Any], Any], report: ReloadReport) -> None:
    pending = runner.pending_changes
    for name in sorted(pending):
        if name in runner.configs() and not _is_flat(runner, name):
            continue
        want = pending.pop(name)
        _swap(runner, name, want, factory, report)


def _swap(runner: StrategyRunner, name: str, want: Any, factory: Callable[[Any], Any], report: ReloadReport) -> None:
    """Remove ``name`` (flat) and, with a config, register its replacement — built first, so a
    replacement that cannot be built leaves the old strategy running."""
    if name not in runner.configs():  # gone meanwhile (unregistered by hand): just the new one
        if want is not None:
            try:
                _register(runner, name, want, _build(want, factory), factory)
                report.added.append(name)
            except Exception as exc:
                report.failed[name] = f"{type(exc).__name__}: {exc}"
                log.error("strategy %r not added: %s", name, report.failed[name])
        return
    if want is None:
        _remove(runner, name)
        report.removed.append(name)
        log.warning("strategy %r removed", name)
        return
    try:
        strategy = _build(want, factory)
    except Exception as exc:
        report.failed[name] = f"{type(exc).__name__}: {exc}"
        log.error("strategy %r not replaced (the running one stays): %s", name, report.failed[name])
        runner.set_draining(name, False)
        return
    _remove(runner, name)
    _register(runner, name, want, strategy, factory)
    report.replaced.append(name)
    log.warning("strategy %r replaced by its new configuration", name)
