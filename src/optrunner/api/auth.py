"""The API's bearer token: where it comes from, how it is checked, and keeping it out of logs.

The token is ``OPTRUNNER_API_TOKEN`` when set, else the content of a token file created on
first start with mode 0600 (only the file's path is ever printed). A token file that other
users can read is refused, as ssh refuses a readable key: fail closed. Comparisons are
constant-time, and nothing here puts the token, or what a client sent, into a message.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import stat
from pathlib import Path

from optrunner.core.errors import UserError

TOKEN_ENV = "OPTRUNNER_API_TOKEN"
MIN_TOKEN_LENGTH = 16


def default_token_file() -> Path:
    """``$XDG_CONFIG_HOME/optrunner/api-token`` (``~/.config/...``): outside any strategy
    folder or repository, where a secret could be committed by accident."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "optrunner" / "api-token"


def load_token(path: Path | None = None, environ: dict[str, str] | None = None) -> tuple[str, str]:
    """(token, where it came from: "env" or the file's path). Creates the file when missing."""
    env = os.environ if environ is None else environ
    given = env.get(TOKEN_ENV, "").strip()
    if given:
        if len(given) < MIN_TOKEN_LENGTH:
            raise UserError(f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN_LENGTH} characters")
        return given, "env"
    path = path or default_token_file()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UserError(f"the API token file {path} is readable by other users (mode {mode:o}): "
                            f"run chmod 600 {path}")  # fmt: skip
        token = path.read_text().strip()
        if len(token) < MIN_TOKEN_LENGTH:
            raise UserError(f"the API token file {path} holds no usable token: delete it to make a new one")
        return token, str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, str(path)


def token_matches(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


_QUERY_TOKEN = re.compile(r"(token=)[^&\s\"']*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Rewrites ``token=...`` in log records (uvicorn's access log shows ``/ws?token=...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "token=" in record.msg.lower():
            record.msg = _QUERY_TOKEN.sub(r"\1***", record.msg)
        return True
