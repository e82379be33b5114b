"""Entry point of the example plugin: registrations only.

The block module imports nothing but NumPy and recosim.core, so registering its
class (whose ``block_name`` names it) is cheap; the use case is registered by its
import string and loaded only when it runs.
"""

from recosim.core.plugins import BlockRegistrar, UseCaseRegistrar, hookimpl


@hookimpl
def recosim_add_blocks(registry: BlockRegistrar) -> None:
    from recosim_example_plugin.blocks import TemperatureMNL

    registry.add_named(TemperatureMNL)


@hookimpl
def recosim_add_usecases(registry: UseCaseRegistrar) -> None:
    registry.add("coin-flips", "recosim_example_plugin.blocks:CoinFlips", summary="biased coins (example plugin)")
