"""``python -m optrunner.bus feed|strategies|risk|gateway ...``: the same commands as
``optrunner service ...`` without loading the rest of the command tree (the API server,
the dashboard), so a service container starts in about half the time."""

from optrunner.bus.commands import service_app
from optrunner.clikit import run_cli

if __name__ == "__main__":
    run_cli(service_app)
