"""The StrategyRunner's parts: per-strategy bookkeeping, routing tables, metrics text, alerts out.

Kept apart from ``runner.py`` so the runner reads as the event flow and nothing else.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optrunner.core.buckets import NS_BOUNDS
from optrunner.core.events import AlertEvent
from optrunner.strategies.base import Intents, Strategy, Subscriptions

if TYPE_CHECKING:
    from optrunner.runner import StrategyRunner

log = logging.getLogger("optrunner.runner")

DispatchResult = list[tuple[str, Intents]]
Target = tuple["StrategySlot", Callable[[Any], Intents]]
IntentSink = Callable[[str, Any, Any, Intents], Any]

STRATEGY_MEMBERS = ("name", *sorted(n for n in vars(Strategy) if not n.startswith("_")))
WEBHOOK_TIMEOUT_SECONDS = 5.0
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def check_strategy(obj: Any) -> str | None:
    """Why ``obj`` is not a Strategy (its missing members), or None when it is one."""
    if obj is None:
        return "it is None (the strategy factory returned nothing)"
    missing = [m for m in STRATEGY_MEMBERS if not hasattr(obj, m)]
    if missing:
        return f"{type(obj).__name__} lacks {', '.join(missing)} of the Strategy protocol"
    if not isinstance(obj.name, str) or not obj.name:
        return f"its name {obj.name!r} is not a non-empty string"
    return None


def make_intent_sink(bot: Any) -> IntentSink | None:
    """How intents reach ``bot``: ``process_intents(name, intents)``, or the seed's
    ``_process_strategy_intents(name, strategy, market, intents)``."""
    if bot is None:
        return None
    process = getattr(bot, "process_intents", None)
    if callable(process):
        return lambda name, _strategy, _market, intents: process(name, intents)
    seed_style = getattr(bot, "_process_strategy_intents", None)
    if callable(seed_style):
        return seed_style
    raise TypeError(
        f"bot {type(bot).__name__} has neither process_intents(strategy_name, intents) nor "
        "_process_strategy_intents(strategy_name, strategy, market, intents)"
    )


class StrategySlot:
    """One registered strategy: its objects, its monitoring settings and its counters.

    Counters are plain attributes updated on the hot path; ``metrics()`` derives the rest.
    """

    __slots__ = (
        "collects_metrics", "commands", "config", "consecutive_errors", "draining", "ema_ns", "errors", "eval_counts", "events", "file_handler",
        "halt_reason", "halted", "last_error", "logger", "market", "max_ns", "name", "next_timer",
        "slow", "strategy", "subs", "timer_interval", "total_ns", "webhook",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        strategy: Strategy,
        market: Any,
        config: Any,
        subs: Subscriptions,
        default_interval: float,
    ) -> None:
        self.name = name
        self.strategy = strategy
        self.market = market
        self.config = config
        self.subs = subs
        monitoring = getattr(config, "monitoring", None)
        self.timer_interval = float(
            getattr(monitoring, "poll_interval_seconds", None) or default_interval
        )
        # monitoring.metrics_collection false: the strategy is left out of get_metrics() and
        # everything exported from it (counters are still kept: halting on errors needs them)
        self.collects_metrics = bool(getattr(monitoring, "metrics_collection", True))
        alerts_on = bool(getattr(monitoring, "alert_enabled", True))
        webhook = getattr(monitoring, "alert_webhook", None)
        self.webhook = str(webhook) if webhook and alerts_on else None
        self.logger = logging.getLogger(f"optrunner.strategy.{name}")
        self.file_handler = _attach_log_file(self.logger, getattr(monitoring, "log_file", None))
        if monitoring is not None and not getattr(monitoring, "log_enabled", True):
            self.logger.setLevel(
                logging.WARNING
            )  # decisions off; errors and halts are always logged
        self.events = self.commands = self.errors = self.consecutive_errors = self.slow = 0
        self.total_ns = self.max_ns = 0
        self.ema_ns = 0.0
        # each handler call's duration per bucket of core.buckets.NS_BOUNDS (+Inf last): the
        # strategy_evaluation_duration_ms histogram, whose sum is total_ns
        self.eval_counts = [0] * (len(NS_BOUNDS) + 1)
        self.halted = False
        self.draining = False  # exits only until flat (runner_reload.py)
        self.halt_reason = self.last_error = ""
        self.next_timer: datetime | None = None

    def metrics(self) -> dict[str, Any]:
        return {
            "total_ticks": self.events,
            "total_commands": self.commands,
            "total_errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "avg_ms": self.ema_ns / 1e6,
            "mean_ms": self.total_ns / self.events / 1e6 if self.events else 0.0,
            "max_ms": self.max_ns / 1e6,
            "slow_handlers": self.slow,
            "halted": self.halted,
            "halt_reason": self.halt_reason,
            "last_error": self.last_error,
        }

    def close(self) -> None:
        if self.file_handler is not None:
            self.logger.removeHandler(self.file_handler)
            self.file_handler.close()
            self.file_handler = None


def _attach_log_file(logger: logging.Logger, log_file: Any) -> logging.Handler | None:
    if not log_file:
        return None
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(
            logging.INFO
        )  # the file gets the strategy's decisions even if the root is quieter
    return handler


@dataclass(slots=True)
class Routes:
    """Event key -> the (slot, bound handler) pairs to call, halted strategies left out."""

    chains: dict[str, tuple[Target, ...]]
    ticks: dict[str, tuple[Target, ...]]
    bars: dict[tuple[str, str], tuple[Target, ...]]
    fills: dict[str, tuple[Target, ...]]
    order_updates: dict[str, tuple[Target, ...]]
    stale: dict[str, tuple[Target, ...]]
    timer: tuple[Target, ...]


def build_routes(slots: dict[str, StrategySlot]) -> Routes:
    """Routing tables from every live strategy's subscriptions (rebuilt on register/halt/resume)."""
    chains: dict[str, list[Target]] = defaultdict(list)
    ticks: dict[str, list[Target]] = defaultdict(list)
    bars: dict[tuple[str, str], list[Target]] = defaultdict(list)
    stale: dict[str, list[Target]] = defaultdict(list)
    fills: dict[str, tuple[Target, ...]] = {}
    order_updates: dict[str, tuple[Target, ...]] = {}
    timer: list[Target] = []
    for slot in slots.values():
        if slot.halted:
            continue
        s, subs = slot.strategy, slot.subs
        for symbol in subs.chains:
            chains[symbol].append((slot, s.on_chain))
        for instrument in subs.ticks:
            ticks[instrument].append((slot, s.on_tick))
        for key in subs.bars:
            bars[key].append((slot, s.on_bar))
        fills[slot.name] = ((slot, s.on_fill),)
        order_updates[slot.name] = ((slot, s.on_order_update),)
        # stale data of an underlying matters to whoever follows its chain, index, options or bars
        symbols = (
            set(subs.chains)
            | {i.split(":", 1)[0] for i in subs.ticks}
            | {sym for sym, _ in subs.bars}
        )
        for symbol in symbols:
            stale[symbol].append((slot, s.on_stale))
        if subs.timer:
            timer.append((slot, s.on_timer))

    def freeze(table: dict[Any, list[Target]]) -> dict[Any, tuple[Target, ...]]:
        return {k: tuple(v) for k, v in table.items()}

    return Routes(
        freeze(chains),
        freeze(ticks),
        freeze(bars),
        fills,
        order_updates,
        freeze(stale),
        tuple(timer),
    )


def format_metrics(metrics: dict[str, Any]) -> str:
    """The seed's metrics table: a global line, then one line per strategy."""
    g = metrics["global"]
    rule = "=" * 80
    lines = [
        rule,
        "STRATEGY RUNNER METRICS",
        rule,
        f"Global | ticks={g['total_ticks']} | commands={g['total_commands']} | errors={g['total_errors']}",
        "-" * 80,
    ]
    for name, m in metrics["strategies"].items():
        line = (
            f"{name:<20}| ticks={m['total_ticks']:>4} | cmds={m['total_commands']:>5} | "
            f"errs={m['total_errors']:>3} | avg={m['avg_ms']:>7.1f}ms"
        )
        lines.append(line + (" | HALTED" if m["halted"] else ""))
    lines.append(rule)
    return "\n".join(lines)


def post_webhook(url: str, alert: AlertEvent) -> threading.Thread:
    """POST ``alert`` as JSON to ``url`` from a background thread; failures are logged, never raised."""
    body = json.dumps(
        {
            "ts": alert.ts.isoformat(),
            "level": alert.level,
            "source": alert.source,
            "message": alert.message,
        }
    ).encode()

    def send() -> None:
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                response.read()
        except Exception as exc:  # any network failure: log it, the kernel carries on
            log.warning("alert webhook %s failed: %s: %s", url, type(exc).__name__, exc)

    thread = threading.Thread(target=send, name="alert-webhook", daemon=True)
    thread.start()
    return thread


def load_strategy_files(
    runner: StrategyRunner, config_dir: str | Path, strategy_factory: Callable[[Any], Any] | None
) -> dict[str, bool]:
    """``StrategyRunner.load_strategies_from_json``: validate, build, attach a market, register."""
    from optrunner.config import ConfigError, check_file, iter_strategy_files
    from optrunner.strategies.registry import create_strategy

    factory = strategy_factory or create_strategy
    results: dict[str, bool] = {}
    for path in iter_strategy_files(config_dir):
        report = check_file(path)
        data_name = report.data.get("name") if isinstance(report.data, dict) else None
        name = data_name if isinstance(data_name, str) and data_name else path.stem
        if name in results:
            log.error(
                "%s: another file already defines strategy %r — names must be unique", path, name
            )
            results[path.name] = False
            continue
        reload = name in runner.get_status()["strategy_names"]
        if reload and runner.running:
            log.error("%s: strategy %r is running — stop the runner, then reload", path, name)
            results[name] = False
            continue
        if report.config is None:
            log.error("%s", ConfigError(path, report.issues))
            results[name] = False
            continue
        config = report.config
        try:
            build_and_register(runner, name, config, factory, reload=reload)
        except Exception as exc:  # any failure of one file: report it, load the others
            log.error("%s: strategy %r not loaded: %s: %s", path, name, type(exc).__name__, exc)
            results[name] = False
            continue
        log.info("%s: loaded strategy %r (%s)", path, name, config.strategy)
        results[name] = True
    return results


def row_config(row: Any, base_dir: Path | None = None) -> Any:
    """The config a ``strategy_configurations`` row means (raises ConfigError for a bad one).

    A row's ``parameters`` may hold a whole strategy file (it has ``market_config``): it means
    exactly what the file would, validated the same way (relative paths from ``base_dir``,
    default the working folder). Otherwise the row is seed 004's composition shape
    (``strategy_type``, ``instruments``, processor ``parameters``). ``zerodha_trading_enabled``
    routes it to Kite (``execution.broker``), else it keeps its own broker (paper by default)."""
    from optrunner.config import ConfigError, validate_config
    from optrunner.strategies.composition import ExecutorConfig

    name = row.id
    zerodha = bool(getattr(row, "zerodha_trading_enabled", False))  # seed 004: one broker per strategy
    if isinstance(row.parameters, dict) and "market_config" in row.parameters:
        doc = {**row.parameters, "name": name}
        if zerodha:
            doc["execution"] = {**(doc.get("execution") or {}), "broker": "kite"}
        config, issues = validate_config(doc, base_dir or Path.cwd())
        if issues:
            raise ConfigError(f"strategy_configurations[{name}]", issues)
        return config
    return ExecutorConfig(name=name, strategy=row.strategy_type, instruments=tuple(row.instruments),
                          parameters=dict(row.parameters), **({"broker": "kite"} if zerodha else {}))  # fmt: skip


def load_strategy_rows(
    runner: StrategyRunner, rows: Iterable[Any], strategy_factory: Callable[[Any], Any] | None
) -> dict[str, bool]:
    """``StrategyRunner.load_strategies_from_store``: each active ``strategy_configurations`` row
    as a strategy (``row_config``), ``{id: loaded}``. A row that fails — an invalid document, a
    model that will not load — is reported False and logged; the others load (seed 004: a
    broken ML model is skipped, not fatal)."""
    from optrunner.strategies.registry import create_strategy

    factory = strategy_factory or create_strategy
    results: dict[str, bool] = {}
    for row in rows:
        if not row.is_active:
            continue
        name = row.id
        try:
            config = row_config(row)
            reload = name in runner.get_status()["strategy_names"]
            if reload and runner.running:
                raise ValueError("it is running — stop the runner, then reload")
            build_and_register(runner, name, config, factory, reload=reload)
        except Exception as exc:  # one row's failure never stops the others
            log.error("strategy_configurations row %r not loaded: %s: %s", name, type(exc).__name__, exc)
            results[name] = False
            continue
        log.info("strategy_configurations: loaded strategy %r (%s)", name, getattr(config, "strategy", "?"))
        results[name] = True
    return results


def build_and_register(
    runner: StrategyRunner, name: str, config: Any, factory: Callable[[Any], Any], *, reload: bool
) -> None:
    """Build ``config``'s strategy and its market adapter (a strategy file's ``market_config``
    when it names a source) and register them; a reload replaces the strategy of that name
    (the seed's "stop, then reload"). Raises on any failure, having changed nothing."""
    from optrunner.market.adapters.factory import create_market_adapter

    strategy = factory(config)
    problem = check_strategy(strategy)
    if problem:
        raise TypeError(f"the strategy factory returned {type(strategy).__name__}: {problem}")
    mc = getattr(config, "market_config", None)
    market = None
    if mc is not None:
        market = create_market_adapter(mc.market_type, mc, clock=runner.clock,
                                       poll_interval=config.monitoring.poll_interval_seconds)  # fmt: skip
    if reload:
        runner.unregister(name)
    runner.register(name, strategy, market=market, config=config)
