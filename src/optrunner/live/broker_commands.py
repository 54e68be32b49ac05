"""`optrunner broker ...`: the daily login to a live broker, and what the stored session says.

``optrunner broker login <broker>`` runs the broker's own login (Dhan: checks the access
token generated on web.dhan.co against ``/v2/profile``; Shoonya: QuickAuth with the password
hash and a TOTP from pyotp) and stores the session with mode 0600 and its expiry, where
``serve`` reads it. ``optrunner broker status`` shows every stored session and when it
expires. Credentials come from the environment or the secrets file (docs/brokers.md) and
are never printed. Each broker registers its login in :data:`LOGINS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer

from optrunner.clikit import examples, new_app
from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.live.tokens import SessionToken, TokenStore


def _dhan(store: TokenStore, otp: str | None) -> SessionToken:
    from optrunner.execution.brokers.dhan import auth
    from optrunner.execution.brokers.dhan.config import dhan_settings

    if otp is not None:
        raise UserError("--otp is for Shoonya; Dhan logs in with the access token generated on web.dhan.co")
    return auth.login(dhan_settings(), store)


def _shoonya(store: TokenStore, otp: str | None) -> SessionToken:
    from optrunner.execution.brokers.shoonya import auth
    from optrunner.execution.brokers.shoonya.config import shoonya_settings

    if otp is not None and not (otp.isdigit() and len(otp) == 6):
        raise UserError("--otp must be the 6-digit code your authenticator shows")
    return auth.login(shoonya_settings(), store, otp=otp)


#: broker name -> its login (store, typed one-time password or None) -> the stored session
LOGINS: dict[str, Callable[[TokenStore, str | None], SessionToken]] = {"dhan": _dhan, "shoonya": _shoonya}

broker_app = new_app("Log in to a live broker and see the stored sessions (docs/brokers.md).")


@broker_app.command(
    "login",
    epilog=examples(
        "OPTRUNNER_DHAN_USER_ID=1000000001 OPTRUNNER_DHAN_ACCESS_TOKEN=... optrunner broker login dhan",
        "optrunner broker login shoonya            # TOTP from OPTRUNNER_SHOONYA_TOTP_SECRET",
        "optrunner broker login shoonya --otp 123456",
    ),
)
def login_command(
    broker: Annotated[str, typer.Argument(help=f"The broker: {', '.join(LOGINS)}.")],
    otp: Annotated[
        str | None, typer.Option("--otp", help="Shoonya: the 6-digit code, instead of a configured TOTP key.")
    ] = None,
) -> None:
    """Log in for the day and store the session (mode 0600) with its expiry."""
    name = broker.strip().lower()
    if name not in LOGINS:
        raise UserError(f"unknown broker {broker!r}: expected one of {', '.join(LOGINS)}")
    store = TokenStore()
    tok = LOGINS[name](store, otp)
    until = tok.expires_at.astimezone(IST)
    typer.echo(f"{name}: logged in as {tok.user_id}; session stored in {store.path(name)} (mode 600), "
               f"valid until {until:%Y-%m-%d %H:%M} IST")  # fmt: skip


@broker_app.command("status", epilog=examples("optrunner broker status"))
def status_command() -> None:
    """Every stored broker session and when it expires (no token is printed)."""
    store = TokenStore()
    now = datetime.now(UTC)
    names = sorted(p.stem for p in store.folder.glob("*.json")) if store.folder.is_dir() else []
    if not names:
        typer.echo(f"no stored broker session in {store.folder}: run optrunner broker login <broker>")
        return
    for name in names:
        tok = store.load(name)
        if tok is None:
            continue
        until = tok.expires_at.astimezone(IST)
        left = tok.remaining(now)
        state = f"valid for {left.total_seconds() / 3600:.1f} h" if tok.valid(now) else "EXPIRED: log in again"
        typer.echo(f"{name}: user {tok.user_id or '-'}, until {until:%Y-%m-%d %H:%M} IST ({state})")
