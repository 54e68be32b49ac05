"""The broker's instrument master, downloaded at most once per day and cached on disk.

Instrument masters are large (Kite's full CSV is ~100k rows) and change daily (new weekly
expiries, lot changes), so each is fetched once per IST trading day into
``<cache>/<broker>-<YYYY-MM-DD>.<ext>`` (atomic write) and read from there afterwards; old
days are pruned. Tests point ``fetch`` at a fixture or a fake server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from optrunner.core.timeutil import IST
from optrunner.execution.brokers.live.settings import config_home


def http_download(url: str, timeout: float = 60.0) -> Callable[[], bytes]:
    """A ``fetch`` for the cache: GET ``url`` (httpx, imported here: the live extras bring it)."""

    def fetch() -> bytes:
        import httpx

        r = httpx.get(url, timeout=timeout)
        r.raise_for_status()
        return r.content

    return fetch


class InstrumentMasterCache:
    def __init__(self, broker: str, fetch: Callable[[], bytes], folder: Path | None = None, *, ext: str = "csv",
                 keep_days: int = 3) -> None:  # fmt: skip
        self.broker = broker
        self.fetch = fetch
        self.folder = Path(folder or config_home() / "instruments")
        self.ext = ext
        self.keep_days = keep_days
        self.downloads = 0

    def path(self, day: date) -> Path:
        return self.folder / f"{self.broker}-{day.isoformat()}.{self.ext}"

    def get(self, now: datetime | None = None) -> bytes:
        """Today's master (IST day of ``now``), downloading it when not cached yet."""
        day = (now or datetime.now(IST)).astimezone(IST).date()
        p = self.path(day)
        if p.is_file():
            return p.read_bytes()
        data = self.fetch()
        self.downloads += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
        self._prune(day)
        return data

    def _prune(self, today: date) -> None:
        olds = sorted(self.folder.glob(f"{self.broker}-*.{self.ext}"))
        for old in olds[: max(0, len(olds) - self.keep_days)]:
            if old.name != self.path(today).name:
                old.unlink(missing_ok=True)


__all__ = ["InstrumentMasterCache"]
