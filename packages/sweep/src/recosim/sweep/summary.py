"""Mean and standard error of every numeric metric in every cell of a sweep.

The standard error is the sample standard deviation (``ddof=1``) over the square
root of the number of runs; with a single run it is undefined and reported as NaN.
Failed runs are counted, never averaged.

>>> mean_and_stderr([1.0, 2.0, 3.0])
(3, 2.0, 0.5773502691896258)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from recosim.sweep.plan import SweepPlan, option_name

__all__ = ["mean_and_stderr", "numeric_metrics", "summarise", "format_summary", "tidy_metrics"]

METRIC = "metric."


def mean_and_stderr(values: Iterable[float]) -> tuple[int, float, float]:
    """``(n, mean, standard error)``; NaN for what ``n`` cannot define."""
    xs = np.asarray(list(values), dtype=np.float64)
    n = int(xs.size)
    if n == 0:
        return 0, math.nan, math.nan
    stderr = float(xs.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return n, float(xs.mean()), stderr


def numeric_metrics(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names (without ``metric.``) of metrics whose values are all numbers (or booleans)."""
    kinds: dict[str, bool] = {}
    for row in rows:
        for key, value in row.items():
            if not key.startswith(METRIC) or value is None:
                continue
            ok = isinstance(value, bool | int | float)
            kinds[key] = kinds.get(key, True) and ok
    return sorted(k[len(METRIC):] for k, ok in kinds.items() if ok)


def tidy_metrics(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with each metric split by a label across runs joined into one column.

    A use case's summary often keys an entry by a setting (``policies.L=0.6.mean``
    for a boost cap of 0.6). Across a sweep that gives one column per setting,
    empty in every other cell. Metric columns ``A.<label>.B`` that share their first
    and last parts and are never set in the same row are one quantity: they become
    ``A.B`` (``policies.mean``), the label being the run's settings already in the
    row. Columns that some row sets together stay as they are.

    >>> rows = [{"metric.p.L=0.mean": 1.0}, {"metric.p.L=0.6.mean": 2.0}]
    >>> tidy_metrics(rows)
    [{'metric.p.mean': 1.0}, {'metric.p.mean': 2.0}]
    """
    groups: dict[tuple[str, str], set[str]] = {}
    existing: set[str] = set()
    for row in rows:
        for key in row:
            if not key.startswith(METRIC):
                continue
            existing.add(key)
            parts = key[len(METRIC):].split(".")
            if len(parts) >= 3:
                groups.setdefault((parts[0], parts[-1]), set()).add(key)
    rename: dict[str, str] = {}
    for (first, last), members in groups.items():
        joined = f"{METRIC}{first}.{last}"
        if len(members) < 2 or joined in existing:
            continue
        if any(sum(row.get(m) is not None for m in members) > 1 for row in rows):
            continue
        rename.update({m: joined for m in members})
    if not rename:
        return [dict(row) for row in rows]
    tidy = []
    for row in rows:
        out: dict[str, Any] = {}
        for key, value in row.items():
            name = rename.get(key, key)
            if name in out and value is None:
                continue
            out[name] = value
        tidy.append(out)
    return tidy


def summarise(plan: SweepPlan, rows: Mapping[str, Mapping[str, Any]]) -> pa.Table:
    """One row per cell: its grid settings, runs planned/ok/failed, and per metric mean, stderr, n.

    ``rows`` maps task ids to result rows (tasks of ``plan`` without a row are pending).
    """
    by_cell: dict[int, list[Mapping[str, Any]]] = {i: [] for i in range(len(plan.cells))}
    planned = [0] * len(plan.cells)
    ids = [t.id for t in plan.tasks if t.id in rows]
    tidy = dict(zip(ids, tidy_metrics([rows[i] for i in ids])))
    for task in plan.tasks:
        planned[task.cell] += 1
        if task.id in tidy:
            by_cell[task.cell].append(tidy[task.id])
    metrics = numeric_metrics(r for cell_rows in by_cell.values() for r in cell_rows)
    types = plan.setting_types()
    columns: dict[str, list[Any]] = {name: [cell[name] for cell in plan.cells] for name in plan.grid}
    columns["runs"] = planned
    columns["ok"] = [sum(r["status"] == "ok" for r in by_cell[i]) for i in range(len(plan.cells))]
    columns["failed"] = [sum(r["status"] != "ok" for r in by_cell[i]) for i in range(len(plan.cells))]
    for metric in metrics:
        key = METRIC + metric
        stats = [
            mean_and_stderr(float(r[key]) for r in by_cell[i] if r["status"] == "ok" and r.get(key) is not None)
            for i in range(len(plan.cells))
        ]
        columns[f"{metric}.mean"] = [s[1] for s in stats]
        columns[f"{metric}.stderr"] = [s[2] for s in stats]
        columns[f"{metric}.n"] = [s[0] for s in stats]
    arrow = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    return pa.table(
        {
            name: pa.array(values, type=arrow.get(types.get(name, float)) if name in plan.grid else None)
            for name, values in columns.items()
        }
    )


def format_summary(summary: pa.Table, grid: Sequence[str], metrics: Sequence[str] | None = None) -> str:
    """A plain-text table of the summary: settings, runs, and ``mean ± stderr`` per metric."""
    names = [c[: -len(".mean")] for c in summary.column_names if c.endswith(".mean")]
    shown = [m for m in (metrics or names) if m in names][: 4 if metrics is None else None]
    header = [option_name(g) for g in grid] + ["ok/runs", *shown]
    data = summary.to_pylist()
    lines = [header]
    for row in data:
        cells = [str(row[g]) for g in grid] + [f"{row['ok']}/{row['runs']}" + (f" ({row['failed']} failed)"
                                                                                if row["failed"] else "")]
        for m in shown:
            mean, se = row[f"{m}.mean"], row[f"{m}.stderr"]
            cells.append("-" if mean is None or math.isnan(mean) else
                         f"{mean:.4g}" + ("" if se is None or math.isnan(se) else f" ± {se:.2g}"))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    hidden = len(names) - len(shown)
    if hidden > 0 and metrics is None:
        text.append(f"(and {hidden} more metric{'s' * (hidden != 1)} in the summary file)")
    return "\n".join(text)
