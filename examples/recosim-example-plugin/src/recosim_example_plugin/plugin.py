"""Entry point of the example plugin: registrations only, no heavy imports."""

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_blocks(registry: Any) -> None:
    registry.add(
        "temperature_mnl",
        "recosim_example_plugin.blocks:TemperatureMNL",
        kind="choice",
        summary="multinomial-logit choice with a temperature (example plugin)",
    )


@hookimpl
def recosim_add_usecases(registry: Any) -> None:
    registry.add("coin-flips", "recosim_example_plugin.blocks:CoinFlips", summary="biased coins (example plugin)")
