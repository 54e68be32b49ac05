"""The kernel: one set of parts for backtest, paper and live.

    market snapshot -> order manager quotes, broker (fills) -> portfolio marks -> account risk
                    -> runner -> strategies -> intents -> risk engine -> router -> order manager -> broker
    broker answers  -> order manager (journaled) -> portfolio, recorder, runner -> strategies -> ...

Only the clock, the market source and the broker differ between modes; everything here is
the same, so a session replayed through backtest and paper produces the same orders.
It is single-threaded: every entry point takes the kernel's lock, so a live feed thread and
a runner timer thread can both call in safely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from optrunner.core.clock import Clock, SimClock
from optrunner.core.events import (
    AlertEvent,
    BarEvent,
    ChainEvent,
    FillEvent,
    OrderUpdateEvent,
    StaleDataEvent,
    TickEvent,
)
from optrunner.core.orders import Basket, ChargeBreakdown, Fill, Intent, Order, OrderIntent
from optrunner.core.timeutil import IST, SESSION_CLOSE, to_ist
from optrunner.core.types import Side
from optrunner.data.snapshot import ChainSnapshot
from optrunner.execution import ExecutionError, ExecutionPolicy, Journal, OrderManager, Router
from optrunner.execution.close_guard import guard_exit
from optrunner.execution.reconcile import Reconciler
from optrunner.instruments import get_index
from optrunner.instruments.contracts import OptionContract
from optrunner.kernel_time import DEFAULT_STALE_AFTER, ONE_MINUTE, KernelTime
from optrunner.kernel_view import KernelView
from optrunner.market.derived import DerivedEvents
from optrunner.portfolio import ChargeSchedule, Portfolio
from optrunner.risk import RiskEngine, StrategyLimits, TradingState
from optrunner.risk.engine import Decision
from optrunner.risk.kill_switch import SwitchChange
from optrunner.risk.sizing import EntrySizer
from optrunner.runner import StrategyRunner
from optrunner.safety import SafetyDesk
from optrunner.strategies.base import Strategy

log = logging.getLogger(__name__)

Observer = Callable[[Any], None]
MAX_INTENTS_PER_INPUT = 200  # order legs one strategy may send in reaction to one market input
#: Refusals that mean the checks themselves failed (not a verdict): the strategy is halted.
RISK_FAILURES = frozenset({"RISK_ERROR", "CHECK_ERROR"})


def policy_from_config(config: Any) -> ExecutionPolicy:
    """The strategy file's ``execution`` section as an order-working policy."""
    x = getattr(config, "execution", None)
    if x is None:
        return ExecutionPolicy()
    return ExecutionPolicy(
        market_as_limit=True, price_limit_percent=x.price_limit_percent,
        timeout_seconds=x.timeout_seconds, on_timeout=x.on_timeout,
    )  # fmt: skip


class Kernel(KernelTime):
    def __init__(
        self,
        broker: Any,
        clock: Clock,
        *,
        capital: float,
        risk: RiskEngine | None = None,
        journal: Journal | None = None,
        charges: ChargeSchedule | None = None,
        runner: StrategyRunner | None = None,
        freeze_inclusive: bool = False,
        mark: str = "ltp",
        state_sink: Callable[[str, dict[str, Any], datetime], None] | None = None,
        log_alerts: bool = True,
        max_intents_per_input: int = MAX_INTENTS_PER_INPUT,
        reconcile_seconds: float | None = None,
    ) -> None:
        """``reconcile_seconds``: also reconcile with the broker this often (paper/live); it
        always happens at the first input, after a restart and at each session close."""
        self.clock = clock
        self.broker = broker
        self.charges = charges or ChargeSchedule.load()
        self.om = OrderManager(
            broker,
            clock,
            journal=journal,
            charge_fn=self._charge_fill,
            settlement_charge_fn=self._charge_settlement,
            rate_limit=broker.order_rate_limit() if hasattr(broker, "order_rate_limit") else None,  # a live broker's cap
        )
        self.router = Router(self.om, freeze_inclusive=freeze_inclusive)
        self.portfolio = Portfolio(capital, mark=mark)  # type: ignore[arg-type]
        self.risk = risk or RiskEngine()
        if self.risk.account.capital is None:
            self.risk.account.capital = capital
        self.runner = runner or StrategyRunner()
        self.view = KernelView(self)
        self.policies: dict[str, ExecutionPolicy] = {}
        self.sizers: dict[str, EntrySizer] = {}  # strategies whose entries the allocator sizes
        self.latest: dict[str, ChainSnapshot] = {}
        self.day: date | None = None
        self.day_start_net: dict[str, float] = {}
        self.opened: dict[tuple[str, OptionContract], datetime] = {}
        self.last_exit: dict[OptionContract, datetime] = {}
        self.alerts: list[AlertEvent] = []
        self.observers: list[Observer] = []
        self.derived = DerivedEvents()  # ticks and closed bars the strategies subscribed to
        self._routes_seen: Any = None
        self.stale_after: dict[str, float] = {}  # underlying -> seconds before its data is stale
        self._stale: set[str] = (
            set()
        )  # underlyings already reported stale since their last snapshot
        self._last_input: datetime | None = None
        self.max_intents_per_input = max_intents_per_input
        self._input_seq = 0  # counts market inputs: the intent cap is per strategy per input
        self._sent: dict[str, tuple[int, int]] = {}  # strategy -> (input seq, legs sent in it)
        self._state_sink = state_sink
        self._log_alerts = log_alerts  # a backtest keeps its alerts in the summary instead
        self._resync_pending = False
        self.session_open = True  # False from a session close until the next snapshot
        self._lock = threading.RLock()
        self.om.add_listener(self._on_execution_event)
        self.risk.kill_switch.on_change(self._on_switch)
        self.safety = SafetyDesk(self, self._alert, policy=self.risk.settings.on_halt)
        self.om.on_halt(self.safety.on_om_halt)
        self.reconciler = Reconciler(self, self._alert, every_seconds=reconcile_seconds)
        self.runner.bot = self  # -> attach_runner
        self.runner.apply_environment()

    @property
    def lock(self) -> threading.RLock:
        """The kernel's re-entrant lock. Anything outside the kernel's own thread that reads or
        changes its state (the API, a checkpoint) holds it, so it sees one input whole."""
        return self._lock

    def attach_runner(self, runner: StrategyRunner) -> None:
        """Become ``runner``'s bot: its strategies' events come from this kernel and their intents
        go through it. Called by ``runner.bot = kernel``, so the seed's
        ``StrategyRunner(bot=kernel)`` wires the same way as ``Kernel(runner=...)``."""
        if getattr(self, "_attached", None) is runner:
            return
        self._attached = runner
        self.runner = runner
        runner.on_alert(self._on_runner_alert)
        for name, config in runner.configs().items():  # strategies registered before the kernel
            self.configure_strategy(name, config)

    def apply_environment(self) -> str | None:
        """The environment's kill switch as this kernel's: REDUCING while it is set."""
        return self.risk.kill_switch.apply_env(ts=self.now())

    def now(self) -> datetime:
        """The clock's time; wall time before a simulated clock has seen its first input."""
        try:
            return self.clock.now()
        except RuntimeError:
            return datetime.now(UTC)

    # --- wiring -------------------------------------------------------------------------------

    def add_strategy(self, strategy: Strategy, config: Any = None, market: Any = None) -> None:
        self.runner.register(strategy.name, strategy, market=market, config=config)

    def remove_strategy(self, name: str) -> None:
        """Unregister ``name`` and forget its per-strategy settings (a hot swap, runner_reload.py);
        its booked positions and orders stay on the record."""
        with self._lock:
            self.runner.unregister(name)
            self.policies.pop(name, None)
            self.sizers.pop(name, None)
            self.risk.limits.pop(name, None)
            self.risk.draining.discard(name)

    def set_draining(self, name: str, draining: bool) -> None:
        """Entries of ``name`` refused by risk (STRATEGY_DRAINING: the strategy hears it), exits run."""
        (self.risk.draining.add if draining else self.risk.draining.discard)(name)

    def strategy_is_flat(self, name: str) -> bool:
        """No open position and no working order of ``name``: a drained strategy may go."""
        if any(p.strategy == name for p in self.portfolio.positions()):
            return False
        return not any(o.strategy == name and not o.state.is_terminal for o in self.om.orders())

    @property
    def strategies(self) -> dict[str, Strategy]:
        """Each registered strategy by name (the invariant checks ask what each means to hold)."""
        return self.runner.strategies()

    def configure_strategy(self, name: str, config: Any) -> None:
        """A strategy file's meaning, whichever way its strategy was registered (``add_strategy``,
        or the seed's ``runner.load_strategies_from_json`` with this kernel as the bot): its risk
        limits, its execution policy and how old its market data may get."""
        self.risk.set_limits(
            name, StrategyLimits.from_config(getattr(config, "risk_management", None))
        )
        self.policies[name] = policy_from_config(config)
        sizer = EntrySizer.from_config(getattr(config, "risk_management", None))
        if sizer is not None:
            self.sizers[name] = sizer
        market = getattr(config, "market_config", None)
        if market is not None:
            after = float(getattr(market, "stale_after_seconds", None) or DEFAULT_STALE_AFTER)
            symbol = market.symbol
            self.stale_after[symbol] = min(after, self.stale_after.get(symbol, after))

    def observe(self, fn: Observer) -> None:
        """``fn`` sees every fill, order update and alert after the kernel has booked it."""
        self.observers.append(fn)

    # --- the bot interface the runner sends intents to ----------------------------------------

    def process_intents(self, strategy: str, intents: Sequence[Intent]) -> None:
        with self._lock:
            if self._over_cap(strategy, intents):
                return
            if (
                intents and self._state_sink is not None
            ):  # the decision is durable before it is acted on
                self._state_sink(strategy, self.runner.state_of(strategy), self.clock.now())
            for intent in intents:
                self._route(strategy, intent)

    def _over_cap(self, strategy: str, intents: Sequence[Intent]) -> bool:
        """A strategy sending more than ``max_intents_per_input`` legs for one market input is
        looping on it: refuse the rest, halt it (which flattens it) and alert. Whatever a
        strategy's bug, one input cannot turn into an order storm at the broker."""
        legs = sum(len(i.legs) if isinstance(i, Basket) else 1 for i in intents)
        seq, sent = self._sent.get(strategy, (self._input_seq, 0))
        sent = (sent if seq == self._input_seq else 0) + legs
        self._sent[strategy] = (self._input_seq, sent)
        if sent <= self.max_intents_per_input:
            return False
        policy = self.policies.get(strategy, ExecutionPolicy())
        for intent in intents:
            for leg in intent.legs if isinstance(intent, Basket) else [intent]:
                self.om.reject_intent(
                    leg,
                    f"INTENT_CAP: more than {self.max_intents_per_input} order legs for one input",
                    policy,
                )
        self.om.drain()
        self.runner.halt(
            strategy,
            f"sent more than {self.max_intents_per_input} order legs in reaction to one input",
        )
        return True

    def _route(self, strategy: str, intent: Intent) -> None:
        legs = intent.legs if isinstance(intent, Basket) else [intent]
        for leg in legs:
            if leg.strategy != strategy:
                raise ValueError(f"{strategy} sent an intent for strategy {leg.strategy!r}")
        policy = self.policies.get(strategy, ExecutionPolicy())
        sizer = self.sizers.get(strategy)
        if sizer is not None:
            intent, problem = sizer.apply(intent, self.view)
            if problem:
                self._refuse(legs, "INSUFFICIENT_CAPITAL", problem, policy)
                return
            legs = intent.legs if isinstance(intent, Basket) else [intent]
        sendable: list[OrderIntent] = []
        for leg in legs:  # one close owner per leg: an exit only closes what is not being closed
            guarded, why = guard_exit(leg, self.portfolio, self.om)
            if guarded is None:
                self.om.reject_intent(leg, why, policy)
            else:
                sendable.append(guarded)
        if not sendable:
            self.om.drain()
            return
        try:
            decisions = [self.risk.check(leg, self.view) for leg in sendable]
        except Exception as exc:  # the risk engine itself failed: nothing goes, on record, halt
            log.exception("risk engine raised on %s's intent", strategy)
            decisions = [Decision(False, "RISK_ERROR", f"risk engine raised {exc!r}")]
        refused = next((d for d in decisions if not d.ok), None)
        if refused is None:
            try:
                if isinstance(intent, Basket):
                    same = len(sendable) == len(legs) and all(a is b for a, b in zip(sendable, legs, strict=True))
                    basket = intent if same else Basket(sendable, intent.is_exit, intent.name)
                    self.router.submit_basket(basket, policy)
                else:
                    self.router.submit(sendable[0], policy)
                return
            except (
                ExecutionError
            ) as exc:  # invalid quantity, halted strategy...: refuse, never guess
                code, message = type(exc).__name__.upper(), str(exc)
        else:
            code, message = refused.code, refused.message
        self._refuse(sendable, code, message, policy)
        if code in RISK_FAILURES:  # fail closed: a strategy the checks cannot judge stops
            self.safety.halt(strategy, f"{code}: {message}")

    def _refuse(
        self, legs: Sequence[OrderIntent], code: str, message: str, policy: ExecutionPolicy
    ) -> None:
        for leg in legs:  # the strategy hears about every leg it asked for
            self.om.reject_intent(leg, f"{code}: {message}", policy)
        self.om.drain()

    # --- market input ---------------------------------------------------------------------------

    def on_chain(self, snapshot: ChainSnapshot) -> None:
        with self._lock:
            self._input_seq += 1
            if isinstance(self.clock, SimClock):
                last = self._last_input
                if last is not None and snapshot.ts - last > ONE_MINUTE:
                    self._fire_gap_timers(snapshot.ts)
                self.clock.advance(snapshot.ts)
            self._last_input = snapshot.ts
            d = to_ist(snapshot.ts).date()
            if d != self.day:
                self._start_day(d, snapshot.ts)
            self.latest[snapshot.symbol] = snapshot
            self._stale.discard(snapshot.symbol)
            self.session_open = True
            self.om.on_snapshot(snapshot)
            if hasattr(self.broker, "on_snapshot"):
                self.broker.on_snapshot(snapshot)
            self._resync_if_pending()
            self.om.check_timers()  # drains: fills against this snapshot land before the mark
            rec = self.reconciler
            if rec.runs == 0 or (rec.every is not None and rec.due(snapshot.ts)):
                rec.run("start" if rec.runs == 0 else "periodic")
            self.portfolio.mark(snapshot)
            self._check_account(snapshot.ts)
            derived = self._derived()
            if derived.active:
                for event in derived.on_snapshot(snapshot):  # closed bars, then ticks
                    self.runner.dispatch(event)
            self.runner.dispatch(ChainEvent(snapshot))
            self._after_input()

    def on_market_event(self, event: TickEvent | BarEvent) -> None:
        """A tick or a closed bar that came on its own (a live tick feed, the services' bus),
        not derived from a chain snapshot: to its subscribers, like any other input."""
        with self._lock:
            self._input_seq += 1
            self.runner.dispatch(event)
            self._after_input()

    def on_stale(self, event: StaleDataEvent) -> None:
        with self._lock:
            self._input_seq += 1
            self.runner.dispatch(event)
            self._after_input()

    def end_of_day(self, d: date) -> None:
        """Session close: the rest of the session's minutes as timers (simulated clock), every
        open bar closed, DAY orders expired and contracts expiring today settled (simulated brokers)."""
        with self._lock:
            close = datetime.combine(d, SESSION_CLOSE, tzinfo=IST)
            if (
                isinstance(self.clock, SimClock)
                and self._last_input is not None
                and self._last_input < close
            ):
                self._fire_gap_timers(close)
            for bar in self._derived().close_until(close):
                self.runner.dispatch(bar)
            self.om.drain()
            self._resync_if_pending()
            self.om.drain()
            self.reconciler.run("end of day")  # before the venue settles: the book must match it
            self.session_open = False  # flatten passes wait for the next session
            if hasattr(self.broker, "end_of_day"):
                self.broker.end_of_day(d)
            self.om.drain()

    def _after_input(self) -> None:
        """Drain, then safety: a reconciliation a halt asked for, then one flatten pass."""
        self.om.drain()
        if self.reconciler.wanted:
            self.reconciler.run(self.reconciler.wanted)
        self.safety.run()

    def resync_at_next_input(self) -> None:
        """After a restart: ask the broker about every order that may be working there
        (``OrderManager.reconcile``) at the next snapshot, once the broker has it, or at the
        session close — where the answers lost in the crash would have been read."""
        self._resync_pending = True

    def _resync_if_pending(self) -> None:
        if self._resync_pending:
            self._resync_pending = False
            self.om.reconcile()
            self.reconciler.request("after recovery")  # positions too, once the restart's adoption is done

    def _start_day(self, d: date, ts: datetime) -> None:
        self.day = d
        self.portfolio.start_day(d)
        self.risk.account.start_day(d, ts)
        self.day_start_net = {s: self.portfolio.summary(s).net for s in self.portfolio.strategies()}

    def _check_account(self, ts: datetime) -> None:
        message = self.risk.account.update(self.portfolio.day_pnl, ts)
        if message:
            self._alert(ts, "critical", "account_risk", message)

    # --- execution answers ------------------------------------------------------------------------

    def _on_execution_event(self, event: OrderUpdateEvent | FillEvent | AlertEvent) -> None:
        if isinstance(event, FillEvent):
            self._book_fill(event.fill)
        elif isinstance(event, AlertEvent):
            self.alerts.append(event)
        for fn in self.observers:
            fn(event)
        if not isinstance(event, AlertEvent):
            self.runner.dispatch(event)
            if self._state_sink is not None:
                key = event.fill.strategy if isinstance(event, FillEvent) else event.order.strategy
                if key in self.policies:  # one of ours (not an order from before a restart)
                    self._state_sink(key, self.runner.state_of(key), self.clock.now())

    def book_fill(self, fill: Fill) -> None:
        """Book a fill that did not come through the order manager (a reconciliation
        adjustment); the kernel's bookkeeping follows it like any other."""
        self._book_fill(fill)

    def _book_fill(self, fill: Fill) -> None:
        key = (fill.strategy, fill.contract)
        before = self.portfolio.position(*key)
        had = before.quantity if before is not None else 0
        try:
            self.portfolio.apply_fill(fill)
        except ValueError as exc:  # a settlement the book cannot take: the venue's truth wins
            if not fill.is_settlement:
                raise
            self.reconciler.settlement_mismatch(fill, str(exc))
            self._book_fill(fill)  # the book now holds what the venue settled
            return
        if fill.is_settlement:
            self.reconciler.note_settlement(fill)
        after = self.portfolio.position(*key)
        now_qty = after.quantity if after is not None else 0
        if had == 0 and now_qty != 0:
            self.opened[key] = fill.ts
        if now_qty == 0:
            self.opened.pop(key, None)
            self.last_exit[fill.contract] = fill.ts
        self.day_start_net.setdefault(fill.strategy, 0.0)

    # --- charges -----------------------------------------------------------------------------------

    def _charge_fill(
        self, order: Order, quantity: int, price: float, ts: datetime, first: bool
    ) -> ChargeBreakdown:
        exchange = get_index(order.contract.underlying).exchange
        return self.charges.charges_for_fill(
            exchange, order.side, quantity, price, ts, first_fill_of_order=first
        )

    def _charge_settlement(
        self, contract: OptionContract, side: Side, quantity: int, intrinsic: float, ts: datetime
    ) -> ChargeBreakdown:
        exchange = get_index(contract.underlying).exchange
        return self.charges.settlement_charges(exchange, side, quantity, intrinsic, ts)

    # --- safety ------------------------------------------------------------------------------------

    def _on_switch(self, change: SwitchChange) -> None:
        self._alert(change.ts or self.now(), "critical" if change.new is TradingState.HALTED else "warning",
                    f"kill_switch:{change.source}", f"trading {change.old} -> {change.new}: {change.reason}")  # fmt: skip
        if change.new is TradingState.HALTED:
            self.flatten(reason=f"KILL_SWITCH: {change.reason}")

    def _on_runner_alert(self, alert: AlertEvent) -> None:
        self.alerts.append(alert)
        for fn in self.observers:
            fn(alert)
        name = alert.source.split(":", 1)[-1]
        if alert.level == "critical" and name in self.runner.get_status()["halted"]:
            # the one halt path (safety.py): entries blocked, positions flattened by policy
            self.safety.halt(name, f"STRATEGY_HALTED: {alert.message}")

    def flatten(self, strategy: str | None = None, *, reason: str) -> None:
        """Cancel working orders and buy/sell back every open position (of one strategy or all),
        in passes that respect working closes (safety.py); starts now when quiescent."""
        with self._lock:
            self.safety.request(strategy, reason)

    def _alert(self, ts: datetime, level: str, source: str, message: str) -> None:
        alert = AlertEvent(ts, level, source, message)
        if self._log_alerts:
            (log.critical if level == "critical" else log.warning)("%s: %s", source, message)
        self.alerts.append(alert)
        for fn in self.observers:
            fn(alert)
