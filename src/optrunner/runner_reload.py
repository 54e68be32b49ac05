"""Hot swap: bring a running StrategyRunner's strategies to a new set, at a safe point.

``apply_strategy_changes(runner, new_set)`` is the one place a strategy set changes while a
session runs — ``--strategies db`` calls it when ``strategy_configurations`` changes
(strategy_db/watch.py), and the API's reload (``POST /api/strategies/reload``,
live/service_actions.py) calls it with what the strategy files or the table hold now.
``new_set`` maps each wanted strategy name to its config (what ``runner_support.row_config``
or a strategy file makes):

- a name not running is **added**;
- a name running with a different config is **replaced** (a new instance, fresh state — or,
  with ``carry_state``, the running one's state when the new build takes it);
- a running name missing from ``new_set`` (disabled or removed) is **removed**.

A strategy that holds positions or working orders is not cut off mid-trade: the change waits
until it is flat. Meanwhile ``on_change="drain"`` (the default) refuses its new entries
(risk code STRATEGY_DRAINING, so the strategy hears it) while its exits run; ``"keep"``
lets it run unchanged, entries too. ``finish_drains(runner)`` — called at every safe point —
applies a waiting change once its strategy is flat.

``carry_state=True`` (the API's reload): a changed strategy whose new build is of the same
class and takes the running one's state (``get_state`` → ``restore_state``) is replaced at
once, even holding positions — it keeps managing them under the new parameters; only a change
it cannot carry (another kind, a state the new build refuses) waits until flat.

A config whose strategy cannot be built (an ML model that will not load, a factory error) is
skipped and logged, never fatal: a new one is not added, a replaced one keeps running as it
was. ``atomic=True`` (the API's reload) makes that a refusal instead: every build is tried
first, and :class:`ReloadFailed` is raised with nothing changed.

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


class ReloadFailed(Exception):
    """``atomic=True``: a config's strategy could not be built; nothing was changed."""

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name!r} cannot be built: {why}" for name, why in sorted(failed.items())))
        self.failed = failed


@dataclass
class _Plan:
    """What a call will do, everything built before anything changes."""

    add: dict[str, Any] = field(default_factory=dict)  # name -> built strategy
    swap: dict[str, tuple[Any, Any, bool]] = field(default_factory=dict)  # name -> (config, strategy, carried)
    remove: list[str] = field(default_factory=list)  # flat, gone from the set
    wait: dict[str, Any] = field(default_factory=dict)  # name -> config (None: removed) once flat
    withdraw: list[str] = field(default_factory=list)  # waiting, wanted as it runs again
    retarget: dict[str, Any] = field(default_factory=dict)  # waiting, another target


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


def _try_build(name: str, config: Any, factory: Callable[[Any], Any], failed: dict[str, str]) -> Any:
    """The built strategy, or None with why in ``failed`` (seed 004: skipped and logged)."""
    try:
        return _build(config, factory)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
        return None


def _kind(config: Any, strategy: Any) -> str:
    """A config's strategy kind (a file's ``strategy``, a composition row's processor)."""
    return str(getattr(config, "strategy", None) or type(strategy).__name__)


class CannotCarry(Exception):
    """A new build cannot take over the running strategy: another kind, or it refuses the state."""


def build_carrying_state(runner: StrategyRunner, name: str, config: Any,
                         factory: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """A new build of ``config`` holding the running ``name``'s state (``get_state`` →
    ``restore_state``): its open trades go on under the new parameters. Raises what the factory
    raises when it cannot be built, :class:`CannotCarry` when it is another kind or refuses the
    state. Also seed 002's ``trading/start`` reconfiguration (live/service_actions.py)."""
    from optrunner.strategies.registry import create_strategy

    strategy = _build(config, factory or create_strategy)
    running = runner.strategies()[name]
    was, kind = _kind(runner.configs()[name], running), _kind(config, strategy)
    if was != kind or type(strategy) is not type(running):
        raise CannotCarry(f"{name!r} changes kind ({was} -> {kind})")
    try:
        strategy.restore_state(runner.state_of(name))
    except Exception as exc:
        raise CannotCarry(f"{name!r}: the new build cannot take the running state ({type(exc).__name__}: {exc})") from exc
    return strategy


def _register(runner: StrategyRunner, name: str, config: Any, strategy: Any) -> None:
    if getattr(runner, "_bot_takes_market", False):  # a kernel feeds its strategies itself
        runner.register(name, strategy, config=config)
    else:  # a plain runner: the file's market adapter too, as when it was loaded
        build_and_register(runner, name, config, lambda _c: strategy, reload=False)


def _plan(runner: StrategyRunner, new_set: Mapping[str, Any], factory: Callable[[Any], Any],
          carry_state: bool, atomic: bool, failed: dict[str, str]) -> _Plan:  # fmt: skip
    current = runner.configs()
    pending = runner.pending_changes
    plan = _Plan()
    for name in sorted(new_set.keys() - current.keys()):
        strategy = _try_build(name, new_set[name], factory, failed)
        if strategy is not None:
            plan.add[name] = strategy
    for name in sorted(current):
        want = new_set.get(name)
        if name in pending:  # already waiting to be flat: only its target moves
            if want is not None and want == current[name]:
                plan.withdraw.append(name)
            elif want is not None and (carry_state or atomic):
                try:  # back, changed: carried at once (the wait ends) or, at least, buildable
                    strategy = build_carrying_state(runner, name, want, factory) if carry_state else None
                except CannotCarry:
                    strategy = None
                except Exception as exc:
                    failed[name] = f"{type(exc).__name__}: {exc}"
                    continue
                if strategy is not None:
                    plan.withdraw.append(name)
                    plan.swap[name] = (want, strategy, True)
                elif _try_build(name, want, factory, failed) is not None:
                    plan.retarget[name] = want
            else:
                plan.retarget[name] = want
            continue
        if want is not None and want == current[name]:
            continue
        flat = _is_flat(runner, name)
        if want is None:
            if flat:
                plan.remove.append(name)
            else:
                plan.wait[name] = None
            continue
        if carry_state:
            try:
                plan.swap[name] = (want, build_carrying_state(runner, name, want, factory), True)
                continue
            except CannotCarry as exc:
                log.warning("strategy %s: replaced with a fresh state once it is flat", exc)
            except Exception as exc:
                failed[name] = f"{type(exc).__name__}: {exc}"
                continue
        if not (flat or atomic):  # built when flat (a model loads once)
            plan.wait[name] = want
            continue
        strategy = _try_build(name, want, factory, failed)
        if strategy is None:
            continue
        if flat:
            plan.swap[name] = (want, strategy, False)
        else:
            plan.wait[name] = want  # a trial build (atomic): the change itself waits until flat
    return plan


def apply_strategy_changes(
    runner: StrategyRunner,
    new_set: Mapping[str, Any],
    *,
    on_change: OnChange = "drain",
    factory: Callable[[Any], Any] | None = None,
    carry_state: bool = False,
    atomic: bool = False,
) -> ReloadReport:
    """Make ``runner``'s strategies ``new_set`` ({name: config}); see the module docstring."""
    from optrunner.strategies.registry import create_strategy

    if on_change not in ON_CHANGE:
        raise ValueError(f"on_change must be one of {', '.join(ON_CHANGE)}, got {on_change!r}")
    factory = factory or create_strategy
    report = ReloadReport()
    with _safe_point(runner):
        plan = _plan(runner, new_set, factory, carry_state, atomic, report.failed)
        if atomic and report.failed:
            raise ReloadFailed(report.failed)
        for name, why in report.failed.items():
            what = "added" if name not in runner.configs() else "replaced (the running one stays)"
            log.error("strategy %r not %s: %s", name, what, why)
        for name, strategy in plan.add.items():
            _register(runner, name, new_set[name], strategy)
            report.added.append(name)
            log.warning("strategy %r added", name)
        pending = runner.pending_changes
        for name in plan.withdraw:
            del pending[name]  # back to what runs: nothing to wait for any more
            runner.set_draining(name, False)
            if name not in plan.swap:
                log.warning("strategy %r: change withdrawn, it runs on as it was", name)
        pending.update(plan.retarget)
        for name, (want, strategy, carried) in plan.swap.items():
            _replace(runner, name, want, strategy, carried)
            report.replaced.append(name)
        for name in plan.remove:
            _remove(runner, name)
            report.removed.append(name)
            log.warning("strategy %r removed", name)
        for name, want in plan.wait.items():
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


def _replace(runner: StrategyRunner, name: str, want: Any, strategy: Any, carried: bool) -> None:
    """``name`` becomes ``strategy``: in place when it carries the running state (same market,
    same halt), else the old one is removed and the new one registered (a halted one stays halted)."""
    if carried:
        runner.replace(name, strategy, want)
        log.warning("strategy %r replaced by its new configuration (its state and positions carried)", name)
        return
    halted = runner.halt_reasons().get(name)
    _remove(runner, name)
    _register(runner, name, want, strategy)
    if halted is not None:
        runner.halt(name, halted)
    log.warning("strategy %r replaced by its new configuration", name)


def _swap(runner: StrategyRunner, name: str, want: Any, factory: Callable[[Any], Any], report: ReloadReport) -> None:
    """A waiting change, now flat: remove ``name`` and, with a config, register its replacement —
    built first, so a replacement that cannot be built leaves the old strategy running."""
    if name not in runner.configs():  # gone meanwhile (unregistered by hand): just the new one
        if want is not None:
            strategy = _try_build(name, want, factory, report.failed)
            if strategy is None:
                log.error("strategy %r not added: %s", name, report.failed[name])
                return
            _register(runner, name, want, strategy)
            report.added.append(name)
        return
    if want is None:
        _remove(runner, name)
        report.removed.append(name)
        log.warning("strategy %r removed", name)
        return
    strategy = _try_build(name, want, factory, report.failed)
    if strategy is None:
        log.error("strategy %r not replaced (the running one stays): %s", name, report.failed[name])
        runner.set_draining(name, False)
        return
    _replace(runner, name, want, strategy, carried=False)
    report.replaced.append(name)
