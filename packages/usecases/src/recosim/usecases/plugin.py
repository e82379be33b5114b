"""The recosim-usecases plugin: registers the reference use cases (no framework imported)."""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_usecases(registry: Any) -> None:
    registry.add(
        "ecosystem",
        "recosim.usecases.ecosystem_usecase:EcosystemUseCase",
        summary="provider ecosystem (paper 4.3): myopic vs ecosystem-aware recommender",
    )
    registry.add(
        "latent-variable",
        "recosim.usecases.latent_variable_usecase:LatentVariableUseCase",
        summary="latent-variable user model (paper 4.2): sensitivities learnt by Monte-Carlo EM with HMC",
    )
