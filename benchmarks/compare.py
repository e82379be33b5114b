"""RecSim NG 0.1.2 and recosim side by side, on the same machine in one run.

    python benchmarks/compare.py [--size reference|short|small] [--workloads ecosystem,...]
                                 [--runtimes jax,tf] [--out out/bench] [--compile-cache cold-warm|off]

For each workload, the reference (``reference_workloads.py``, RecSim NG driven
through its own application modules with ``recsim_ng_patches`` applied) and then
recosim on each runtime (``workloads.py``) run in child processes of their own,
one after the other, at the same sizes and on the same provider means. Prints
and writes (``reference.md``, ``reference.json``) the ratio reference/recosim
of the total time of each: above 1 means recosim is faster. Figures taken on a
busy machine are flagged as such. As in ``bench.py``, JAX runs twice: with an
empty persistent compilation cache (``jax (cold cache)``, a fresh folder under
``--out``) and then with the cache that run filled (``jax (warm cache)``), each
set against the same reference run; ``--compile-cache off`` gives one JAX row with
the cache off.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import (
    COLUMNS,
    cache_states,
    check_workloads,
    make_parser,
    measure,
    record_of,
    run_label,
    show,
    table_row,
)
from harness import (
    fmt_seconds,
    machine_description,
    markdown_table,
    quiet_warning,
    run_child,
    write_report,
)
from workloads import SIZES, WORKLOADS

# The reference side of each workload: its driver in reference_workloads.py.
REFERENCE = {
    "ecosystem": "ecosystem",
    "interest-evolution": "interest_evolution",
    "latent-variable": "latent_variable",
}

# Speed-ups recosim aims for (reference total / recosim total), per runtime.
GOALS = {
    ("ecosystem", "jax"): 10.0,
    ("ecosystem", "tf"): 4.0,
    ("interest-evolution", "jax"): 6.0,
    ("interest-evolution", "tf"): 3.0,
    ("latent-variable", "jax"): 12.0,
    ("latent-variable", "tf"): 12.0,
}

REFERENCE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1"}


def run_reference(name: str, args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """Run RecSim NG's side of workload ``name`` in its own child process; its report row."""
    print(f"{prefix} running ...", flush=True)
    params = dict(SIZES[args.size][name])
    if name == "ecosystem":
        params["provider_means"] = args.provider_means
    child = run_child(
        "reference_workloads",
        REFERENCE[name],
        params,
        timeout=args.timeout,
        log_dir=args.out / "logs",
        label=f"{name}-recsim-ng",
        env=REFERENCE_ENV,
    )
    return record_of(name, "tf", child) | {"side": "recsim-ng 0.1.2"}


def ratio(reference: dict[str, Any], ours: dict[str, Any], key: str = "total_s") -> float | None:
    a, b = reference.get(key), ours.get(key)
    if reference["status"] != "ok" or ours["status"] != "ok" or not a or not b:
        return None
    return a / b


def ratio_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name in dict.fromkeys(r["workload"] for r in records):
        ref = next((r for r in records if r["workload"] == name and r["side"] != "recosim"), None)
        for ours in (r for r in records if r["workload"] == name and r["side"] == "recosim"):
            if ref is None:
                continue
            total = ratio(ref, ours)
            # a side without a compile figure (recsim-ng's ecosystem traces inside every run; a step-timed use case
            # whose first step was not the slowest) has its compilation inside its run time: no run-only ratio
            split = ref.get("compile_s") is not None and ours.get("compile_s") is not None
            steady = ratio(ref, ours, "run_s") if split else None
            goal = GOALS.get((name, ours["runtime"]))
            rows.append(
                [
                    name,
                    run_label(ours),
                    fmt_seconds(ref.get("total_s")) if ref["status"] == "ok" else ref["status"],
                    fmt_seconds(ours.get("total_s")) if ours["status"] == "ok" else ours["status"],
                    "—" if total is None else f"{total:.2f}x",
                    "—" if steady is None else f"{steady:.2f}x",
                    "—" if goal is None else f"{goal:g}x",
                ]
            )
    return rows


RATIO_COLUMNS = (
    "workload",
    "recosim runtime",
    "recsim-ng total s",
    "recosim total s",
    "ratio (total)",
    "ratio (run)",
    "goal",
)
SIDE_COLUMNS = ("side", *COLUMNS)


def report_body(size: str, records: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    warn = quiet_warning(machine.get("load_average"), machine.get("usable_cores"))
    detail = [[r["side"], *table_row(r)] for r in records]
    parts = [
        f"## reference / recosim (size `{size}`)",
        warn or "",
        markdown_table(RATIO_COLUMNS, ratio_rows(records)),
        "ratio (total): recsim-ng's total time over recosim's, both without start-up imports; above 1, recosim is "
        "faster. ratio (run): the same without build and compilation (recsim-ng's ecosystem traces a new "
        "tf.function for every run, so its compilation stays inside its run time). jax (cold cache): recosim's "
        "persistent compilation cache empty; jax (warm cache): a new process with the cache the cold run filled.",
        "## Each side",
        markdown_table(SIDE_COLUMNS, detail),
        "recsim-ng's ecosystem runs draw from one TensorFlow random stream per process, one run after the "
        "other, as its run_simulation does; recosim seeds each run on its own.",
    ]
    return "\n\n".join(p for p in parts if p)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser(__doc__ or "", list(REFERENCE), "jax,tf")
    parser.add_argument("--skip-reference", action="store_true", help="run recosim's side only")
    parser.add_argument(
        "--compile-cache",
        choices=("cold-warm", "off"),
        default="cold-warm",
        help="JAX: a run with an empty compilation cache, then one with the cache it filled (default), or off",
    )
    args = parser.parse_args(argv)
    check_workloads(parser, args, list(REFERENCE))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_description()
    records: list[dict[str, Any]] = []
    for name in args.workloads.split(","):
        runs: list[tuple[str, Any, str | None]] = [] if args.skip_reference else [("recsim-ng", None, None)]
        for rt in (r for r in args.runtimes.split(",") if r in WORKLOADS[name].runtimes):
            runs += [("recosim", rt, state) for state in cache_states(rt, args)]
        for side, runtime, cache in runs:
            label = run_label({"runtime": runtime or "tf", "cache": cache})
            prefix = f"{name:<20} {side:<9} {label:<6}"
            if side == "recsim-ng":
                rec = run_reference(name, args, prefix)
            else:
                rec = measure(WORKLOADS[name], runtime, args, prefix, cache=cache) | {"side": "recosim"}
            records.append(rec)
            show(prefix, rec)
            payload = {"size": args.size, "sizes": SIZES[args.size], "machine": machine, "results": records}
            write_report(
                args.out,
                "reference",
                "recsim-ng 0.1.2 and recosim side by side",
                report_body(args.size, records, machine),
                payload,
            )
    print()
    print(markdown_table(RATIO_COLUMNS, ratio_rows(records)))
    warn = quiet_warning(machine.get("load_average"), machine.get("usable_cores"))
    if warn:
        print("\n" + warn.replace("**", ""))
    print(f"\nreport: {args.out / 'reference.md'} and {args.out / 'reference.json'}")
    return 1 if any(r["status"] == "failed" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
