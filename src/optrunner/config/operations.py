"""``execution``, ``risk_management``, ``monitoring`` and ``backtesting``: how orders go out,
what limits them, how the strategy reports, and what its backtest claimed."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

from optrunner.config.base import (
    ConfigModel,
    EmailAddress,
    FilePath,
    Flag,
    NonNegativeNumber,
    Percent,
    PositiveInt,
    PositiveNumber,
    WebhookUrl,
    one_of,
    show,
)
from optrunner.core.types import OrderType, Product

ORDER_TYPES = tuple(t.value for t in OrderType)
# The seed's names for stop orders, normalised to the exchange's.
ORDER_TYPE_ALIASES = {
    "STOP": OrderType.SL_M.value,
    "STOP_LIMIT": OrderType.SL.value,
    "SL_M": OrderType.SL_M.value,
}
OPTION_PRODUCTS = (Product.NRML.value, Product.MIS.value)
#: Where a strategy's orders go (one broker per strategy, seed 004): the scale-out services
#: publish its signals on ``{broker}.signals.raw``, which that broker's gateway executes.
BROKERS = ("paper", "kite", "dhan", "shoonya")
BROKER_ALIASES = {"zerodha": "kite"}


class ExecutionConfig(ConfigModel):
    """How the strategy's orders are sent."""

    order_type: Annotated[
        OrderType,
        one_of(ORDER_TYPES, aliases=ORDER_TYPE_ALIASES, upper=True),
        WithJsonSchema({"enum": [*ORDER_TYPES, *ORDER_TYPE_ALIASES]}),
    ] = Field(
        OrderType.MARKET,
        description=(
            "MARKET, LIMIT, SL (stop-limit) or SL-M (stop-market); the seed's STOP and STOP_LIMIT are "
            "read as SL-M and SL. MARKET is sent as a marketable limit price_limit_percent away "
            "from the touch, since brokers reject plain market orders for options."
        ),
    )
    product: Annotated[
        Product,
        one_of(
            OPTION_PRODUCTS,
            hints={
                "CNC": "is for equity delivery and is not valid for options — use NRML (carry) or MIS (intraday)"
            },
            upper=True,
        ),
        WithJsonSchema({"enum": list(OPTION_PRODUCTS)}),
    ] = Field(
        Product.NRML,
        description="NRML (positions may be carried overnight) or MIS (intraday, squared off by the broker).",
    )
    price_limit_percent: PositiveNumber = Field(
        1.0,
        description="Percent beyond the best bid/ask at which a marketable limit (MARKET/LIMIT) order is priced.",
    )
    timeout_seconds: PositiveInt = Field(
        30, description="Seconds an order may stay open unfilled before on_timeout applies."
    )
    on_timeout: Annotated[Literal["reprice", "cancel"], one_of(("reprice", "cancel"))] = Field(
        "reprice",
        description="What to do with an order still open after timeout_seconds: reprice it at the new touch, or cancel it.",
    )
    max_retries: PositiveInt = Field(
        5,
        description=(
            "A refused or unpriceable exit / replacement is tried again on a later snapshot at most "
            "this many times; then the strategy halts and alerts."
        ),
    )
    retry_backoff_seconds: PositiveNumber = Field(
        5,
        description="Wait before the first retry; doubled for each further one (capped at 5 minutes).",
    )
    broker: Annotated[str, one_of(BROKERS, aliases=BROKER_ALIASES), WithJsonSchema({"enum": [*BROKERS, *BROKER_ALIASES]})] = Field(
        "paper",
        description=(
            "Which broker trades this strategy when it runs as a service (`optrunner service strategies`): "
            "its signals go to `{broker}.signals.raw` and that broker's gateway. paper (simulated) by "
            "default; zerodha is kite. A single process (`run`, `serve`) has one broker for all strategies."
        ),
    )


class RiskManagementConfig(ConfigModel):
    """Per-strategy limits checked before every order (an order that breaks one is rejected)."""

    max_concurrent_legs: PositiveInt = Field(
        2, description="Most option legs open at once (2 for a strangle)."
    )
    max_position_size: PositiveInt | None = Field(
        None, description="Most lots open in any one leg.", examples=[20]
    )
    max_total_loss: PositiveNumber | None = Field(
        None,
        description="Rupees: stop the strategy when its cumulative loss reaches this.",
        examples=[10000],
    )
    max_daily_loss: PositiveNumber | None = Field(
        None,
        description="Rupees: stop trading for the day when the day's loss reaches this.",
        examples=[50000],
    )
    notional_value_limit: PositiveNumber | None = Field(
        None,
        description="Rupees: most notional (strike x units) open across legs.",
        examples=[500000],
    )
    vega_limit: PositiveNumber | None = Field(
        None, description="Most absolute position vega (rupees per vol point).", examples=[100]
    )
    gamma_limit: PositiveNumber | None = Field(
        None,
        description="Most absolute position gamma (delta per index point, in units).",
        examples=[50],
    )
    capital_alloc_pct: Annotated[PositiveNumber, Field(le=100)] | None = Field(
        None,
        description=(
            "Size premium-buying entries from available cash (seed 001's capital allocator): at most "
            "this percent of it in one entry. Unset: entries are sent at the strategy's own quantity."
        ),
        examples=[25],
    )
    risk_per_trade_pct: Annotated[PositiveNumber, Field(le=100)] | None = Field(
        None,
        description="With capital_alloc_pct: percent of cash a trade may lose at premium_stop_pct. Unset: by balance band.",
    )
    capital_multiplier: PositiveInt = Field(
        1, description="With capital_alloc_pct: whole-number multiplier of both budgets (seed 001's multiplier)."
    )
    premium_stop_pct: Annotated[PositiveNumber, Field(le=100)] = Field(
        30,
        description="With capital_alloc_pct: the premium stop the risk budget assumes, percent below the entry price.",
    )


class MonitoringConfig(ConfigModel):
    """How often the strategy is evaluated and where it reports."""

    poll_interval_seconds: Annotated[PositiveNumber, Field(ge=0.1)] = Field(
        2, description="Seconds between strategy evaluations in the runner loop; at least 0.1."
    )
    log_enabled: Flag = Field(True, description="Write the strategy's decisions to the log.")
    log_file: FilePath | None = Field(
        None,
        description="Also log to this file (relative paths are read from the config file's folder). Unset: console only.",
        examples=["logs/NIFTY_DNSS.log"],
    )
    alert_enabled: Flag = Field(
        True, description="Send alerts on critical events (halts, forced exits, rejections)."
    )
    alert_webhook: WebhookUrl | None = Field(
        None, description="http(s) URL alerts are POSTed to as JSON."
    )
    alert_email: EmailAddress | None = Field(
        None,
        description="Address this strategy's alerts are e-mailed to, through the SMTP server of the account "
        "settings' alerts.email (optrunner serve).",
        examples=["ops@example.com"],
    )
    metrics_collection: Flag = Field(
        True,
        description="Report the strategy's metrics (ticks, orders, errors, timings) in get_metrics and exports; false leaves it out.",
    )


class DateRange(NamedTuple):
    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s+to\s+(\d{4}-\d{2}-\d{2})\s*$")


def _date_range(value: Any) -> DateRange:
    if isinstance(value, DateRange):
        return value
    m = _RANGE.match(value) if isinstance(value, str) else None
    if not m:
        raise ValueError(f'{show(value)} is not a date range — write "2026-01-01 to 2026-01-31"')
    try:
        start, end = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
    except ValueError as exc:
        raise ValueError(f"{show(value)} has an impossible date ({exc})") from None
    if start > end:
        raise ValueError(f"{show(value)} ends before it starts — put the earlier date first")
    return DateRange(start, end)


BacktestDates = Annotated[
    DateRange,
    BeforeValidator(_date_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}$"}),
]


class BacktestingConfig(ConfigModel):
    """What the strategy's backtest claimed; the backtest report compares its own measurements to these."""

    is_backtested: Flag = Field(False, description="Whether the claims below come from a backtest.")
    backtest_dates: BacktestDates | None = Field(
        None,
        description='Period the claims cover, "YYYY-MM-DD to YYYY-MM-DD".',
        examples=["2026-01-01 to 2026-01-31"],
    )
    backtest_win_rate: Percent | None = Field(
        None, description="Percent of winning trades (0-100).", examples=[72.5]
    )
    backtest_avg_profit: NonNegativeNumber | None = Field(
        None, description="Rupees: average profit of a winning trade.", examples=[4500]
    )
    backtest_avg_loss: NonNegativeNumber | None = Field(
        None,
        description="Rupees: average loss of a losing trade, as a positive number.",
        examples=[1800],
    )
