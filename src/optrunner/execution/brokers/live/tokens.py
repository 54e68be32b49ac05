"""The day's broker session token, kept in a 0600 file with its expiry.

Indian brokers issue a session token per trading day (Kite's expires at 06:00 IST the next
morning). ``optrunner broker login <name>`` writes it here; ``serve`` reads it, warns before
the open when it will not last the session, and refuses to go live with an expired one. The
file is written atomically with mode 0600 and one file per broker; a file readable by others
is refused. The token is a :class:`~.secrets.Secret` (registered for log redaction on load).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.live.secrets import Secret
from optrunner.execution.brokers.live.settings import config_home

TOKEN_DIR_ENV = "OPTRUNNER_TOKEN_DIR"


def next_ist_time(now: datetime, at: time) -> datetime:
    """The first instant at ``at`` IST strictly after ``now`` (Kite: ``time(6)``)."""
    local = now.astimezone(IST)
    cut = datetime.combine(local.date(), at, IST)
    if cut <= local:
        cut = datetime.combine(local.date() + timedelta(days=1), at, IST)
    return cut


@dataclass(frozen=True)
class SessionToken:
    broker: str
    access_token: Secret
    expires_at: datetime
    user_id: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, str] = field(default_factory=dict)

    def valid(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) < self.expires_at

    def remaining(self, now: datetime | None = None) -> timedelta:
        return self.expires_at - (now or datetime.now(UTC))


class TokenStore:
    """One JSON file per broker in ``folder`` (default ``$OPTRUNNER_TOKEN_DIR`` or
    ``~/.config/optrunner/tokens``), mode 0600."""

    def __init__(self, folder: Path | None = None) -> None:
        env = os.environ.get(TOKEN_DIR_ENV)
        self.folder = Path(folder or env or config_home() / "tokens")

    def path(self, broker: str) -> Path:
        return self.folder / f"{broker}.json"

    def save(self, token: SessionToken) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(token.broker)
        tmp = path.with_name(path.name + ".tmp")
        doc: dict[str, Any] = {
            "broker": token.broker, "access_token": token.access_token.value,
            "expires_at": token.expires_at.isoformat(), "user_id": token.user_id,
            "created_at": token.created_at.isoformat(), "extra": token.extra,
        }  # fmt: skip
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # an older tmp file may have had another mode
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def load(self, broker: str) -> SessionToken | None:
        """The stored token (expired or not), or None when there is none."""
        path = self.path(broker)
        if not path.is_file():
            return None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UserError(f"the {broker} token file {path} is readable by other users (mode {mode:o}): "
                            f"delete it and log in again (optrunner broker login {broker})")  # fmt: skip
        try:
            d = json.loads(path.read_text())
            return SessionToken(d["broker"], Secret(d["access_token"]), datetime.fromisoformat(d["expires_at"]),
                                d.get("user_id", ""), datetime.fromisoformat(d["created_at"]),
                                dict(d.get("extra") or {}))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"the {broker} token file {path} cannot be read: log in again "
                            f"(optrunner broker login {broker})") from None  # fmt: skip

    def require_valid(self, broker: str, now: datetime | None = None) -> SessionToken:
        """The stored token if it has not expired, else a clear error saying how to log in."""
        tok = self.load(broker)
        if tok is None:
            raise UserError(f"no {broker} session: log in first (optrunner broker login {broker})")
        if not tok.valid(now):
            raise UserError(f"the {broker} session expired at {tok.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST: "
                            f"log in again (optrunner broker login {broker})")  # fmt: skip
        return tok


__all__ = ["TOKEN_DIR_ENV", "SessionToken", "TokenStore", "next_ist_time"]
