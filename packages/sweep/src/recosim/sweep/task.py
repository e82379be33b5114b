"""Running one task where it is executed (a pool process or a Ray worker).

:func:`run_task` takes a JSON task description and returns a JSON record; it never
raises for a failure of the use case: the error and its traceback go into the record,
so one bad cell never stops a sweep.

>>> rec = run_task({"task_id": "t", "usecase": "counting", "runtime": "numpy", "seed": 0, "params": {"horizon": 5}})
>>> rec["status"], rec["metrics"]
('ok', {'final_count': 4})
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["run_task", "flatten_summary", "package_versions", "limit_threads"]

# Distributions whose versions are recorded with every result, besides every recosim-* one.
_RECORDED = ("numpy", "scipy", "tensorflow", "tensorflow-probability", "tfp-nightly", "tf-keras", "jax", "jaxlib",
             "edward2")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
_TRACEBACK_CHARS = 4000


def limit_threads(threads: int) -> None:
    """Cap the native thread pools of the libraries a run may load (where the user set no cap).

    Called before any numerical library is imported, so that ``workers`` processes
    with ``threads`` threads each do not oversubscribe the machine's cores.
    """
    for var in _THREAD_VARIABLES:
        os.environ.setdefault(var, str(max(1, int(threads))))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@cache
def package_versions() -> dict[str, str]:
    """Python's version and those of recosim's distributions and the numerical stack installed here."""
    versions = {"python": sys.version.split()[0]}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith("recosim") or name in _RECORDED:
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "tolist"):  # NumPy (or framework) scalars and arrays
        value = value.tolist()
        if isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], bool | int | float):
            return value[0]
    if isinstance(value, list | tuple | set):
        return json.dumps(list(value), default=str)
    return str(value)


def flatten_summary(summary: Mapping[str, Any], echoes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A use case's summary as flat ``name -> scalar`` metrics.

    Nested mappings become dotted names (``policies.L=0.mean``); lists become JSON
    text; NumPy scalars become Python numbers. A top-level entry that only repeats an
    input (``echoes``: the settings, seed, runtime, use case name) is left out.

    >>> flatten_summary({"a": {"b": 1}, "seed": 3, "c": [1, 2]}, echoes={"seed": 3})
    {'a.b': 1, 'c': '[1, 2]'}
    """
    echoes = echoes or {}
    flat: dict[str, Any] = {}

    def walk(prefix: str, mapping: Mapping[Any, Any]) -> None:
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(name + ".", value)
                continue
            scalar = _scalar(value)
            if not prefix and name in echoes and _scalar(echoes[name]) == scalar:
                continue
            flat[name] = scalar

    walk("", summary)
    return flat


def _runtime_provider(runtime: str) -> str | None:
    from recosim.core.plugins import get_plugins

    try:
        return get_plugins().lookup("runtimes", runtime).distribution
    except Exception:
        return None


def run_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run the task ``spec`` describes and return its record (JSON values only).

    ``spec`` holds ``task_id``, ``usecase`` (a registered name or ``module:attr``),
    ``runtime``, ``seed``, ``params`` (settings for ``run``) and optionally
    ``task_dir`` (where the run writes its files; a temporary directory otherwise)
    and ``settings`` (every parameter, to recognise echoed inputs in the summary).
    """
    started = time.time()
    record: dict[str, Any] = {
        "task_id": spec["task_id"],
        "status": "ok",
        "error": None,
        "traceback": None,
        "started_at": started,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "metrics": {},
    }
    clock = time.perf_counter()
    try:
        from recosim.sweep.plan import load_usecase

        case = load_usecase(spec["usecase"])
        params = dict(spec.get("params") or {})
        for p in case.parameters:  # parameters with a parsing function travel as their text
            if p.name in params and p.type not in (bool, int, float, str):
                params[p.name] = p.type(params[p.name])
        with tempfile.TemporaryDirectory(prefix="recosim-sweep-") as scratch:
            out = Path(spec["task_dir"]) if spec.get("task_dir") else Path(scratch)
            out.mkdir(parents=True, exist_ok=True)
            summary = case.run(runtime=spec["runtime"], seed=int(spec["seed"]), out=out, progress=None, **params)
        if not isinstance(summary, Mapping):
            raise TypeError(f"use case {spec['usecase']!r} returned a {type(summary).__name__}, not a mapping")
        echoes = {**(spec.get("settings") or params), "seed": spec["seed"], "runtime": spec["runtime"],
                  "usecase": getattr(case, "name", spec["usecase"])}
        # what describes the run rather than measures it: the provider and versions have columns of their own
        described = {"runtime_provider", "validate", *getattr(case, "summary_metadata", ())}
        record["metrics"] = flatten_summary({k: v for k, v in summary.items() if k not in described}, echoes)
    except (Exception, SystemExit) as err:
        record["status"] = "failed"
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()[-_TRACEBACK_CHARS:]
    record["wall_time_s"] = time.perf_counter() - clock
    record["finished_at"] = time.time()
    record["runtime_provider"] = _runtime_provider(spec["runtime"])
    record["versions"] = package_versions()
    return record


def lost_record(spec: Mapping[str, Any], error: str) -> dict[str, Any]:
    """The record of a task that never returned (its worker died more times than it may be retried)."""
    now = time.time()
    return {
        "task_id": spec["task_id"],
        "status": "failed",
        "error": error,
        "traceback": None,
        "started_at": None,
        "finished_at": now,
        "host": None,
        "pid": None,
        "metrics": {},
        "wall_time_s": None,
        "runtime_provider": None,
        "versions": {},
    }
