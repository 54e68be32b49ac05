"""`optrunner strategies import|export|list|enable|disable|remove --store URL` (registered in cli_app.py).

The ``strategy_configurations`` table as the source of truth for ``--strategies db``. Seed
004's scripts are subcommands: ``db_seed_ml_strategies.py --files A B`` is
``strategies import A B``; ``db_remove_old_strategies.py --mode deactivate|delete`` is
``strategies remove --legacy --mode deactivate|delete``. Every file is validated before any
row is written: one bad file writes nothing and lists its problems with their JSON paths.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from optrunner.clikit import examples, new_app
from optrunner.config import ConfigError, iter_strategy_files, read_document
from optrunner.core.errors import UserError
from optrunner.live.commands import open_store, store_url
from optrunner.store import Store
from optrunner.strategy_db.rows import (
    checked_document,
    export_document,
    is_file_row,
    set_active,
    write_document,
)

console = Console()
StoreOpt = Annotated[str, typer.Option("--store", help="Store URL: sqlite:///file.sqlite or postgresql+psycopg://...")]
IdsArg = Annotated[list[str] | None, typer.Argument(help="Strategy ids (their files' names).", show_default=False)]

strategies_app = new_app(
    "Strategies in the store's strategy_configurations table (--strategies db; docs/strategies-db.md).",
    epilog=examples(
        "optrunner strategies import examples/configs/NIFTY_DNSS.json --store sqlite:///paper.sqlite",
        "optrunner strategies list --store postgresql+psycopg://postgres@127.0.0.1:5432/paper",
        "optrunner strategies disable NIFTY_DNSS --store sqlite:///paper.sqlite",
        "optrunner strategies export --out my_strategies --store sqlite:///paper.sqlite",
        "optrunner strategies remove --legacy --mode deactivate --store sqlite:///paper.sqlite",
    ),
)


def _store(text: str) -> Store:
    return open_store(text, store_url(text), recover=False)


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(iter_strategy_files(path, on_skip=lambda p, why: console.print(f"skipped {p}: {why}")))
        elif path.is_file():
            out.append(path)
        else:
            raise UserError(f"{path}: no such file or folder")
    if not out:
        raise UserError("no strategy files to import")
    return out


@strategies_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="Strategy files or folders of them.", show_default=False)],
    store_text: StoreOpt,
    disabled: Annotated[bool, typer.Option("--disabled", help="Write the rows inactive (default: each file's enabled).")] = False,
    zerodha: Annotated[bool, typer.Option("--zerodha-trading", help="Set zerodha_trading_enabled (seed 004: route to Zerodha, not paper).")] = False,
) -> None:
    """Validate strategy files and write each as a row (insert or replace by name); all or nothing."""
    docs: list[tuple[Path, dict[str, Any]]] = []
    failed: list[str] = []
    for path in _files(files):
        doc, issues = read_document(path)
        try:
            if issues:
                raise ConfigError(path, issues)
            docs.append((path, checked_document(doc, path.parent, str(path))))
        except ConfigError as exc:
            failed.append(str(exc))
    names = [d["name"] for _, d in docs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        failed.append(f"the same strategy name in several files: {', '.join(twice)} — names must be unique")
    if failed:
        for text in failed:
            console.print(f"[red]✗[/] {text}", markup=True, highlight=False)
        raise UserError(f"{len(failed)} problem(s): nothing written to the store (optrunner validate shows the same)")
    store = _store(store_text)
    try:
        for path, doc in docs:
            row = write_document(store, doc, path.parent, where=str(path), active=False if disabled else None,
                                 zerodha_trading_enabled=zerodha)  # fmt: skip
            console.print(f"{row.id}: {'active' if row.is_active else 'inactive'} ({row.strategy_type}, {path})", highlight=False)
    finally:
        store.close()


@strategies_app.command("export")
def export_command(
    store_text: StoreOpt,
    ids: IdsArg = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write ID.json files into this folder (default: print JSON).", show_default=False)] = None,
) -> None:
    """Rows back to strategy files (enabled = the row's flag): printed, or one file per row in --out."""
    store = _store(store_text)
    try:
        rows = {r.id: r for r in store.all_strategy_configurations()}
    finally:
        store.close()
    unknown = [i for i in ids or [] if i not in rows]
    if unknown:
        raise UserError(f"no strategy {', '.join(map(repr, unknown))} in {store_text} (optrunner strategies list)")
    chosen = [rows[i] for i in ids] if ids else list(rows.values())
    if out is None:
        docs = [export_document(r) for r in chosen]
        typer.echo(json.dumps(docs[0] if ids and len(docs) == 1 else docs, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for r in chosen:
        path = out / f"{r.id}.json"
        path.write_text(json.dumps(export_document(r), indent=2) + "\n", encoding="utf-8")
        console.print(f"{r.id} → {path}", highlight=False)


@strategies_app.command("list")
def list_command(
    store_text: StoreOpt,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row instead of a table.")] = False,
) -> None:
    """Every row: id, strategy, underlying, active, broker, last change."""
    store = _store(store_text)
    try:
        rows = store.all_strategy_configurations()
    finally:
        store.close()
    items = [{"id": r.id, "strategy": r.strategy_type, "instruments": list(r.instruments), "active": r.is_active,
              "broker": "zerodha" if r.zerodha_trading_enabled else "paper",
              "kind": "file" if is_file_row(r) else "composition", "updated_at": r.updated_at.isoformat()} for r in rows]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    t = Table("id", "strategy", "instruments", "active", "broker", "kind", "updated (UTC)")
    for i in items:
        t.add_row(i["id"], i["strategy"], ", ".join(map(str, i["instruments"])), "yes" if i["active"] else "no",
                  i["broker"], i["kind"], i["updated_at"][:19])  # fmt: skip
    console.print(t if items else f"No strategies in {store_text} (add some with optrunner strategies import FILE).")


def _set(store_text: str, ids: list[str] | None, active: bool) -> None:
    if not ids:
        raise UserError("name at least one strategy id (optrunner strategies list)")
    store = _store(store_text)
    try:
        missing = set_active(store, ids, active)
    finally:
        store.close()
    done = [i for i in ids if i not in missing]
    if done:
        console.print(f"{'enabled' if active else 'disabled'}: {', '.join(done)}", highlight=False)
    if missing:
        raise UserError(f"no strategy {', '.join(map(repr, missing))} in {store_text} (optrunner strategies list)")


@strategies_app.command("enable")
def enable_command(store_text: StoreOpt, ids: IdsArg = None) -> None:
    """Mark rows active: a running --strategies db session adds them."""
    _set(store_text, ids, True)


@strategies_app.command("disable")
def disable_command(store_text: StoreOpt, ids: IdsArg = None) -> None:
    """Mark rows inactive: a running session drains and removes them (--on-change)."""
    _set(store_text, ids, False)


class RemoveMode(StrEnum):
    delete = "delete"
    deactivate = "deactivate"


@strategies_app.command("remove")
def remove_command(
    store_text: StoreOpt,
    ids: IdsArg = None,
    legacy: Annotated[bool, typer.Option("--legacy", help="Every row with use_composition false (seed 004's legacy strategies).")] = False,
    mode: Annotated[RemoveMode, typer.Option("--mode", help="delete the rows, or deactivate them (keep, inactive).")] = RemoveMode.delete,
) -> None:
    """Delete rows (or with --mode deactivate, keep them inactive); --legacy picks seed 004's legacy rows."""
    if not ids and not legacy:
        raise UserError("name strategy ids, or --legacy for every row with use_composition false")
    store = _store(store_text)
    try:
        rows = {r.id: r for r in store.all_strategy_configurations()}
        chosen = list(ids or []) + sorted(i for i, r in rows.items() if legacy and not r.use_composition)
        missing = [i for i in chosen if i not in rows]
        if missing:
            raise UserError(f"no strategy {', '.join(map(repr, missing))} in {store_text} (optrunner strategies list)")
        if mode is RemoveMode.deactivate:
            set_active(store, chosen, False)
        else:
            for i in chosen:
                store.delete_strategy_configuration(i)
    finally:
        store.close()
    what = "deactivated" if mode is RemoveMode.deactivate else "deleted"
    console.print(f"{what}: {', '.join(chosen) if chosen else 'nothing (no legacy rows)'}", highlight=False)
