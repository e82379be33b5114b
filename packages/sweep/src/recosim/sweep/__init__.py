"""recosim.sweep: grids of settings x seeds as independent runs, in parallel, resumable, in Parquet.

>>> from recosim.sweep import sweep
>>> result = sweep("random-walk", grid={"scale": [0.5, 2.0]}, fixed={"horizon": 4, "num-users": 10},
...                seeds=2, out=__import__("tempfile").mkdtemp(), workers=1, plots=False)
>>> result.table.num_rows, result.summary.column("scale").to_pylist()
(4, [0.5, 2.0])

Names are imported on first use, so that the pool's worker processes (which import
this package) load no numerical library before their thread limits are set.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "sweep",
    "run_plan",
    "plan_sweep",
    "make_backend",
    "read_results",
    "summarise",
    "mean_and_stderr",
    "plot_summary",
    "SweepPlan",
    "Task",
    "SweepResult",
    "SweepInterrupted",
    "SweepFailedError",
    "SweepConfigError",
    "LocalBackend",
    "RayBackend",
]

_WHERE = {
    "sweep": "runner",
    "run_plan": "runner",
    "make_backend": "runner",
    "SweepResult": "runner",
    "SweepInterrupted": "runner",
    "SweepFailedError": "runner",
    "plan_sweep": "plan",
    "SweepPlan": "plan",
    "Task": "plan",
    "SweepConfigError": "plan",
    "read_results": "store",
    "summarise": "summary",
    "mean_and_stderr": "summary",
    "plot_summary": "plots",
    "LocalBackend": "local",
    "RayBackend": "ray_backend",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'recosim.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"recosim.sweep.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
