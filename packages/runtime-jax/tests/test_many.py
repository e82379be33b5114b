"""JAX specifics of run_many (the contract every runtime keeps is tested in the library's contract tests)."""

from __future__ import annotations

import numpy as np
from jax_models import choice_variables, drift_variables

from recosim.core.examples import random_walk_variables
from recosim.core.testing import to_numpy
from recosim.jax import JaxRuntime, summarize


def _model():
    return choice_variables() + drift_variables()


def test_eager_run_many_matches_compiled():
    seeds = [1, 2]
    a = to_numpy(JaxRuntime(_model(), seed=0).run_many(seeds, length=3))
    b = to_numpy(JaxRuntime(_model(), seed=0, jit=False).run_many(seeds, length=3))
    assert np.array_equal(a["response"]["choice"], b["response"]["choice"])
    np.testing.assert_allclose(a["chain"]["x"], b["chain"]["x"], rtol=1e-5, atol=1e-5)


def test_summarize_here_is_cores():
    import recosim.core.summary

    assert summarize is recosim.core.summary.summarize
    runs = JaxRuntime(random_walk_variables(5), seed=3).run_many(num_runs=4, num_steps=2)
    assert summarize(runs).mean["walk"].get("position").shape == (5,)
