"""The recosim-usecases plugin: registers the reference use cases (no framework imported)."""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_usecases(registry: Any) -> None:
    registry.add(
        "calibration",
        "recosim.usecases.calibration.usecase:CalibrationUseCase",
        summary="a user population fitted to MovieLens 100K, validated against held-out data, and simulated",
    )
    registry.add(
        "cav-synthetic",
        "recosim.usecases.cav.usecase:CavSyntheticUseCase",
        summary="soft-attribute tags with personal semantics: pooled vs personalised concept activation vectors",
    )
    registry.add(
        "ecosystem",
        "recosim.usecases.ecosystem_usecase:EcosystemUseCase",
        summary="provider ecosystem (paper 4.3): myopic vs ecosystem-aware recommender",
    )
    registry.add(
        "integrity",
        "recosim.usecases.integrity.runner:IntegrityUseCase",
        summary="social-platform integrity: scammers vs rate limit and detector; mechanism sweep, learning scammers",
    )
    registry.add(
        "interest-evolution",
        "recosim.usecases.interest_evolution_usecase:InterestEvolutionUseCase",
        summary="interest evolution (paper 4.1): REINFORCE learning curves per recommender history length",
    )
    registry.add(
        "opinion-dynamics",
        "recosim.usecases.opinion_dynamics:OpinionDynamicsUseCase",
        summary="opinion dynamics by social reinforcement learning: voter check, consensus times, feed sweep",
    )
    registry.add("social-agents", "recosim.usecases.social_agents.runner:SocialAgentsUseCase", summary="social agents")
    registry.add(
        "latent-variable",
        "recosim.usecases.latent_variable_usecase:LatentVariableUseCase",
        summary="latent-variable user model (paper 4.2): sensitivities learnt by Monte-Carlo EM with HMC",
    )
