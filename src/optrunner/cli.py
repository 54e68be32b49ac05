"""The `optrunner` command's entry point.

Kept tiny on purpose: the commands (and their heavy imports) load inside :func:`main`, so
Ctrl-C while the program is still starting exits 130 with one line instead of a traceback.
The command tree itself is in :mod:`optrunner.cli_app`.
"""

from __future__ import annotations

import sys
from typing import Any

EXIT_INTERRUPTED = 130  # the same code as optrunner.core.errors.EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> None:
    try:
        from optrunner.cli_app import app
        from optrunner.clikit import run_cli
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted (Ctrl-C) while starting\n")
        sys.exit(EXIT_INTERRUPTED)
    run_cli(app, argv)


def __getattr__(name: str) -> Any:
    """``from optrunner.cli import app`` keeps working (tests, embedding)."""
    if name == "app":
        from optrunner.cli_app import app

        return app
    raise AttributeError(name)


if __name__ == "__main__":
    main()
