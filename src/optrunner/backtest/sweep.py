"""Parameter sweeps: every combination of a grid over one strategy file, ranked by a metric.

Runs fan out over a local process pool, or a Dask cluster (``dask=``, sweep_dask.py). Each run streams its days from the catalog, a day
read ahead in the background, exactly as a single backtest does: a worker holds one day, not
the range (holding a year took ~10 GB per worker), and reading overlaps the simulation, so a
run costs about what one backtest costs. Each combination is validated like a hand-written
file: an invalid one is reported in ``sweep.csv`` with its error, not run.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import math
import os
import re
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from optrunner.backtest.engine import BacktestSpec, run_backtest, run_backtests
from optrunner.backtest.outputs import write_text_atomic
from optrunner.config import read_document, validate_config
from optrunner.data.catalog import Catalog
from optrunner.execution.brokers.simulated import SimConfig
from optrunner.risk import RiskSettings

SHARE = 4  # combinations per task sharing one pass over the data (memory grows with it)
# Metrics where smaller is better; everything else is ranked high-to-low.
ASCENDING = {"max_drawdown", "max_drawdown_pct"}
REPORTED = (
    "net_pnl", "return_pct", "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_pct",
    "win_rate", "profit_factor", "expectancy", "trades", "adjustments", "charges",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GridAxis:
    path: str  # dotted, e.g. "entry.target_ce_delta"
    values: tuple[Any, ...]


def parse_grid(specs: Sequence[str]) -> list[GridAxis]:
    """``section.key=v1,v2,...`` -> axes. Values are parsed as JSON where they can be (numbers, true)."""
    import json

    axes = []
    for spec in specs:
        path, sep, raw = spec.partition("=")
        if not sep or not path.strip() or not raw.strip():
            raise ValueError(f"--grid {spec!r}: write it as section.key=v1,v2 (e.g. entry.target_ce_delta=0.2,0.25 "
                             "or legs[0].stop_loss_pct=20,25,30)")
        values = []
        for text in raw.split(","):
            try:
                values.append(json.loads(text))
            except json.JSONDecodeError:
                values.append(text.strip())
        axes.append(GridAxis(path.strip(), tuple(values)))
    return axes


def combinations(axes: Sequence[GridAxis]) -> list[dict[str, Any]]:
    return [dict(zip([a.path for a in axes], combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))]


_SEGMENT = re.compile(r"^([A-Za-z_]\w*)((?:\[\d+\])*)$")


def path_steps(path: str) -> list[str | int]:
    """``legs[0].strike.steps`` -> ["legs", 0, "strike", "steps"]: keys, and list positions in brackets."""
    steps: list[str | int] = []
    for part in path.split("."):
        m = _SEGMENT.match(part.strip())
        if not m:
            raise ValueError(f"--grid {path}: {part!r} is not a key or key[index] (e.g. legs[0].stop_loss_pct)")
        steps.append(m[1])
        steps += [int(i) for i in re.findall(r"\[(\d+)\]", m[2])]
    return steps


def apply(doc: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with each dotted path set to its value; a section missing on the way is created, a list
    position (``legs[1]``) must exist already."""
    out = copy.deepcopy(doc)
    for path, value in params.items():
        node: Any = out
        *parents, leaf = path_steps(path)
        for i, key in enumerate(parents):
            where = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in parents[: i + 1]).lstrip(".")
            if isinstance(key, int):
                if not isinstance(node, list) or key >= len(node):
                    size = f"has {len(node)} item(s)" if isinstance(node, list) else "is not a list"
                    raise ValueError(f"--grid {path}: {where} is not in the file ({where.rpartition('[')[0]} {size})")
                node = node[key]
            else:
                if not isinstance(node, dict):
                    raise ValueError(f"--grid {path}: {where} is not a section of the strategy file")
                if isinstance(parents[i + 1] if i + 1 < len(parents) else leaf, int) and key not in node:
                    raise ValueError(f"--grid {path}: the file has no {where} list to index")
                node = node.setdefault(key, {})
        if isinstance(leaf, int):
            if not isinstance(node, list) or leaf >= len(node):
                raise ValueError(f"--grid {path}: position {leaf} is not in the list")
            node[leaf] = value
        elif not isinstance(node, dict):
            raise ValueError(f"--grid {path}: {'.'.join(map(str, parents))} is not a section of the strategy file")
        else:
            node[leaf] = value
    return out


@dataclass(frozen=True, slots=True)
class SweepJob:
    config_path: Path
    data: Path
    start: date | None
    end: date | None
    capital: float
    sim: SimConfig
    risk_free: float
    risk: RiskSettings = field(default_factory=RiskSettings)
    charges: Any = None  # ChargesSettings from the account file (None: the packaged table)


# --- worker side ----------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(job: SweepJob, symbols: list[str], ignore_sigint: bool = False) -> None:
    """Check the data once per worker. A failure is kept and reported by every run of this
    worker (a raising initializer would print a traceback per worker and break the pool).

    Pool workers ignore Ctrl-C (``ignore_sigint``): the terminal sends SIGINT to the whole
    process group, and only the parent should answer it, with one line."""
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.clear()
    _WORKER["job"] = job
    try:
        catalog = Catalog(job.data)
        missing = [s for s in symbols if not catalog.dates(s)]
        if missing:
            raise ValueError(f"catalog {job.data} has no data for {', '.join(missing)}")
        _WORKER["charges"] = _charges(job)
    except Exception as exc:
        _WORKER["error"] = f"{type(exc).__name__}: {exc}"


def _charges(job: SweepJob) -> Any:
    if job.charges is None:
        return None
    from optrunner.portfolio.charges import ChargeSchedule

    c = job.charges
    return ChargeSchedule.load(c.file, broker=c.broker, gst_on_ipft=c.gst_on_ipft)


def _run_group(first: int, combos: list[dict[str, Any]], doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in _WORKER:
        return [{"run": i, **params, "error": _WORKER["error"]} for i, params in enumerate(combos, first)]
    job: SweepJob = _WORKER["job"]
    return run_group(first, combos, doc, job, _WORKER.get("charges"))


def _prepare(index: int, params: dict[str, Any], doc: dict[str, Any], job: SweepJob,
             charges: Any) -> tuple[dict[str, Any], BacktestSpec | None]:  # fmt: skip
    """The row and the spec of one combination; no spec (and the row's error) when invalid."""
    row: dict[str, Any] = {"run": index, **params}
    config, issues = validate_config(apply(doc, params), job.config_path.parent)
    if config is None:
        row["error"] = "; ".join(str(i) for i in issues)
        return row, None
    spec = BacktestSpec([config], job.data, job.start, job.end, job.capital, job.sim, risk=job.risk,
                        risk_free=job.risk_free, charges=charges)  # fmt: skip
    return row, spec


def _filled(row: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    row.update({k: summary.get(k) for k in REPORTED})
    row["error"] = ""
    return row


def run_combination(
    index: int, params: dict[str, Any], doc: dict[str, Any], job: SweepJob, charges: Any = None
) -> dict[str, Any]:
    """One combination, alone: its row (metrics, or the error that stopped it)."""
    row, spec = _prepare(index, params, doc, job, charges)
    if spec is None:
        return row
    try:
        return _filled(row, run_backtest(spec).summary)
    except Exception as exc:  # one bad combination must not sink the sweep
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row


def run_group(
    first: int, combos: list[dict[str, Any]], doc: dict[str, Any], job: SweepJob, charges: Any = None
) -> list[dict[str, Any]]:
    """Several combinations (numbered from ``first``) on one pass over the data
    (``engine.run_backtests``: ~0.55x the cost of running them one by one). If the shared run
    fails, each runs alone, so one bad combination only fails itself."""
    prepared = [(*_prepare(i, params, doc, job, charges), params) for i, params in enumerate(combos, first)]
    runnable = [(row, spec, params) for row, spec, params in prepared if spec is not None]
    if len(runnable) == 1:
        row, _, params = runnable[0]
        row.update(run_combination(row["run"], params, doc, job, charges))
    elif runnable:
        try:
            results = run_backtests([spec for _, spec, _ in runnable])
        except Exception:  # find the culprit: each alone
            return [run_combination(row["run"], params, doc, job, charges) if spec is not None else row
                    for row, spec, params in prepared]  # fmt: skip
        for (row, _, _), result in zip(runnable, results, strict=True):
            _filled(row, result.summary)
    return [row for row, _, _ in prepared]


def groups(combos: Sequence[dict[str, Any]], workers: int, share: int, first: int = 1) -> list[tuple[int, list[dict[str, Any]]]]:
    """Combinations cut into (first index, group) of at most ``share`` each, and small enough
    that every worker gets one when there are fewer than ``workers`` x ``share``."""
    size = max(1, min(share, math.ceil(len(combos) / max(1, workers))))
    return [(first + i, list(combos[i : i + size])) for i in range(0, len(combos), size)]


# --- driver ---------------------------------------------------------------------------------------


def sweep(
    job: SweepJob, axes: Sequence[GridAxis], *, workers: int | None = None, metric: str = "sharpe",
    on_result: Callable[[dict[str, Any]], None] | None = None, dask: str | None = None, share: int = SHARE,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run every combination; rows ranked by ``metric`` (failed runs last).

    ``dask``: a Dask scheduler address (``tcp://host:8786``) or ``local[:N]`` runs the same
    combinations on Dask distributed instead of the local pool (sweep_dask.py)."""
    if metric not in REPORTED:
        raise ValueError(f"--metric {metric!r}: choose one of {', '.join(REPORTED)}")
    doc, symbols = sweep_document(job)
    combos = combinations(axes)
    apply(doc, combos[0])  # a path that does not fit the file fails here, once, not in every worker
    rows = run_combinations(job, symbols, combos, doc, workers=workers, on_result=on_result, dask=dask,
                            share=share)  # fmt: skip
    return rank(rows, metric)


def sweep_document(job: SweepJob) -> tuple[dict[str, Any], list[str]]:
    """The strategy document a sweep varies, checked valid, and the symbols it trades."""
    doc, issues = read_document(job.config_path)
    if issues:
        raise ValueError(f"{job.config_path}: " + "; ".join(str(i) for i in issues))
    base, issues = validate_config(doc, job.config_path.parent)
    if base is None:
        raise ValueError(f"{job.config_path} is not valid: " + "; ".join(str(i) for i in issues))
    return doc, [base.market_config.symbol]


def run_combinations(
    job: SweepJob, symbols: list[str], combos: Sequence[dict[str, Any]], doc: dict[str, Any], *,
    workers: int | None = None, on_result: Callable[[dict[str, Any]], None] | None = None,
    dask: str | None = None, first: int = 1, share: int = SHARE,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per combination (numbered from ``first``), unranked, in completion order: on the
    local pool, in this process (one worker) or on Dask. Up to ``share`` combinations share one
    pass over the data in one task (``run_group``; 1: each alone)."""
    combos = list(combos)
    if not combos:
        return []
    if dask is not None:
        from optrunner.backtest.sweep_dask import run_on_dask

        return run_on_dask(dask, job, symbols, combos, doc, workers=workers, on_result=on_result, first=first,
                           share=share)  # fmt: skip
    workers = max(1, min(workers or os.cpu_count() or 1, len(combos)))
    tasks = groups(combos, workers, share, first)
    workers = min(workers, len(tasks))
    rows: list[dict[str, Any]] = []
    if workers == 1:
        _init_worker(job, symbols)
        for start, group in tasks:
            for row in _run_group(start, group, doc):
                rows.append(row)
                if on_result:
                    on_result(row)
    else:
        pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(job, symbols, True))
        try:
            futures = [pool.submit(_run_group, start, group, doc) for start, group in tasks]
            for fut in as_completed(futures):
                for row in fut.result():
                    rows.append(row)
                    if on_result:
                        on_result(row)
        except BaseException:  # Ctrl-C or a broken pool: stop the workers now, not after their runs
            for process in list(getattr(pool, "_processes", {}).values()):  # no public API before 3.14
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    return rows


def rank(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    sign = 1 if metric in ASCENDING else -1

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row.get(metric)
        if row.get("error") or value is None:
            return (1, 0.0, row["run"])
        return (0, sign * float(value), row["run"])

    ranked = sorted(rows, key=key)
    for i, row in enumerate(ranked, 1):
        row["rank"] = i
    return ranked


def write_csv(rows: list[dict[str, Any]], axes: Sequence[GridAxis], out: Path) -> Path:
    """sweep.csv, written under a temporary name and renamed (never half a file)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.csv"
    fields = ["rank", "run", *(a.path for a in axes), *REPORTED, "error"]
    buffer = io.StringIO(newline="")
    w = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
    return path
