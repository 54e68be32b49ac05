"""A Dhan or Shoonya adapter logged in to its fake on 127.0.0.1, for tests (one builder per broker).

``open_rig("dhan", tmp)`` starts the fake, logs in through the adapter's real login code
(Dhan: /v2/profile; Shoonya: QuickAuth with a pyotp TOTP), loads the instrument master through
the daily cache, and returns the fake, the adapter, and the halts/alerts it raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from fakes import dhan_server, shoonya_server
from fakes.server_thread import ServerThread
from optrunner.core.clock import Clock, LiveClock
from optrunner.core.types import Right
from optrunner.execution.brokers.live.adapter import LiveBroker
from optrunner.execution.brokers.live.master import InstrumentMasterCache
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.specs import get_index

TODAY = LiveClock().now().date()
EXPIRY = TODAY + timedelta(days=9)
STRIKE = 25950.0
CALL = OptionContract("NIFTY", EXPIRY, STRIKE, Right.CE)
PUT = OptionContract("NIFTY", EXPIRY, STRIKE, Right.PE)
OLD = OptionContract("NIFTY", TODAY - timedelta(days=1), STRIKE, Right.CE)
UNLISTED = OptionContract("NIFTY", EXPIRY, 99950.0, Right.CE)
LOT = get_index("NIFTY").lot_size(EXPIRY, TODAY)  # what the kernel's router checks


@dataclass
class Rig:
    name: str
    fake: Any  # DhanFake | ShoonyaFake
    server: ServerThread
    broker: LiveBroker
    store: TokenStore
    tmp: Path
    login: Callable[[], SessionToken]
    halts: list[tuple[str | None, str]] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)

    def places(self) -> int:
        return len(self.fake.placed())

    def order_ids(self) -> list[str]:
        return list(self.fake.orders)

    def expire_session(self) -> None:
        if self.name == "dhan":
            self.fake.expire_token()
        else:
            self.fake.expire_sessions()

    def renew_session(self) -> SessionToken:
        """The user logs in again (Dhan: a newly generated token; Shoonya: QuickAuth)."""
        if self.name == "dhan":
            self.fake.access_token = "dhan-renewed-token-5a5a5a5a5a"
        return self.login()

    def place_fault(self, kind: str, times: int = 1) -> None:
        self.fake.fault("POST /v2/orders" if self.name == "dhan" else "PlaceOrder", kind, times)

    def book_fault(self, kind: str) -> None:
        self.fake.fault("GET /v2/orders" if self.name == "dhan" else "OrderBook", kind)

    def close(self) -> None:
        self.broker.close()  # type: ignore[attr-defined]
        self.server.stop()


def _dhan(tmp: Path, clock: Clock, **env_over: str) -> Rig:
    from optrunner.execution.brokers.dhan import auth
    from optrunner.execution.brokers.dhan.adapter import DhanBroker, load_instruments
    from optrunner.execution.brokers.dhan.config import dhan_settings

    rows = [dhan_server.instrument_row(sid, c.underlying, c.expiry.isoformat(), c.strike, c.right.value, LOT)
            for sid, c in (("35001", CALL), ("35002", PUT), ("35003", OLD))]  # fmt: skip
    # a row whose strike column disagrees with its trading symbol: skipped, never half-trusted
    rows.append(rows[0].replace("35001", "35004", 1).replace(f"{STRIKE:.5f}", f"{STRIKE + 100:.5f}"))
    fake = dhan_server.DhanFake(instruments_csv=dhan_server.CSV_HEADER + "\n" + "\n".join(rows) + "\n",
                                timeout_seconds=3.0)  # fmt: skip
    server = ServerThread(dhan_server.create_app(fake)).start()

    def settings():  # type: ignore[no-untyped-def]
        env = {"OPTRUNNER_DHAN_API_ROOT": server.url + "/v2", "OPTRUNNER_DHAN_WS_ROOT": server.ws_url,
               "OPTRUNNER_DHAN_USER_ID": fake.client_id, "OPTRUNNER_DHAN_ACCESS_TOKEN": fake.access_token,
               "OPTRUNNER_DHAN_TIMEOUT_SECONDS": "2.0"} | env_over  # fmt: skip
        return dhan_settings(environ=env, secrets_file=tmp / "none.json")

    store = TokenStore(tmp / "tokens")
    token = auth.login(settings(), store)
    cache = InstrumentMasterCache("dhan", lambda: fake.instruments_csv.encode(), tmp / "masters")
    broker = DhanBroker(settings(), token, load_instruments(settings(), cache), clock, tag_file=tmp / "tags.txt",
                        poll_seconds=0.0)  # fmt: skip
    return Rig("dhan", fake, server, broker, store, tmp, lambda: auth.login(settings(), store))


def _shoonya(tmp: Path, clock: Clock, **env_over: str) -> Rig:
    from optrunner.execution.brokers.shoonya import auth
    from optrunner.execution.brokers.shoonya.adapter import ShoonyaBroker, load_instruments
    from optrunner.execution.brokers.shoonya.config import shoonya_settings

    rows = [shoonya_server.symbol_row(tok, c.underlying, c.expiry.isoformat(), c.strike, c.right.value, LOT)
            for tok, c in (("35001", CALL), ("35002", PUT), ("35003", OLD))]  # fmt: skip
    # a row whose OptionType column says PE while its symbol says C: skipped
    rows.append(rows[0].replace("35001", "35004", 1).replace(",CE,", ",PE,"))
    fake = shoonya_server.ShoonyaFake(instruments=rows, timeout_seconds=3.0)
    server = ServerThread(shoonya_server.create_app(fake)).start()
    env = {"OPTRUNNER_SHOONYA_API_ROOT": server.url, "OPTRUNNER_SHOONYA_WS_ROOT": server.ws_url,
           "OPTRUNNER_SHOONYA_USER_ID": fake.uid, "OPTRUNNER_SHOONYA_API_SECRET": fake.api_secret,
           "OPTRUNNER_SHOONYA_PASSWORD": fake.password, "OPTRUNNER_SHOONYA_TOTP_SECRET": fake.totp_secret,
           "OPTRUNNER_SHOONYA_VENDOR_CODE": fake.vendor_code, "OPTRUNNER_SHOONYA_TIMEOUT_SECONDS": "2.0"} | env_over
    settings = shoonya_settings(environ=env, secrets_file=tmp / "none.json")
    store = TokenStore(tmp / "tokens")
    token = auth.login(settings, store)
    url = server.url + "/NFO_symbols.txt.zip"
    cache = InstrumentMasterCache("shoonya", lambda: httpx.get(url).content, tmp / "masters", ext="zip")
    broker = ShoonyaBroker(settings, token, load_instruments(settings, cache), clock, tag_file=tmp / "tags.txt",
                           poll_seconds=0.0)  # fmt: skip
    return Rig("shoonya", fake, server, broker, store, tmp, lambda: auth.login(settings, store))


BUILDERS = {"dhan": _dhan, "shoonya": _shoonya}


def open_rig(name: str, tmp: Path, clock: Clock | None = None, **env_over: str) -> Rig:
    rig = BUILDERS[name](tmp, clock or LiveClock(), **env_over)
    rig.broker.on_halt = lambda s, why: rig.halts.append((s, why))
    rig.broker.on_alert = lambda level, msg: rig.alerts.append((level, msg))
    return rig


def reopen_broker(rig: Rig, clock: Clock) -> LiveBroker:
    """A second adapter on the same account and tag file: the process after a crash."""
    store_token = rig.store.require_valid(rig.name)
    cls = type(rig.broker)
    return cls(rig.broker.settings, store_token, rig.broker.instruments, clock, tag_file=rig.tmp / "tags.txt",  # type: ignore[call-arg, attr-defined]
               poll_seconds=0.0)  # fmt: skip


__all__ = ["BUILDERS", "CALL", "EXPIRY", "LOT", "OLD", "PUT", "TODAY", "UNLISTED", "Rig", "open_rig", "reopen_broker"]
