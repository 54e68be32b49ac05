"""Reliability tests share the hand-computable DNSS chain of tests/unit/_dnss_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

_UNIT = str(Path(__file__).resolve().parent.parent / "unit")
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)
