"""The bandit story: a population of independent bandit instances learning online.

Variables (one step is one round, for every instance at once):

* ``"bandit problem"``: the problem's parameters, drawn at ``t = 0`` and then static;
* ``"context"`` (contextual problems only): this round's context;
* ``"arm"``: ``algorithm.arm(algorithm state.previous, context)``;
* ``"reward"``: ``problem.reward(bandit problem, arm, context)``;
* ``"algorithm state"``: ``algorithm.next_state(algorithm state.previous, arm, reward, context)``;
* ``"regret"``: cumulative pseudo-regret, regret and reward (`RegretMetrics`).

At ``t = 0`` the ``.previous`` inputs are the algorithm's and the metrics'
``initial_state()``, so step ``t`` of a trajectory holds round ``t`` and the
state after learning from it.

>>> from recosim.core import NumpyRuntime
>>> from recosim.library.bandits import BernoulliBandit, UCB1
>>> story = BanditStory(BernoulliBandit(3, 4), UCB1(3, 4))
>>> NumpyRuntime(story, seed=0).trajectory(5)["regret"].get("pseudo_regret").shape
(5, 4)
"""

from __future__ import annotations

from typing import Any

from recosim.core import Story, Value, Variable, value
from recosim.core.plugins import declare_block
from recosim.library.bandits.algorithms import BanditAlgorithm
from recosim.library.bandits.metrics import RegretMetrics
from recosim.library.bandits.problems import BanditProblem

__all__ = ["bandit_story", "BanditStory"]


@declare_block("bandit_story", kind="story")
def bandit_story(
    problem: BanditProblem, algorithm: BanditAlgorithm, metrics: RegretMetrics | None = None
) -> list[Variable]:
    """The variables of ``algorithm`` playing ``problem`` (see the module docstring)."""
    if not isinstance(problem, BanditProblem):
        raise TypeError(f"bandit_story: problem must be a BanditProblem, got {type(problem).__name__}")
    if not isinstance(algorithm, BanditAlgorithm):
        raise TypeError(f"bandit_story: algorithm must be a BanditAlgorithm, got {type(algorithm).__name__}")
    algorithm.check_problem(problem)
    metrics = RegretMetrics(problem) if metrics is None else metrics

    problem_var = Variable("bandit problem", problem.spec("state"))
    arm = Variable("arm", algorithm.spec("arm"))
    reward = Variable("reward", problem.spec("reward"))
    learner = Variable("algorithm state", algorithm.spec("state"))
    regret = Variable("regret", metrics.spec("state"))

    problem_var.initial_value = value(problem.initial_state)

    context_deps: tuple[Any, ...] = ()
    variables = [problem_var]
    if problem.contextual:
        context = Variable("context", problem.spec("context"))
        context.initial_value = value(problem.context, (problem_var,))
        context.value = value(problem.context, (problem_var,))
        context_deps = (context,)
        variables.append(context)

    def first_arm(*ctx: Value) -> Value:
        return algorithm.arm(algorithm.initial_state(), *ctx)

    def first_state(a: Value, r: Value, *ctx: Value) -> Value:
        return algorithm.next_state(algorithm.initial_state(), a, r, *ctx)

    def first_metrics(p: Value, a: Value, r: Value, *ctx: Value) -> Value:
        return metrics.next_state(metrics.initial_state(), p, a, r, *ctx)

    arm.initial_value = value(first_arm, context_deps)
    arm.value = value(algorithm.arm, (learner.previous, *context_deps))
    reward.initial_value = value(problem.reward, (problem_var, arm, *context_deps))
    reward.value = value(problem.reward, (problem_var, arm, *context_deps))
    learner.initial_value = value(first_state, (arm, reward, *context_deps))
    learner.value = value(algorithm.next_state, (learner.previous, arm, reward, *context_deps))
    regret.initial_value = value(first_metrics, (problem_var, arm, reward, *context_deps))
    regret.value = value(metrics.next_state, (regret.previous, problem_var, arm, reward, *context_deps))
    return [*variables, arm, reward, learner, regret]


class BanditStory(Story):
    """`bandit_story` as a `Story` object (``BanditStory(problem, algorithm).network()``)."""

    def __init__(
        self, problem: BanditProblem, algorithm: BanditAlgorithm, metrics: RegretMetrics | None = None
    ) -> None:
        self.problem = problem
        self.algorithm = algorithm
        self.metrics = metrics

    def variables(self) -> list[Variable]:
        return bandit_story(self.problem, self.algorithm, self.metrics)
