"""Errors a user can fix, and the exit codes every ``optrunner`` command shares.

Library code raises :class:`UserError` (or a domain error the CLI maps, such as
``CatalogError``) when the *input* is wrong; the command line turns it into one line on
stderr and the documented exit code, never a traceback. The codes are part of the
interface scripts rely on, so they live here, in one place, and the README lists them.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # the input was usable but the work failed (a server down, every run failed)
EXIT_BAD_INPUT = 2  # a flag, file, folder or URL given is wrong: fix it and run again
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)

EXIT_LABELS = {EXIT_OK: "ok", EXIT_RUN_FAILED: "run failed", EXIT_BAD_INPUT: "bad input", EXIT_INTERRUPTED: "interrupted"}
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_RUN_FAILED: "the run failed (the message says why)",
    EXIT_BAD_INPUT: "bad input: a flag, file, folder or URL given is wrong",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class UserError(Exception):
    """A problem the user fixes: ``message`` says what, where and what to do next."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RunFailed(UserError):
    """The input was fine but the work could not be done (exit code 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_RUN_FAILED)
