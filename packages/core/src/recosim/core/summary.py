"""Mean, standard error and count across independent runs: one convention for every runtime.

The standard error is ``std(ddof=1) / sqrt(n)``; with a single run it is NaN (one
run says nothing about the spread), never a silent zero.

>>> import numpy as np
>>> s = summarize({"walk": {"position": np.array([1.0, 2.0, 3.0])}})
>>> float(s.mean["walk"]["position"]), round(float(s.stderr["walk"]["position"]), 4), s.num_runs
(2.0, 0.5774, 3)
>>> one = summarize(np.array([4.0]))
>>> float(one.mean), bool(np.isnan(one.stderr)), one.num_runs
(4.0, True, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core.value import Value

__all__ = ["RunSummary", "estimate_rows", "format_estimate", "format_table", "summarize"]


@dataclass(frozen=True)
class RunSummary:
    """Per-field mean and standard error of the mean over ``num_runs`` runs.

    ``mean`` and ``stderr`` mirror the summarised structure (a network value of
    Values, a Value, a mapping of arrays, or one array), with NumPy arrays.
    """

    mean: Any
    stderr: Any
    num_runs: int

    def rows(self) -> list[tuple[str, Any, Any]]:
        """``(path, mean, stderr)`` for every field, paths like ``"walk/position"``."""
        out: list[tuple[str, Any, Any]] = []
        _rows("", self.mean, self.stderr, out)
        return out


def _rows(path: str, mean: Any, err: Any, out: list[tuple[str, Any, Any]]) -> None:
    if isinstance(mean, Mapping):
        for key in mean:
            _rows(f"{path}/{key}" if path else key, mean[key], err[key], out)
    else:
        out.append((path, mean, err))


def _map(fn: Any, tree: Any) -> Any:
    if isinstance(tree, Value):
        return Value({k: fn(f) for k, f in tree.items()})
    if isinstance(tree, Mapping):
        return {k: _map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _first_leaf(tree: Any) -> Any:
    while isinstance(tree, Mapping):
        if not tree:
            return None
        tree = tree[next(iter(tree))]
    return tree


def summarize(runs: Any, *, axis: int = 0) -> RunSummary:
    """Mean and standard error (``std(ddof=1) / sqrt(n)``) of every field over the run axis.

    ``runs`` is what ``runtime.run_many`` returns on any runtime (or any structure
    of arrays with the runs along ``axis``: a list of per-run metrics, say). With a
    single run the standard error is NaN. Results are NumPy float64 arrays.
    """
    if isinstance(runs, (list, tuple)):
        runs = np.asarray(runs, dtype=np.float64)
    leaf = _first_leaf(runs)
    if leaf is None:
        raise ValueError("summarize was given no fields")
    if np.ndim(leaf) == 0:
        raise ValueError(f"summarize needs the runs along axis {axis}; a field is a scalar")
    n = int(np.shape(leaf)[axis])
    if n == 0:
        raise ValueError("summarize was given no runs")

    def mean(x: Any) -> Any:
        a = np.asarray(x)
        if a.shape[axis] != n:
            raise ValueError(f"summarize: a field has {a.shape[axis]} runs along axis {axis}, another {n}")
        return a.mean(axis=axis, dtype=np.float64)

    def stderr(x: Any) -> Any:
        a = np.asarray(x, dtype=np.float64)
        if n < 2:
            return np.full(np.delete(np.array(a.shape), axis), np.nan)
        return a.std(axis=axis, ddof=1) / np.sqrt(n)

    return RunSummary(_map(mean, runs), _map(stderr, runs), n)


_SE_NAMES = ("se", "stderr", "standard_error", "sem")
_MEAN_NAMES = ("mean", "value", "estimate")


def format_estimate(value: float, se: float | None = None) -> str:
    """``value`` at the precision its standard error supports: ``"73.1 ± 0.43"``; alone, 4 significant digits.

    The standard error keeps two significant digits and the value the same decimals.

    >>> format_estimate(73.12345, 0.4321), format_estimate(0.012345, 0.0019), format_estimate(1234.5678)
    ('73.12 ± 0.43', '0.0123 ± 0.0019', '1235')
    >>> format_estimate(2.0, float("nan")), format_estimate(5.0, 0.0)
    ('2 (one run: no standard error)', '5 ± 0')
    """
    if se is None:
        return f"{value:.4g}"
    if not math.isfinite(se):
        return f"{value:.4g} (one run: no standard error)"
    if se == 0:
        return f"{value:.4g} ± 0"
    decimals = max(0, 1 - math.floor(math.log10(abs(se))))
    return f"{value:.{decimals}f} ± {se:.{decimals}f}"


def estimate_rows(figures: list[tuple[str, float]]) -> list[tuple[str, float, float | None]]:
    """``(name, value, se)`` rows from ``(path, value)`` figures, a ``.../mean`` joined with its ``.../se``.

    >>> estimate_rows([("utility/mean", 2.0), ("utility/se", 0.1), ("utility/n", 8.0), ("count", 3.0)])
    [('utility', 2.0, 0.1), ('utility/n', 8.0, None), ('count', 3.0, None)]
    """
    values = dict(figures)
    rows: list[tuple[str, float, float | None]] = []
    used: set[str] = set()
    for path, value in figures:
        if path in used:
            continue
        head, _, last = path.rpartition("/")
        sibling = (lambda n, head=head: f"{head}/{n}" if head else n)  # noqa: E731
        if last in _MEAN_NAMES:
            se_path = next((sibling(n) for n in _SE_NAMES if sibling(n) in values), None)
            if se_path is not None:
                rows.append((head or last, value, values[se_path]))
                used.update({path, se_path})
                continue
        if last in _SE_NAMES and any(sibling(m) in values for m in _MEAN_NAMES):
            continue
        rows.append((path, value, None))
        used.add(path)
    return rows


def format_table(rows: list[tuple[str, float, float | None]], *, limit: int = 16) -> str:
    """``rows`` as aligned ``name  value ± se`` lines (at most ``limit``, then how many more)."""
    shown = rows[:limit]
    width = max((len(name) for name, _, _ in shown), default=0)
    lines = [f"  {name:<{width}}  {format_estimate(value, se)}" for name, value, se in shown]
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more figures")
    return "\n".join(lines)
