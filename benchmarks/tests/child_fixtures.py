"""Tiny workloads that the harness tests run in child processes."""

from __future__ import annotations

import time
from typing import Any


def allocate(clock: Any, *, mib: int) -> dict[str, Any]:
    """Hold ``mib`` MiB of touched memory for a moment."""
    import numpy as np

    with clock.phase("build"):
        block = np.ones(mib * 2**20 // 8)
    with clock.phase("run"):
        total = float(block.sum())
    return {"sum": total, "units": 1, "unit": "block"}


def fail(clock: Any, *, message: str) -> dict[str, Any]:
    raise ValueError(message)


def sleep(clock: Any, *, seconds: float) -> dict[str, Any]:
    time.sleep(seconds)
    return {}
