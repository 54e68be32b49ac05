"""What every ``optrunner`` command shares: error handling, exit codes, help style, status lines.

A user should never see a traceback. :class:`OptrunnerGroup` wraps every command: errors
the user can fix (:class:`~optrunner.core.errors.UserError`, a missing catalog, an invalid
strategy file, a malformed store URL) become one ``error:`` line and exit code 2; a server
that cannot be reached or a run that failed exit 1; Ctrl-C exits 130; anything unexpected
is reported in one line with exit 1 (``OPTRUNNER_DEBUG=1`` shows the traceback for a bug
report). The codes are documented in core/errors.py and the README.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer._click import exceptions as click_exceptions  # typer 0.29 vendors click
from typer.core import TyperGroup, TyperOption

from optrunner.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    UserError,
)

DEBUG_ENV = "OPTRUNNER_DEBUG"
CONTEXT = {"help_option_names": ["-h", "--help"]}
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}")


def explain(exc: BaseException) -> tuple[int, str]:
    """The exit code and one-line message for an exception escaping a command."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted (Ctrl-C)"
    if isinstance(exc, UserError):
        return exc.code, exc.message
    name = type(exc).__name__
    module = type(exc).__module__
    if name in ("CatalogError", "ConfigError", "SchemaError", "DataImportError"):
        return EXIT_BAD_INPUT, str(exc)
    if module.startswith("sqlalchemy"):
        return _store_error(exc)
    if isinstance(exc, OSError):
        if exc.filename:
            return EXIT_BAD_INPUT, f"cannot use {exc.filename}: {exc.strerror or exc} — check the path and its permissions"
        return EXIT_BAD_INPUT, str(exc)
    return EXIT_RUN_FAILED, (
        f"unexpected {name}: {exc} — this is a bug in optrunner; run again with "
        f"{DEBUG_ENV}=1 for the traceback and report it"
    )


def _store_error(exc: BaseException) -> tuple[int, str]:
    name = type(exc).__name__
    if name in ("ArgumentError", "NoSuchModuleError"):
        return EXIT_BAD_INPUT, (
            f"not a store URL ({str(exc).splitlines()[0]}) — write sqlite:///paper.sqlite or "
            "postgresql+psycopg://user@host:5432/db"
        )
    if name in ("OperationalError", "InterfaceError"):
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return EXIT_RUN_FAILED, f"cannot use the store: {first} — is the database server running?"
    return EXIT_RUN_FAILED, f"store error: {str(exc).splitlines()[0]}"


class OptrunnerGroup(TyperGroup):
    """A command group that prints help for no arguments (exit 0) and never shows a traceback."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_exceptions.ClickException):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if os.environ.get(DEBUG_ENV) and not isinstance(exc, KeyboardInterrupt | UserError):
                raise
            code, message = explain(exc)
            print_error(message)
            raise typer.Exit(code) from None


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """No ``<bool>`` after on/off flags: the flag's name already says it takes no value."""
    if self.is_flag:
        return None
    return _plain_display_type(self, ctx)


_plain_display_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def examples(*lines: str) -> str:
    """An ``--help`` epilog listing example invocations, one per line."""
    body = "\n\n".join(f"  [bold]$[/bold] {escape(line)}" for line in lines)
    return f"[bold]Examples[/bold]\n\n{body}"


def new_app(help_text: str, **kwargs: Any) -> typer.Typer:
    """A Typer app (or sub-app) with the shared group class, ``-h`` and no tracebacks."""
    return typer.Typer(
        cls=OptrunnerGroup, help=help_text, context_settings=CONTEXT, add_completion=False,
        pretty_exceptions_enable=False, **kwargs,
    )  # fmt: skip


# --- progress: a bar on a terminal, plain lines in a pipe or a log file ----------------------


class Status:
    """Progress of counted work (``total``) or a running status (``total=None``).

    On a terminal it is a rich progress bar; otherwise (a pipe, a CI log, ``nohup``) it
    prints plain lines without control characters, at most one per ``every`` seconds plus
    the first and the last, so a paper run in the background still says what it is doing.
    """

    def __init__(
        self, label: str, total: int | None = None, *, console: Console | None = None,
        unit: str = "", every: float = 5.0, text: str = "",
    ) -> None:  # fmt: skip
        self.console = console or Console(stderr=True)
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.done = 0
        self.text = text
        self._last = 0.0
        self._printed = ""
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> Status:
        if self.console.is_terminal:
            if self.total is None:
                columns: tuple[Any, ...] = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
            else:
                columns = (TextColumn(f"[bold]{escape(self.label)}[/]"), BarColumn(), MofNCompleteColumn(),
                           TextColumn(self.unit), TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
            self._bar = Progress(*columns, console=self.console, transient=self.total is not None)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.text or self.label, total=self.total)
        else:
            self._line(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]
        elif exc[0] is None:
            self._line(force=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
        else:
            self._line(force=self.total is not None and self.done >= self.total)

    def update(self, text: str) -> None:
        self.text = text
        if self._bar is not None:
            self._bar.update(self._task, description=text)
        else:
            self._line()

    def _line(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        count = f" {self.done}/{self.total} {self.unit}".rstrip() if self.total is not None else ""
        text = f" {self.text}" if self.text else ""
        line = f"{self.label}:{count}{text}"
        if line != self._printed:
            self._last, self._printed = now, line
            self.console.print(line, markup=False, highlight=False)


def run_cli(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run ``app``; Ctrl-C anywhere (even between commands' own handlers) exits 130."""
    try:
        app(args=argv)
    except KeyboardInterrupt:
        print_error("interrupted (Ctrl-C)")
        sys.exit(EXIT_INTERRUPTED)


# --- machine-readable output (--json) -------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON values: dates as ISO text, NaN/inf as null, enums as their value."""
    import math
    from datetime import date, datetime
    from enum import Enum

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout (nothing else is printed there with --json)."""
    import json

    typer.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))
