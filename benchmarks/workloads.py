"""The workloads that ``bench.py`` and ``compare.py`` time, at named sizes.

A `Workload` names the use case it exercises, the runtimes it runs on, and the
child-process function that does the work. ``SIZES`` holds the figures of each
workload at each size; ``reference`` is the size of the reference use cases
(REFERENCE_MODELS.md), ``small`` a size that proves the plumbing in seconds.
The reference implementation's drivers (``reference_workloads.py``) read the
same ``SIZES``, so both sides always run the same problem.

The child functions take a `harness.Clock` and the size's parameters, and return
result figures. The ecosystem is timed at the runtime level with the same calls,
seeds and batching as ``recosim run ecosystem``, twice in one process: the first
pass carries the compilation, the second is warm. The other use cases are timed
through the `recosim.core.usecase.UseCase` contract (``recosim run NAME``): each
training step or EM iteration reports progress, and the first step's excess over
the median step is the compilation estimate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import Clock, split_compile

__all__ = ["Workload", "WORKLOADS", "SIZES", "availability", "default_provider_means_path"]

SHARED_MEANS = Path("/work/shared/provider_means_seed0.npy")


def default_provider_means_path() -> str:
    """The provider means both sides load: the shared draw if present, else the copy recosim ships.

    The two files hold the same 80 x 2 draw (``provider_means_seed0.npy``).
    """
    if SHARED_MEANS.exists():
        return str(SHARED_MEANS)
    from importlib import resources

    return str(resources.files("recosim.usecases").joinpath("data/provider_means_seed0.npy"))


@dataclass(frozen=True)
class Workload:
    """One benchmarked job.

    ``usecase`` is the name the use case registers with the plugin manager (the
    workload is "not available" until that name is installed); ``usecase_params``
    maps this workload's size parameters to the use case's parameter names, for
    the workloads driven through the use-case contract.
    """

    name: str
    title: str
    usecase: str
    runtimes: tuple[str, ...]
    function: str
    usecase_params: Mapping[str, str] | None = None
    cli: str = ""


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="ecosystem",
            title="ecosystem simulation (paper 4.3)",
            usecase="ecosystem",
            runtimes=("numpy", "tf", "jax"),
            function="ecosystem",
            cli="recosim run ecosystem --runtime RT --num-users 2000 --horizon 300 --num-runs 8 --boost-caps 0,1.2 "
            "--provider-means provider_means_seed0.npy",
        ),
        Workload(
            name="interest-evolution",
            title="interest evolution, REINFORCE training (paper 4.1)",
            usecase="interest-evolution",
            runtimes=("tf", "jax"),
            function="through_usecase",
            usecase_params={
                "num_users": "num_users",
                "horizon": "horizon",
                "num_training_steps": "train_steps",
                "history_length": "history_lengths",
            },
            cli="recosim run interest-evolution --runtime RT --num-users 1000 --horizon 100 --train-steps 100 "
            "--history-lengths 15",
        ),
        Workload(
            name="latent-variable",
            title="latent-variable model, Monte-Carlo EM with HMC (paper 4.2)",
            usecase="latent-variable",
            runtimes=("tf", "jax"),
            function="through_usecase",
            usecase_params={
                "num_users": "num_users",
                "horizon": "horizon",
                "num_iterations": "num_iterations",
                "num_results": "num_samples",
                "num_burnin_steps": "num_burnin_steps",
            },
            cli="recosim run latent-variable --runtime RT --num-users 5 --horizon 6 --num-iterations 100",
        ),
    )
}

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "reference": {
        "ecosystem": {"num_users": 2000, "num_docs": 400, "horizon": 300, "num_runs": 8, "boost_caps": [0.0, 1.2]},
        "interest-evolution": {"num_users": 1000, "horizon": 100, "num_training_steps": 100, "history_length": "15"},
        "latent-variable": {
            "num_users": 5,
            "num_topics": 3,
            "slate_size": 4,
            "horizon": 6,
            "num_iterations": 100,
            "num_results": 1000,
            "num_burnin_steps": 500,
        },
    },
    # the reference sizes with 10 EM iterations instead of 100: every iteration does the
    # reference's work, so per-iteration figures compare, in minutes rather than half an hour
    "short": {
        "latent-variable": {
            "num_users": 5,
            "num_topics": 3,
            "slate_size": 4,
            "horizon": 6,
            "num_iterations": 10,
            "num_results": 1000,
            "num_burnin_steps": 500,
        },
    },
    "small": {
        "ecosystem": {"num_users": 200, "num_docs": 400, "horizon": 30, "num_runs": 2, "boost_caps": [0.0, 1.2]},
        "interest-evolution": {"num_users": 50, "horizon": 10, "num_training_steps": 4, "history_length": "15"},
        "latent-variable": {
            "num_users": 5,
            "num_topics": 3,
            "slate_size": 4,
            "horizon": 6,
            "num_iterations": 3,
            "num_results": 40,
            "num_burnin_steps": 20,
        },
    },
}


def availability(workload: Workload, runtime: str) -> str | None:
    """``None`` if ``workload`` can run on ``runtime`` here, else why not (for the report)."""
    from recosim.core.plugins import get_plugins

    plugins = get_plugins()
    if workload.usecase not in plugins.registry("usecases").names():
        return "not available (use case not installed)"
    if runtime not in plugins.runtime_names():
        return "not available (runtime not installed)"
    return None


# -- child-process functions -------------------------------------------------------


def _mean_and_stderr(xs: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(xs, dtype=np.float64)
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else 0.0
    return {"mean": float(a.mean()), "stderr": se, "runs": int(a.size)}


def ecosystem(
    clock: Clock,
    *,
    runtime: str,
    num_users: int,
    num_docs: int,
    horizon: int,
    num_runs: int,
    boost_caps: list[float],
    provider_means: str | None = None,
    runs_per_call: int | None = None,
    seed: int = 0,
    warm: bool = True,
) -> dict[str, Any]:
    """The ecosystem comparison of boost caps, as ``recosim run ecosystem`` computes it.

    Run ``i`` of every cap uses seed ``chunk_seed(seed, i)`` (the use case's seeds);
    ``runs_per_call`` runs go into one ``run_many`` call where the runtime offers it
    (default: the use case's own default). As in the use case, one runtime serves
    every cap: the cap is the model's ``"boost_cap"`` setting, given per call.
    Phases: ``build`` (model and runtime objects), ``first`` (all runs, compiling
    on the way), ``warm`` (the same number of runs again with fresh seeds on the
    same compiled runtime).
    """
    import numpy as np

    from recosim.core.checkpoint import chunk_seed
    from recosim.core.plugins import get_plugins
    from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables, load_provider_means
    from recosim.usecases.ecosystem_usecase import EcosystemUseCase

    if runs_per_call is None:  # the use case's default: None, the runtime's own runs_per_call
        runs_per_call = EcosystemUseCase().defaults()["runs_per_call"]
    with clock.phase("import"):
        runtime_cls = get_plugins().get_runtime(runtime)
    with clock.phase("build"):
        means = load_provider_means(provider_means or default_provider_means_path())
        cfg = EcosystemConfig(num_users=num_users, num_docs=num_docs, boost_cap=boost_caps[0], provider_means=means)
        rt = runtime_cls(ecosystem_variables(cfg), seed=seed, settings={"boost_cap": boost_caps[0]})

    def one_pass(first_run: int) -> dict[float, list[float]]:
        utilities: dict[float, list[float]] = {}
        for cap in boost_caps:
            settings = {"boost_cap": cap}
            own = max(1, int(getattr(rt, "runs_per_call", 1) or 1))
            batch = (runs_per_call or own) if hasattr(rt, "run_many") else 1
            runs = list(range(first_run, first_run + num_runs))
            for start in range(0, num_runs, batch):
                seeds = [chunk_seed(seed, i) for i in runs[start : start + batch]]
                if len(seeds) > 1:
                    final = rt.run_many(seeds, num_steps=horizon - 1, settings=settings)
                    per_run = np.asarray(final["metrics"].get("cumulative_utility")).mean(axis=-1)
                else:
                    final = rt.execute(horizon - 1, seed=seeds[0], settings=settings)
                    per_run = [np.asarray(final["metrics"].get("cumulative_utility")).mean()]
                utilities.setdefault(cap, []).extend(float(u) for u in per_run)
        return utilities

    with clock.phase("first"):
        first = one_pass(0)
    result: dict[str, Any] = {
        "runs_per_call": runs_per_call or max(1, int(getattr(rt, "runs_per_call", 1) or 1)),
        "utility": {f"L={cap:g}": _mean_and_stderr(u) for cap, u in first.items()},
        "units": num_runs * len(boost_caps) * horizon,
        "unit": "run-step",
    }
    if warm and runtime != "numpy":
        with clock.phase("warm"):
            one_pass(num_runs)
    return result


def through_usecase(
    clock: Clock,
    *,
    runtime: str,
    usecase: str,
    usecase_params: Mapping[str, str],
    seed: int = 0,
    **sizes: Any,
) -> dict[str, Any]:
    """Run a use case through its contract, ``UseCase.run`` (what ``recosim run NAME`` calls).

    The sizes named in ``usecase_params`` are passed under the use case's parameter
    names; a size the use case does not take is an error naming both lists. The use
    case's progress reports mark its steps (a report may cover several: the count is
    its ``done`` less the previous one's); the first report's excess over its steps at
    the median cost of a step in the other reports is the compilation estimate.
    """
    from recosim.core.plugins import get_plugins

    with clock.phase("import"):
        case = get_plugins().get_usecase(usecase)
        case = case() if isinstance(case, type) else case
    takes = {p.name for p in getattr(case, "parameters", ())}
    params = {usecase_params[k]: v for k, v in sizes.items() if k in usecase_params}
    missing = sorted(set(params) - takes)
    if missing:
        raise ValueError(
            f"use case {usecase!r} takes parameters {sorted(takes)}, but the benchmark sets {missing}: "
            "update usecase_params of this workload in benchmarks/workloads.py"
        )
    done: list[int] = []

    def progress(finished: int, _total: int) -> None:
        done.append(int(finished))
        clock.mark()

    with clock.phase("run"):
        start = time.perf_counter()
        summary = case.run(runtime=runtime, seed=seed, out=None, progress=progress, **params)
    counts = [b - a for a, b in zip([0, *done[:-1]], done)]
    reports = [(t, n) for t, n in zip(clock.step_times(start), counts) if n > 0]
    _, step_s = split_compile([t / n for t, n in reports])
    compile_s = None if step_s is None else max(reports[0][0] - reports[0][1] * step_s, 0.0)
    return {
        "summary": _scalars(summary),
        "compile_estimate_s": compile_s,
        "steady_step_s": step_s,
        "units": done[-1] if done else 0,
        "unit": "step",
    }


def _scalars(summary: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """The numbers and short strings of a use case's summary (long arrays dropped)."""
    keep: dict[str, Any] = {}
    for k, v in dict(summary).items():
        if isinstance(v, bool | int | float | str) and (not isinstance(v, str) or len(v) < 200):
            keep[k] = v
        elif isinstance(v, Mapping) and depth < 3:
            keep[k] = _scalars(v, depth + 1)
        elif hasattr(v, "item") and getattr(v, "size", 2) == 1:
            keep[k] = v.item()
    return keep


FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {"ecosystem": ecosystem, "through_usecase": through_usecase}


def child_params(workload: Workload, runtime: str, size: str, **extra: Any) -> dict[str, Any]:
    """The keyword arguments of ``workload``'s child function at ``size`` on ``runtime``."""
    params: dict[str, Any] = {"runtime": runtime, **SIZES[size][workload.name]}
    if workload.function == "through_usecase":
        params |= {"usecase": workload.usecase, "usecase_params": dict(workload.usecase_params or {})}
    params |= {k: v for k, v in extra.items() if v is not None}
    return params
