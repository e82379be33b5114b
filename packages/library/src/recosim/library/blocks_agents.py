"""Registration table of library blocks: (name, "module:attribute", kind, summary).

Targets are import strings so that listing plugins imports no block module.
"""

from __future__ import annotations

_B = "recosim.library.bandits"
_E = "recosim.library.entities"
_S = "recosim.library.stories"

BLOCKS: list[tuple[str, str, str, str]] = [
    # bandit problems and algorithms
    ("bernoulli_bandit", f"{_B}.problems:BernoulliBandit", "bandit", "multi-armed bandit with Bernoulli rewards"),
    ("gaussian_bandit", f"{_B}.problems:GaussianBandit", "bandit", "multi-armed bandit with Gaussian rewards"),
    (
        "linear_contextual_bandit",
        f"{_B}.problems:LinearContextualBandit",
        "bandit",
        "contextual bandit, reward <theta_arm, x> + noise",
    ),
    ("uniform_random", f"{_B}.algorithms:UniformRandom", "bandit", "uniformly random arm (baseline)"),
    ("epsilon_greedy", f"{_B}.algorithms:EpsilonGreedy", "bandit", "epsilon-greedy on empirical means"),
    ("ucb1", f"{_B}.algorithms:UCB1", "bandit", "UCB1 optimism in the face of uncertainty"),
    (
        "bernoulli_thompson_sampling",
        f"{_B}.algorithms:BernoulliThompsonSampling",
        "bandit",
        "posterior sampling with Beta priors",
    ),
    (
        "gaussian_thompson_sampling",
        f"{_B}.algorithms:GaussianThompsonSampling",
        "bandit",
        "posterior sampling with Normal priors, known noise",
    ),
    ("linucb", f"{_B}.algorithms:LinUCB", "bandit", "disjoint LinUCB for linear contextual bandits"),
    (
        "linear_thompson_sampling",
        f"{_B}.algorithms:LinearThompsonSampling",
        "bandit",
        "Thompson sampling for linear contextual bandits",
    ),
    ("regret", f"{_B}.metrics:RegretMetrics", "metric", "cumulative pseudo-regret, regret and reward per instance"),
    # prototypes and simple entities
    ("user", f"{_E}.base:User", "prototype", "abstract user population (state, response, observation)"),
    ("corpus", f"{_E}.base:Corpus", "prototype", "abstract corpus (state, available documents)"),
    ("recommender", f"{_E}.base:Recommender", "prototype", "abstract recommender (state, slate)"),
    ("metrics", f"{_E}.base:Metrics", "prototype", "abstract running metrics"),
    (
        "static_interest_user",
        f"{_E}.users:StaticInterestUser",
        "prototype",
        "static Gaussian interests, MNL choice on distance",
    ),
    ("static_corpus", f"{_E}.corpora:StaticCorpus", "prototype", "fixed documents with random features, quality"),
    ("random_recommender", f"{_E}.recommenders:RandomRecommender", "prototype", "uniformly random distinct slates"),
    (
        "top_k_affinity_recommender",
        f"{_E}.recommenders:TopKAffinityRecommender",
        "prototype",
        "top-k documents by affinity to the observed user",
    ),
    (
        "history_policy_recommender",
        f"{_E}.policies:HistoryPolicyRecommender",
        "prototype",
        "iterated-MNL slates from a parameterised scorer of the recommender's consumption history",
    ),
    (
        "history_scorer",
        "recosim.library.networks:HistoryScorer",
        "network",
        "history of consumed items -> dense -> leaky ReLU -> dense; scores items by inner product",
    ),
    (
        "cumulative_reward",
        f"{_E}.metrics:CumulativeRewardMetrics",
        "metric",
        "per-user cumulative reward and step count",
    ),
    # stories
    (
        "recommendation_story",
        f"{_S}.recommendation:recommendation_story",
        "story",
        "users, corpus, recommender and metrics",
    ),
    (
        "static_corpus_story",
        f"{_S}.recommendation:static_corpus_story",
        "story",
        "recommendation story with documents fixed at t=0",
    ),
    (
        "simple_user_recommender_story",
        f"{_S}.recommendation:simple_user_recommender_story",
        "story",
        "users and a recommender over a fixed catalogue (paper 3.2)",
    ),
    (
        "logged_slates_story",
        f"{_S}.replay:logged_slates_story",
        "story",
        "users respond to replayed logged slates; scores logged responses",
    ),
    ("bandit_story", f"{_S}.bandit:bandit_story", "story", "a population of bandit instances learning online"),
]
