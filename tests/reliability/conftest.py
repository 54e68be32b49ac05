"""Reliability tests share the hand-computable DNSS chain of tests/unit/_dnss_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optrunner.core.invariants import check_invariants

_UNIT = str(Path(__file__).resolve().parent.parent / "unit")
if _UNIT not in sys.path:
    sys.path.insert(0, _UNIT)


@pytest.fixture
def invariants():
    """``invariants(kernel)`` fails the test with every violated invariant (core/invariants.py)."""

    def check(kernel, **kw):
        found = [str(v) for v in check_invariants(kernel, **kw)]
        assert found == [], "invariants violated:\n  " + "\n  ".join(found)

    return check
