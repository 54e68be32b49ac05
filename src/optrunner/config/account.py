"""Account settings: the money and the rules around every strategy of one account.

A strategy file says what to trade; ``account.yaml`` says with how much capital, at what
cost (charges plan, slippage, latency) and inside which limits (day-loss halt, losing-day
cool-down, entry cut-off, entry guard). These used to be hidden defaults in the risk
engine and the backtest command; here they are one typed file, every field with its
default and meaning, so a user can see and change what rejected an order. ``backtest``,
``sweep`` and ``run`` read ``--account FILE`` (or ``./account.yaml`` when it exists), then
apply their command-line flags on top, and record the result in ``summary.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from optrunner.alerts.settings import AlertSettings
from optrunner.config.translate import json_path
from optrunner.core.errors import UserError
from optrunner.risk.settings import RiskSettings

DEFAULT_FILE = Path("account.yaml")
FLAG_NAMES = {"capital": "--capital", "fills.slippage": "--slippage", "fills.latency_ms": "--latency",
              "risk_free_rate": "--risk-free"}  # fmt: skip


def parse_slippage(text: str) -> tuple[int, float]:
    """``"2t"``/``"2"`` -> 2 ticks; ``"0.1%"`` -> 0.1 percent. Raises ValueError when invalid."""
    t = str(text).strip().lower()
    try:
        ticks, pct = (0, float(t[:-1])) if t.endswith("%") else (float(t.removesuffix("t")), 0.0)
    except ValueError:
        raise ValueError(f"{text!r}: write ticks like 2t or a percentage like 0.1%") from None
    if ticks < 0 or pct < 0 or ticks != int(ticks):
        raise ValueError(f"{text!r}: slippage is a whole number of ticks or a percentage, 0 or more")
    return int(ticks), pct


class FillSettings(BaseModel):
    """How the simulated exchange (backtest, sweep, paper) fills orders beyond the quote."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    slippage: str = Field("0", description="against you per fill: ticks (2t) or percent of price (0.1%)")
    latency_ms: float = Field(0.0, ge=0, description="order latency; fills at a later snapshot when larger than its interval")

    @field_validator("slippage", mode="before")
    @classmethod
    def _slippage(cls, value: Any) -> str:
        text = str(value)
        parse_slippage(text)
        return text.strip()


class ChargesSettings(BaseModel):
    """Which charge table and brokerage tariff apply (portfolio/data/charges.json by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str | None = Field(None, description="a charges.json-shaped table (default: packaged, or $OPTRUNNER_CHARGES)")
    broker: str = Field("default", description="the brokerage tariff in that table")
    gst_on_ipft: bool | None = Field(None, description="also charge GST on the IPFT levy (default: the table's switch)")


class AccountSettings(BaseModel):
    """Everything around the strategies of one account; every field has a working default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capital: float = Field(1_000_000.0, gt=0, description="starting capital in rupees")
    risk_free_rate: float = Field(0.0, ge=0, lt=1, description="annual rate for Sharpe/Sortino, e.g. 0.065")
    fills: FillSettings = FillSettings()
    charges: ChargesSettings = ChargesSettings()
    risk: RiskSettings = RiskSettings()
    alerts: AlertSettings = Field(AlertSettings(), description="alert channels of optrunner serve (docs/service.md, Alerts)")

    def sim_config(self) -> Any:
        from optrunner.execution.brokers.simulated import SimConfig

        ticks, pct = parse_slippage(self.fills.slippage)
        return SimConfig(latency_ms=self.fills.latency_ms, slippage_ticks=ticks, slippage_pct=pct)

    def charge_schedule(self) -> Any:
        from optrunner.portfolio.charges import ChargeSchedule

        try:
            return ChargeSchedule.load(self.charges.file, broker=self.charges.broker,
                                       gst_on_ipft=self.charges.gst_on_ipft)  # fmt: skip
        except ValueError as exc:
            raise UserError(f"account charges: {str(exc).splitlines()[0]}") from None

    def describe(self, source: Path | None) -> str:
        """One line naming the settings that most often surprise: printed before every run."""
        a = self.risk.account
        halt = f"₹{a.base_max_loss:,.0f}" if a.base_max_loss is not None else f"{a.base_max_loss_pct:.0%} of capital"
        cool = (f"no entries after {a.max_consecutive_loss_days} losing days until Monday"
                if a.max_consecutive_loss_days else "no losing-day cool-down")  # fmt: skip
        return (f"account: {source or 'defaults (no account.yaml)'} — capital ₹{self.capital:,.0f}, slippage "
                f"{self.fills.slippage}, latency {self.fills.latency_ms:g} ms; day-loss halt {halt}, {cool}, "
                f"entries until {self.risk.no_new_entries_after:%H:%M}")  # fmt: skip

    def record(self, source: Path | None) -> dict[str, Any]:
        """The effective settings as ``summary.json`` keeps them (with the code version)."""
        from optrunner.version import code_version

        return {"code_version": code_version(), "account_file": None if source is None else str(source),
                **self.model_dump(mode="json")}  # fmt: skip


def _problems(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """``path: message`` for every error; ``names`` shows a path as the flag that set it."""
    out = []
    for e in exc.errors(include_url=False):
        path = json_path(e["loc"])
        text = e['msg'].removeprefix('Value error, ').replace('Input should be', 'must be')
        out.append(f"{(names or {}).get(path, path)}: {text}")
    return "; ".join(out)


def load_account(path: Path | None, overrides: dict[str, Any] | None = None) -> tuple[AccountSettings, Path | None]:
    """The account settings in ``path`` (or ./account.yaml, or the defaults), then ``overrides``.

    ``overrides`` maps dotted paths (``capital``, ``fills.slippage``) to values given on the
    command line; ``None`` values are ignored. Every problem is reported at once with its
    path, e.g. ``account.yaml: risk.account.base_max_loss_pct: ...``.
    """
    source = path if path is not None else (DEFAULT_FILE if DEFAULT_FILE.is_file() else None)
    doc: dict[str, Any] = {}
    if source is not None:
        try:
            loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"--account {source}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise UserError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{source}: an account file is a mapping of settings (see examples/account.yaml)")
        doc = loaded or {}
    try:
        AccountSettings.model_validate(doc)  # the file's own problems, named as the file's
    except ValidationError as exc:
        raise UserError(f"{source}: {_problems(exc)}") from None
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return AccountSettings.model_validate(doc), source
    except ValidationError as exc:
        raise UserError(_problems(exc, FLAG_NAMES)) from None
