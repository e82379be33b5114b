"""The results directory of a sweep: a crash-safe journal of finished tasks and one Parquet table.

Layout of ``OUT``::

    sweep.json             what was asked for (use case, runtime, grid, fixed settings, seeds)
    parts/<task>.parquet   one row per finished task, written atomically when it finishes
    results.parquet        all finished tasks in one table (rewritten from the parts)
    summary.parquet/.csv   mean and standard error per cell
    plot-<metric>.png      1-D grids: line with error bars; 2-D grids: heat map

A part file appears whole or not at all (written to a temporary name, flushed to
disk, then renamed), and it is named by the task's id, so a task is never counted
twice and a driver killed at any moment loses at most the tasks still running.
``results.parquet`` is plain Parquet (no extension types): pandas, polars, DuckDB or
pyarrow read it without recosim installed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recosim.core.io import write_bytes_atomic, write_json_atomic
from recosim.core.results import hold_out
from recosim.sweep.plan import SweepConfigError, SweepPlan, Task
from recosim.sweep.summary import tidy_metrics

__all__ = ["ResultStore", "rows_to_table", "read_results", "make_row", "RESULT_COLUMNS"]

MANIFEST = "sweep.json"
PARTS = "parts"
RESULTS = "results.parquet"
FORMAT = 1

# The fixed columns of the results table, in order; settings, metric.* and version.* follow.
RESULT_COLUMNS: dict[str, pa.DataType] = {
    "task_id": pa.string(),
    "usecase": pa.string(),
    "runtime": pa.string(),
    "seed": pa.int64(),
    "status": pa.string(),
    "error": pa.string(),
    "wall_time_s": pa.float64(),
    "started_at": pa.timestamp("us", tz="UTC"),
    "finished_at": pa.timestamp("us", tz="UTC"),
    "host": pa.string(),
    "pid": pa.int64(),
    "runtime_provider": pa.string(),
    "traceback": pa.string(),
}
_ARROW_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def _timestamp(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def make_row(plan: SweepPlan, task: Task, record: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the results table from a task and the record its run returned."""
    row: dict[str, Any] = {
        "task_id": task.id,
        "usecase": plan.usecase,
        "runtime": plan.runtime,
        "seed": task.seed,
        "status": record["status"],
        "error": record.get("error"),
        "wall_time_s": record.get("wall_time_s"),
        "started_at": _timestamp(record.get("started_at")),
        "finished_at": _timestamp(record.get("finished_at")),
        "host": record.get("host"),
        "pid": record.get("pid"),
        "runtime_provider": record.get("runtime_provider"),
        "traceback": record.get("traceback"),
    }
    row.update(task.settings)
    row.update({f"metric.{k}": v for k, v in (record.get("metrics") or {}).items()})
    row.update({f"version.{k}": v for k, v in (record.get("versions") or {}).items()})
    return row


def _column(values: list[Any], kind: pa.DataType | None) -> pa.Array:
    if kind is not None:
        try:
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        # Mixed kinds in one column (a metric that is a number in one run and text in another).
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def rows_to_table(rows: Sequence[Mapping[str, Any]], setting_types: Mapping[str, type] | None = None) -> pa.Table:
    """A table with the fixed columns first, then settings, ``metric.*`` and ``version.*`` (sorted)."""
    setting_types = dict(setting_types or {})
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    other = (k for k in seen if k not in RESULT_COLUMNS and k not in setting_types)
    settings = [k for k in setting_types if k in seen] + sorted(
        k for k in other if not k.startswith(("metric.", "version."))
    )
    names = (
        [k for k in RESULT_COLUMNS if k in seen or not rows]
        + settings
        + sorted(k for k in seen if k.startswith("metric."))
        + sorted(k for k in seen if k.startswith("version."))
    )
    kinds = {**RESULT_COLUMNS, **{k: _ARROW_TYPES.get(t) for k, t in setting_types.items()}}
    arrays = [_column([row.get(name) for row in rows], kinds.get(name)) for name in names]
    return pa.table(dict(zip(names, arrays)))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_table(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` as Parquet, atomically."""
    write_bytes_atomic(path, _parquet_bytes(table))


class ResultStore:
    """The results directory of one sweep; open it with :meth:`open` (a context manager).

    Only one driver may write a directory at a time (core's `hold_out` lock,
    released by the operating system even when the driver is killed).
    """

    def __init__(self, out: Path | str, plan: SweepPlan, *, consolidate_every_s: float = 2.0) -> None:
        self.out = Path(out)
        self.plan = plan
        self.rows: dict[str, dict[str, Any]] = {}
        self.consolidate_every_s = consolidate_every_s
        self._last_consolidated = 0.0
        self._dirty = False
        self._lock: Any = None

    # -- opening -------------------------------------------------------------------
    def __enter__(self) -> ResultStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Check and lock the directory, record the manifest and read the finished tasks."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise SweepConfigError(f"--out {out} is a file, not a directory")
        manifest_path = out / MANIFEST
        if out.is_dir() and not manifest_path.exists() and any(out.iterdir()):
            raise SweepConfigError(f"--out {out} is not empty and holds no sweep; give a new or empty directory")
        if manifest_path.exists():
            try:
                old = json.loads(manifest_path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise SweepConfigError(f"{manifest_path} is unreadable ({err}); give another --out") from None
            for key in ("usecase", "runtime"):
                if old.get(key) != getattr(self.plan, key):
                    raise SweepConfigError(
                        f"--out {out} holds a sweep of use case {old.get('usecase')!r} on runtime "
                        f"{old.get('runtime')!r}, not {self.plan.usecase!r} on {self.plan.runtime!r}; "
                        "give another --out"
                    )
        try:
            (out / PARTS).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SweepConfigError(f"--out {out}: the directory cannot be created ({err.strerror or err})") from None
        self._acquire_lock()
        _remove_stale_temporaries(out)  # only the writer cleans up, and only under its lock
        manifest = {
            "format": FORMAT,
            "usecase": self.plan.usecase,
            "runtime": self.plan.runtime,
            "grid": self.plan.grid,
            "fixed": self.plan.fixed,
            "seeds": list(self.plan.seeds),
            "tasks": len(self.plan.tasks),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        write_json_atomic(manifest_path, manifest)
        self.rows = dict(_read_parts(out / PARTS))

    def _acquire_lock(self) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(hold_out(self.out))  # core's lock: "another job (pid N) holds OUT"
        self._lock = stack

    def close(self) -> None:
        if self._dirty:
            self.consolidate()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- writing -------------------------------------------------------------------
    def finished(self, *, include_failed: bool = True) -> set[str]:
        """Ids of the tasks with a row (failed ones too unless ``include_failed`` is false)."""
        return {k for k, r in self.rows.items() if include_failed or r.get("status") == "ok"}

    def add(self, row: Mapping[str, Any]) -> None:
        """Record one finished task: its part file first, then (at most every few seconds) the table."""
        row = dict(row)
        table = rows_to_table([row], self.plan.setting_types())
        write_table(self.out / PARTS / f"{row['task_id']}.parquet", table)
        self.rows[row["task_id"]] = row
        self._dirty = True
        if time.monotonic() - self._last_consolidated >= self.consolidate_every_s:
            self.consolidate()

    def table(self, task_ids: Iterable[str] | None = None) -> pa.Table:
        """The rows of ``task_ids`` (all rows if None), in plan order where planned, metrics tidied
        (`recosim.sweep.summary.tidy_metrics`)."""
        order = {t.id: i for i, t in enumerate(self.plan.tasks)}
        ids = list(self.rows) if task_ids is None else [i for i in task_ids if i in self.rows]
        ids.sort(key=lambda i: (order.get(i, len(order)), i))
        return rows_to_table(tidy_metrics([self.rows[i] for i in ids]), self.plan.setting_types())

    def consolidate(self, *, reread: bool = False) -> Path:
        """Rewrite ``results.parquet`` from every finished task (atomically).

        ``reread`` first reads the finished tasks back from the part files, the
        record that counts: after Ctrl-C landed between a part's write and its
        bookkeeping, the table still holds every saved part.
        """
        if reread:
            self.rows = dict(_read_parts(self.out / PARTS))
        path = self.out / RESULTS
        write_table(path, self.table())
        self._last_consolidated = time.monotonic()
        self._dirty = False
        return path


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files left by writes cut short by a crash (call only while holding the lock)."""
    for folder in (out, out / PARTS):
        for stale in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def _read_parts(folder: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """The rows of the part files in ``folder``; reads only (a running writer's files are left alone)."""
    for path in sorted(folder.glob("*.parquet")):
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as err:  # a part damaged outside recosim: run that task again
            warnings.warn(f"ignoring unreadable result part {path}: {err}", RuntimeWarning, stacklevel=2)
            continue
        for row in rows:
            yield row["task_id"], row


def read_results(out: Path | str) -> pa.Table:
    """Every finished task under ``out``, read from the part files (always up to date).

    Safe while a sweep writes ``out``: it reads and never deletes anything.

    ``results.parquet`` holds the same rows once a sweep has finished or stopped;
    after a driver was killed it may lack the last few, until the sweep is resumed.
    """
    folder = Path(out) / PARTS
    if not folder.is_dir():
        raise FileNotFoundError(f"{out} holds no sweep results (no {PARTS}/ folder)")
    rows = [row for _, row in _read_parts(folder)]
    return rows_to_table(tidy_metrics(rows))
