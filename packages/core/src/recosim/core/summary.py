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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core.value import Value

__all__ = ["RunSummary", "summarize"]


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
