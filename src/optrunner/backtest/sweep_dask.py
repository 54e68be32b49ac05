"""Sweeps on a Dask distributed cluster: the same runs as the local pool, on many machines.

``--dask tcp://scheduler:8786`` connects to a running cluster; ``--dask local`` or
``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes on this machine
(N defaults to ``--workers`` or the CPU count). Each task runs a group of combinations with
exactly the code a local pool worker runs (``sweep.run_group``), so the results are
identical; the ranking happens here, after the last result.

Workers read the catalog themselves, from ``job.data``: that path must name the same
catalog on every worker (a shared filesystem — NFS, a bind mount — or a copy at the same
path). Nothing but the job, the document and the parameters travel over the network.
Dask is an optional extra (``pip install optrunner[dask]``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from optrunner.backtest import sweep as sweep_mod

LOCAL = "local"


def parse_address(text: str) -> tuple[str, int | None]:
    """``local`` / ``local:N`` -> ("local", N or None); ``tcp://host:port`` (or any Dask
    scheduler address with a scheme) -> (address, None). Anything else is a ValueError."""
    text = text.strip()
    if text == LOCAL or text.startswith(LOCAL + ":"):
        count = text[len(LOCAL) + 1 :]
        if not count:
            return LOCAL, None
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask {text!r}: write local:N with N a number of workers >= 1 (e.g. local:2)")
        return LOCAL, int(count)
    if "://" not in text or not text.split("://", 1)[1]:
        raise ValueError(f"--dask {text!r}: give a scheduler address like tcp://scheduler:8786, or local[:N]")
    return text, None


def _client(address: str, workers: int | None) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--dask needs Dask distributed: pip install 'optrunner[dask]'") from None
    where, count = parse_address(address)
    if where == LOCAL:
        import dask

        n = count or workers or os.cpu_count() or 1
        # our own workers run like the local pool's: no statistical profiler (it samples the
        # running task's stack every 10 ms, pure overhead for runs of seconds to minutes), no
        # one-thread caps on Arrow's Parquet reader (Dask sets OMP_NUM_THREADS=1 by default);
        # shutdown chatter silenced
        settings = {"distributed.worker.profile.enabled": False,
                    "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}  # fmt: skip
        with dask.config.set(settings):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.CRITICAL)  # fmt: skip
        return Client(cluster), cluster
    try:
        return Client(where, timeout="5s"), None
    except OSError as exc:
        raise ValueError(f"--dask {address}: cannot reach the scheduler ({exc})") from None


def _dask_task(first: int, combos: list[dict[str, Any]], doc: dict[str, Any], job: sweep_mod.SweepJob,
               symbols: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """A group of combinations on a Dask worker: the worker is set up once per job (the pool's
    initializer: the catalog checked, the charges table loaded), then the same runs."""
    if sweep_mod._WORKER.get("job") != job:
        sweep_mod._init_worker(job, symbols)
    return sweep_mod._run_group(first, combos, doc)


def run_on_dask(
    address: str,
    job: sweep_mod.SweepJob,
    symbols: list[str],
    combos: Sequence[dict[str, Any]],
    doc: dict[str, Any],
    *,
    workers: int | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    first: int = 1,
    share: int = sweep_mod.SHARE,
) -> list[dict[str, Any]]:
    """Every group of combinations (``sweep.groups``) as a Dask task; the unranked rows, in
    completion order."""
    from distributed import as_completed

    client, cluster = _client(address, workers)
    n = len(client.scheduler_info().get("workers", {})) or workers or 1
    rows: list[dict[str, Any]] = []
    tag = uuid.uuid4().hex[:12]  # task keys unique on a cluster shared by several sweeps
    try:
        futures = [
            client.submit(_dask_task, i, group, doc, job, symbols, pure=False, key=f"optrunner-sweep-{tag}-{i}")
            for i, group in sweep_mod.groups(list(combos), n, share, first)
        ]  # fmt: skip
        for fut in as_completed(futures):
            for row in fut.result():
                rows.append(row)
                if on_result:
                    on_result(row)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return rows
