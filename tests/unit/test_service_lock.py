"""The service's lock for API threads: the replay hands the kernel's lock to a waiting request
between two inputs, instead of taking it back before the request thread runs (CPython locks
are not fair; a full-speed replay starved the API for seconds)."""

from __future__ import annotations

import threading
import time

from optrunner.backtest.engine import merged_snapshots
from optrunner.live.commands import open_paper_session
from optrunner.live.service import HANDOFF_SECONDS, TradingService
from service_cases import DAY, make_case


def _service(tmp_path) -> TradingService:
    catalog, configs = make_case(tmp_path)
    s = open_paper_session([configs], catalog, DAY.isoformat(), f"sqlite:///{tmp_path / 'store.sqlite'}")
    return TradingService(s.node, merged_snapshots(s.catalog, s.symbols, s.day, s.day))


def test_a_waiting_api_thread_gets_the_lock_before_the_next_input(tmp_path) -> None:
    service = _service(tmp_path)
    kernel_lock = service.kernel.lock
    got_it, release = threading.Event(), threading.Event()

    def request() -> None:
        with service.lock:  # as every API read and action does
            got_it.set()
            release.wait(5)

    kernel_lock.acquire()  # the replay in the middle of an input
    reader = threading.Thread(target=request)
    reader.start()
    deadline = time.monotonic() + 5
    while not service.lock.waiting and time.monotonic() < deadline:
        time.sleep(0.001)
    assert service.lock.waiting == 1 and not got_it.is_set()
    kernel_lock.release()  # the input is done
    service._after_input(service.node)  # what the replay thread runs between two inputs
    try:
        assert got_it.is_set()  # handed over before the replay went on
        assert not kernel_lock.acquire(blocking=False)  # the next input waits for the request
    finally:
        release.set()
        reader.join(5)
    assert service.lock.waiting == 0
    assert kernel_lock.acquire(blocking=False)
    kernel_lock.release()
    service.stop()


def test_the_replay_does_not_wait_without_waiting_threads(tmp_path) -> None:
    service = _service(tmp_path)
    started = time.monotonic()
    for _ in range(100):
        service._after_input(service.node)
    assert time.monotonic() - started < HANDOFF_SECONDS  # no handoff wait at all
    service.stop()
