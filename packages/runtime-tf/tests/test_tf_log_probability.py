import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tf_models import Chain, Chooser, chain_variables, choice_variables

from recosim.core import Entity, FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.errors import NetworkError, RandomVariableError
from recosim.core.log_probability import log_probability_from_value_trajectory as core_log_probability
from recosim.tf.log_probability import (
    log_probability_accumulator_variables,
    log_probability_from_value_trajectory,
    make_log_probability_fn,
)
from recosim.tf.runtime import TFRuntime


def _chain_data(chain, length=5, seed=0):
    traj = TFRuntime(chain_variables(chain), seed=seed).trajectory(length)
    return traj, traj["x"].get("state").numpy(), traj["y"].get("y").numpy()


def test_chained_gaussian_equals_closed_form_compiled_eager_and_core():
    chain = Chain()
    variables = chain_variables(chain)
    traj, xs, ys = _chain_data(chain)
    expected = chain.closed_form(xs, ys)
    compiled = TFRuntime(variables, seed=0).log_probability(traj)
    eager = TFRuntime(variables, seed=0, eager=True).log_probability(traj)
    assert compiled.dtype == tf.float32
    assert np.isclose(float(compiled), expected, rtol=1e-5)
    assert np.isclose(float(eager), float(compiled), rtol=1e-6)
    # module-level function, logged NumPy data, and a prefix of the trajectory
    logged = {"x": Value(state=xs), "y": Value(y=ys)}
    assert np.isclose(float(log_probability_from_value_trajectory(variables, logged)), expected, rtol=1e-5)
    prefix = log_probability_from_value_trajectory(variables, logged, num_steps=2)
    assert np.isclose(float(prefix), chain.closed_form(xs[:3], ys[:3]), rtol=1e-5)
    # core's generic function agrees given TF tensors
    assert np.isclose(float(core_log_probability(variables, traj)), expected, rtol=1e-5)
    with pytest.raises(NetworkError, match="num_steps=5"):
        log_probability_from_value_trajectory(variables, logged, num_steps=5)


def test_discrete_choice_over_a_slate_equals_closed_form():
    chooser = Chooser()
    variables = choice_variables(chooser)
    traj = TFRuntime(variables, seed=4).trajectory(6)
    choices = traj["response"].get("choice").numpy()
    assert choices.shape == (6, 3) and choices.min() >= 0 and choices.max() <= 3
    lp = TFRuntime(variables, seed=0).log_probability(traj)
    assert np.isclose(float(lp), chooser.closed_form(choices), rtol=1e-5)


def test_gradient_wrt_an_entity_parameter_matches_finite_difference():
    chain = Chain(mu=0.3)
    runtime = TFRuntime(chain_variables(chain), seed=0)
    traj, xs, _ = _chain_data(chain)
    with tf.GradientTape() as tape:
        lp = runtime.log_probability(traj)
    grad = float(tape.gradient(lp, chain.mu))
    h = 1e-2
    chain.mu.assign(0.3 + h)
    up = float(runtime.log_probability(traj))
    chain.mu.assign(0.3 - h)
    down = float(runtime.log_probability(traj))
    chain.mu.assign(0.3)
    assert np.isclose(grad, (up - down) / (2 * h), rtol=1e-2)
    assert np.isclose(grad, np.sum(xs[0] - 0.3), rtol=1e-4)  # d/dmu of sum log N(x0; mu, 1)


def test_maximum_likelihood_recovers_the_drift():
    class Drift(Entity):
        def __init__(self, drift):
            super().__init__(name="drift")
            self.drift = tf.Variable(drift, dtype=tf.float32)

        def initial(self):
            B = get_backend()
            return Value(x=B.tfd.Normal(B.np.zeros(64, dtype="float32"), 1.0))

        def step(self, prev):
            return Value(x=get_backend().tfd.Normal(prev.get("x") + self.drift, 1.0))

    def variables(entity):
        walk = Variable("walk", ValueSpec(x=FieldSpec(shape=(64,), dtype="float32")))
        walk.initial_value = value(entity.initial)
        walk.value = value(entity.step, (walk.previous,))
        return [walk]

    truth = Drift(0.7)
    simulator = TFRuntime(variables(truth), seed=123)
    trajectories = [simulator.trajectory(10) for _ in range(4)]
    increments = np.concatenate([np.diff(t["walk"].get("x").numpy(), axis=0).ravel() for t in trajectories])

    model = Drift(0.0)
    model_variables = variables(model)
    # the negative mean log-likelihood is a parabola in the drift with curvature 1 (one unit-variance Normal
    # per increment): gradient descent at rate 0.5 halves the distance to the MLE every step, so 20 steps
    # land within 1e-6 of it; a gradient of the wrong sign, zero or far off in scale never gets within 0.01
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.5)
    for _ in range(20):
        with tf.GradientTape() as tape:
            log_probs = [log_probability_from_value_trajectory(model_variables, t) for t in trajectories]
            negative_likelihood = -tf.reduce_sum(log_probs) / increments.size
        grads = tape.gradient(negative_likelihood, [model.drift])
        optimizer.apply_gradients(zip(grads, [model.drift]))
    fitted = float(model.drift.numpy())
    assert abs(fitted - increments.mean()) < 0.01  # the optimiser reaches the analytic MLE
    assert abs(fitted - 0.7) < 0.1  # which is within 5 standard errors (0.02) of the truth


def test_latent_fields_held_out_for_mcmc():
    chain = Chain()
    variables = chain_variables(chain)
    traj, xs, ys = _chain_data(chain)
    fn = make_log_probability_fn(variables, traj, latent=["x/state"])
    assert fn.latent == ("x/state",) and np.array_equal(fn.initial_state[0], xs)
    proposal = np.zeros_like(xs)
    assert np.isclose(float(fn(proposal)), chain.closed_form(proposal, ys), rtol=1e-5)
    x = tf.constant(proposal)
    with tf.GradientTape() as tape:
        tape.watch(x)
        lp = fn(x)
    assert tape.gradient(lp, x).shape == xs.shape

    kernel = tfp.mcmc.HamiltonianMonteCarlo(fn, step_size=0.1, num_leapfrog_steps=3)

    @tf.function(autograph=False)
    def run_chain():
        return tfp.mcmc.sample_chain(
            4, current_state=fn.initial_state, kernel=kernel, trace_fn=None, seed=tf.constant([1, 2], tf.int32)
        )

    (samples,) = run_chain()
    assert samples.shape == (4, *xs.shape) and np.all(np.isfinite(samples.numpy()))
    with pytest.raises(NetworkError, match="no field 'interest'"):
        make_log_probability_fn(variables, traj, latent=["x/interest"])


def test_unlogged_draw_is_named_and_can_be_sampled_with_a_seed():
    noisy = Variable("noisy", ValueSpec(z=FieldSpec(dtype="float32")))

    def initial():
        B = get_backend()
        eps = rv("eps", B.tfd.Normal(0.0, 1.0))
        return Value(z=B.tfd.Normal(eps, 1.0))

    noisy.initial_value = value(initial)
    logged = {"noisy": Value(z=np.zeros(1, np.float32))}
    with pytest.raises(RandomVariableError, match="'noisy/eps'"):
        log_probability_from_value_trajectory([noisy], logged)
    a = log_probability_from_value_trajectory([noisy], logged, seed=3)
    b = log_probability_from_value_trajectory([noisy], logged, seed=3)
    assert float(a) == float(b) and np.isfinite(float(a))


def test_accumulators_are_differentiable_on_the_compiled_runtime():
    chooser = Chooser(temperature=1.2)
    variables = choice_variables(chooser)
    accumulators = log_probability_accumulator_variables([variables[2]])
    runtime = TFRuntime(variables + accumulators, seed=8)
    with tf.GradientTape() as tape:
        traj = runtime.trajectory(4)
        total = tf.reduce_sum(traj["response log prob"].get("log_prob")[-1])
    choices = traj["response"].get("choice").numpy()
    assert np.isclose(float(total), chooser.closed_form(choices), rtol=1e-5)
    grad = tape.gradient(total, chooser.temperature)
    assert np.isclose(float(grad), chooser.score_gradient(choices), rtol=1e-4)
