"""Output folders that are either the old run or the new one, never a mix of both.

A backtest writes a dozen files; Ctrl-C or a crash halfway used to leave a folder with a
new summary next to an old report. Everything is now written into a hidden sibling folder
and renamed into place only when complete, so a reader either sees the previous run, or
the new run whole. ``--out`` is checked first: a file, or a folder holding something other
than an earlier run, is refused instead of being replaced.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from optrunner.core.errors import UserError


def check_out(out: Path, marker: str) -> None:
    """Refuse an ``--out`` that is a file, or a folder that is neither empty nor an earlier run."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder name (it is created if missing)")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise UserError(
            f"--out {out} already holds files that are not an optrunner run (no {marker}); "
            "choose a new or empty folder so nothing of yours is replaced"
        )


@contextmanager
def atomic_folder(out: Path, marker: str = "summary.json") -> Iterator[Path]:
    """Yield a temporary folder to write into; on success it replaces ``out`` in one rename.

    On any exception (including Ctrl-C) the temporary folder is removed and ``out`` is
    left exactly as it was.
    """
    check_out(out, marker)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / marker).is_file():
            raise RuntimeError(f"run folder without {marker}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(tmp, out)


def publish(tmp: Path, out: Path) -> None:
    """Swap a finished folder into place: the old run is moved aside, then deleted."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file under a temporary name and rename it, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
