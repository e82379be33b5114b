"""Shared fixtures: every block test runs once per installed runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, Variable, value
from recosim.core.testing import keep_runtime_tests, make_runtime_for, runtime_names, to_numpy


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a TF or JAX session, only the tests that run on that runtime (the rest ran on NumPy)."""
    keep_runtime_tests(items, config, Path(__file__).parent)


@pytest.fixture(params=runtime_names())
def runtime(request: pytest.FixtureRequest) -> str:
    """The name of a runtime to run blocks on (numpy, and tf / jax when installed)."""
    return request.param


class BlockTools:
    """Helpers for block tests, handed out by the ``tools`` fixture."""

    @staticmethod
    def block_variable(
        initial: Callable[[], Value], transition: Callable[[Value], Value] | None = None, fields: tuple[str, ...] = ()
    ) -> Variable:
        """One variable named ``block`` whose behaviours are ``initial`` and ``transition``."""
        var = Variable("block", ValueSpec({f: FieldSpec() for f in fields}))
        var.initial_value = value(lambda: initial())
        if transition is not None:
            var.value = value(lambda prev: transition(prev), (var.previous,))
        return var

    @staticmethod
    def trajectory_and_log_prob(
        runtime: str, var: Variable, length: int, seed: int = 0
    ) -> tuple[dict[str, np.ndarray], float]:
        """Sample a trajectory of ``var`` on ``runtime`` and score it with the same runtime."""
        rt = make_runtime_for(runtime, [var], seed=seed)
        traj = rt.trajectory(length)
        lp = rt.log_probability(traj)
        return to_numpy(traj["block"]), float(np.asarray(lp))

    @staticmethod
    def within(freq: Any, probs: Any, n: int, sigmas: float = 4.5) -> bool:
        """Whether empirical frequencies are within ``sigmas`` binomial standard errors of ``probs``."""
        freq, probs = np.asarray(freq, float), np.asarray(probs, float)
        se = np.sqrt(probs * (1 - probs) / n) + 1e-4
        return bool(np.all(np.abs(freq - probs) <= sigmas * se))


@pytest.fixture
def tools() -> type[BlockTools]:
    """The `BlockTools` helpers."""
    return BlockTools
