"""HMC, NUTS and VI on the conjugate Gaussian model, against its closed-form posterior."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import RUNTIMES

from recosim.core.testing import make_runtime_for, to_numpy
from recosim.inference import fit_vi, sample_posterior
from recosim.inference.examples import conjugate_gaussian, conjugate_posterior

NUM_STEPS = 10  # observations per user


@pytest.fixture(scope="module")
def logged():
    traj = to_numpy(make_runtime_for("numpy", conjugate_gaussian(), seed=1).trajectory(NUM_STEPS))
    return {"user": {}, "obs": traj["obs"]}  # the intent is held out: not logged


@pytest.fixture(scope="module")
def exact(logged):
    return conjugate_posterior(logged["obs"]["x"])


_POSTERIORS: dict = {}


def posterior(runtime, method, logged):
    key = (runtime, method)
    if key not in _POSTERIORS:
        _POSTERIORS[key] = sample_posterior(
            conjugate_gaussian(),
            logged,
            ["user/intent"],
            runtime=runtime,
            method=method,
            num_chains=4,
            num_warmup=150,
            num_samples=200,
            num_leapfrog_steps=3,
            checkpoint_every=50,  # every chunk 50 steps long: one compiled program for warm-up, one for sampling
            seed=0,
            quiet=True,
        )
    return _POSTERIORS[key]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("method", ["hmc", "nuts"])
def test_samplers_recover_the_closed_form_posterior(runtime, method, logged, exact):
    post = posterior(runtime, method, logged)
    mean, std = exact  # posterior sd is 0.156
    samples = post.samples["user/intent"]
    assert samples.shape == (4, 200, 3)
    # tolerances: means within 0.08 (about 0.5 posterior sd, several Monte-Carlo standard errors);
    # standard deviations within 25%; split R-hat over the 4 chains below 1.05
    np.testing.assert_allclose(post.mean("user/intent"), mean, atol=0.08)
    np.testing.assert_allclose(post.std("user/intent"), std, rtol=0.25)
    d = post.diagnostics
    assert d["r_hat"]["user/intent"] < 1.05
    assert d["ess"]["user/intent"] > 50
    if method == "hmc":  # a fixed trajectory length resonating with this Gaussian gave antithetic chains (ESS ~3x draws)
        assert d["ess"]["user/intent"] < 1.3 * samples.shape[0] * samples.shape[1]
    assert 0.5 < d["acceptance_rate"] <= 1.0
    assert d["divergences"] == 0
    assert len(d["step_size"]) == 4 and all(s > 0 for s in d["step_size"])
    assert post.sample_stats["lp"].shape == (4, 200) and np.all(np.isfinite(post.sample_stats["lp"]))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_posterior_converts_to_arviz(runtime, logged, tmp_path):
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    post = posterior(runtime, "nuts", logged)
    idata = post.to_arviz()
    summary = az.summary(idata)
    assert len(summary) == 3  # one row per user's intent
    np.testing.assert_allclose(summary["mean"].to_numpy(), post.mean("user/intent"), atol=0.01)
    assert summary["r_hat"].max() < 1.05
    assert "diverging" in idata.sample_stats and "lp" in idata.sample_stats
    axes = az.plot_trace(idata)
    axes.ravel()[0].figure.savefig(tmp_path / "trace.png")
    assert (tmp_path / "trace.png").stat().st_size > 0


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("family", ["meanfield", "fullrank"])
def test_vi_recovers_the_closed_form_posterior(runtime, family, logged, exact):
    fit = fit_vi(
        conjugate_gaussian(),
        logged,
        ["user/intent"],
        runtime=runtime,
        family=family,
        num_steps=400,
        num_draws=16,
        learning_rate=0.03,
        seed=0,
        quiet=True,
    )
    mean, std = exact
    # tolerances: means within 0.05 (a third of a posterior sd), sds within 20% (stochastic ELBO gradients)
    np.testing.assert_allclose(fit.loc["user/intent"], mean, atol=0.05)
    np.testing.assert_allclose(fit.scale["user/intent"], std, rtol=0.2)
    assert fit.elbo.shape == (400,)
    assert fit.elbo[-50:].mean() > fit.elbo[:10].mean() + 10.0  # the ELBO rises from the 0.1-scale start at 0
    draws = fit.sample(2000, seed=1)["user/intent"]
    np.testing.assert_allclose(draws.mean(0), fit.loc["user/intent"], atol=0.02)
    assert fit.covariance.shape == (3, 3)
    if family == "meanfield":
        assert np.count_nonzero(fit.covariance - np.diag(np.diag(fit.covariance))) == 0
    assert tuple(fit.surrogate.event_shape) == (3,)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_posterior_round_trips_through_netcdf(runtime, logged, tmp_path):
    from recosim.inference import load_posterior

    post = posterior(runtime, "nuts", logged)
    idata = post.to_arviz()
    assert list(idata.posterior.data_vars) == ["user.intent"]  # netCDF names hold no '/'
    path = tmp_path / "post.nc"
    idata.to_netcdf(str(path))
    back = load_posterior(path)
    assert sorted(back.samples) == ["user/intent"]  # the documented mapping back
    np.testing.assert_array_equal(back.samples["user/intent"], post.samples["user/intent"])
    assert sorted(back.sample_stats) == sorted(post.sample_stats)
    for key, value in post.sample_stats.items():
        np.testing.assert_array_equal(back.sample_stats[key], value, err_msg=key)
    assert (back.method, back.runtime) == ("nuts", runtime)
    assert back.diagnostics["ess"] == pytest.approx(post.diagnostics["ess"])
