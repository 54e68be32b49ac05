"""`optrunner broker login <name>` and `optrunner broker status`: the daily broker session.

``login`` runs the broker's own flow and stores the session token (mode 0600, with its
expiry) where ``serve --live`` finds it; ``status`` shows each stored session and when it
expires. Tokens and secrets are never printed. Brokers register their flow in ``LOGINS``.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from optrunner.clikit import examples, new_app
from optrunner.core.errors import UserError
from optrunner.core.timeutil import IST
from optrunner.execution.brokers.live.tokens import TokenStore

console = Console()
broker_app = new_app("Daily broker sessions for live trading (docs/brokers.md).")
LOGIN_EXAMPLES = examples(
    "optrunner broker login kite",
    "optrunner broker login kite --port 5599 --no-browser",
    "optrunner broker login kite --request-token <token from the redirect URL>",
    "optrunner broker login dhan            # OPTRUNNER_DHAN_USER_ID + OPTRUNNER_DHAN_ACCESS_TOKEN",
    "optrunner broker login shoonya         # TOTP from OPTRUNNER_SHOONYA_TOTP_SECRET",
    "optrunner broker login shoonya --otp 123456",
    "optrunner broker login breeze --session-token <API_Session from the ICICI login page>",
)


def _kite_login(port: int, request_token: str | None, browser: bool, timeout: float, otp: str | None,
                session_token: str | None) -> Any:
    from optrunner.execution.brokers.kite.auth import RedirectListener, login, login_url
    from optrunner.execution.brokers.kite.config import kite_settings

    settings = kite_settings()
    settings.require("api_key", "api_secret")
    store = TokenStore()
    if request_token:
        return login(settings, store, request_token=request_token)
    listener = RedirectListener(port)
    url = login_url(settings.api_key)
    console.print(f"Log in to Kite in your browser:\n  {url}\nWaiting for the redirect to {listener.redirect_url} "
                  f"(register it as your Kite app's redirect URL) ...", soft_wrap=True)  # fmt: skip
    if browser:
        webbrowser.open(url)
    return login(settings, store, listener=listener, timeout=timeout)


def _dhan_login(port: int, request_token: str | None, browser: bool, timeout: float, otp: str | None,
                session_token: str | None) -> Any:
    """Dhan: the access token generated on web.dhan.co, checked against /v2/profile."""
    from optrunner.execution.brokers.dhan import auth
    from optrunner.execution.brokers.dhan.config import dhan_settings

    return auth.login(dhan_settings(), TokenStore())


def _shoonya_login(port: int, request_token: str | None, browser: bool, timeout: float, otp: str | None,
                   session_token: str | None) -> Any:
    """Shoonya: QuickAuth with the password hash and a TOTP (pyotp, or --otp typed)."""
    from optrunner.execution.brokers.shoonya import auth
    from optrunner.execution.brokers.shoonya.config import shoonya_settings

    if otp is not None and not (otp.isdigit() and len(otp) == 6):
        raise UserError("--otp must be the 6-digit code your authenticator shows")
    return auth.login(shoonya_settings(), TokenStore(), otp=otp)


def _breeze_login(port: int, request_token: str | None, browser: bool, timeout: float, otp: str | None,
                  session_token: str | None) -> Any:
    """Breeze (data only): the API_Session the ICICI login page shows, exchanged at /customerdetails."""
    from optrunner.execution.brokers.breeze import auth
    from optrunner.execution.brokers.breeze.config import breeze_settings

    return auth.login(breeze_settings(), TokenStore(), api_session=session_token)


#: broker -> its login flow (port, request token, open a browser, timeout, typed TOTP, session
#: token) -> the stored session
LOGINS: dict[str, Callable[[int, str | None, bool, float, str | None, str | None], Any]] = {
    "kite": _kite_login, "dhan": _dhan_login, "shoonya": _shoonya_login, "breeze": _breeze_login,
}  # fmt: skip
#: which of the login options each flow reads (the others are refused, not silently ignored)
_OPTIONS = {"kite": {"request_token"}, "dhan": set(), "shoonya": {"otp"}, "breeze": {"session_token"}}


@broker_app.command("login", epilog=LOGIN_EXAMPLES)
def login_command(
    broker: Annotated[str, typer.Argument(help="The broker: kite, dhan, shoonya or breeze.")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Local port for the login redirect.")] = 5599,
    request_token: Annotated[str | None, typer.Option("--request-token", help="Skip the listener: a request token you copied from the redirect URL.", show_default=False)] = None,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the login page in a browser.")] = True,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the redirect.")] = 300.0,
    otp: Annotated[str | None, typer.Option("--otp", help="Shoonya: the 6-digit code, instead of a configured TOTP key.", show_default=False)] = None,
    session_token: Annotated[str | None, typer.Option("--session-token", help="Breeze: the day's API_Session shown after logging in at api.icicidirect.com/apiuser/login.", show_default=False)] = None,
) -> None:
    """Log in for the day; the session token is stored (mode 0600) with its expiry."""
    key = broker.strip().lower()
    if key not in LOGINS:
        raise UserError(f"no login flow for broker {broker!r}; one of: {', '.join(sorted(LOGINS))}")
    given = {n for n, v in (("request_token", request_token), ("otp", otp), ("session_token", session_token)) if v is not None}
    if given - _OPTIONS[key]:
        raise UserError(f"--{sorted(given - _OPTIONS[key])[0].replace('_', '-')} does not apply to {key}")
    token = LOGINS[key](port, request_token, browser, timeout, otp, session_token)
    console.print(f"{key}: logged in{f' as {token.user_id}' if token.user_id else ''}; the session expires "
                  f"{token.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST (stored in {TokenStore().path(key)})")  # fmt: skip


@broker_app.command("status", epilog=examples("optrunner broker status"))
def status_command() -> None:
    """Stored broker sessions and when they expire."""
    store = TokenStore()
    files = sorted(store.folder.glob("*.json")) if store.folder.is_dir() else []
    if not files:
        console.print(f"No broker sessions in {store.folder}: log in with optrunner broker login <broker>")
        return
    now = datetime.now(UTC)
    t = Table("broker", "user", "logged in (IST)", "expires (IST)", "state", title="Broker sessions", title_justify="left")
    for f in files:
        tok = store.load(f.stem)
        if tok is None:
            continue
        left = tok.remaining(now)
        state = (f"valid, {int(left.total_seconds() // 3600)}h {int(left.total_seconds() % 3600 // 60)}m left"
                 if tok.valid(now) else "[red]expired[/]: log in again")  # fmt: skip
        t.add_row(tok.broker, tok.user_id or "—", f"{tok.created_at.astimezone(IST):%Y-%m-%d %H:%M}",
                  f"{tok.expires_at.astimezone(IST):%Y-%m-%d %H:%M}", state)  # fmt: skip
    console.print(t)
