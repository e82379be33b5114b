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
step is one step of the simulation for the whole population; ``runtime="numpy"`` by
default, the fastest for stepping from Python, see the package README). Keyword
arguments set the model (the fields of
`recosim.usecases.interest_evolution.InterestEvolutionConfig`; for the ecosystem
the options of ``recosim run ecosystem`` under the same names, `ECOSYSTEM_OPTIONS`:
``num_docs``, ``num_providers``, ``provider_means`` (an array or an ``.npy`` file),
``boost_cap``, ...), ``horizon`` and ``runtime``. A slate must not repeat a document.
The story's own recommender is never consulted: the agent serves the slates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recosim.gym.env import RecommendationEnv, RecommendationVectorEnv

__all__ = [
    "ECOSYSTEM_OPTIONS",
    "ENVIRONMENTS",
    "ecosystem_story",
    "interest_evolution_story",
    "ecosystem_env",
    "ecosystem_vector_env",
    "interest_evolution_env",
    "interest_evolution_vector_env",
]


def interest_evolution_story(users: int, /, **config: Any) -> tuple[Any, dict[str, Any], int]:
    """The interest-evolution story for ``users`` users, the simulator's options and the default horizon.

    ``config``: `recosim.usecases.interest_evolution.InterestEvolutionConfig` fields.
    """
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
    return story, options, 100


ECOSYSTEM_OPTIONS = ("num_docs", "num_providers", "provider_means", "boost_cap", "slate_size", "discount",
                     "user_chunk")
"""The ecosystem's model options, named as ``recosim run ecosystem`` and `EcosystemConfig` name them."""


def _provider_means(provider_means: Any, num_providers: int | None) -> Any:
    """The provider means: an array or an ``.npy`` path (the use case's ``--provider-means``), else the
    shipped draw; with ``num_providers``, its first ``num_providers`` rows."""
    from recosim.usecases.ecosystem import default_provider_means, load_provider_means

    if provider_means is None or (isinstance(provider_means, str) and not provider_means):
        means = default_provider_means()
    elif isinstance(provider_means, (str, os.PathLike)):
        means = load_provider_means(Path(provider_means))
    else:
        means = np.asarray(provider_means, np.float32)
        if means.ndim != 2 or means.shape[0] < 1:
            raise ValueError(f"provider_means must be a (num_providers, num_topics) array, got shape {means.shape}")
    if num_providers is None:
        return means
    if isinstance(num_providers, bool) or int(num_providers) != num_providers or not 1 <= num_providers <= len(means):
        raise ValueError(
            f"num_providers must be a whole number in [1, {len(means)}] (the providers of provider_means), "
            f"got {num_providers!r}"
        )
    return means[: int(num_providers)]


def ecosystem_story(users: int, /, **config: Any) -> tuple[Any, dict[str, Any], int]:
    """The ecosystem story for ``users`` users, the simulator's options and the default horizon.

    ``config``: the options of `ECOSYSTEM_OPTIONS`; ``horizon`` and ``runtime`` are
    the environment's own.
    """
    from recosim.usecases.ecosystem import EcosystemConfig, ecosystem_variables

    if "num_users" in config:
        raise TypeError("num_users is set by the environment (1, or num_envs for the vector environment)")
    unknown = sorted(set(config) - set(ECOSYSTEM_OPTIONS))
    if unknown:
        raise TypeError(f"Ecosystem-v0 has no option(s) {unknown}; its options are {list(ECOSYSTEM_OPTIONS)}, "
                        "horizon and runtime")
    means = _provider_means(config.pop("provider_means", None), config.pop("num_providers", None))
    cfg = EcosystemConfig(num_users=users, provider_means=means, **config)
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
    return ecosystem_variables(cfg), options, 300


def interest_evolution_env(*, horizon: int = 100, runtime: str = "numpy", **config: Any) -> RecommendationEnv:
    """One user of the interest-evolution model (``config``: `InterestEvolutionConfig` fields)."""
    story, options, _ = interest_evolution_story(1, **config)
    return RecommendationEnv(story, horizon=horizon, runtime=runtime, **options)


def interest_evolution_vector_env(
    num_envs: int = 1000, *, horizon: int = 100, runtime: str = "numpy", **config: Any
) -> RecommendationVectorEnv:
    """``num_envs`` users of the interest-evolution model stepped together."""
    story, options, _ = interest_evolution_story(num_envs, **config)
    return RecommendationVectorEnv(story, horizon=horizon, runtime=runtime, **options)


def ecosystem_env(*, horizon: int = 300, runtime: str = "numpy", **config: Any) -> RecommendationEnv:
    """The ecosystem model with one user (``config``: `ECOSYSTEM_OPTIONS`)."""
    story, options, _ = ecosystem_story(1, **config)
    return RecommendationEnv(story, horizon=horizon, runtime=runtime, **options)


def ecosystem_vector_env(
    num_envs: int = 2000, *, horizon: int = 300, runtime: str = "numpy", **config: Any
) -> RecommendationVectorEnv:
    """The ecosystem model with ``num_envs`` users sharing providers, corpus and recommender counts."""
    story, options, _ = ecosystem_story(num_envs, **config)
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
