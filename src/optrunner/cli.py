"""The `optrunner` command. Sub-commands live next to the code they drive and register here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="optrunner",
    help="Options strategies on Indian F&O: backtest, paper and live with one code path.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """optrunner — run `optrunner COMMAND --help` for a command's options."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
