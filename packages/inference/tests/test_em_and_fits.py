"""Monte-Carlo EM recovers a parameter with a latent held out; ML and MAP fits from 100 trajectories."""

from __future__ import annotations

import numpy as np

from recosim.core import get_backend
from recosim.core.testing import make_runtime_for, to_numpy
from recosim.inference import fit_map, fit_mcem, fit_mle
from recosim.inference.examples import persistent_satisfaction


def test_mcem_recovers_alpha_and_the_objective_rises(runtime):
    make_model = persistent_satisfaction(num_users=8)
    traj = to_numpy(make_runtime_for("numpy", make_model({"alpha": np.float32(0.5)}), seed=3).trajectory(10))
    logged = {"user": {}, "match": traj["match"], "response": traj["response"]}  # the intent is latent
    fit = fit_mcem(
        make_model,
        {"alpha": np.float32(0.9)},
        logged,
        ["user/intent"],
        runtime=runtime,
        method="hmc",
        num_iterations=15,
        num_chains=2,
        num_warmup=100,
        num_warmup_per_iteration=10,
        num_samples=25,
        m_steps=3,
        learning_rate=0.05,
        bounds={"alpha": (0.0, 1.0)},
        seed=0,
        quiet=True,
    )
    # the marginal-likelihood maximum on this log is alpha = 0.48 (checked on a grid); tolerance 0.1
    assert abs(float(fit.params["alpha"]) - 0.5) < 0.1
    objective = fit.history["objective"]
    assert objective.shape == (15,)
    assert objective[-3:].mean() > objective[:2].mean() + 5.0
    assert fit.history["params/alpha"].shape == (15,)
    assert np.all((fit.history["params/alpha"] >= 0.0) & (fit.history["params/alpha"] <= 1.0))
    assert np.all(fit.history["acceptance_rate"] > 0.3)
    assert fit.last_samples["user/intent"].shape == (2, 25, 8)


def test_mle_and_map_fit_100_trajectories(runtime):
    make_model = persistent_satisfaction(num_users=2)
    many = make_runtime_for(runtime, make_model({"alpha": np.float32(0.6)}), seed=1).run_many(num_runs=100, length=8)
    data = to_numpy(many)
    assert data["response"]["satisfaction"].shape == (100, 8, 2)
    fit = fit_mle(
        make_model,
        {"alpha": np.float32(0.0)},
        data,
        runtime=runtime,
        num_steps=100,  # two chunks of 50 steps: one compiled program
        learning_rate=0.05,
        seed=0,
        quiet=True,
    )
    # 1600 transitions with noise 0.3: the ML estimate is within 0.03 of the truth
    assert abs(float(fit.params["alpha"]) - 0.6) < 0.03
    assert fit.objective[-1] > fit.objective[0]

    def log_prior(params):  # a strong prior at 0 pulls the MAP estimate below the ML one
        return get_backend().tfd.Normal(0.0, 0.01).log_prob(params["alpha"])

    fit_p = fit_map(
        make_model,
        {"alpha": np.float32(0.0)},
        data,
        log_prior,
        runtime=runtime,
        num_steps=100,  # two chunks of 50 steps: one compiled program
        learning_rate=0.05,
        seed=0,
        quiet=True,
    )
    assert float(fit_p.params["alpha"]) < float(fit.params["alpha"]) - 0.1
