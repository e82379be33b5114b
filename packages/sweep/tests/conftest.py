"""Fixtures of the sweep tests: the probe use case and an environment for subprocesses that can import it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
PROBE = "sweep_cases:ProbeUseCase"

if str(TESTS) not in sys.path:  # pool processes are spawned with this sys.path
    sys.path.insert(0, str(TESTS))


@pytest.fixture
def probe() -> str:
    return PROBE


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment for ``python -m recosim.core.cli`` subprocesses: the probe importable, no TF noise."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env
