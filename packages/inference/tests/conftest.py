"""Fixtures of the inference tests: every behaviour runs once per runtime (jax, tf).

``RECOSIM_TEST_RUNTIMES=jax`` (or ``tf``) restricts the runtimes, as in the other packages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recosim.core.testing import runtime_names

RUNTIMES = [r for r in ("jax", "tf") if r in runtime_names()]


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """A runtime the inference methods run on."""
    return request.param
