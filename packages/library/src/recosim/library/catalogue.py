"""The library's blocks, in one declared tuple; each block carries its own ``block_name`` and ``block_kind``.

The library's plugin registers these with ``registry.add_named(*BLOCKS)``, so
``get_plugins().get_block("multinomial_logit")`` returns
`recosim.library.choice.MultinomialLogitChoiceModel`. Importing this module
imports every block module (NumPy and recosim.core only, never a framework).

>>> sorted({block.block_kind for block in BLOCKS})
['bandit', 'choice', 'mechanism', 'metric', 'network', 'prototype', 'social', 'state', 'story']
"""

from __future__ import annotations

from recosim.library import networks
from recosim.library.bandits import algorithms, metrics, problems
from recosim.library.choice import affinities, selectors
from recosim.library.entities import base, corpora, policies, recommenders, users
from recosim.library.entities import metrics as entity_metrics
from recosim.library.social import detector, graph, ratelimit, requests
from recosim.library.socialbots import cascade
from recosim.library.socialbots import detector as bot_detector
from recosim.library.state import dynamic, estimation, static
from recosim.library.stories import bandit, recommendation, replay

__all__ = ["BLOCKS"]

BLOCKS: tuple[object, ...] = (
    # choice models
    affinities.TargetPointSimilarity,
    selectors.MultinomialLogitChoiceModel,
    selectors.IteratedMultinomialLogitChoiceModel,
    selectors.GreedyChoiceModel,
    selectors.TopKChoiceModel,
    selectors.CascadeChoiceModel,
    selectors.get_chosen,
    # state models
    static.StaticTensor,
    static.GMMVector,
    static.HierarchicalClusteredTensor,
    static.MixtureSameFamily,
    dynamic.LinearGaussian,
    dynamic.ControlledLinearGaussian,
    dynamic.ControlledLinearScaledGaussian,
    dynamic.FiniteStateMarkovChain,
    dynamic.SwitchingDynamics,
    dynamic.ResetOrContinue,
    dynamic.NoOpOrContinue,
    dynamic.RecurrentCellState,
    estimation.FiniteHistory,
    estimation.KalmanFilter,
    estimation.FinitePosterior,
    # bandit problems, algorithms and metrics
    problems.BernoulliBandit,
    problems.GaussianBandit,
    problems.LinearContextualBandit,
    algorithms.UniformRandom,
    algorithms.EpsilonGreedy,
    algorithms.UCB1,
    algorithms.BernoulliThompsonSampling,
    algorithms.GaussianThompsonSampling,
    algorithms.LinUCB,
    algorithms.LinearThompsonSampling,
    metrics.RegretMetrics,
    # prototypes and simple entities
    base.User,
    base.Corpus,
    base.Recommender,
    base.Metrics,
    users.StaticInterestUser,
    corpora.StaticCorpus,
    recommenders.RandomRecommender,
    recommenders.TopKAffinityRecommender,
    policies.HistoryPolicyRecommender,
    networks.HistoryScorer,
    entity_metrics.CumulativeRewardMetrics,
    # social platforms: graph, requests, mechanism
    graph.SparseSocialGraph,
    requests.ContactRequests,
    detector.ThresholdDetector,
    ratelimit.RateLimiter,
    cascade.IndependentCascade,
    bot_detector.PeriodicDetector,
    # stories
    recommendation.recommendation_story,
    recommendation.static_corpus_story,
    recommendation.simple_user_recommender_story,
    replay.logged_slates_story,
    bandit.bandit_story,
)
