"""Waiting for something another thread or process does (a fake's socket, a feed's chain)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait(cond: Callable[[], bool], timeout: float = 5.0, every: float = 0.01) -> bool:
    """Poll ``cond`` until it holds (True) or ``timeout`` seconds pass (its last answer)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    return bool(cond())
