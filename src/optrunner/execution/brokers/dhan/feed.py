"""Dhan's Live Order Update WebSocket (``order_ws_root``, default wss://api-order-update.dhan.co).

Protocol (docs "Live Order Update"): send ``{"LoginReq": {"MsgCode": 42, "ClientId", "Token"},
"UserType": "SELF"}``; JSON messages ``{"Type": "order_alert", "Data": {...}}`` follow for every
order of the account.

The field names of ``Data`` are documented in PascalCase (``OrderNo``, ``Status``,
``TradedQty``) while Dhan's own SDK reads camelCase (``orderNo``, ``status``), and whether
``TradedQty`` is per execution or cumulative is not stated. So a pushed alert is used as what
it reliably is — "this order changed" — and never as the book of record: an alert about an
order of ours makes the adapter read the order book (and, for fills, the trade book) at the
next ``events()`` instead of waiting for the polling interval
(:meth:`~.adapter.DhanBroker.on_order_alert`). The shared de-duplication then applies the change
once, whichever of the push-triggered read and the regular poll sees it first.

Connection, reconnect with a capped backoff and the thread are the Kite ticker's
(:class:`~optrunner.execution.brokers.live.chainfeed.ChainFeed`, with no chains).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from optrunner.execution.brokers.live.chainfeed import ChainFeed
from optrunner.execution.brokers.live.secrets import Secret

log = logging.getLogger(__name__)


class DhanOrderUpdates(ChainFeed):
    """The order-update connection in its own thread; ``on_order(data)`` gets each alert's Data."""

    name = "dhan-order-updates"

    def __init__(self, ws_root: str, client_id: str, access_token: Secret,
                 on_order: Callable[[dict[str, Any]], None], *, max_backoff: float = 5.0) -> None:  # fmt: skip
        super().__init__(ws_root, [], on_order=on_order, max_backoff=max_backoff)
        self.client_id, self._token = client_id, access_token
        self.alerts = 0
        self._logged_in: Any = None

    def set_token(self, access_token: Secret) -> None:
        """After a re-login: the next (re)connection logs in with the new token."""
        self._token = access_token

    async def _send_subscribe(self, ws: Any, tokens: set[int]) -> None:
        if self._logged_in is not ws:
            await ws.send(json.dumps({"LoginReq": {"MsgCode": 42, "ClientId": self.client_id,
                                                   "Token": self._token.value}, "UserType": "SELF"}))  # fmt: skip
            self._logged_in = ws

    async def _on_message(self, ws: Any, msg: bytes | str) -> None:
        try:
            m = json.loads(msg)
        except ValueError:
            self.errors += 1
            log.warning("dhan order updates: a message that is not JSON was ignored")
            return
        if isinstance(m, dict) and m.get("Type") == "order_alert" and isinstance(m.get("Data"), dict):
            self.alerts += 1
            if self.on_order is not None:
                self.on_order(m["Data"])


def alert_ids(data: dict[str, Any]) -> tuple[str, str]:
    """(Dhan order id, correlation id) of an alert's Data, whichever casing it uses."""
    low = {str(k).lower(): v for k, v in data.items()}
    return str(low.get("orderno") or low.get("orderid") or ""), str(low.get("correlationid") or "")


__all__ = ["DhanOrderUpdates", "alert_ids"]
