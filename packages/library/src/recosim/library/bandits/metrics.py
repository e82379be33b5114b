"""Regret metrics of a population of bandit instances.

For instance ``i`` at step ``t`` with arm means ``mu_t`` (the problem's expected
rewards, which depend on the context in contextual problems), pulled arm ``a_t``
and observed reward ``r_t``:

* ``pseudo_regret`` accumulates ``max_k mu_t[k] - mu_t[a_t]`` (the expected loss of
  the choices made; it ignores reward noise);
* ``regret`` accumulates ``max_k mu_t[k] - r_t`` (the realised shortfall against
  the best arm's expected reward);
* ``cumulative_reward`` accumulates ``r_t``.

>>> import numpy as np
>>> from recosim.core import Value
>>> from recosim.library.bandits.problems import BernoulliBandit
>>> m = RegretMetrics(BernoulliBandit(3, 1, means=[[0.2, 0.5, 0.9]]))
>>> s = m.next_state(m.initial_state(), Value(means=np.array([[0.2, 0.5, 0.9]], np.float32)),
...                  Value(arm=np.array([1], np.int32)), Value(reward=np.array([1.0], np.float32)))
>>> [round(float(s.get(k)[0]), 4) for k in ("pseudo_regret", "regret", "cumulative_reward")]
[0.4, -0.1, 1.0]
"""

from __future__ import annotations

from typing import Any

from recosim.core import FieldSpec, Value, ValueSpec, get_backend
from recosim.core.value import shape_of
from recosim.library.bandits.problems import BanditProblem, chosen
from recosim.library.entities.base import Prototype

__all__ = ["RegretMetrics", "pseudo_regret_increment"]


def pseudo_regret_increment(expected_rewards: Any, arm: Any) -> Any:
    """``max_k expected_rewards[..., k] - expected_rewards[..., arm]``, per instance."""
    B = get_backend()
    num_arms = shape_of(expected_rewards)[-1]
    if num_arms is None:
        raise ValueError("pseudo_regret_increment needs a static number of arms (the last axis of expected_rewards)")
    return B.np.max(expected_rewards, axis=-1) - chosen(expected_rewards, arm, num_arms)


class RegretMetrics(Prototype):
    """Cumulative pseudo-regret, regret and reward of each bandit instance.

    Behaviours: ``initial_state()`` (zeros) and
    ``next_state(previous, problem_state, arm, reward, context=None)``.
    """

    block_name = "regret"
    block_kind = "metric"

    def __init__(self, problem: BanditProblem, name: str | None = None) -> None:
        super().__init__(name=name)
        if not isinstance(problem, BanditProblem):
            raise TypeError(f"RegretMetrics needs a BanditProblem, got {type(problem).__name__}")
        self.problem = problem

    def specs(self) -> ValueSpec:
        field = FieldSpec(self.problem.batch_shape, "float32")
        return ValueSpec(state=ValueSpec(pseudo_regret=field, regret=field, cumulative_reward=field))

    def initial_state(self) -> Value:
        B = get_backend()
        zeros = B.np.zeros(self.problem.batch_shape, dtype="float32")
        return Value(pseudo_regret=zeros, regret=zeros, cumulative_reward=zeros)

    def next_state(
        self, previous: Value, problem_state: Value, arm: Value, reward: Value, context: Value | None = None
    ) -> Value:
        B = get_backend()
        expected = self.problem.expected_rewards(problem_state, context)
        r = reward.get("reward")
        return Value(
            pseudo_regret=previous.get("pseudo_regret") + pseudo_regret_increment(expected, arm.get("arm")),
            regret=previous.get("regret") + B.np.max(expected, axis=-1) - r,
            cumulative_reward=previous.get("cumulative_reward") + r,
        )
