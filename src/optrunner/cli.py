"""The `optrunner` command. Sub-commands live next to the code they drive and register here."""

from __future__ import annotations

import typer

from optrunner.backtest import commands as backtest_commands
from optrunner.backtest import report as backtest_report
from optrunner.config import commands as config_commands
from optrunner.data import commands as data_commands
from optrunner.live import feed_server
from optrunner.live import node as live_node
from optrunner.market import commands as market_commands

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


# In the order a new user meets them.
app.command("demo")(backtest_commands.demo_command)
app.command("backtest")(backtest_commands.backtest_command)
app.command("sweep")(backtest_commands.sweep_command)
app.command("report")(backtest_report.report_command)
app.command("run")(live_node.run_command)
app.command("validate")(config_commands.validate)
app.command("schema")(config_commands.schema)
app.add_typer(data_commands.data_app, name="data")
app.command("chain")(data_commands.chain_command)
app.command("find-option")(market_commands.find_option_command)

feed_app = typer.Typer(help="The optrunner WebSocket market feed (docs/feed-protocol.md).", no_args_is_help=True)
feed_app.command("serve")(feed_server.serve_command)
app.add_typer(feed_app, name="feed")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
