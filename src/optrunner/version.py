"""The code version a run records (``summary.json`` "settings"), so a result can be reproduced."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from optrunner import __version__


@cache
def code_version() -> str:
    """``optrunner.__version__``, plus ``git describe`` when running from a git checkout."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        return __version__
    try:
        described = subprocess.run(
            ["git", "-C", str(checkout), "describe", "--always", "--dirty", "--tags"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__} (git {described})" if described else __version__
