"""The registered environments: the reference use cases as Gymnasium environments.

========================================  ==========================================================
``recosim/InterestEvolution-v0``          interest evolution (reference sheet section 2): observe the
                                          recommender's history of consumed document ids, consumed
                                          times and its count; serve slates of 2 of 100 documents;
                                          reward: consumed time. 100 steps.
``recosim/Ecosystem-v0``                  the provider ecosystem (section 1): observe the user's
                                          interest, the 400 documents on offer (features and provider)
                                          and the recommender's per-provider pull counts; serve slates
                                          of 3; reward: the user's utility. 300 steps.
========================================  ==========================================================

``gymnasium.make(id)`` gives one user's session; ``gymnasium.make_vec(id,
num_envs=n)`` steps a population of ``n`` users in one simulation (each vector
step is one compiled call with ``runtime="jax"``, the default). Keyword
arguments set the model's sizes (the fields of
`recosim.usecases.interest_evolution.InterestEvolutionConfig` or
`recosim.usecases.ecosystem.EcosystemConfig`), ``horizon`` and ``runtime``.
The story's own recommender is never consulted: the agent serves the slates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recosim.gym.env import RecommendationEnv, RecommendationVectorEnv

__all__ = [
    "ENVIRONMENTS",
    "ecosystem_env",
    "ecosystem_vector_env",
    "interest_evolution_env",
    "interest_evolution_vector_env",
]


def _interest_evolution(users: int, /, **config: Any) -> tuple[Any, dict[str, Any]]:
    from recosim.usecases import interest_evolution as ie

    if "num_users" in config:
        raise TypeError("num_users is set by the environment (1, or num_envs for the vector environment)")
    cfg = ie.InterestEvolutionConfig(num_users=users, **config)
    story = ie.make_model(ie.init_params(0, cfg), cfg)
    options = {
        "policy": ie.POLICY,
        "reward": ie.REWARD,
        "observe": ["recommender state"],
        "observation_bounds": {
            "recommender state/doc_id": (0, cfg.num_docs),
            "recommender state/consumed_time": (0.0, np.inf),
            "recommender state/count": (0, cfg.history_length),
        },
    }
    return story, options


def _ecosystem(users: int, /, **config: Any) -> tuple[Any, dict[str, Any]]:
    from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables

    if "num_users" in config:
        raise TypeError("num_users is set by the environment (1, or num_envs for the vector environment)")
    cfg = EcosystemConfig(num_users=users, **config)
    options = {
        "policy": "slate",
        "reward": "user response/utility",
        "documents": "available docs",
        "observe": ["user state/interest", "available docs", "recommender state"],
        "observation_bounds": {
            "available docs/provider": (0, cfg.num_providers - 1),
            "recommender state/pulls": (0.0, np.inf),
        },
    }
    return ecosystem_variables(cfg), options


def interest_evolution_env(*, horizon: int = 100, runtime: str = "jax", **config: Any) -> RecommendationEnv:
    """One user of the interest-evolution model (``config``: `InterestEvolutionConfig` fields)."""
    story, options = _interest_evolution(1, **config)
    return RecommendationEnv(story, horizon=horizon, runtime=runtime, **options)


def interest_evolution_vector_env(
    num_envs: int = 1000, *, horizon: int = 100, runtime: str = "jax", **config: Any
) -> RecommendationVectorEnv:
    """``num_envs`` users of the interest-evolution model stepped together."""
    story, options = _interest_evolution(num_envs, **config)
    return RecommendationVectorEnv(story, horizon=horizon, runtime=runtime, **options)


def ecosystem_env(*, horizon: int = 300, runtime: str = "jax", **config: Any) -> RecommendationEnv:
    """The ecosystem model with one user (``config``: `EcosystemConfig` fields)."""
    story, options = _ecosystem(1, **config)
    return RecommendationEnv(story, horizon=horizon, runtime=runtime, **options)


def ecosystem_vector_env(
    num_envs: int = 2000, *, horizon: int = 300, runtime: str = "jax", **config: Any
) -> RecommendationVectorEnv:
    """The ecosystem model with ``num_envs`` users sharing providers, corpus and recommender counts."""
    story, options = _ecosystem(num_envs, **config)
    return RecommendationVectorEnv(story, horizon=horizon, runtime=runtime, **options)


ENVIRONMENTS = {
    "recosim/InterestEvolution-v0": (f"{__name__}:interest_evolution_env", f"{__name__}:interest_evolution_vector_env"),
    "recosim/Ecosystem-v0": (f"{__name__}:ecosystem_env", f"{__name__}:ecosystem_vector_env"),
    "recosim/MovieLens-v0": ("recosim.gym.movielens:movielens_env", "recosim.gym.movielens:movielens_vector_env"),
}
"""Environment id -> (entry point, vector entry point)."""


def register_environments() -> None:
    """Register `ENVIRONMENTS` with Gymnasium (done when `recosim.gym` is imported)."""
    import gymnasium

    for env_id, (entry_point, vector_entry_point) in ENVIRONMENTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)
