"""A DNSS kernel on the simulated exchange, and brokers that fail in chosen ways."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from _dnss_support import make_config

from optrunner.core.clock import SimClock
from optrunner.core.orders import Order
from optrunner.execution.brokers import SimulatedExchange
from optrunner.execution.brokers.base import BrokerEvent, BrokerEventKind, RejectReason
from optrunner.kernel import Kernel
from optrunner.risk import RiskEngine, RiskSettings
from optrunner.strategies.registry import create_strategy


class ChoosyExchange(SimulatedExchange):
    """Rejects (BROKER) the submissions ``refuse`` picks and swallows every answer to (and the
    status of) those ``hide`` picks; otherwise the real exchange."""

    def __init__(self, clock: SimClock, refuse: Callable[[Order], bool] = lambda o: False,
                 hide: Callable[[Order], bool] = lambda o: False) -> None:  # fmt: skip
        super().__init__(clock)
        self.refuse = refuse
        self.hide = hide
        self.hidden: set[str] = set()

    def _hides(self, client_id: str) -> bool:  # from order_status and every book snapshot
        return client_id in self.hidden or super()._hides(client_id)

    def submit(self, order: Order) -> None:
        if self.hide(order):  # executed, but every answer lost and its status never told
            self.hidden.add(order.client_id)
            mark = len(self._out)
            super().submit(order)
            self._out[mark:] = [e for e in self._out[mark:] if e.client_id != order.client_id]
            return
        if self.refuse(order):
            now = self._clock.now()
            self._rejected[order.client_id] = "BROKER: refused by the test"
            self._out.append(BrokerEvent(BrokerEventKind.REJECT, order.client_id, now,
                                         reject_reason=RejectReason.BROKER, reason="refused by the test"))  # fmt: skip
            return
        super().submit(order)


def dnss_kernel(tmp_path: Path, broker_factory: Callable[[SimClock], object], *, risk: RiskSettings | None = None,
                **overrides: object) -> tuple[Kernel, object]:  # fmt: skip
    clock = SimClock()
    broker = broker_factory(clock)
    kernel = Kernel(broker, clock, capital=1_000_000.0, risk=RiskEngine(risk or RiskSettings()), log_alerts=False)
    cfg = make_config(tmp_path, **overrides)
    kernel.add_strategy(create_strategy(cfg), cfg)
    return kernel, broker


def net_positions(kernel: Kernel, strategy: str | None = None) -> dict[str, int]:
    return {p.contract.id: p.quantity for p in kernel.portfolio.positions(strategy)}
