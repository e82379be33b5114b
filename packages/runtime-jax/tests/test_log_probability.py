"""Log-probabilities on JAX: closed forms, agreement with core and TF, gradients, MCMC targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_models import choice_variables, default_affinity, drift_variables

from recosim.core import FieldSpec, NetworkError, RandomVariableError, Value, ValueSpec, Variable, get_backend, value
from recosim.core.log_probability import log_probability_accumulator_variables
from recosim.core.log_probability import log_probability_from_value_trajectory as core_log_probability
from recosim.core.plugins import get_plugins
from recosim.core.random import rv
from recosim.jax import JaxRuntime, log_probability_from_value_trajectory, make_log_probability_fn, replace_fields


def normal_logpdf(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def drift_closed_form(x, mu, sigma, steps=None):
    x = np.asarray(x, np.float64)
    steps = len(x) - 1 if steps is None else steps
    lp = normal_logpdf(x[0], mu, sigma).sum()
    for t in range(1, steps + 1):
        lp += normal_logpdf(x[t], x[t - 1] + mu, sigma).sum()
    return lp


@pytest.fixture(scope="module")
def drift_traj():
    return JaxRuntime(drift_variables(0.5, 1.5, 3), seed=0).trajectory(6)


def test_chained_gaussian_matches_closed_form(drift_traj):
    rt = JaxRuntime(drift_variables(0.5, 1.5, 3), seed=0)
    x = np.asarray(drift_traj["chain"].get("x"))
    assert float(rt.log_probability(drift_traj)) == pytest.approx(drift_closed_form(x, 0.5, 1.5), rel=1e-5)
    assert float(rt.log_probability(drift_traj, num_steps=2)) == pytest.approx(
        drift_closed_form(x, 0.5, 1.5, steps=2), rel=1e-5
    )
    by_step = np.asarray(rt.log_probability_by_step(drift_traj)["chain"])
    assert by_step.shape == (6,)
    assert by_step[0] == pytest.approx(normal_logpdf(x[0], 0.5, 1.5).sum(), rel=1e-5)
    # numpy inputs, the module-level function, the eager path and core's generic function agree
    np_traj = {"chain": {"x": x}}
    expected = drift_closed_form(x, 0.5, 1.5)
    for got in (
        log_probability_from_value_trajectory(drift_variables(0.5, 1.5, 3), np_traj),
        log_probability_from_value_trajectory(drift_variables(0.5, 1.5, 3), np_traj, jit=False),
        core_log_probability(drift_variables(0.5, 1.5, 3), np_traj),
    ):
        assert float(got) == pytest.approx(expected, rel=1e-5)


def test_categorical_choice_matches_closed_form():
    users = 3
    rt = JaxRuntime(choice_variables(users), seed=1)
    traj = rt.trajectory(5)
    choice = np.asarray(traj["response"].get("choice"))
    affinity = default_affinity(users).astype(np.float64)
    expected = 0.0
    for t in range(5):
        logits = affinity + (np.eye(4)[choice[t - 1]] if t > 0 else 0.0)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        expected += logp[np.arange(users), choice[t]].sum()
    assert float(rt.log_probability(traj)) == pytest.approx(expected, rel=1e-5)
    per = rt.log_probability_by_step(traj)
    assert np.asarray(per["user"]).tolist() == [0.0] * 5  # deterministic variables contribute nothing


_TF_COMPARISON = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from recosim.jax.backend import jax_backend
jax_backend().tfd.Normal  # the JAX substrate first: TFP on TensorFlow must still import afterwards
from recosim.core.plugins import get_plugins
TFRuntime = get_plugins().get_runtime("tf")
import tensorflow_probability as tfp
tfp.distributions.Normal
from jax_models import choice_variables, drift_variables
from recosim.core.testing import to_numpy
from recosim.jax import JaxRuntime
out = {}
for name, build in (("drift", lambda: drift_variables(0.5, 1.5, 3)), ("choice", choice_variables)):
    traj = to_numpy(JaxRuntime(build(), seed=2).trajectory(5))
    out[name] = [
        float(np.asarray(TFRuntime(build(), seed=0).log_probability(traj))),
        float(JaxRuntime(build()).log_probability(traj)),
    ]
print(json.dumps(out))
"""


def test_agrees_with_the_tf_runtime():
    # Run in a fresh process: TFP on TensorFlow fails to import once TFP's NumPy substrate
    # has been imported with TensorFlow hidden, as core's NumPy backend does (the tests
    # above use it). The JAX backend hides TensorFlow too, but forgets what it imported.
    if "tf" not in get_plugins().runtime_names():
        pytest.skip("recosim-runtime-tf is not installed")
    try:
        tf_runtime = get_plugins().get_runtime("tf")
    except Exception as err:  # installed but its framework does not import here
        pytest.skip(f"the tf runtime does not load: {err}")
    if not any("log_probability" in vars(c) for c in tf_runtime.__mro__ if c.__name__ != "Runtime"):
        pytest.skip("the tf runtime has no log_probability of its own yet")
    tests_dir = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", _TF_COMPARISON, tests_dir],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (tf_lp, jax_lp) in results.items():
        assert tf_lp == pytest.approx(jax_lp, rel=1e-5), name


def test_gradients_match_finite_differences(drift_traj):
    def log_prob(params):
        return JaxRuntime(drift_variables(params["mu"], params["sigma"], 3)).log_probability(drift_traj)

    params = {"mu": jnp.float32(0.3), "sigma": jnp.float32(1.2)}
    grad = jax.grad(log_prob)(params)
    assert jax.jit(jax.grad(log_prob))(params)["mu"] == pytest.approx(float(grad["mu"]), rel=1e-5)
    x = np.asarray(drift_traj["chain"].get("x"))
    h = 1e-4
    for name in ("mu", "sigma"):
        up = {**{k: float(v) for k, v in params.items()}, name: float(params[name]) + h}
        down = {**{k: float(v) for k, v in params.items()}, name: float(params[name]) - h}
        fd = (drift_closed_form(x, up["mu"], up["sigma"]) - drift_closed_form(x, down["mu"], down["sigma"])) / (2 * h)
        assert float(grad[name]) == pytest.approx(fd, rel=1e-3), name
    # and with respect to the data itself
    gx = jax.grad(lambda xs: JaxRuntime(drift_variables(0.3, 1.2, 3)).log_probability({"chain": Value(x=xs)}))(
        jnp.asarray(x)
    )
    fd0 = (
        drift_closed_form(x + np.eye(1, x.size, 4).reshape(x.shape) * h, 0.3, 1.2)
        - drift_closed_form(x - np.eye(1, x.size, 4).reshape(x.shape) * h, 0.3, 1.2)
    ) / (2 * h)
    assert float(gx.reshape(-1)[4]) == pytest.approx(fd0, rel=1e-2, abs=1e-3)


def test_accumulators_track_log_probability_and_its_gradient():
    users = 4

    def accumulated(temperature):
        model = choice_variables(users, temperature=temperature)
        final = JaxRuntime(model + log_probability_accumulator_variables(model), seed=6).execute(3)
        return jnp.sum(final["response log prob"].get("log_prob")), final

    total, final = accumulated(jnp.float32(1.0))
    traj = JaxRuntime(choice_variables(users), seed=6).trajectory(4)
    assert np.array_equal(final["response"].get("choice"), traj["response"].get("choice")[-1])
    assert float(total) == pytest.approx(float(JaxRuntime(choice_variables(users)).log_probability(traj)), rel=1e-5)
    # score-function gradients: the accumulator's gradient is that of the sampled trajectory's
    # log-probability (the sampled choices are integers, so nothing flows through them)
    g_acc = jax.grad(lambda temp: accumulated(temp)[0])(jnp.float32(1.0))
    g_lp = jax.grad(lambda temp: JaxRuntime(choice_variables(users, temperature=temp)).log_probability(traj))(
        jnp.float32(1.0)
    )
    assert float(g_acc) == pytest.approx(float(g_lp), rel=1e-5)
    assert float(g_lp) != 0.0


def test_unlogged_draws_are_named_or_sampled_with_a_seed():
    v = Variable("sensor", ValueSpec(reading=FieldSpec()))

    def read() -> Value:
        B = get_backend()
        noise = rv("noise", B.tfd.Normal(0.0, 1.0))
        return Value(reading=B.tfd.Normal(noise, 1.0))

    v.initial_value = value(read)
    traj = {"sensor": Value(reading=jnp.zeros(2))}
    with pytest.raises(RandomVariableError, match="'sensor/noise' is not observed"):
        JaxRuntime([v]).log_probability(traj)
    a = JaxRuntime([v]).log_probability(traj, num_steps=0, seed=3)
    b = log_probability_from_value_trajectory([v], traj, 0, seed=3, jit=False)
    assert float(a) == pytest.approx(float(b), rel=1e-6)


def test_trajectory_errors_name_the_culprit():
    rt = JaxRuntime(drift_variables())
    with pytest.raises(NetworkError, match=r"lacks the variable\(s\) \['chain'\]"):
        rt.log_probability({})
    with pytest.raises(NetworkError, match="num_steps=5 but the trajectory holds 2 steps"):
        rt.log_probability({"chain": Value(x=np.zeros((2, 2), np.float32))}, num_steps=5)
    two = choice_variables()
    bad = {
        "user": Value(affinity=np.zeros((3, 3, 4), np.float32)),
        "response": Value(choice=np.zeros((2, 3), np.int32)),
    }
    with pytest.raises(NetworkError, match="field 'choice' of variable 'response' holds 2 steps"):
        JaxRuntime(two).log_probability(bad)


def test_log_probability_fn_of_latent_fields(drift_traj):
    x = drift_traj["chain"].get("x")
    fn = make_log_probability_fn(drift_variables(0.5, 1.5, 3), {"chain": Value()}, latent=["chain/x"])
    assert float(fn(x)) == pytest.approx(drift_closed_form(np.asarray(x), 0.5, 1.5), rel=1e-5)
    # d/dx_T of the last transition's density: -(x_T - x_{T-1} - mu) / sigma^2
    g = jax.grad(fn)(x)
    np.testing.assert_allclose(g[-1], -(x[-1] - x[-2] - 0.5) / 1.5**2, rtol=1e-4, atol=1e-5)
    whole = make_log_probability_fn(drift_variables(0.5, 1.5, 3), {"chain": Value()}, latent="chain", jit=False)
    assert float(whole(Value(x=x))) == pytest.approx(float(fn(x)), rel=1e-6)
    assert fn.latent_values(drift_traj)[0] is x
    with pytest.raises(NetworkError, match="latent 'user/x': no variable 'user'"):
        make_log_probability_fn(drift_variables(), {}, latent=["user/x"])
    with pytest.raises(NetworkError, match="variable 'chain' declares no field 'y'"):
        make_log_probability_fn(drift_variables(), {}, latent=["chain/y"])
    with pytest.raises(TypeError, match=r"one per latent \['chain/x'\], got 2"):
        fn(x, x)
    with pytest.raises(NetworkError, match=r"lacks the variable\(s\) \['chain'\]"):
        make_log_probability_fn(drift_variables(), {}, latent=["chain/x"])
    # several chains at once: vmap over a leading chain axis
    chains = jnp.stack([x, x + 1.0])
    np.testing.assert_allclose(jax.vmap(fn)(chains), [fn(x), fn(x + 1.0)], rtol=1e-6)
    assert replace_fields({"chain": Value(x=1, y=2)}, {"chain/y": 3})["chain"] == Value(x=1, y=3)


def test_hmc_over_a_latent_mean():
    # z ~ N(0, 1) is static; y_t ~ N(z, 1) for 20 steps. The posterior of z given y is
    # N(sum(y) / 21, 1 / 21), sd 0.22. HMC with a leapfrog path of about a quarter period
    # (3 x 0.1) mixes with lag-1 autocorrelation near 0.2, so the mean of 400 draws after
    # 200 of burn-in has a Monte Carlo standard error near 0.013; allow 0.06.
    from tensorflow_probability.substrates import jax as tfp

    z = Variable("z", ValueSpec(mean=FieldSpec(shape=(), dtype="float32")))
    z.initial_value = value(lambda: Value(mean=get_backend().tfd.Normal(0.0, 1.0)))
    y = Variable("y", ValueSpec(obs=FieldSpec(shape=(), dtype="float32")))
    y.initial_value = value(lambda zv: Value(obs=get_backend().tfd.Normal(zv.get("mean"), 1.0)), (z,))
    y.value = value(lambda zv: Value(obs=get_backend().tfd.Normal(zv.get("mean"), 1.0)), (z,))
    data = JaxRuntime([z, y], seed=0).trajectory(20)
    target = make_log_probability_fn([z, y], {"y": data["y"], "z": Value()}, latent=["z/mean"])

    kernel = tfp.mcmc.HamiltonianMonteCarlo(
        target_log_prob_fn=lambda m: target(jnp.broadcast_to(m, (20,))), step_size=0.1, num_leapfrog_steps=3
    )
    samples = jax.jit(
        lambda key: tfp.mcmc.sample_chain(
            400, jnp.float32(0.0), kernel=kernel, num_burnin_steps=200, trace_fn=None, seed=key
        )
    )(jax.random.PRNGKey(0))
    posterior_mean = float(np.sum(np.asarray(data["y"].get("obs")))) / 21
    assert float(jnp.mean(samples)) == pytest.approx(posterior_mean, abs=0.06)
    assert 0.5 / np.sqrt(21) < float(jnp.std(samples)) < 2 / np.sqrt(21)
