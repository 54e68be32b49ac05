"""A small paper session for the service's tests: one synthetic NIFTY day and a DNSS that
opens two short legs at 09:20 and adjusts on a small delta drift (so it trades all day)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from optrunner.core.timeutil import to_ist
from optrunner.data.synthetic import generate

DAY = date(2026, 11, 16)
STRATEGY = "SVC"
TOKEN = "service-test-token-0123456789"


class Frames:
    """The messages of a ``/ws`` connection one at a time, whatever the client library:
    ``recv`` returns one frame's text, a JSON array of messages in ``seq`` order
    (docs/service.md). ``frames`` counts the frames read, ``sizes`` their message counts."""

    def __init__(self, recv: Callable[[], str]) -> None:
        self._recv = recv
        self._pending: deque[dict[str, Any]] = deque()
        self.frames = 0
        self.sizes: list[int] = []

    def next(self) -> dict[str, Any]:
        while not self._pending:
            frame = json.loads(self._recv())
            assert isinstance(frame, list) and frame, f"a frame is a non-empty JSON array: {frame!r:.200}"
            self.frames += 1
            self.sizes.append(len(frame))
            self._pending.extend(frame)
        return self._pending.popleft()


def hourly_ohlc(spots: list[tuple[datetime, float]]) -> list[tuple[float, float, float, float]]:
    """Hourly (open, high, low, close) from 09:15 IST of (time, spot) pairs in time order, worked
    out here by hand: what the spot chart must show for a feed that sent these spots."""
    out: dict[int, list[float]] = {}
    for ts, spot in spots:
        t = to_ist(ts)
        minute = t.hour * 60 + t.minute - (9 * 60 + 15)
        if 0 <= minute < 375:
            out.setdefault(minute // 60, []).append(spot)
    return [(v[0], max(v), min(v), v[-1]) for _, v in sorted(out.items())]


def strategy_config(catalog: Path) -> dict:
    return {
        "name": STRATEGY, "enabled": True, "strategy": "dnss",
        "market_config": {"market_type": "database_market", "exchange": "NFO", "symbol": "NIFTY",
                          "db_path": str(catalog)},
        "entry": {"entry_time": "09:20", "target_ce_delta": 0.25, "target_pe_delta": 0.25,
                  "delta_tolerance": 0.05, "quantity": 1, "max_attempts": 3},
        "adjustment": {"enabled": True, "delta_drift_trigger": 0.1, "cooldown_seconds": 60,
                       "max_adjustments_per_day": 20, "max_leg_delta": 0.65},
        "exit": {"exit_time": "15:15", "time_exit_override": True},
    }  # fmt: skip


def make_case(root: Path) -> tuple[Path, Path]:
    """(catalog folder, strategy folder) under ``root``."""
    catalog = root / "catalog"
    generate("NIFTY", DAY, DAY, seed=11, out=catalog, strikes_each_side=10, progress=False)
    configs = root / "configs"
    configs.mkdir()
    (configs / f"{STRATEGY}.json").write_text(json.dumps(strategy_config(catalog)))
    return catalog, configs


class DrivenService:
    """A service over a real paper session whose replay the test drives (``step``) instead
    of a thread, with its app (TestClient it)."""

    def __init__(self, catalog: Path, configs: Path, tmp: Path, *, positions_every: float = 0.05,
                 **session: object) -> None:  # fmt: skip
        from optrunner.api import create_app
        from optrunner.backtest.engine import merged_snapshots
        from optrunner.live.commands import open_paper_session
        from optrunner.live.service import TradingService

        files = [] if session.get("strategies") == "db" else [configs]
        s = open_paper_session(files, catalog, DAY.isoformat(), f"sqlite:///{tmp / 'store.sqlite'}",
                               **session)  # type: ignore[arg-type]
        self.session = s
        self.snaps = iter(merged_snapshots(s.catalog, s.symbols, s.day, s.day))
        if s.node.resume_after is not None:  # resumed: skip what the checkpoint covers
            self.snaps = (x for x in self.snaps if x.ts > s.node.resume_after)
        self.service = TradingService(s.node, [], quality=s.catalog.quality, catalog=s.catalog,
                                      config_dir=configs, symbols=s.symbols,
                                      on_change=str(session.get("on_change", "drain")))  # fmt: skip
        self.app = create_app(self.service, TOKEN, start_service=False, positions_every=positions_every)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.service.node.process(next(self.snaps))
            self.service.last_input_wall = 0.0

    def until_open(self, limit: int = 60) -> None:
        for _ in range(limit):
            self.step()
            if self.service.kernel.portfolio.positions():
                return
        raise AssertionError("the strategy never opened a position")
