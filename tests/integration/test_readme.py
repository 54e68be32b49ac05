"""The README as a new user meets it: its five-minute block and Python example run as written.

The shell block is taken from README.md verbatim and run with bash in a fresh folder holding
only what a clone has (examples/), with ``.venv/bin/optrunner`` standing for the installed
command; then the Python example runs in the same folder. When the README changes, this
test runs the new text, so the instructions cannot rot again.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(heading: str, language: str) -> str:
    section = README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", section, flags=re.S)
    assert match, f"no {language} block under '## {heading}'"
    return match.group(1)


@pytest.fixture
def clone(tmp_path) -> Path:
    """A folder with what a fresh clone offers a user: examples/ and an installed command."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    command = tmp_path / ".venv" / "bin" / "optrunner"
    command.parent.mkdir(parents=True)
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m optrunner.cli "$@"\n')
    command.chmod(command.stat().st_mode | stat.S_IEXEC)
    return tmp_path


@pytest.mark.slow
def test_the_five_minute_block_and_the_python_example_run_as_written(clone):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"}
    env.pop("OPTRUNNER_DEBUG", None)
    script = _block("Your own strategy in five minutes", "bash")
    shell = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=clone, env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    output = shell.stdout + shell.stderr
    assert shell.returncode == 0, output
    assert "Traceback" not in output
    summary = json.loads((clone / "runs" / "q1" / "summary.json").read_text())
    assert summary["days"] == 2 and summary["settings"]["fills"]["slippage"] == "1t"
    assert (clone / "runs" / "q1" / "report.html").is_file()
    rows = list(csv.DictReader((clone / "runs" / "sweep" / "sweep.csv").open()))
    assert len(rows) == 6 and not any(r["error"] for r in rows)

    python = subprocess.run([sys.executable, "-c", _block("Python API", "python")], cwd=clone, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert python.returncode == 0, python.stdout + python.stderr
    assert "NIFTY_DNSS ENTRY SELL" in python.stdout  # the bot received the strangle's legs
    assert "STRATEGY RUNNER METRICS" in python.stdout
    assert re.search(r"^\d+\.0 2026-01-06 [\d.]+ PE$", python.stdout, flags=re.M), python.stdout


def test_readme_links_stay_inside_the_repository():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" in target:
            continue
        path = (ROOT / target).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
