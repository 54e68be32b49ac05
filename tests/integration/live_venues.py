"""One face over the three live brokers' fakes, for tests that must run the same story against
Kite, Dhan and Shoonya: the adapter logged in to its fake, and what a person (or the broker's
own systems) does behind our back — a trade by hand, a fill our order updates never show, a
cancel we did not ask for, an answer that does not parse.

Builds on the existing rigs (``fakes.rigs.open_rig`` for Dhan and Shoonya, ``kite_cases`` for
Kite); nothing here talks to a broker other than through the fake's HTTP API or its state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from kite_cases import EXPIRY as KITE_EXPIRY
from kite_cases import T0, make_broker, start_fake

from fakes.rigs import CALL, LOT, PUT, open_rig, reopen_broker
from optrunner.core.clock import SimClock
from optrunner.core.timeutil import IST
from optrunner.core.types import Right
from optrunner.instruments.contracts import OptionContract
from optrunner.instruments.symbology import format_symbol

KITE_CALL = OptionContract("NIFTY", KITE_EXPIRY, 24000.0, Right.CE)
KITE_PUT = OptionContract("NIFTY", KITE_EXPIRY, 24000.0, Right.PE)
KITE_LOT = 65
KITE_TOKEN = "fake-access-token-000000000321"


@dataclass
class Venue:
    """A live adapter and its fake. ``call``/``put``: two listed contracts; ``lot``: their lot."""

    name: str
    fake: Any
    broker: Any
    clock: SimClock
    call: OptionContract
    put: OptionContract
    lot: int
    _close: Any
    _reopen: Any

    def reopen(self) -> Any:
        """A second adapter on the same account and tag file: the process after a restart."""
        return self._reopen()

    def hand_trade(self, contract: OptionContract, side: str, qty: int) -> None:
        """Someone trades on the broker's own terminal (no tag of ours); it fills at once."""
        self.fake.fill_at_limit = True
        if self.name == "kite":
            self.broker.kite.place_order(variety="regular", exchange="NFO", tradingsymbol=format_symbol(contract, "kite"),
                                         transaction_type=side, quantity=qty, product="NRML", order_type="LIMIT",
                                         price=100.0)  # fmt: skip
        elif self.name == "dhan":
            body = {"dhanClientId": self.fake.client_id, "transactionType": side, "exchangeSegment": "NSE_FNO",
                    "productType": "MARGIN", "orderType": "LIMIT", "price": 100.0,
                    "securityId": "35001" if contract == CALL else "35002", "quantity": qty}  # fmt: skip
            httpx.post(self.broker.settings.api_root + "/orders", json=body,
                       headers={"access-token": self.fake.access_token, "client-id": self.fake.client_id}).raise_for_status()  # fmt: skip
        else:
            from optrunner.execution.brokers.shoonya.auth import body as noren_body

            j = {"uid": self.fake.uid, "actid": self.fake.uid, "exch": "NFO", "tsym": self.broker.instruments[contract].trading_symbol,
                 "qty": str(qty), "prd": "M", "trantype": side[0], "prctyp": "LMT", "prc": "100", "ret": "DAY", "remarks": ""}  # fmt: skip
            httpx.post(self.broker.settings.api_root + "/PlaceOrder", content=noren_body(j, self.broker._key)).raise_for_status()

    def fill_unseen(self, broker_id: str, price: float = 100.0) -> None:
        """Our working order fills at the broker, but its order book (and so every order update
        we read) keeps showing it unfilled: only the trade book and the positions know."""
        with self.fake._lock:
            before = copy.copy(self.fake.orders[broker_id])
            if self.name == "kite":
                self.fake.prices[format_symbol(self.call, "kite")] = price
                self.fake._try_fill(self.fake.orders[broker_id])
            else:
                self.fake._fill(self.fake.orders[broker_id], None, price)
            self.fake.orders[broker_id] = before

    def cancel_by_hand(self, broker_id: str) -> None:
        """The broker (its risk system, or a person on its terminal) cancels our working order."""
        with self.fake._lock:
            o = self.fake.orders[broker_id]
            if self.name == "kite":
                o.status, o.status_message = "CANCELLED", "Cancelled by RMS"
            elif self.name == "dhan":
                o["orderStatus"], o["omsErrorDescription"] = "CANCELLED", "Cancelled by RMS"
            else:
                o["status"], o["rpt"], o["rejreason"] = "CANCELED", "Canceled", "Cancelled by RMS"

    def fault_positions(self, kind: str) -> None:
        """``garbage``: the positions answer does not parse; ``500``: the broker fails once."""
        if self.name == "kite":
            self.fake.script("positions", "garbled" if kind == "garbage" else kind)
        elif self.name == "dhan":
            self.fake.fault("GET /v2/positions", kind)
        else:
            self.fake.fault("PositionBook", kind)

    def net(self, contract: OptionContract) -> int:
        """The fake's net position in ``contract``, read through the adapter."""
        return sum(p.quantity for p in self.broker.positions() if p.contract == contract)

    def close(self) -> None:
        self._close()


def open_venue(name: str, tmp: Path) -> Venue:
    """The adapter of ``name`` logged in to a fresh fake, on a simulated clock at a session time."""
    if name == "kite":
        clock = SimClock(T0)
        fake = start_fake()
        fake.issue_token(KITE_TOKEN)
        broker = make_broker(fake, tmp, KITE_TOKEN, clock)
        return Venue(name, fake, broker, clock, KITE_CALL, KITE_PUT, KITE_LOT, fake.stop,
                     lambda: make_broker(fake, tmp, KITE_TOKEN, clock))  # fmt: skip
    clock = SimClock(datetime.now(IST).replace(hour=10, minute=0, second=0, microsecond=0))
    rig = open_rig(name, tmp, clock)
    return Venue(name, rig.fake, rig.broker, clock, CALL, PUT, LOT, rig.close, lambda: reopen_broker(rig, clock))


__all__ = ["Venue", "open_venue"]
