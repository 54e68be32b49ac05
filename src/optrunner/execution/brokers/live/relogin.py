"""Picking up a re-login while the session runs: the new token comes from the token store.

When a broker session expires mid-day the adapter refuses new orders (``LiveBroker``) until it
has a new token. The user runs ``optrunner broker login <broker>`` in another terminal; that
writes the token store, not the running process. :class:`StoreRelogin` closes the gap: while
the session is expired, ``events()`` (called by the order manager at every step) looks at the
store at most every ``relogin_check_seconds`` and, when it holds a different, unexpired token,
hands it to the adapter's ``relogin`` — orders, positions and tracking are kept.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore


class StoreRelogin:
    """Mixin for a ``LiveBroker`` subclass with ``relogin(token)`` and a current ``_session_token()``."""

    token_store: TokenStore | None = None
    relogin_check_seconds: float = 2.0
    _relogin_checked: float = 0.0

    if TYPE_CHECKING:  # provided by LiveBroker and the adapter
        name: str
        session_ok: bool

        def relogin(self, token: SessionToken) -> None: ...
        def _session_token(self) -> str: ...

    def events(self) -> list[Any]:
        if not self.session_ok and self.token_store is not None:
            now = time.monotonic()
            if now - self._relogin_checked >= self.relogin_check_seconds:
                self._relogin_checked = now
                self._relogin_from_store()
        return super().events()  # type: ignore[misc]

    def _relogin_from_store(self) -> None:
        try:
            tok = self.token_store.load(self.name)  # type: ignore[union-attr]
        except Exception:  # an unreadable store: keep refusing orders; the alert already went out
            return
        if tok is not None and tok.valid() and tok.access_token.value != self._session_token():
            self.relogin(tok)


__all__ = ["StoreRelogin"]
