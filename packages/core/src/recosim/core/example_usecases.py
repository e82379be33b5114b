"""Two small use cases that recosim-core ships: ``recosim run counting`` and ``recosim run random-walk``.

They exercise the whole host: a runtime chosen by name, resumable checkpointed
runs, progress reports and result files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recosim.core.checkpoint import run_resumable
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.plugins import get_plugins
from recosim.core.usecase import Parameter, Progress, UseCase, write_summary

__all__ = ["CountingUseCase", "RandomWalkUseCase"]


def _checkpoint(out: Path | None) -> Path | None:
    return None if out is None else out / "checkpoint.npz"


class CountingUseCase(UseCase):
    """The paper's count-to-n model (section 3.1)."""

    name = "counting"
    summary = "count to n: the smallest deterministic network"
    parameters = (Parameter("steps", int, 10, "number of transitions"),)

    def run(
        self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None, **params: Any
    ) -> Mapping[str, Any]:
        p = self.validate(params)
        rt = get_plugins().get_runtime(runtime)(counting_variables(), seed=seed)
        final = run_resumable(rt, p["steps"], seed=seed, checkpoint=_checkpoint(out), progress=progress, config=p)
        summary = {
            "usecase": self.name,
            "runtime": runtime,
            "seed": seed,
            "steps": p["steps"],
            "final_count": int(np.asarray(final["count"].get("n"))),
        }
        write_summary(out, summary)
        return summary


class RandomWalkUseCase(UseCase):
    """A population of independent Gaussian random walks."""

    name = "random-walk"
    summary = "Gaussian random walks for a population of agents"
    parameters = (
        Parameter("num_agents", int, 1000, "population size"),
        Parameter("steps", int, 100, "number of transitions"),
        Parameter("scale", float, 1.0, "standard deviation of each increment"),
    )

    def run(
        self, *, runtime: str, seed: int, out: Path | None, progress: Progress | None = None, **params: Any
    ) -> Mapping[str, Any]:
        p = self.validate(params)
        rt = get_plugins().get_runtime(runtime)(random_walk_variables(p["num_agents"], p["scale"]), seed=seed)
        final_value = run_resumable(rt, p["steps"], seed=seed, checkpoint=_checkpoint(out), progress=progress, config=p)
        final = np.asarray(final_value["walk"].get("position"))
        summary = {
            "usecase": self.name,
            "runtime": runtime,
            "seed": seed,
            **p,
            "final_mean": float(final.mean()),
            "final_std": float(final.std()),
            "expected_std": float(p["scale"] * np.sqrt(p["steps"] + 1)),
        }
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / "final_positions.npy", final)
        write_summary(out, summary)
        return summary
