"""Bad input is refused before any sampling, with an error naming the culprit."""

from __future__ import annotations

import numpy as np
import pytest
from inference_models import slate_story

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, rv, value
from recosim.core.errors import RandomVariableError
from recosim.inference import InferenceError, fit_mle, fit_vi, sample_posterior, train_reinforce
from recosim.inference.examples import conjugate_gaussian

X = np.zeros((4, 3), np.float32)


def bounded():
    """``user.rate ~ Uniform(0, 1)`` (static) and ``obs.x ~ N(rate, 1)``."""
    user = Variable("user", ValueSpec(rate=FieldSpec(shape=(), dtype="float32")))
    obs = Variable("obs", ValueSpec(x=FieldSpec(shape=(), dtype="float32")))
    user.initial_value = value(lambda: Value(rate=get_backend().tfd.Uniform(0.0, 1.0)))
    obs.initial_value = value(lambda u: Value(x=get_backend().tfd.Normal(u.get("rate"), 1.0)), (user,))
    obs.value = value(lambda u: Value(x=get_backend().tfd.Normal(u.get("rate"), 1.0)), (user,))
    return [user, obs]


CASES = {
    "unknown latent variable": (dict(latent=["usr/intent"]), r"latent 'usr/intent'.*no variable 'usr'"),
    "unknown latent field": (dict(latent=["user/intnt"]), r"latent 'user/intnt'.*declares no field 'intnt'"),
    "missing variable": (dict(logged={"user": {}}), r"lacks the variable 'obs'"),
    "missing field": (dict(logged={"user": {}, "obs": {}}), r"lacks the field\(s\) \['x'\] of variable 'obs'"),
    "wrong shape": (
        dict(logged={"user": {}, "obs": {"x": np.zeros((4, 2), np.float32)}}),
        r"field 'x' of variable 'obs' has per-step shape \(2,\) where the model declares \(3,\)",
    ),
    "unknown method": (dict(method="gibbs"), r"unknown sampling method 'gibbs'"),
    "unknown runtime": (dict(runtime="torch"), r"unknown runtime 'torch'"),
    # the differentiable runtimes installed in this environment (jax, tf or both), never numpy
    "numpy runtime": (dict(runtime="numpy"), r"runs on the runtimes \[('jax'|'tf'|'jax', 'tf')\], not on 'numpy'"),
    "no chains": (dict(num_chains=0), r"num_chains must be an integer >= 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_sampling_input_is_named(runtime, case):
    kwargs, message = CASES[case]
    args = dict(logged={"user": {}, "obs": {"x": X}}, latent=["user/intent"], runtime=runtime, quiet=True)
    args.update(kwargs)
    with pytest.raises(InferenceError, match=message):
        sample_posterior(
            conjugate_gaussian(), args.pop("logged"), args.pop("latent"), num_warmup=5, num_samples=5, **args
        )


def test_non_finite_start_names_variable_and_step(runtime):
    logged = {"user": {}, "obs": {"x": np.zeros((3,), np.float32)}}
    with pytest.raises(InferenceError, match=r"chain 0.*variable 'user'.*step 0"):
        sample_posterior(
            bounded(),
            logged,
            ["user/rate"],
            runtime=runtime,
            init={"user/rate": 2.0},
            init_spread=0.0,
            num_warmup=5,
            num_samples=5,
            quiet=True,
        )
    with pytest.raises(InferenceError, match=r"variable 'user'.*step 0"):
        fit_vi(bounded(), logged, ["user/rate"], runtime=runtime, init={"user/rate": 2.0}, num_steps=2, quiet=True)


def test_bad_training_input_is_named(runtime):
    zero = {"logits": np.zeros(5, np.float32)}
    common = dict(horizon=2, runtime=runtime, num_steps=1, quiet=True)
    with pytest.raises(InferenceError, match=r"policy 'recommender/slat'.*declares no field 'slat'"):
        train_reinforce(slate_story(), zero, policy="recommender/slat", reward="metrics/reward", **common)
    with pytest.raises(InferenceError, match=r"reward 'metric/reward'.*no variable 'metric'"):
        train_reinforce(slate_story(), zero, policy="recommender", reward="metric/reward", **common)
    with pytest.raises(InferenceError, match=r"unknown baseline 'median'"):
        train_reinforce(slate_story(), zero, policy="recommender", reward="metrics/reward", baseline="median", **common)
    with pytest.raises(InferenceError, match=r"policy 'metrics' draws nothing"):
        train_reinforce(slate_story(), zero, policy="metrics", reward="metrics/reward", baseline=None, **common)
    with pytest.raises(InferenceError, match=r"bounds names the parameter 'alpha'"):
        train_reinforce(
            slate_story(), zero, policy="recommender", reward="metrics/reward", bounds={"alpha": (0, 1)}, **common
        )
    with pytest.raises(InferenceError, match=r"parameter 'logits' has non-finite"):
        train_reinforce(
            slate_story(), {"logits": np.full(5, np.nan)}, policy="recommender", reward="metrics/reward", **common
        )
    with pytest.raises(InferenceError, match=r"trajectory 1 has the variables"):
        fit_mle(slate_story(), zero, [{"recommender": {}, "user": {}, "metrics": {}}, {"user": {}}], runtime=runtime)


def noisy_policy(params):
    """A policy whose action is drawn around a draw that is none of its fields (so cannot be scored from a log)."""
    policy = Variable("policy", ValueSpec(action=FieldSpec(shape=(2,), dtype="float32")))
    metrics = Variable("metrics", ValueSpec(reward=FieldSpec(shape=(2,), dtype="float32")))

    def act():
        B = get_backend()
        noise = rv("noise", B.tfd.Normal(B.np.zeros(2, dtype="float32"), 1.0))
        return Value(action=B.tfd.Normal(noise + params["mu"], 1.0))

    policy.initial_value = value(act)
    policy.value = value(act)
    metrics.initial_value = value(lambda p: Value(reward=p.get("action")), (policy,))
    metrics.value = value(lambda p: Value(reward=p.get("action")), (policy,))
    return [policy, metrics]


def test_a_policy_drawing_what_it_does_not_record_is_refused(runtime):
    with pytest.raises(RandomVariableError, match=r"'policy/noise'.*policy variable 'policy' must be one of its fields"):
        train_reinforce(noisy_policy, {"mu": np.float32(0.0)}, policy="policy/action", reward="metrics/reward",
                        horizon=2, runtime=runtime, num_steps=1, baseline=None, num_rollouts=1, quiet=True)


def test_a_near_certain_policy_on_resume_is_not_taken_for_one_that_draws_nothing():
    from recosim.inference.policy import ReinforceSpec

    spec = ReinforceSpec(variable="recommender", keys=["slate"], reward_variable="metrics", reward_key="reward",
                         population=[], baseline=None, group_size=1, num_rollouts=2, discount=1.0)
    rewards, certain = np.ones((2, 3), np.float64), np.zeros((2, 3), np.float32)
    with pytest.raises(InferenceError, match="draws nothing"):
        spec.check_first(rewards, certain)
    spec.check_first(rewards, certain, fresh=False)  # float32 log p of 0 after training: nothing to refuse
