"""Registration table of library blocks: (name, "module:attribute", kind, summary).

Targets are import strings so that listing plugins imports no block module.
"""

from __future__ import annotations

BLOCKS: list[tuple[str, str, str, str]] = []
