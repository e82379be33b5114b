"""The ecosystem's figure-3 sweep from one command, against the same runs one ``recosim run`` at a time.

    python benchmarks/sweep_figure3.py [--caps 0,0.3,...] [--runs 40] [--users 2000] [--horizon 300]
        [--runtime numpy] [--workers N] [--baseline-runs N] [--out DIR] [--json FILE]

Defaults are the paper's figure 3: 8 boost caps x 40 runs, 2000 users x 300 steps. The
sweep is ``recosim sweep ecosystem --grid boost-caps=... --set num-runs=1 --seeds 40``
on the local backend (one process per core); the baseline runs the same (cap, seed)
pairs sequentially, each as its own ``recosim run ecosystem --num-runs 1`` process, as
a shell loop would. ``--baseline-runs N`` times only the first N of them and
extrapolates (said so in the output). Runs done both ways are checked to agree.
Writes the figure (mean cumulative utility against the cap, standard-error bars) and
a JSON record of the timings and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recosim.sweep import mean_and_stderr, plot_summary

FIGURE3_CAPS = "0,0.3,0.6,0.9,1.2,1.5,2,3"
_PER_CAP = re.compile(r"^metric\.policies\.L=([^.]+(?:\.[0-9]+)?)\.mean$")


def recosim_command() -> list[str]:
    found = shutil.which("recosim")
    return [found] if found else [sys.executable, "-m", "recosim.core.cli"]


def size_options(args: argparse.Namespace) -> list[str]:
    return ["--num-users", str(args.users), "--horizon", str(args.horizon), "--runtime", args.runtime]


def utility(row: dict[str, Any]) -> float | None:
    """A run's mean cumulative utility, whichever way the ecosystem names it in its summary."""
    if row.get("metric.mean_cumulative_utility") is not None:
        return float(row["metric.mean_cumulative_utility"])
    for key, value in row.items():  # a summary keyed by policy: policies.L=<cap>.mean
        if value is not None and _PER_CAP.match(key):
            return float(value)
    return None


def run_sweep(args: argparse.Namespace, out: Path) -> tuple[float, list[dict[str, Any]]]:
    cmd = [*recosim_command(), "sweep", "ecosystem", "--grid", f"boost-caps={args.caps}", "--set", "num-runs=1",
           "--set", f"num-users={args.users}", "--set", f"horizon={args.horizon}", "--seeds", str(args.runs),
           "--runtime", args.runtime, "--out", str(out), "--no-plots", "--quiet"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    print("sweep:", " ".join(cmd), file=sys.stderr)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    return wall, pq.read_table(out / "results.parquet").to_pylist()


def run_one_at_a_time(args: argparse.Namespace, pairs: list[tuple[str, int]]) -> tuple[float, dict]:
    results = {}
    start = time.perf_counter()
    for cap, seed in pairs:
        cmd = [*recosim_command(), "run", "ecosystem", "--boost-caps", cap, "--num-runs", "1", "--seed", str(seed),
               "--quiet", "--json", *size_options(args)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        summary = json.loads(done.stdout)
        flat = {f"metric.{k}": v for k, v in _flatten(summary).items()}
        results[(cap, seed)] = utility(flat)
    return time.perf_counter() - start, results


def _flatten(mapping: dict, prefix: str = "") -> dict:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caps", default=FIGURE3_CAPS, help=f"boost caps (default: {FIGURE3_CAPS})")
    parser.add_argument("--runs", type=int, default=40, help="seeds per cap (default: 40)")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--horizon", type=int, default=300)
    parser.add_argument("--runtime", default="numpy")
    parser.add_argument("--workers", type=int, default=None, help="sweep processes (default: one per core)")
    parser.add_argument("--baseline-runs", type=int, default=None,
                        help="time only this many sequential runs and extrapolate (default: all)")
    parser.add_argument("--out", type=Path, default=Path("runs/sweep-figure3"))
    parser.add_argument("--json", type=Path, default=None, help="also write the record to this file")
    args = parser.parse_args()

    caps = [c.strip() for c in args.caps.split(",")]
    if args.out.exists():
        shutil.rmtree(args.out)  # a resumed sweep would time nothing
    sweep_s, rows = run_sweep(args, args.out)
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        sys.exit(f"{len(failed)} runs failed; first: {failed[0]['error']}")

    by_cap: dict[str, dict[int, float]] = {cap: {} for cap in caps}
    for row in rows:
        value = utility(row)
        if value is None:
            sys.exit(f"no utility metric among {sorted(k for k in row if k.startswith('metric.'))}")
        by_cap[row["boost_caps"]][row["seed"]] = value
    stats = {cap: mean_and_stderr(v[s] for s in sorted(v)) for cap, v in by_cap.items()}
    paired = {cap: mean_and_stderr(by_cap[cap][s] - by_cap[caps[0]][s] for s in sorted(by_cap[cap])) for cap in caps}
    summary = pa.table({
        "boost_caps": caps,
        "mean_cumulative_utility.mean": [stats[c][1] for c in caps],
        "mean_cumulative_utility.stderr": [stats[c][2] for c in caps],
        f"paired_difference_vs_L={caps[0]}.mean": [paired[c][1] for c in caps],
        f"paired_difference_vs_L={caps[0]}.stderr": [paired[c][2] for c in caps],
    })
    title = (f"ecosystem: {len(caps)} caps x {args.runs} runs, {args.users} users x {args.horizon} steps "
             f"({args.runtime})")
    plots = plot_summary(summary, {"boost_caps": caps}, args.out, title=title, seeds=args.runs)

    pairs = [(cap, seed) for seed in range(args.runs) for cap in caps]
    timed = pairs[: args.baseline_runs] if args.baseline_runs else pairs
    baseline_s, baseline = run_one_at_a_time(args, timed)
    mismatched = [p for p in timed if baseline[p] != by_cap[p[0]][p[1]]]
    per_run = baseline_s / len(timed)
    record = {
        "machine": {"cores": os.cpu_count(), "load_average_at_end": os.getloadavg(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "sizes": {"caps": caps, "runs_per_cap": args.runs, "users": args.users, "horizon": args.horizon,
                  "runtime": args.runtime, "workers": args.workers or "one per core"},
        "sweep_wall_s": round(sweep_s, 2),
        "one_at_a_time": {"runs_timed": len(timed), "wall_s": round(baseline_s, 2), "per_run_s": round(per_run, 3),
                          "all_runs_s": round(per_run * len(pairs), 2),
                          "extrapolated": len(timed) < len(pairs)},
        "speedup": round(per_run * len(pairs) / sweep_s, 2),
        "runs_checked_equal": len(timed) - len(mismatched),
        "runs_differing": len(mismatched),
        "utility": {c: {"mean": stats[c][1], "stderr": stats[c][2], "paired_vs_first": paired[c][1],
                        "paired_stderr": paired[c][2]} for c in caps},
        "plots": [str(p) for p in plots],
        "results": str(args.out / "results.parquet"),
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if mismatched:
        sys.exit(f"{len(mismatched)} runs differ between the sweep and `recosim run`: {mismatched[:3]}")


if __name__ == "__main__":
    main()
