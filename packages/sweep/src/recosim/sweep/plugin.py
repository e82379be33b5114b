"""The recosim-sweep plugin: contributes the ``recosim sweep`` command (imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from recosim.core.plugins import hookimpl


@hookimpl
def recosim_add_commands(registry: Any) -> None:
    registry.add(
        "sweep",
        "recosim.sweep.command:SweepCommand",
        summary="run a use case over a grid of settings x seeds (local processes or Ray), results in Parquet",
    )
