"""`optrunner validate` and `optrunner schema` (registered in optrunner/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from optrunner.config.advice import advisories
from optrunner.config.files import SUFFIXES, FileReport, check_file
from optrunner.config.schema import strategy_json_schema


def _expand(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Files to check (folders searched recursively for .json/.yaml/.yml) and paths that do not exist."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def _is_json_schema(report: FileReport) -> bool:
    """A JSON Schema document (e.g. written by `optrunner schema --out`), not a strategy."""
    return (
        isinstance(report.data, dict)
        and "$schema" in report.data
        and "market_config" not in report.data
    )


def _label(report: FileReport) -> str:
    reason = report.not_strategy_reason
    if reason:
        return f" (template — {reason}; not loaded by the runner)"
    if isinstance(report.data, dict) and report.data.get("enabled") is False:
        return " (disabled — not loaded by the runner)"
    return ""


def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Strategy files or folders (searched recursively).")
    ],
) -> None:
    """Check strategy files and list every problem in each; exit code 0 only when all are valid."""
    console = Console(highlight=False, soft_wrap=True)
    files, missing = _expand(paths)
    bad = len(missing)
    schemas = 0
    for path in missing:
        console.print(f"[red]✗[/red] {escape(str(path))}")
        console.print("    no such file or folder")
    for path in files:
        report = check_file(path)
        if report.not_strategy_reason and _is_json_schema(report):
            console.print(
                f"[dim]• {escape(str(path))} (JSON Schema, not a strategy file — not checked)[/dim]"
            )
            schemas += 1
            continue
        if report.config is not None:
            console.print(f"[green]✓[/green] {escape(str(path))}{escape(_label(report))}")
            for note in advisories(report.config):
                console.print(f"    [yellow]warning[/yellow] {escape(str(note))}")
            continue
        bad += 1
        console.print(f"[red]✗[/red] {escape(str(path))}{escape(_label(report))}")
        for issue in report.issues:
            console.print(f"    {escape(str(issue))}")
    if not files and not missing:
        console.print("[red]✗[/red] no .json, .yaml or .yml files found")
        raise typer.Exit(1)
    checked = len(files) + len(missing) - schemas
    colour = "red" if bad else "green"
    console.print(f"[{colour}]{checked - bad} of {checked} valid[/{colour}]")
    if bad:
        raise typer.Exit(1)


def schema(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the schema to this file instead of printing it."),
    ] = None,
) -> None:
    """Print the JSON Schema of a strategy file (for editors and other tools)."""
    text = json.dumps(strategy_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
