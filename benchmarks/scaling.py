"""Per-step time and peak memory of the ecosystem step as the number of users grows.

    python benchmarks/scaling.py [--users 2000,20000,200000] [--runtimes jax,tf] [--steps 20] [--out out/bench]

Each (runtime, users) point runs in a child process of its own (`harness.run_child`),
so its peak resident memory is its own: the model at ``users`` x 400 documents,
one run of ``--steps`` steps to compile, then the same again with a new seed, timed.
Reported per step: wall-clock milliseconds and CPU milliseconds (all threads),
and the child's peak resident memory. The mean utility per user per step is kept
beside the timings so that a fast but wrong run shows. A million users is not in
the default list: run it alone (``--users 1000000``), with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness import Clock, fmt_mib, machine_description, markdown_table, quiet_warning, run_child, write_report

DEFAULT_USERS = (2000, 20000, 200000)


def ecosystem_steps(clock: Clock, *, runtime: str, num_users: int, num_docs: int, steps: int) -> dict[str, Any]:
    """Child: compile-and-run ``steps`` steps, then time the same call with a new seed."""
    import numpy as np

    from recosim.core.plugins import get_plugins
    from recosim.core.testing import to_numpy
    from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables

    with clock.phase("build"):
        cfg = EcosystemConfig(num_users=num_users, num_docs=num_docs, boost_cap=1.2)
        rt = get_plugins().get_runtime(runtime)(ecosystem_variables(cfg), seed=0)
    with clock.phase("first"):
        to_numpy(rt.execute(steps - 1, seed=1))
    wall, cpu = time.perf_counter(), time.process_time()
    with clock.phase("warm"):
        final = to_numpy(rt.execute(steps - 1, seed=2))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    utility = float(np.asarray(final["metrics"]["cumulative_utility"]).mean()) / steps
    return {"ms_per_step": 1000 * wall / steps, "cpu_ms_per_step": 1000 * cpu / steps, "utility_per_step": utility}


def measure(runtime: str, users: int, args: argparse.Namespace) -> dict[str, Any]:
    child = run_child(
        "scaling",
        "ecosystem_steps",
        {"runtime": runtime, "num_users": users, "num_docs": args.docs, "steps": args.steps},
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=args.timeout,
        log_dir=Path(args.out) / "logs",
        label=f"scaling-{runtime}-{users}",
    )
    row: dict[str, Any] = {"runtime": runtime, "users": users, "docs": args.docs, "steps": args.steps}
    row.update(ok=child.ok, error=child.error, peak_rss_mib=child.peak_rss_mib, load_before=child.load_before)
    row.update(child.result)
    row["first_call_s"] = child.phases.get("first")
    return row


def table(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        if r["ok"]:
            figures = [f"{r['ms_per_step']:.2f}", f"{r['cpu_ms_per_step']:.2f}", f"{r['first_call_s']:.1f}"]
            figures.append(f"{r['utility_per_step']:.3f}")
        else:
            figures = [f"failed: {r['error']}", "", "", ""]
        load = f"{r['load_before'][0]:.1f}" if r.get("load_before") else ""
        body.append([r["runtime"], f"{r['users']:,}", *figures, fmt_mib(r["peak_rss_mib"]), load])
    header = ["runtime", "users", "ms/step", "CPU ms/step", "first call s", "utility/step", "peak memory", "load"]
    return markdown_table(header, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default=",".join(str(u) for u in DEFAULT_USERS))
    parser.add_argument("--runtimes", default="jax,tf")
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a point is abandoned")
    parser.add_argument("--out", default="out/bench")
    args = parser.parse_args(argv)
    rows = []
    for runtime in args.runtimes.split(","):
        for users in (int(u) for u in args.users.split(",")):
            row = measure(runtime, users, args)
            rows.append(row)
            print(json.dumps({k: row[k] for k in row if k != "load_before"}), flush=True)
    machine = machine_description()
    warning = quiet_warning(machine.get("load_average"), machine.get("usable_cores"))
    body = f"{warning}\n\n{table(rows)}\n" if warning else f"{table(rows)}\n"
    md, js = write_report(Path(args.out), "scaling", "Ecosystem step scaling", body, {"machine": machine, "rows": rows})
    print(f"wrote {md} and {js}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
