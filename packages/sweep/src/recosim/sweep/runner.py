"""`sweep`: plan, run the tasks not yet finished, and write the table, summary and plots.

>>> import tempfile
>>> result = sweep("counting", grid={"horizon": [4, 6]}, seeds=2, out=tempfile.mkdtemp(), workers=1)
>>> [row["metric.final_count"] for row in result.table.to_pylist()]
[3, 5, 3, 5]
>>> result.summary.column("final_count.mean").to_pylist()
[3.0, 5.0]
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv

from recosim.core.errors import Interrupted, RecosimError, UsageError
from recosim.core.io import write_bytes_atomic
from recosim.core.results import default_out as new_out_dir
from recosim.core.results import out_owner, prepare_out
from recosim.sweep.plan import SweepConfigError, SweepPlan, plan_sweep
from recosim.sweep.store import MANIFEST, ResultStore, make_row, write_table
from recosim.sweep.summary import summarise

__all__ = ["sweep", "run_plan", "check_out", "SweepResult", "SweepFailedError", "SweepInterrupted", "make_backend"]

Progress = Callable[[int, int], None]


class SweepInterrupted(Interrupted):
    """Ctrl-C stopped a sweep; every finished task is saved and a re-run resumes."""

    def __init__(self, out: Path, finished: int, total: int) -> None:
        super().__init__(out, finished, total, unit="runs")
        self.finished = finished


@dataclass
class SweepResult:
    """What a sweep produced. ``table`` holds one row per finished task of this sweep."""

    out: Path
    plan: SweepPlan
    table: pa.Table
    summary: pa.Table
    plots: list[Path] = field(default_factory=list)
    ran: int = 0
    resumed: int = 0

    @property
    def failed(self) -> int:
        return sum(status != "ok" for status in self.table.column("status").to_pylist())

    @property
    def files(self) -> dict[str, Path]:
        names = {"results": "results.parquet", "summary": "summary.parquet", "summary_csv": "summary.csv"}
        return {k: self.out / v for k, v in names.items()}


def make_backend(
    backend: str = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    max_retries: int = 2,
    log_dir: Path | None = None,
) -> Any:
    """The backend named ``backend`` (``local`` or ``ray``), its options checked."""
    if workers is not None and workers < 1:
        raise SweepConfigError(f"--workers must be at least 1, got {workers}")
    if max_retries < 0:
        raise SweepConfigError(f"--max-retries must be >= 0, got {max_retries}")
    for flag, amount in (("--num-cpus", num_cpus), ("--num-gpus", num_gpus)):
        if amount is not None and not (math.isfinite(amount) and amount >= 0):
            raise SweepConfigError(f"{flag} must be a finite number >= 0, got {amount}")
    if num_cpus is not None and num_cpus == 0 and not num_gpus:
        raise SweepConfigError("--num-cpus 0 with no GPU gives a run no resources; give --num-cpus > 0")
    if backend == "local":
        if address is not None or num_cpus is not None or num_gpus is not None:
            raise SweepConfigError("--address, --num-cpus and --num-gpus apply to the ray backend (--backend ray)")
        from recosim.sweep.local import LocalBackend

        return LocalBackend(workers, max_retries=max_retries, log_dir=log_dir)
    if backend == "ray":
        from recosim.sweep.ray_backend import RayBackend, require_ray

        require_ray()

        return RayBackend(
            address,
            num_cpus=1.0 if num_cpus is None else num_cpus,
            num_gpus=0.0 if num_gpus is None else num_gpus,
            max_retries=max_retries,
            cluster_cpus=workers,
        )
    raise SweepConfigError(f"--backend must be 'local' or 'ray', got {backend!r}")


def run_plan(
    plan: SweepPlan,
    out: Path | str,
    backend: Any,
    *,
    retry_failed: bool = False,
    task_files: bool = False,
    plots: bool = True,
    metrics: Sequence[str] | None = None,
    progress: Progress | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run the tasks of ``plan`` not yet finished under ``out`` on ``backend``.

    Finished tasks (failed ones too, unless ``retry_failed``) are never run again.
    ``on_start(resumed, to_run)`` is called once the directory has been read.
    Ctrl-C stops the backend, saves the table and raises `SweepInterrupted`.
    """
    out = check_out(out)
    connect = getattr(backend, "connect", None)
    if connect is not None:  # a cluster that cannot be reached is an error before anything is written
        connect()
    try:
        with ResultStore(out, plan) as store:
            table, summary, todo, resumed = _run_in_store(plan, store, backend, retry_failed, task_files, progress,
                                                          on_start)
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    if metrics:
        _check_metrics(metrics, summary, plan)
    write_table(out / "summary.parquet", summary)
    csv = io.BytesIO()
    pyarrow.csv.write_csv(summary, csv)
    write_bytes_atomic(out / "summary.csv", csv.getvalue())
    written: list[Path] = []
    if plots:
        from recosim.sweep.plots import plot_summary

        written = plot_summary(summary, plan.grid, out, title=plan.describe(), metrics=metrics, seeds=len(plan.seeds))
    return SweepResult(out, plan, table, summary, written, ran=len(todo), resumed=resumed)


def check_out(out: Path | str) -> Path:
    """``out`` checked as a sweep's results directory before any work (`SweepConfigError`, one line).

    Refused: an empty path, a file, a path under a file, a directory that cannot be
    created or written, and a directory holding another use case's results.
    """
    if not str(out).strip():
        raise SweepConfigError("--out is empty; give a directory")
    out = Path(out)
    if out.is_dir() and (out / MANIFEST).exists():
        pass  # a sweep to resume: ResultStore compares it with this one
    else:
        owner = out_owner(out) if out.is_dir() else None
        if owner is not None:
            raise SweepConfigError(f"--out {out} holds the results of {owner!r}; give another --out")
    try:
        prepare_out(out)
    except UsageError as err:
        raise SweepConfigError(str(err)) from None
    return out


def _check_metrics(metrics: Sequence[str], summary: pa.Table, plan: SweepPlan) -> None:
    available = sorted(c[: -len(".mean")] for c in summary.column_names if c.endswith(".mean"))
    unknown = [m for m in metrics if m not in available]
    if unknown and available:  # with no finished run there is nothing to compare with
        raise SweepConfigError(
            f"--metric {unknown[0]!r} names no metric of {plan.usecase!r} (its metrics: {', '.join(available)}); "
            "the results are saved: run the same command again with a metric named there"
        )


def _run_in_store(
    plan: SweepPlan,
    store: ResultStore,
    backend: Any,
    retry_failed: bool,
    task_files: bool,
    progress: Progress | None,
    on_start: Callable[[int, int], None] | None,
) -> tuple[pa.Table, pa.Table, list[Any], int]:
    by_id = {t.id: t for t in plan.tasks}
    done = store.finished(include_failed=not retry_failed)
    todo = [t for t in plan.tasks if t.id not in done]
    resumed = len(plan.tasks) - len(todo)
    if on_start is not None:
        on_start(resumed, len(todo))
    specs = [
        {
            "task_id": t.id,
            "usecase": plan.usecase,
            "runtime": plan.runtime,
            "seed": t.seed,
            "params": t.params,
            "settings": t.settings,
            "task_dir": str((store.out / "tasks" / t.id).resolve()) if task_files else None,
        }
        for t in todo
    ]
    finished = resumed
    if progress is not None:
        progress(finished, len(plan.tasks))

    def record(rec: Mapping[str, Any]) -> None:
        nonlocal finished
        store.add(make_row(plan, by_id[rec["task_id"]], rec))
        finished += 1
        if progress is not None:
            progress(finished, len(plan.tasks))

    try:
        backend.run(specs, record)
    except KeyboardInterrupt:
        store.consolidate(reread=True)
        saved = len(store.finished(include_failed=not retry_failed) & set(by_id))
        raise SweepInterrupted(store.out, saved, len(plan.tasks)) from None
    store.consolidate()
    return store.table([t.id for t in plan.tasks]), summarise(plan, store.rows), todo, resumed


def sweep(
    usecase: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    seeds: int | Sequence[int] = 1,
    first_seed: int = 0,
    out: Path | str | None = None,
    runtime: str = "numpy",
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    max_retries: int = 2,
    retry_failed: bool = False,
    task_files: bool = False,
    plots: bool = True,
    metrics: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run ``usecase`` over every cell of ``grid`` times every seed, in parallel; resume under ``out``.

    ``grid`` and ``fixed`` use the use case's parameter names (``num_users`` or
    ``num-users``). Task seeds are ``first_seed, first_seed + 1, ...`` (``seeds`` of
    them), the same in every cell; a task's result depends only on its settings and
    seed, never on the backend or on the order of execution. ``out`` defaults to a
    new directory under ``runs/``. See :func:`run_plan` for resuming and Ctrl-C.
    A sweep in which every run failed raises `SweepFailedError` (its ``result`` holds
    the rows); one with some failures returns, ``result.failed`` counting them.
    """
    plan = plan_sweep(usecase, grid, fixed=fixed, seeds=seeds, first_seed=first_seed, runtime=runtime)
    out_dir = Path(out) if out is not None else default_out(plan.usecase)
    chosen = make_backend(
        backend, workers=workers, address=address, num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max_retries,
        log_dir=out_dir / "logs",
    )
    result = run_plan(plan, out_dir, chosen, retry_failed=retry_failed, task_files=task_files, plots=plots,
                      metrics=metrics, progress=progress)
    if result.table.num_rows and result.failed == result.table.num_rows:
        raise SweepFailedError(result)
    return result


class SweepFailedError(RecosimError):
    """Every task of a sweep failed; ``result`` holds their rows (the ``error`` column says why)."""

    def __init__(self, result: SweepResult) -> None:
        first = next(r["error"] for r in result.table.to_pylist() if r["status"] != "ok")
        super().__init__(
            f"every one of the {result.failed} runs of the sweep in {result.out} failed; first error: {first}"
        )
        self.result = result


def default_out(usecase: str) -> Path:
    """``runs/sweep-<usecase>-<UTC time>``: a new directory for a sweep given no ``out``."""
    return new_out_dir(f"sweep-{usecase}")
