"""`optrunner validate` and `optrunner schema` (registered in optrunner/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from optrunner.clikit import print_json
from optrunner.config.advice import advisories
from optrunner.config.files import SUFFIXES, FileReport, check_file, skip_reason
from optrunner.config.schema import strategy_json_schema
from optrunner.core.errors import EXIT_BAD_INPUT


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
    reason = skip_reason(report.path, report.data)
    if reason:
        return f" (not run: {reason}; backtest, sweep and run skip it in a folder and refuse it by name)"
    return ""


def _json_report(files: list[Path], missing: list[Path]) -> int:
    """Every file's verdict as JSON on stdout; the exit code as without --json."""
    out = [{"path": str(p), "status": "missing", "runnable": False, "issues": [{"path": "(file)", "message": "no such file or folder"}]} for p in missing]  # fmt: skip
    for path in files:
        report = check_file(path)
        if report.not_strategy_reason and _is_json_schema(report):
            out.append({"path": str(path), "status": "schema", "runnable": False, "issues": []})
            continue
        reason = skip_reason(path, report.data)
        out.append({
            "path": str(path), "status": "valid" if report.config is not None else "invalid",
            "runnable": report.config is not None and reason is None, "not_run_because": reason,
            "issues": [{"path": i.path, "message": i.message} for i in report.issues],
            "warnings": [{"path": i.path, "message": i.message} for i in advisories(report.config)] if report.config else [],
        })  # fmt: skip
    print_json({"files": out, "valid": sum(r["status"] == "valid" for r in out),
                "invalid": sum(r["status"] in ("invalid", "missing") for r in out)})  # fmt: skip
    return EXIT_BAD_INPUT if any(r["status"] in ("invalid", "missing") for r in out) or not out else 0


def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Strategy files or folders (searched recursively).", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON.")] = False,
) -> None:
    """Check strategy files and list every problem in each; exit 0 when all are valid, 2 otherwise."""
    console = Console(highlight=False, soft_wrap=True)
    files, missing = _expand(paths)
    if as_json:
        raise typer.Exit(_json_report(files, missing))
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
        raise typer.Exit(EXIT_BAD_INPUT)
    checked = len(files) + len(missing) - schemas
    colour = "red" if bad else "green"
    console.print(f"[{colour}]{checked - bad} of {checked} valid[/{colour}]")
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


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
