"""Two small use cases that recosim-core ships: ``recosim run counting`` and ``recosim run random-walk``.

They exercise the whole host: the common options, a runtime chosen by name,
resumable checkpointed runs, progress reports and result files. Both are written
as templates: each implements only `UseCase.simulate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recosim.core.checkpoint import run_resumable
from recosim.core.errors import UsageError
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.results import hold_out
from recosim.core.usecase import HORIZON, NUM_USERS, Parameter, Progress, RunSetup, UseCase

__all__ = ["CountingUseCase", "RandomWalkUseCase"]


def _run_checkpointed(setup: RunSetup, variables: Any, progress: Progress | None) -> Any:
    """``horizon`` time steps (``horizon - 1`` transitions), checkpointed under ``out`` so that a rerun resumes."""
    checkpoint = None if setup.out is None else setup.out / "checkpoint.npz"
    config = {**setup.params, "runtime": setup.runtime}
    with hold_out(setup.out):
        return run_resumable(
            setup.make_runtime(variables),
            setup.params["horizon"] - 1,
            seed=setup.seed,
            checkpoint=checkpoint,
            progress=progress,
            config=config,
        )


class CountingUseCase(UseCase):
    """The paper's count-to-n model (section 3.1): the count after ``horizon`` steps is ``horizon - 1``."""

    name = "counting"
    summary = "count to n: the smallest deterministic network"
    parameters = (HORIZON.with_default(10),)

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        final = _run_checkpointed(setup, counting_variables(), progress)
        return {"final_count": int(np.asarray(final["count"].get("n")))}

    run_rows = UseCase.summary_rows  # one run: its figures are the summary's


class RandomWalkUseCase(UseCase):
    """A population of independent Gaussian random walks (one walker per user)."""

    name = "random-walk"
    summary = "Gaussian random walks for a population of users"
    parameters = (
        NUM_USERS.with_default(1000, "walkers"),
        HORIZON.with_default(100),
        Parameter("scale", float, 1.0, "standard deviation of each increment (> 0)"),
    )

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["scale"] <= 0:
            raise UsageError(f"--scale must be > 0, got {params['scale']}")
        return params

    run_rows = UseCase.summary_rows  # one run: its figures are the summary's

    def simulate(self, setup: RunSetup, progress: Progress | None = None) -> Mapping[str, Any]:
        p = setup.params
        final_value = _run_checkpointed(setup, random_walk_variables(p["num_users"], p["scale"]), progress)
        final = np.asarray(final_value["walk"].get("position"))
        if setup.out is not None:
            np.save(setup.out / "final_positions.npy", final)
        return {
            "final_mean": float(final.mean()),
            "final_std": float(final.std()),
            "expected_std": float(p["scale"] * np.sqrt(p["horizon"])),
        }
