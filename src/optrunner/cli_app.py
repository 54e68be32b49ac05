"""The `optrunner` command tree. Sub-commands live next to the code they drive and register here.

Every command shares :mod:`optrunner.clikit`: ``-h``/``--help`` with examples, one
``error:`` line instead of a traceback, and the exit codes 0 ok, 1 run failed, 2 bad input,
130 interrupted.
"""

from __future__ import annotations

from typing import Annotated

import typer

from optrunner.api import commands as api_commands
from optrunner.backtest import commands as backtest_commands
from optrunner.backtest import report as backtest_report
from optrunner.bus import commands as bus_commands
from optrunner.clikit import examples, new_app
from optrunner.config import commands as config_commands
from optrunner.core.errors import EXIT_LABELS
from optrunner.data import commands as data_commands
from optrunner.live import broker_commands, feed_server
from optrunner.live import commands as live_commands
from optrunner.market import commands as market_commands
from optrunner.strategy_db.commands import strategies_app

_CODES = " · ".join(f"{code} {what}" for code, what in EXIT_LABELS.items())

app = new_app(
    "Options strategies on Indian F&O: backtest, paper and live with one code path.",
    name="optrunner",
    epilog=examples("optrunner demo", "optrunner backtest my_strangle.json --data data/q1", "optrunner COMMAND -h")
    + f"\n\n[bold]Exit codes[/bold]  {_CODES}",
)


def _version(value: bool) -> None:
    if value:
        from optrunner.version import code_version

        typer.echo(f"optrunner {code_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Options strategies on Indian F&O: backtest, paper and live with one code path."""


# In the order a new user meets them.
app.command("demo", epilog=examples("optrunner demo", "optrunner demo --out runs/mine"))(
    backtest_commands.demo_command
)
app.command("backtest", epilog=backtest_commands.BACKTEST_EXAMPLES)(backtest_commands.backtest_command)
app.command("sweep", epilog=backtest_commands.SWEEP_EXAMPLES)(backtest_commands.sweep_command)
app.command("report", epilog=examples("optrunner report runs/q1"))(backtest_report.report_command)
app.command("run", epilog=live_commands.RUN_EXAMPLES)(live_commands.run_command)
app.command("serve", epilog=api_commands.SERVE_EXAMPLES)(api_commands.serve_command)
app.command("validate", epilog=examples("optrunner validate examples/configs", "optrunner validate my_strangle.json --json"))(
    config_commands.validate
)
app.command("schema", epilog=examples("optrunner schema --out strategy.schema.json"))(config_commands.schema)
app.add_typer(data_commands.data_app, name="data")
app.add_typer(strategies_app, name="strategies")
app.command("chain", epilog=data_commands.CHAIN_EXAMPLES)(data_commands.chain_command)
app.command("find-option", epilog=market_commands.FIND_EXAMPLES)(market_commands.find_option_command)

feed_app = new_app("The optrunner WebSocket market feed (docs/feed-protocol.md).")
feed_app.command(
    "serve", epilog=examples("optrunner feed serve --data data/demo --symbol NIFTY --date 2026-10-05")
)(feed_server.serve_command)
app.add_typer(feed_app, name="feed")
app.add_typer(broker_commands.broker_app, name="broker")
app.add_typer(bus_commands.service_app, name="service")
