"""WAL checkpoints of the SQLite store on a background thread, off the flush path.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back
into the database file (and syncs it) so the WAL can start over. By default SQLite runs it
inside the COMMIT that takes the WAL past ``wal_autocheckpoint`` pages, so every thousand
pages or so one flush of the order manager also pays for copying them: measured on the
order benchmark, a tenth of the store's time per order.

Here the writer's automatic checkpoint is raised to a backstop and a daemon thread runs
``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection after flushes, at most every
``interval`` seconds. A PASSIVE checkpoint never blocks the writer or readers, and sqlite3
releases the GIL while it runs, so it overlaps with the trading loop on another core.
Durability does not change: a commit is durable once it is in the WAL (``synchronous=NORMAL``
keeps it across a process crash), whether or not a checkpoint has copied it yet, and a
checkpoint interrupted by a crash is completed by the next one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from optrunner.store.engine import SQLITE_BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

#: The writer still checkpoints by itself past this many WAL pages (4 KiB each), should the
#: thread fall behind; SQLite's default is 1000.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite database at ``path`` after :meth:`poke`."""

    def __init__(self, path: str, interval: float = 0.05) -> None:
        self._path = path
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint {path}", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """New commits are in the WAL: checkpoint them soon."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the thread to end after any checkpoint in progress (does not wait for it)."""
        self._stop.set()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread and wait for it."""
        self.stop()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        try:
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the writer's backstop checkpoint still runs
                    log.warning("background WAL checkpoint of %s failed: %s", self._path, exc)
                if self._stop.wait(self._interval):
                    return
        finally:
            conn.close()
