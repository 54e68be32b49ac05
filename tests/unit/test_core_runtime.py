"""The runtime helpers of core: the fast frozen ``__init__`` and the session collector."""

from __future__ import annotations

import dataclasses
import gc
import inspect
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from optrunner.core.collector import session_collector
from optrunner.core.events import AlertEvent, OrderUpdateEvent
from optrunner.core.fastinit import fast_frozen_init
from optrunner.core.orders import ChargeBreakdown, Fill
from optrunner.core.types import Side, Tag
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind
from optrunner.instruments.contracts import OptionContract

TS = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)


@dataclass(slots=True, frozen=True)
class _Plain:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@fast_frozen_init
@dataclass(slots=True, frozen=True)
class _Fast:
    a: int
    b: str = "x"
    c: list[int] = field(default_factory=list)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1,), {}), ((1, "y"), {}), ((1,), {"c": [3]}), ((), {"a": 2, "b": "z", "c": [4, 5]})],
)
def test_fast_init_builds_what_the_dataclass_init_builds(args: tuple, kwargs: dict) -> None:
    plain, fast = _Plain(*args, **kwargs), _Fast(*args, **kwargs)
    assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
    assert repr(fast).replace("_Fast", "_Plain") == repr(plain)


def test_fast_init_keeps_frozen_equality_hash_and_fresh_factories() -> None:
    one, two = _Fast(1), _Fast(1)
    assert one == two and hash(_Fast(1, "q", None)) == hash(_Fast(1, "q", None))  # type: ignore[arg-type]
    assert one.c is not two.c  # a new list per instance, as default_factory promises
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = 5  # type: ignore[misc]


def test_fast_init_rejects_calls_the_dataclass_rejects() -> None:
    with pytest.raises(TypeError):
        _Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Fast(1, "x", [], 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Fast(1, d=2)  # type: ignore[call-arg]
    assert list(inspect.signature(_Fast).parameters) == ["a", "b", "c"]


def test_fast_init_refuses_classes_it_cannot_speed_up_safely() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(slots=True, frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError

    with pytest.raises(TypeError, match="frozen dataclass"):
        fast_frozen_init(Mutable)
    with pytest.raises(TypeError, match="__post_init__"):
        fast_frozen_init(Checked)


def test_hot_path_records_are_built_and_frozen_as_declared() -> None:
    c = OptionContract("NIFTY", datetime(2026, 1, 13).date(), 25000.0, "CE")
    fill = Fill("e1", "s-1", "s", Tag.ENTRY, c, Side.SELL, 65, 100.5, TS)
    assert fill.charges == ChargeBreakdown() and fill.leg == "" and fill.is_settlement is False
    assert fill.premium == pytest.approx(65 * 100.5)
    ev = BrokerEvent(BrokerEventKind.FILL, "s-1", TS, "b1", 65, 100.5, "e1")
    assert (ev.quantity, ev.price, ev.exec_id, ev.reject_reason) == (65, 100.5, "e1", None)
    for obj in (fill, ev, AlertEvent(TS, "info", "x", "m"), ChargeBreakdown(stt=1.0)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, None)
    assert OrderUpdateEvent.__init__.__qualname__ == "OrderUpdateEvent.__init__"


def _full_collections() -> int:
    return gc.get_stats()[2]["collections"]


def test_session_collector_skips_full_collections_of_a_growing_session() -> None:
    """A session that keeps 600,000 objects: CPython's default cadence rescans the whole
    heap on the way (once its long-lived part has grown by a quarter); inside a session
    collector no full collection comes before ~700,000 net allocations."""
    n = 600_000

    def grow() -> int:
        gc.collect()
        before = _full_collections()
        kept = [[i] for i in range(n)]  # containers: tracked by the collector
        del kept
        return _full_collections() - before

    assert gc.isenabled()
    default = grow()
    threshold = gc.get_threshold()
    with session_collector():
        assert gc.get_threshold() == (threshold[0], threshold[1], 100)
        inside = grow()
    assert gc.get_threshold() == threshold  # restored
    assert default >= 1 and inside == 0


def test_session_collector_still_reclaims_young_cycles_and_restores_on_error() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    before = gc.get_threshold()
    with pytest.raises(RuntimeError), session_collector():
        gc.collect()
        Node()  # a cycle: only the collector frees it
        assert gc.collect(0) >= 1  # young generations are collected as usual
        raise RuntimeError
    assert gc.get_threshold() == before
    with pytest.raises(ValueError, match="full_every"), session_collector(0):
        pass
