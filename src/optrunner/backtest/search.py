"""``optrunner sweep --search random|tpe --trials N``: an Optuna search instead of the full grid,
with a walk-forward check.

The grid's axes become the search space (each axis a categorical choice among its values).
The trading days in range are split in time: the first part is **in-sample**, where the
search runs and ranks its trials by the metric; the last ``oos_fraction`` is
**out-of-sample**, where the best distinct parameter sets are run once more, untouched by the
search. ``search.csv`` shows both side by side, so a set that only fits the in-sample days
shows up as a collapse out of sample (freqtrade's hyperopt users expect the search; the split
is what keeps it honest).

Trials run in batches of ``workers`` on the same runner as the grid (local pool or Dask);
Optuna is told each batch's results before it proposes the next. A trial that repeats a
parameter set already run reuses its result. Optuna is an optional extra
(``pip install 'optrunner[search]'``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from optrunner.backtest.sweep import (
    ASCENDING,
    REPORTED,
    GridAxis,
    SweepJob,
    rank,
    run_combinations,
    sweep_document,
)
from optrunner.data.catalog import Catalog

SEARCHES = ("random", "tpe")
SHOWN = ("net_pnl", "trades", "max_drawdown")  # reported for both halves next to the metric


@dataclasses.dataclass(frozen=True, slots=True)
class SearchResult:
    rows: list[dict[str, Any]]  # one per distinct parameter set, ranked by the in-sample metric
    in_sample: tuple[date, date]
    out_of_sample: tuple[date, date]
    trials: int


def split_days(job: SweepJob, symbol: str, oos_fraction: float) -> tuple[tuple[date, date], tuple[date, date]]:
    """(first, last) in-sample and out-of-sample days: the last ``oos_fraction`` of the days."""
    if not 0 < oos_fraction < 1:
        raise ValueError(f"--oos {oos_fraction}: give a fraction between 0 and 1, e.g. 0.3")
    days = [d for d in Catalog(job.data).dates(symbol)
            if (job.start is None or d >= job.start) and (job.end is None or d <= job.end)]  # fmt: skip
    cut = len(days) - math.ceil(len(days) * oos_fraction)
    if cut < 1 or cut >= len(days):
        raise ValueError(f"{len(days)} trading day(s) in range: too few to split into in-sample and "
                         f"out-of-sample at --oos {oos_fraction}")  # fmt: skip
    return (days[0], days[cut - 1]), (days[cut], days[-1])


def _sampler(search: str, seed: int | None) -> Any:
    try:
        import optuna
    except ImportError:
        raise ValueError("--search needs Optuna: pip install 'optrunner[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"--search {search!r}: choose one of {', '.join(SEARCHES)}")


def _key(params: dict[str, Any]) -> str:
    return repr(sorted(params.items()))


def search(
    job: SweepJob, axes: Sequence[GridAxis], *, search: str = "tpe", trials: int = 20, metric: str = "sharpe",
    oos_fraction: float = 0.3, top: int = 5, workers: int | None = None, dask: str | None = None,
    seed: int | None = 0, on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:  # fmt: skip
    """Search the axes' values on the in-sample days, then run the ``top`` best distinct sets
    out of sample; see the module docstring."""
    import optuna

    if metric not in REPORTED:
        raise ValueError(f"--metric {metric!r}: choose one of {', '.join(REPORTED)}")
    if trials < 1:
        raise ValueError(f"--trials {trials}: give at least 1")
    sampler = _sampler(search, seed)
    doc, symbols = sweep_document(job)
    ins, oos = split_days(job, symbols[0], oos_fraction)
    in_job = dataclasses.replace(job, start=ins[0], end=ins[1])
    direction = "minimize" if metric in ASCENDING else "maximize"
    study = optuna.create_study(direction=direction, sampler=sampler)
    choices = {a.path: list(a.values) for a in axes}
    batch = max(1, workers or os.cpu_count() or 1)
    seen: dict[str, dict[str, Any]] = {}
    done = 0
    while done < trials:
        asked = [study.ask() for _ in range(min(batch, trials - done))]
        params = [{p: t.suggest_categorical(p, vals) for p, vals in choices.items()} for t in asked]
        new = [p for i, p in enumerate(params) if _key(p) not in seen and _key(p) not in map(_key, params[:i])]
        for row in run_combinations(in_job, symbols, new, doc, workers=workers, dask=dask, first=len(seen) + 1):
            seen[_key({a: row[a] for a in choices})] = row
            if on_result:
                on_result(row)
        for t, p in zip(asked, params, strict=True):
            row = seen[_key(p)]
            value = row.get(metric)
            if row.get("error") or value is None or (isinstance(value, float) and not math.isfinite(value)):
                study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(t, float(value))
        done += len(asked)
    ranked = rank(list(seen.values()), metric)
    best = [r for r in ranked if not r.get("error")][:top]
    oos_job = dataclasses.replace(job, start=oos[0], end=oos[1])
    combos = [{a: r[a] for a in choices} for r in best]
    oos_rows = {_key({a: r[a] for a in choices}): r
                for r in run_combinations(oos_job, symbols, combos, doc, workers=workers, dask=dask)}  # fmt: skip
    rows = []
    for r in ranked:
        out = {"rank": r["rank"], **{a: r[a] for a in choices}, "error": r.get("error", "")}
        for k in dict.fromkeys((metric, *SHOWN)):
            out[f"is_{k}"] = r.get(k)
        o = oos_rows.get(_key({a: r[a] for a in choices}))
        for k in dict.fromkeys((metric, *SHOWN)):
            out[f"oos_{k}"] = None if o is None else o.get(k)
        if o is not None and o.get("error"):
            out["error"] = f"out of sample: {o['error']}"
        rows.append(out)
    return SearchResult(rows, ins, oos, trials)


def write_search_csv(result: SearchResult, out: Any) -> Any:
    """search.csv: one row per distinct parameter set, in-sample and out-of-sample columns."""
    import csv
    import io
    from pathlib import Path

    from optrunner.backtest.outputs import write_text_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "search.csv"
    fields = list(result.rows[0]) if result.rows else ["rank", "error"]
    buffer = io.StringIO(newline="")
    w = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(result.rows)
    write_text_atomic(path, buffer.getvalue())
    return path
