"""Plots of a sweep's summary: a line with error bars over a 1-D grid, a heat map over a 2-D grid.

Figures are drawn with matplotlib's object-oriented API on its Agg canvas (no
display, no global pyplot state), one PNG per metric. A metric is plotted only
where it has a value in at least two cells.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from recosim.core.io import write_bytes_atomic
from recosim.sweep.plan import option_name

__all__ = ["plot_summary"]

_MAX_ANNOTATED_CELLS = 100


def _as_numbers(values: Sequence[Any]) -> list[float] | None:
    """The values as numbers if every one is (or reads as) a number, else None."""
    out = []
    for v in values:
        if isinstance(v, bool):
            return None
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            return None
    return out


def _filename(metric: str) -> str:
    return "plot-" + re.sub(r"[^A-Za-z0-9_.=-]+", "_", metric).strip("_") + ".png"


def _line(ax: Any, name: str, xs: list[Any], mean: np.ndarray, se: np.ndarray, metric: str) -> None:
    numbers = _as_numbers(xs)
    if numbers is not None:
        order = np.argsort(numbers)
        pos = np.asarray(numbers)[order]
        ax.set_xticks(pos, [str(xs[i]) for i in order] if len(xs) <= 12 else None)
    else:
        order = np.arange(len(xs))
        pos = order.astype(float)
        ax.set_xticks(pos, [str(x) for x in xs], rotation=30 if max(len(str(x)) for x in xs) > 6 else 0)
    ok = ~np.isnan(mean[order])
    ax.errorbar(pos[ok], mean[order][ok], yerr=np.nan_to_num(se[order][ok]), fmt="o-", capsize=4, lw=1.5, ms=5)
    ax.set_xlabel(option_name(name))
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)


def _heat(fig: Any, ax: Any, names: list[str], rows: list[Any], cols: list[Any],
          mean: np.ndarray, se: np.ndarray, metric: str) -> None:
    image = ax.imshow(mean, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=30 if max(len(str(c)) for c in cols) > 6 else 0)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(option_name(names[1]))
    ax.set_ylabel(option_name(names[0]))
    fig.colorbar(image, ax=ax, label=metric)
    if mean.size <= _MAX_ANNOTATED_CELLS and np.isfinite(mean).any():
        lo, hi = np.nanmin(mean), np.nanmax(mean)
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                if math.isnan(mean[i, j]):
                    continue
                text = f"{mean[i, j]:.3g}" + ("" if math.isnan(se[i, j]) else f"\n±{se[i, j]:.2g}")
                light = hi > lo and (mean[i, j] - lo) / (hi - lo) > 0.6  # viridis is light at the top
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if light else "white")


def plot_summary(
    summary: pa.Table,
    grid: dict[str, list[Any]],
    out: Path,
    *,
    title: str = "",
    metrics: Sequence[str] | None = None,
    seeds: int | None = None,
) -> list[Path]:
    """Write one PNG per metric for a 1-D or 2-D ``grid``; return the files (none for other grids)."""
    from matplotlib.figure import Figure

    names = list(grid)
    if len(names) not in (1, 2):
        return []
    available = [c[: -len(".mean")] for c in summary.column_names if c.endswith(".mean")]
    chosen = [m for m in (metrics if metrics is not None else available) if m in available]
    data = summary.to_pydict()
    written = []
    for metric in chosen:
        mean = np.array([np.nan if v is None else v for v in data[f"{metric}.mean"]], dtype=float)
        se = np.array([np.nan if v is None else v for v in data[f"{metric}.stderr"]], dtype=float)
        if np.count_nonzero(~np.isnan(mean)) < 2:
            continue
        fig = Figure(figsize=(6.4, 4.4) if len(names) == 1 else (7.2, 5.2), layout="constrained")
        ax = fig.add_subplot()
        if len(names) == 1:
            _line(ax, names[0], list(grid[names[0]]), mean, se, metric)
        else:
            rows, cols = list(grid[names[0]]), list(grid[names[1]])
            shape = (len(rows), len(cols))  # the plan lists cells with the last grid name varying fastest
            _heat(fig, ax, names, rows, cols, mean.reshape(shape), se.reshape(shape), metric)
        note = "mean ± 1 standard error" + (f" over {seeds} seeds" if seeds else "")
        ax.set_title(f"{title}\n{note}" if title else note, fontsize=10)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        written.append(write_bytes_atomic(out / _filename(metric), buf.getvalue()))
    return written
