"""The built-in plugin of core's two example use cases."""

from __future__ import annotations

from recosim.core.plugins.hookspecs import hookimpl
from recosim.core.plugins.registry import UseCaseRegistrar


@hookimpl
def recosim_add_usecases(registry: UseCaseRegistrar) -> None:
    registry.add(
        "counting",
        "recosim.core.example_usecases:CountingUseCase",
        summary="count to n: the smallest deterministic network",
    )
    registry.add(
        "random-walk",
        "recosim.core.example_usecases:RandomWalkUseCase",
        summary="Gaussian random walks for a population of users",
    )
