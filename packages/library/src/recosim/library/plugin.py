"""The recosim-library plugin: registers every behaviour block by name.

Importing this module imports no framework and no block: targets are import
strings resolved on first lookup (``get_plugins().get_block("multinomial_logit")``).
"""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_blocks(registry: Any) -> None:
    from recosim.library import blocks_agents, blocks_models

    for table in (blocks_models.BLOCKS, blocks_agents.BLOCKS):
        for name, target, kind, summary in table:
            registry.add(name, target, kind=kind, summary=summary)
