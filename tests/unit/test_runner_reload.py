"""``runner_reload.apply_strategy_changes``: a runner's strategies brought to a new set — added,
replaced, removed — with strategies that hold positions waiting until flat (drained or kept),
and a replacement that cannot be built leaving the running strategy alone. Real strategies
(seed 004's composition momentum) on a runner whose bot keeps a book the test controls."""

from __future__ import annotations

from typing import Any

import pytest

from optrunner.runner import StrategyRunner
from optrunner.runner_reload import ReloadFailed, apply_strategy_changes, finish_drains
from optrunner.strategies.composition import ExecutorConfig
from optrunner.strategies.registry import create_strategy

CE = "NIFTY:20261117:25000:CE"


def cfg(name: str, lookback: int = 5) -> ExecutorConfig:
    return ExecutorConfig(name=name, strategy="momentum", instruments=(CE,), parameters={"lookback": lookback})


class Book:
    """A bot with books: who holds positions is the test's to say; it records what it hears."""

    def __init__(self) -> None:
        self.holding: set[str] = set()
        self.draining: set[str] = set()
        self.removed: list[str] = []
        self.runner: StrategyRunner | None = None

    def process_intents(self, strategy: str, intents: Any) -> None:
        pass

    def strategy_is_flat(self, name: str) -> bool:
        return name not in self.holding

    def set_draining(self, name: str, draining: bool) -> None:
        (self.draining.add if draining else self.draining.discard)(name)

    def remove_strategy(self, name: str) -> None:
        self.removed.append(name)
        assert self.runner is not None
        self.runner.unregister(name)


def runner_with(*configs: ExecutorConfig) -> tuple[StrategyRunner, Book]:
    book = Book()
    runner = StrategyRunner(bot=book)
    book.runner = runner
    report = apply_strategy_changes(runner, {c.name: c for c in configs})
    assert report.added == sorted(c.name for c in configs)
    return runner, book


def test_flat_strategies_are_added_replaced_and_removed_at_once():
    runner, _book = runner_with(cfg("A"), cfg("B"))
    old_a = runner.strategies()["A"]
    report = apply_strategy_changes(runner, {"A": cfg("A", lookback=9), "C": cfg("C")})
    assert (report.added, report.replaced, report.removed, report.waiting) == (["C"], ["A"], ["B"], [])
    assert sorted(runner.strategies()) == ["A", "C"] and runner.strategies()["A"] is not old_a
    assert runner.configs()["A"].parameters == {"lookback": 9}
    assert not apply_strategy_changes(runner, {"A": cfg("A", lookback=9), "C": cfg("C")}).changed


def test_drain_waits_until_flat_then_applies_the_change():
    runner, book = runner_with(cfg("A"))
    book.holding.add("A")
    report = apply_strategy_changes(runner, {})
    assert report.waiting == ["A"] and not report.removed
    assert book.draining == {"A"} and runner.get_status()["draining"] == ["A"]
    assert not finish_drains(runner).changed  # still holding
    book.holding.clear()
    assert finish_drains(runner).removed == ["A"]
    assert runner.strategies() == {} and book.removed == ["A"] and not runner.pending_changes


def test_keep_runs_the_old_strategy_unchanged_until_flat():
    runner, book = runner_with(cfg("A"))
    book.holding.add("A")
    report = apply_strategy_changes(runner, {"A": cfg("A", lookback=7)}, on_change="keep")
    assert report.waiting == ["A"] and book.draining == set() and runner.get_status()["draining"] == []
    assert runner.configs()["A"].parameters == {"lookback": 5}
    book.holding.clear()
    assert finish_drains(runner).replaced == ["A"]
    assert runner.configs()["A"].parameters == {"lookback": 7}


def test_a_change_withdrawn_while_draining_stops_the_drain():
    runner, book = runner_with(cfg("A"))
    book.holding.add("A")
    apply_strategy_changes(runner, {})
    apply_strategy_changes(runner, {"A": cfg("A")})  # enabled again, as it runs
    assert book.draining == set() and not runner.pending_changes and "A" in runner.strategies()


def test_a_strategy_that_cannot_be_built_is_skipped_and_a_running_one_stays():
    runner, _book = runner_with(cfg("A"))
    before = runner.strategies()["A"]

    def factory(config: Any) -> Any:
        raise RuntimeError("model file not found")

    report = apply_strategy_changes(runner, {"A": cfg("A", lookback=8), "ML": cfg("ML")}, factory=factory)
    assert set(report.failed) == {"A", "ML"} and "model file not found" in report.failed["ML"]
    assert runner.strategies() == {"A": before}  # the old A trades on; ML is not added
    with pytest.raises(ValueError, match="on_change"):
        apply_strategy_changes(runner, {}, on_change="later")  # type: ignore[arg-type]


def test_carry_state_replaces_a_holding_strategy_at_once_unless_its_kind_changes():
    """The API's reload: a new build that takes the running state goes on managing the open
    trade under the new parameters; another kind cannot, so its change waits until flat."""
    runner, book = runner_with(cfg("A"))
    runner.strategies()["A"].context.positions[CE] = 65  # an open trade it manages
    book.holding.add("A")
    before = runner.state_of("A")
    report = apply_strategy_changes(runner, {"A": cfg("A", lookback=9)}, carry_state=True)
    assert (report.replaced, report.waiting) == (["A"], []) and book.removed == []  # in place
    assert runner.configs()["A"].parameters == {"lookback": 9} and runner.state_of("A") == before
    other = ExecutorConfig(name="A", strategy="low_frequency_demo", instruments=(CE,))
    report = apply_strategy_changes(runner, {"A": other}, carry_state=True)
    assert (report.replaced, report.waiting) == ([], ["A"]) and book.draining == {"A"}
    book.holding.clear()
    assert finish_drains(runner).replaced == ["A"] and runner.configs()["A"].strategy == "low_frequency_demo"
    assert runner.state_of("A")["positions"] == {}  # another kind starts afresh


def test_carry_state_ends_a_drain_when_the_strategy_comes_back_changed():
    runner, book = runner_with(cfg("A"))
    book.holding.add("A")
    assert apply_strategy_changes(runner, {}, carry_state=True).waiting == ["A"] and book.draining == {"A"}
    report = apply_strategy_changes(runner, {"A": cfg("A", lookback=6)}, carry_state=True)
    assert (report.replaced, report.waiting) == (["A"], []) and book.draining == set()
    assert not runner.pending_changes and runner.configs()["A"].parameters == {"lookback": 6}


def test_atomic_changes_nothing_when_one_config_cannot_be_built():
    runner, book = runner_with(cfg("A"), cfg("B"))
    book.holding.add("B")

    def factory(config: Any) -> Any:
        if config.name == "ML":
            raise RuntimeError("model file not found")
        return create_strategy(config)

    with pytest.raises(ReloadFailed, match="model file not found") as err:
        apply_strategy_changes(runner, {"A": cfg("A", lookback=9), "ML": cfg("ML")}, factory=factory, atomic=True)
    assert list(err.value.failed) == ["ML"]
    assert runner.configs()["A"].parameters == {"lookback": 5} and sorted(runner.strategies()) == ["A", "B"]
    assert not runner.pending_changes and book.draining == set()  # B, holding and not wanted, untouched
