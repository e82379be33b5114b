"""The integrity model over a grid of mechanisms and policies, run by the runtime's batched execution.

A *job* is one run: a policy's label, a mechanism setting ``(rate limit,
threshold)`` and a run index. Run ``i`` of every setting uses the seed
``chunk_seed(seed, i)``, so settings are compared on common random numbers (the
same population and the same draws wherever behaviour agrees), and differences
between settings have paired standard errors.

The model reads its mechanism and policy as settings (`PARAMETER_SETTINGS`), so
`GridRunner` hands a batch of setting points and run keys to the runtime's
``run_batch`` with the per-run figures (`final_figures`) as outputs: on a
compiling, vectorising runtime one batch is one compiled program, and every
batch of the same size reuses it.

>>> from recosim.usecases.integrity import IntegrityConfig
>>> runner = GridRunner(IntegrityConfig(num_accounts=200, scammer_fraction=0.05), horizon=3, runtime="numpy")
>>> recs = runner.run([Job("fixed", 4.0, 4.0, 0)], {"fixed": None}, seed=0)
>>> sorted(recs[0])[:4]
['engagement', 'friction', 'overflow', 'policy']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.core import get_backend, using_backend
from recosim.core.checkpoint import chunk_seed
from recosim.core.plugins import COMPILES, get_plugins
from recosim.core.runtime import Runtime
from recosim.usecases.integrity.model import (
    IntegrityConfig,
    default_params,
    integrity_variables,
    parameter_settings,
)

__all__ = ["METRICS", "Job", "GridRunner", "final_figures"]

METRICS = ("victims", "friction", "engagement", "scammer_reward", "scammers_suspended", "overflow")
"""Per-run figures: genuine accounts scammed; genuine accounts suspended (friction); genuine
interactions per genuine account per step; scams per scammer; share of scammers suspended;
new edges dropped for lack of buffer (a check: should be 0)."""


@dataclass(frozen=True)
class Job:
    """One run: the policy's label, the mechanism setting and the run index."""

    policy: str
    rate_limit: float
    threshold: float
    run: int

    @property
    def setting(self) -> tuple[float, float]:
        return (self.rate_limit, self.threshold)

    @property
    def point(self) -> tuple[str, float, float]:
        """The setting point the job runs at: its policy and mechanism."""
        return (self.policy, float(self.rate_limit), float(self.threshold))


def final_figures(final: Mapping[str, Any], cfg: IntegrityConfig, horizon: int) -> dict[str, Any]:
    """The per-run figures of a final network value, with the active backend's operations (traceable)."""
    B = get_backend()
    np_ = B.np
    is_scam = B.asarray(cfg.is_scammer())
    suspended = final["platform"].get("suspended")
    met = final["metrics"]
    s_susp = np_.take(suspended, B.asarray(cfg.scammer_ids()), axis=0)
    f32 = "float32"
    return {
        "victims": np_.sum(B.cast(met.get("victim"), f32)),
        "friction": np_.sum(B.cast(suspended & ~is_scam, f32)),
        "engagement": B.cast(met.get("engagement"), f32) / float(cfg.num_genuine * max(horizon, 1)),
        "scammer_reward": np_.mean(met.get("cumulative_reward")),
        "scammers_suspended": np_.mean(B.cast(s_susp, f32)),
        "overflow": B.cast(met.get("overflow"), f32),
    }


class GridRunner:
    """Runs jobs of the integrity model on one runtime and returns their figures.

    One runtime is built, with the mechanism and policy as settings; each call of
    :meth:`run` groups its jobs into setting points (policy and mechanism) that
    share their run indices and hands them to ``run_batch``, ``runs_per_call``
    runs (whole points) at a time. On a compiling runtime a short last batch is
    filled up by repeating its last point, so every batch has the same shape and
    the program compiles once.

    Args:
      cfg: the model's sizes and constants.
      horizon: steps of activity per run (transitions after the initial state).
      runtime: a runtime name.
      runs_per_call: runs per ``run_batch`` call (rounded down to whole points, at least one point).
      validate: checked mode (the runtime is built with ``validate=True``).
    """

    def __init__(
        self, cfg: IntegrityConfig, horizon: int, runtime: str, *, runs_per_call: int = 36, validate: bool = False
    ) -> None:
        if int(horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.cfg = cfg
        self.horizon = int(horizon)
        self.runtime = runtime
        self.runs_per_call = max(1, int(runs_per_call))
        self.validate = bool(validate)
        self.runtime_cls = get_plugins().get_runtime(runtime)
        self._rt: Runtime | None = None
        cfg, horizon = self.cfg, self.horizon

        def outputs(final: Mapping[str, Any]) -> dict[str, Any]:
            with using_backend(self.rt.backend):
                return final_figures(final, cfg, horizon)

        self._outputs = outputs  # one function object: the runtime reuses its compiled program

    @property
    def rt(self) -> Runtime:
        """The runtime every batch runs on (built on first use)."""
        if self._rt is None:
            checked = {"validate": True} if self.validate else {}
            self._rt = self.runtime_cls(
                integrity_variables(self.cfg), seed=0, settings=parameter_settings(default_params()), **checked
            )
        return self._rt

    def run(
        self, jobs: Sequence[Job], policies: Mapping[str, Mapping[str, Any] | None], *, seed: int
    ) -> list[dict[str, Any]]:
        """The records of ``jobs`` (in order); ``policies`` maps each job's label to its parameters."""
        missing = sorted({j.policy for j in jobs} - set(policies))
        if missing:
            raise ValueError(f"jobs name the policies {missing}, which are not given; given: {sorted(policies)}")
        runs_of: dict[tuple[str, float, float], list[int]] = {}
        for j in jobs:
            runs_of.setdefault(j.point, []).append(int(j.run))
        by_runs: dict[tuple[int, ...], list[tuple[str, float, float]]] = {}
        for point, point_runs in runs_of.items():
            by_runs.setdefault(tuple(point_runs), []).append(point)
        figures: dict[tuple[tuple[str, float, float], int], dict[str, float]] = {}
        for runs, points in by_runs.items():
            per_call = max(1, self.runs_per_call // len(runs))
            for start in range(0, len(points), per_call):
                part = points[start : start + per_call]
                out = self._batch(part, runs, policies, seed, pad_to=per_call)
                for p, point in enumerate(part):
                    for r, run in enumerate(runs):
                        figures[(point, run)] = {m: float(out[m][p, r]) for m in METRICS}
        return [
            {"policy": j.policy, "rate_limit": j.rate_limit, "threshold": j.threshold, "run": j.run,
             **figures[(j.point, int(j.run))]}
            for j in jobs
        ]

    def _batch(
        self,
        points: Sequence[tuple[str, float, float]],
        runs: Sequence[int],
        policies: Mapping[str, Mapping[str, Any] | None],
        seed: int,
        *,
        pad_to: int,
    ) -> dict[str, np.ndarray]:
        """The figures ``[points, runs]`` of one batch, through the runtime's ``run_batch``."""
        rt = self.rt
        points = list(points)
        if COMPILES in rt.capabilities and len(points) < pad_to:
            points += [points[-1]] * (pad_to - len(points))  # one batch shape: one compilation
        per_point = [parameter_settings(default_params(limit, tau, policies[label])) for label, limit, tau in points]
        settings = {name: np.stack([s[name] for s in per_point]) for name in per_point[0]}
        outputs = self._outputs
        seeds = [chunk_seed(seed, r) for r in runs]
        # the whole batch (cells x runs) is one program: one compilation for every batch of this shape
        res = rt.run_batch(
            num_steps=self.horizon, seeds=seeds, settings=settings, outputs=outputs, runs_per_call=len(seeds)
        )
        return {m: np.asarray(res.outputs[m]) for m in METRICS}
