"""Learning scammers: the scammers' policy trained by policy gradients against a fixed mechanism.

Training runs on a differentiable runtime (the use case's own, when it is one).

This module is the one place that talks to the policy-gradient trainer
(``recosim.inference.train_reinforce``, from the recosim-inference package): the
scammers' parameters (request intensity, targeting weights, camouflage, message
intensity and targeting) are trained with REINFORCE and a group-relative baseline
(rollouts in groups that share their population; advantages normalised within the
group, per step and per scammer), each scammer's reward being the scams it
completes. Against a fixed mechanism setting that is the scammers' best response.

>>> from recosim.usecases.integrity import IntegrityConfig
>>> setup = TrainingSetup(IntegrityConfig(num_accounts=200, scammer_fraction=0.05), horizon=5)
>>> setup.rollouts, sorted(setup.initial_policy())[:2]
(16, ['camouflage_bias', 'message_bias'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recosim.usecases.integrity.model import FIXED_RULE_POLICY, IntegrityConfig, default_params, integrity_variables

__all__ = ["TrainingSetup", "LearnedPolicy", "train_best_response", "trainer_available"]

POLICY_VARIABLE = "scammers"
REWARD_FIELD = "metrics/reward"


def trainer_available() -> str | None:
    """``None`` when the policy-gradient trainer is installed here, else why not (a sentence)."""
    try:
        import recosim.inference  # noqa: F401
    except ImportError as err:
        return f"learning scammers need recosim-inference (pip install 'recosim-usecases[jax]'): {err}"
    return None


@dataclass(frozen=True)
class TrainingSetup:
    """How a best response is trained: the population it trains in and the trainer's options.

    The scammers' policy has a handful of parameters that do not depend on the
    population's size, so it is trained in a smaller copy of the platform
    (``cfg``, usually fewer accounts with the same scammer fraction) and then
    evaluated at full size.
    """

    cfg: IntegrityConfig
    horizon: int
    updates: int = 60
    group_size: int = 8
    groups: int = 2
    learning_rate: float = 0.1

    @property
    def rollouts(self) -> int:
        return self.group_size * self.groups

    def initial_policy(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float32) for k, v in FIXED_RULE_POLICY.items()}


@dataclass
class LearnedPolicy:
    """A trained policy and its learning curve (mean reward per scammer over the horizon, per update)."""

    policy: dict[str, np.ndarray]
    curve: np.ndarray
    mechanism: tuple[float, float]


def _model_for(cfg: IntegrityConfig, rate_limit: float, threshold: float) -> Callable[[Any], list[Any]]:
    mechanism = default_params(rate_limit, threshold)["mechanism"]

    def make_model(policy: Any) -> list[Any]:
        return integrity_variables(cfg, {"mechanism": mechanism, "scammer": policy})

    return make_model


def train_best_response(
    setup: TrainingSetup,
    rate_limit: float,
    threshold: float,
    *,
    init_policy: Mapping[str, Any] | None = None,
    updates: int | None = None,
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    runtime: str = "jax",
    quiet: bool = True,
    callback: Callable[[int, dict[str, np.ndarray]], Any] | None = None,
) -> LearnedPolicy:
    """Train the scammers' policy against the mechanism ``(rate_limit, threshold)``.

    Starts from ``init_policy`` (default: the fixed rule). With ``checkpoint`` (a
    directory) the training writes checkpoints there and resumes from them.
    ``runtime`` is a differentiable runtime the trainer runs on.
    """
    reason = trainer_available()
    if reason is not None:
        raise RuntimeError(reason)
    from recosim.inference import train_reinforce

    start = {k: np.asarray(v, np.float32) for k, v in (init_policy or setup.initial_policy()).items()}
    resume = checkpoint is not None and os.path.exists(os.path.join(os.fspath(checkpoint), "meta.json"))
    result = train_reinforce(
        _model_for(setup.cfg, rate_limit, threshold),
        start,
        policy=POLICY_VARIABLE,
        reward=REWARD_FIELD,
        horizon=setup.horizon,
        runtime=runtime,
        num_steps=int(updates if updates is not None else setup.updates),
        baseline="group",
        group_size=setup.group_size,
        num_rollouts=setup.rollouts,
        learning_rate=setup.learning_rate,
        seed=seed,
        checkpoint=checkpoint,
        checkpoint_every=10,
        resume=resume,
        quiet=quiet,
        callback=callback,
    )
    policy = {k: np.asarray(v, np.float32) for k, v in result.params.items()}
    curve = np.asarray(result.learning_curve, np.float64)
    return LearnedPolicy(policy=policy, curve=curve, mechanism=(rate_limit, threshold))
