"""Speed of each installed runtime on the same models.

    python benchmarks/runtimes.py [--steps 300] [--users 2000] [--runtimes numpy,tf,jax] [--json out.json]

For each runtime: the first call (which includes tracing/compilation on TF and
JAX) and the best of ``--repeat`` further calls, for the ecosystem model at the
paper's size and for a population random walk.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from typing import Any

from recosim.core.examples import random_walk_variables
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    to_numpy(fn())  # include the transfer of results to the host
    return time.perf_counter() - start


def bench(runtime: str, name: str, variables: list, steps: int, repeat: int) -> dict[str, Any]:
    rt = make_runtime_for(runtime, variables, seed=0)
    first = _timed(lambda: rt.execute(steps - 1, seed=1))
    again = min(_timed(lambda i=i: rt.execute(steps - 1, seed=2 + i)) for i in range(repeat))
    return {
        "runtime": runtime,
        "model": name,
        "steps": steps,
        "first_call_s": round(first, 3),
        "steady_s": round(again, 3),
        "ms_per_step": round(1000 * again / steps, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--runtimes", default=",".join(runtime_names()))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    try:
        from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables
    except ImportError:  # recosim-usecases not installed
        ecosystem_variables = None  # type: ignore[assignment]
    rows = []
    for runtime in args.runtimes.split(","):
        models = [("random walk", random_walk_variables(args.users))]
        if ecosystem_variables is not None:
            models.append(("ecosystem", ecosystem_variables(EcosystemConfig(num_users=args.users))))
        for name, variables in models:
            row = bench(runtime, name, variables, args.steps, args.repeat)
            rows.append(row)
            print(
                f"{row['runtime']:<6} {row['model']:<12} first call {row['first_call_s']:8.2f} s   "
                f"then {row['steady_s']:8.2f} s  ({row['ms_per_step']:.2f} ms/step, {args.steps} steps, "
                f"{args.users} users)",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.platform(), "processor": platform.processor(), "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
