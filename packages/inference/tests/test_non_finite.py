"""A training run whose objective or parameters stop being finite stops, naming the step, and keeps its last
finite checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inference_models import gaussian_bandit

from recosim.core import get_backend
from recosim.core.testing import make_runtime_for, to_numpy
from recosim.inference import NonFiniteError, fit_map, train_reinforce
from recosim.inference.examples import persistent_satisfaction


def test_a_fit_that_leaves_the_support_stops_at_the_step_and_keeps_the_last_checkpoint(runtime, tmp_path):
    make_model = persistent_satisfaction(num_users=2)
    data = to_numpy(
        make_runtime_for("numpy", make_model({"alpha": np.float32(0.5)}), seed=1).run_many(num_runs=4, length=3)
    )

    def log_prior(params):  # pushes alpha up by about the learning rate per Adam step; NaN once alpha > 2
        return 1e4 * params["alpha"] + get_backend().np.log(2.0 - params["alpha"])

    # alpha after k steps is about 0.45 k: the objective at step 5 (alpha 2.25) is NaN; checkpoints every 2 steps
    with pytest.raises(
        NonFiniteError, match=r"map: objective is not finite at step 5; the checkpoint .*\(4 units done"
    ):
        fit_map(make_model, {"alpha": np.float32(0.0)}, data, log_prior, runtime=runtime, num_steps=8,
                learning_rate=0.45, checkpoint=tmp_path, checkpoint_every=2, quiet=True)  # fmt: skip
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["done"] == 4
    with np.load(tmp_path / meta["records"]) as records:
        assert records["objective"].shape == (4,) and np.all(np.isfinite(records["objective"]))
    with np.load(tmp_path / meta["state"]) as state:
        assert all(np.all(np.isfinite(state[k])) for k in state.files)


def test_reinforce_with_an_overflowing_learning_rate_stops_naming_the_update(runtime):
    # one SGD step of 1e38 times a gradient of several units overflows the action's mean to inf at the first update
    with pytest.raises(NonFiniteError, match=r"reinforce: parameter 'mu' is not finite after step 0; no checkpoint"):
        train_reinforce(gaussian_bandit(), {"mu": np.float32(0.0)}, policy="policy/action",
                        reward="metrics/reward", horizon=1, runtime=runtime, num_steps=4, baseline=None,
                        num_rollouts=2, optimizer="sgd", learning_rate=1e38, quiet=True)  # fmt: skip
