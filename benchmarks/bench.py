"""Time recosim's use cases on every runtime, one child process per workload.

    python benchmarks/bench.py [--size reference|short|small] [--workloads ecosystem,...]
                               [--runtimes numpy,tf,jax] [--out out/bench] [--resume]
                               [--compile-cache cold-warm|off]

For every workload and runtime: compile time apart from run time, time per unit
of work, and the peak resident memory of the process that ran it. Writes
``bench.md`` and ``bench.json`` under ``--out`` (with a description of the
machine) after every workload, so an interrupted run keeps what it finished;
``--resume`` skips the workloads that an earlier run with the same size already
finished. JAX rows come twice: with an empty persistent compilation cache
(``jax (cold cache)``, a fresh folder under ``--out``) and again with the cache
that run filled (``jax (warm cache)``); ``--compile-cache off`` gives one row with
the cache off. See docs/benchmarks.md for what each column means.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from harness import (
    ChildResult,
    fmt_mib,
    fmt_seconds,
    machine_description,
    markdown_table,
    quiet_warning,
    run_child,
    timing_figures,
    write_report,
)
from workloads import SIZES, WORKLOADS, Workload, availability, child_params

CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}

COMPILE_CACHE_ENV = "RECOSIM_COMPILE_CACHE"  # read by recosim.jax.compile_cache
CACHED_RUNTIMES = ("jax",)  # runtimes whose compiled programs persist between processes

COLUMNS = (
    "workload",
    "runtime",
    "status",
    "total s",
    "compile s",
    "run s",
    "per unit",
    "peak RSS MiB",
    "import s",
    "result",
)


def describe_result(result: dict[str, Any]) -> str:
    """A short line of a workload's result figures (utility per cap, rewards, parameters)."""
    if "utility" in result:
        return "; ".join(
            f"{cap}: {u['mean']:.2f} ± {u['stderr']:.2f} ({u['runs']} runs)" for cap, u in result["utility"].items()
        )
    skip = {"compile_estimate_s", "steady_step_s", "units", "unit", "runs_per_call"}
    parts = []
    for k, v in result.items():
        if k in skip:
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, dict):
            v = json.dumps(v, default=str)
        parts.append(f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= 160 else text[:157] + "..."


def record_of(name: str, runtime: str, child: ChildResult | None, status: str | None = None) -> dict[str, Any]:
    """One row of the JSON report (status: the child's outcome unless given)."""
    if status is None:
        status = "ok" if child is not None and child.ok else "failed"
    rec: dict[str, Any] = {"workload": name, "runtime": runtime, "status": status}
    if child is not None:
        rec |= timing_figures(child) | {"peak_rss_mib": child.peak_rss_mib, "child": child.as_dict()}
        if not child.ok:
            rec["log_tail"] = child.log_tail
    return rec


def run_label(rec: dict[str, Any]) -> str:
    """The runtime column: the runtime, with the state of its compilation cache where it has one."""
    cache = rec.get("cache")
    return rec["runtime"] if not cache else f"{rec['runtime']} ({cache} cache)"


def table_row(rec: dict[str, Any]) -> list[str]:
    """One row of the markdown table."""
    child = rec.get("child") or {}
    result = child.get("result") or {}
    per = rec.get("per_unit_s")
    unit = result.get("unit", "unit")
    per_txt = "—" if per is None else (f"{per * 1000:.2f} ms/{unit}" if per < 1 else f"{per:.2f} s/{unit}")
    shown = describe_result(result) if rec["status"] == "ok" else (child.get("error") or "")
    return [
        rec["workload"],
        run_label(rec),
        rec["status"],
        fmt_seconds(rec.get("total_s")),
        fmt_seconds(rec.get("compile_s")),
        fmt_seconds(rec.get("run_s")),
        per_txt,
        fmt_mib(rec.get("peak_rss_mib")),
        fmt_seconds(rec.get("import_s")),
        shown,
    ]


def progress_line(rec: dict[str, Any]) -> str:
    """One line on the console for a finished (or skipped) workload."""
    if rec["status"] not in ("ok", "failed"):
        return rec["status"]
    row = table_row(rec)
    return f"{row[2]}: total {row[3]} s, compile {row[4]} s, run {row[5]} s, {row[6]}, peak RSS {row[7]} MiB  {row[9]}"


def report_body(size: str, records: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    warn = quiet_warning(machine.get("load_average"), machine.get("usable_cores"))
    sizes = "\n".join(f"- {name}: " + ", ".join(f"{k}={v}" for k, v in p.items()) for name, p in SIZES[size].items())
    parts = [
        f"## Results (size `{size}`)",
        warn or "",
        markdown_table(COLUMNS, [table_row(r) for r in records]),
        "total: the work as a user waits for it, imports left out; compile: tracing and compilation "
        "(first pass minus warm pass, or first step minus median step); run: total less build and compile; "
        "peak RSS: the high-water mark of the process that ran the workload; jax (cold cache): an empty persistent "
        "compilation cache, jax (warm cache): a new process with the cache the cold run filled. "
        "docs/benchmarks.md has the details.",
        f"## Sizes\n\n{sizes}",
    ]
    return "\n\n".join(p for p in parts if p)


def make_parser(doc: str, workloads: list[str], runtimes: str) -> argparse.ArgumentParser:
    """The options ``bench.py`` and ``compare.py`` share."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reference")
    parser.add_argument("--workloads", default=",".join(workloads), help="comma-separated workload names")
    parser.add_argument("--runtimes", default=runtimes, help="comma-separated recosim runtime names")
    parser.add_argument("--out", type=Path, default=Path("out/bench"), help="directory for the reports")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a workload is stopped")
    parser.add_argument("--no-warm", action="store_true", help="skip the ecosystem's warm pass (no compile split)")
    parser.add_argument("--runs-per-call", type=int, help="ecosystem runs per call (default: the use case's)")
    parser.add_argument("--provider-means", help="ecosystem provider means (.npy); default: the shared draw")
    return parser


def check_workloads(parser: argparse.ArgumentParser, args: argparse.Namespace, known: list[str]) -> None:
    unknown = sorted(set(args.workloads.split(",")) - set(known))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; known: {sorted(known)}")
    sized = SIZES[args.size]
    missing = sorted(set(args.workloads.split(",")) - set(sized))
    if missing:
        parser.error(f"size {args.size!r} has no figures for {missing}; it covers {sorted(sized)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = make_parser(__doc__ or "", list(WORKLOADS), "numpy,tf,jax")
    parser.add_argument("--resume", action="store_true", help="keep the finished workloads of an earlier run")
    parser.add_argument(
        "--compile-cache",
        choices=("cold-warm", "off"),
        default="cold-warm",
        help="JAX: a run with an empty compilation cache, then one with the cache it filled (default), or off",
    )
    args = parser.parse_args(argv)
    check_workloads(parser, args, list(WORKLOADS))
    return args


def cache_states(runtime: str, args: argparse.Namespace) -> list[str | None]:
    """The compilation-cache states a runtime is measured in: cold then warm, ``off``, or none (not cached)."""
    if runtime not in CACHED_RUNTIMES:
        return [None]
    mode = getattr(args, "compile_cache", "cold-warm")
    return ["off"] if mode == "off" else ["cold", "warm"]


def cache_env(state: str | None, args: argparse.Namespace) -> dict[str, str]:
    """The child's environment for a cache state; ``cold`` empties the benchmark's own cache folder first."""
    if state is None:
        return {}
    if state == "off":
        return {COMPILE_CACHE_ENV: "off"}
    folder = Path(args.out).absolute() / "compile-cache"
    if state == "cold" and folder.exists():
        shutil.rmtree(folder)
    return {COMPILE_CACHE_ENV: str(folder)}


def measure(
    workload: Workload, runtime: str, args: argparse.Namespace, prefix: str, cache: str | None = None
) -> dict[str, Any]:
    """Run one recosim workload in its own child process (or say why it cannot run); its report row.

    ``cache`` (`cache_states`) is the state of the runtime's compilation cache: ``cold``, ``warm``, ``off``,
    or None to leave the environment's setting.
    """
    why = availability(workload, runtime)
    if why is not None:
        return record_of(workload.name, runtime, None, why)
    print(f"{prefix} running ...", flush=True)
    extra: dict[str, Any] = {}
    if workload.function == "ecosystem":
        extra = {"warm": not args.no_warm, "runs_per_call": args.runs_per_call, "provider_means": args.provider_means}
    child = run_child(
        "workloads",
        workload.function,
        child_params(workload, runtime, args.size, **extra),
        timeout=args.timeout,
        log_dir=args.out / "logs",
        label=f"{workload.name}-{runtime}" + (f"-{cache}" if cache else ""),
        env={**CHILD_ENV, **cache_env(cache, args)},
    )
    rec = record_of(workload.name, runtime, child)
    return rec | {"cache": cache} if cache else rec


def show(prefix: str, rec: dict[str, Any]) -> None:
    """Print a finished row, with the end of the log of a failed one."""
    print(f"{prefix} {progress_line(rec)}", flush=True)
    if rec["status"] == "failed" and rec.get("log_tail"):
        print("  last lines of its log:\n    " + rec["log_tail"].replace("\n", "\n    "), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_description()
    previous = _previous(args.out / "bench.json", args.size) if args.resume else {}
    records: list[dict[str, Any]] = []
    wanted = args.runtimes.split(",")
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        for runtime in (r for r in workload.runtimes if r in wanted):
            states = cache_states(runtime, args)
            labels = [run_label({"runtime": runtime, "cache": state}) for state in states]
            if all((workload.name, label) in previous for label in labels):  # cold and warm are kept together
                for label in labels:
                    records.append(previous[(workload.name, label)])
                    print(f"{name:<20} {label:<6} kept from the earlier run", flush=True)
                continue
            for state, label in zip(states, labels):
                prefix = f"{name:<20} {label:<6}"
                rec = measure(workload, runtime, args, prefix, cache=state)
                records.append(rec)
                show(prefix, rec)
                payload = {"size": args.size, "sizes": SIZES[args.size], "machine": machine, "results": records}
                body = report_body(args.size, records, machine)
                write_report(args.out, "bench", "recosim benchmarks", body, payload)
    print(f"report: {args.out / 'bench.md'} and {args.out / 'bench.json'}")
    return 1 if any(r["status"] == "failed" for r in records) else 0


def _previous(path: Path, size: str) -> dict[tuple[str, str], dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    if old.get("size") != size or old.get("sizes") != SIZES[size]:
        return {}
    return {(r["workload"], run_label(r)): r for r in old.get("results", []) if r.get("status") == "ok"}


if __name__ == "__main__":
    sys.exit(main())
