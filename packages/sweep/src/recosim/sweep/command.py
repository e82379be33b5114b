"""``recosim sweep``: the command-line front of :func:`recosim.sweep.sweep`.

Importing this module is cheap (the ``recosim`` command loads it to build its
parser); pyarrow, matplotlib and Ray are imported only when a sweep runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recosim.core.cli import Command
from recosim.core.progress import ProgressBar

__all__ = ["SweepCommand"]

EXAMPLES = """\
examples:
  recosim sweep random-walk --grid horizon=10,20,40 --set num-users=500 --seeds 8 --out runs/walk
  recosim sweep ecosystem --grid boost-caps=0,0.6,1.2 --set num-runs=1 --seeds 40 --out runs/fig3
  recosim sweep random-walk --grid scale=0.5,1 --seeds 4 --out runs/walk2 --backend ray --num-cpus 1

NAME is the use case's own option name without its dashes (see `recosim run USECASE -h`).
Runs use seeds S, S+1, ..., S+N-1 (S from --seed, N from --seeds), the same in every cell.
Re-running the same command resumes: finished runs are never repeated.
"""


class SweepCommand(Command):
    """Run a use case over a grid of settings x seeds, in parallel, into one Parquet table."""

    summary = "run a use case over a grid of settings x seeds (local processes or Ray), results in Parquet"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Run a use case over every combination of --grid values times --seeds seeds, each run an independent "
            "task on a local process pool or a Ray cluster. Results: OUT/results.parquet (a row per run), "
            "OUT/summary.parquet and .csv (mean and standard error per cell) and plots for 1-D and 2-D grids."
        )
        parser.epilog = EXAMPLES
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("usecase", metavar="USECASE", help="a registered use case (or module:attribute)")
        parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                            help="values to sweep for one option (repeat for more dimensions); "
                                 "values with commas as a JSON list: NAME='[\"a,b\",\"c\"]'")
        parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="fixed",
                            help="one value of an option for every run (repeatable)")
        parser.add_argument("--seeds", type=int, required=True, metavar="N", help="runs per cell")
        parser.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (default: 0)")
        parser.add_argument("--out", type=str, default=None,
                            help="results directory; re-running with it resumes (default: a new one under runs/)")
        parser.add_argument("--runtime", default="numpy", help="runtime plugin the use case runs on (default: numpy)")
        parser.add_argument("--backend", choices=("local", "ray"), default=None,
                            help="local process pool (default) or a Ray cluster (implied by --address)")
        parser.add_argument("--workers", type=int, default=None,
                            help="local: processes (default: one per core); ray: CPUs of the local cluster")
        parser.add_argument("--address", default=None,
                            help="ray: join this cluster (default: start a local one on 127.0.0.1)")
        parser.add_argument("--num-cpus", type=float, default=None, help="ray: CPUs per run (default: 1)")
        parser.add_argument("--num-gpus", type=float, default=None, help="ray: GPUs per run (default: 0)")
        parser.add_argument("--max-retries", type=int, default=2,
                            help="times a run is retried when its worker dies (default: 2)")
        parser.add_argument("--retry-failed", action="store_true", help="run again the runs that raised an error")
        parser.add_argument("--task-files", action="store_true",
                            help="keep each run's own files under OUT/tasks/<id> (default: a scratch directory)")
        parser.add_argument("--metric", action="append", default=None, dest="metrics",
                            help="metric to show and plot (repeatable; default: every numeric one)")
        parser.add_argument("--no-plots", action="store_true", help="write no PNG")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def __call__(self, args: argparse.Namespace) -> int:
        """Run the sweep. Bad options raise `SweepConfigError` (a core `UsageError`: one line, status 2);
        Ctrl-C raises `SweepInterrupted` (core's `Interrupted`: one line saying how to resume, status 130)."""
        from recosim.sweep.plan import SweepConfigError, parse_grid_option, parse_set_option, plan_sweep
        from recosim.sweep.runner import check_out, default_out, make_backend, run_plan
        from recosim.sweep.summary import format_summary

        grid = _options(args.grid, parse_grid_option, "--grid")
        fixed = _options(args.fixed, parse_set_option, "--set")
        backend_name = args.backend or ("ray" if args.address else "local")
        if args.address and backend_name != "ray":
            raise SweepConfigError("--address joins a Ray cluster: use it with --backend ray")
        plan = plan_sweep(args.usecase, grid, fixed=fixed, seeds=args.seeds, first_seed=args.seed,
                          runtime=args.runtime)
        given = args.out if args.out is not None else default_out(plan.usecase)
        backend = make_backend(backend_name, workers=args.workers, address=args.address, num_cpus=args.num_cpus,
                               num_gpus=args.num_gpus, max_retries=args.max_retries,
                               log_dir=Path(given) / "logs")
        out = check_out(given)  # every option checked first, then the output directory, then work
        print(f"recosim sweep: {plan.describe()}; results in {out}", file=sys.stderr)

        bar: ProgressBar | None = None

        def on_start(resumed: int, to_run: int) -> None:
            nonlocal bar
            if resumed:
                print(f"recosim sweep: resuming: {resumed} of {len(plan.tasks)} runs already finished", file=sys.stderr)
            if to_run:
                print(f"recosim sweep: running {to_run} on the {backend.describe()}", file=sys.stderr)
            if not args.quiet:  # core's bar: its first report is where this job starts, so the estimate holds
                bar = ProgressBar(f"sweep {plan.usecase}")

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar(done, total)

        try:
            result = run_plan(plan, out, backend, retry_failed=args.retry_failed, task_files=args.task_files,
                              plots=not args.no_plots, metrics=args.metrics, progress=progress, on_start=on_start)
        finally:
            if bar is not None:
                bar.close()
        print(format_summary(result.summary, plan.grid_names, args.metrics))
        print(f"\nresults: {result.files['results']}\nsummary: {result.files['summary']}", end="")
        print("".join(f"\nplot:    {p}" for p in result.plots))
        if result.failed:
            first = next(r["error"] for r in result.table.to_pylist() if r["status"] != "ok")
            print(f"recosim sweep: {result.failed} of {len(plan.tasks)} runs failed (the error column says why; "
                  f"first: {first})", file=sys.stderr)
            return 1
        return 0


def _options(texts: list[str], parse: Callable[[str], tuple[str, Any]], flag: str) -> dict[str, Any]:
    """``NAME=...`` options as a mapping; a name given twice is an error."""
    from recosim.sweep.plan import SweepConfigError

    found: dict[str, Any] = {}
    for text in texts:
        name, value = parse(text)
        if name in found:
            raise SweepConfigError(f"{flag} {name} is given twice")
        found[name] = value
    return found
