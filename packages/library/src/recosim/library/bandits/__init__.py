"""Bandit problems, algorithms and regret metrics for populations of independent instances.

Wire them into a simulation with `recosim.library.stories.bandit.bandit_story`.
"""

from recosim.library.bandits.algorithms import (
    UCB1,
    BanditAlgorithm,
    BernoulliThompsonSampling,
    CountingAlgorithm,
    EpsilonGreedy,
    GaussianThompsonSampling,
    LinearAlgorithm,
    LinearThompsonSampling,
    LinUCB,
    UniformRandom,
)
from recosim.library.bandits.metrics import RegretMetrics, pseudo_regret_increment
from recosim.library.bandits.problems import (
    BanditProblem,
    BernoulliBandit,
    GaussianBandit,
    LinearContextualBandit,
    chosen,
)

__all__ = [
    "BanditAlgorithm",
    "BanditProblem",
    "BernoulliBandit",
    "BernoulliThompsonSampling",
    "CountingAlgorithm",
    "EpsilonGreedy",
    "GaussianBandit",
    "GaussianThompsonSampling",
    "LinUCB",
    "LinearAlgorithm",
    "LinearContextualBandit",
    "LinearThompsonSampling",
    "RegretMetrics",
    "UCB1",
    "UniformRandom",
    "chosen",
    "pseudo_regret_increment",
]
