"""The recosim-library plugin: registers every behaviour block under the name it declares.

The block modules import only NumPy and recosim.core, so the hook imports them
(`recosim.library.catalogue`) when the plugins are built; no framework is imported.
"""

from __future__ import annotations

from recosim.core.plugins import BlockRegistrar, hookimpl


@hookimpl
def recosim_add_blocks(registry: BlockRegistrar) -> None:
    from recosim.library.catalogue import BLOCKS

    registry.add_named(*BLOCKS)
