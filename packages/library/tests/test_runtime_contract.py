"""Contract every runtime keeps, checked on all installed runtimes together."""

import numpy as np
import pytest

from recosim.core import (
    FieldSpec,
    RandomVariableError,
    SpecError,
    Value,
    ValueSpec,
    Variable,
    get_backend,
    get_plugins,
    value,
)
from recosim.core.examples import counting_variables, random_walk_variables
from recosim.core.plugins import COMPILES
from recosim.core.random import substitute
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy
from recosim.library.choice import MultinomialLogitChoiceModel, TargetPointSimilarity

COMPILED = [r for r in runtime_names() if r in get_plugins().runtimes_with(COMPILES)]


@pytest.mark.parametrize("runtime", COMPILED)
def test_compiled_runtimes_refuse_outer_handlers(runtime):
    rt = make_runtime_for(runtime, random_walk_variables(2), seed=0)
    with (
        substitute({"walk/position": 0.0}),
        pytest.raises(RandomVariableError, match="inside the handler\\(s\\) substitute"),
    ):
        rt.trajectory(2)
    assert rt.trajectory(2)["walk"].get("position").shape == (2, 2)


@pytest.mark.parametrize("runtime", runtime_names())
def test_a_runtime_has_the_capabilities_its_plugin_declares(runtime):
    rt = make_runtime_for(runtime, counting_variables(), seed=0)
    declared = get_plugins().runtime_capabilities(runtime)
    assert isinstance(rt.capabilities, frozenset) and rt.capabilities == declared
    assert runtime in get_plugins().runtimes_with(*declared)


@pytest.mark.parametrize("runtime", runtime_names())
def test_one_step_api_rebuilds_the_trajectory_on_every_runtime(runtime):
    rt = make_runtime_for(runtime, random_walk_variables(2) + counting_variables(), seed=0)
    key = rt.backend.make_seed(7)
    current = rt.initial_step(key)
    steps = [to_numpy(current)]
    for t in range(1, 4):
        current = rt.transition(key, t, current)
        steps.append(to_numpy(current))
    traj = to_numpy(rt.trajectory(4, seed=7))
    assert [s["count"]["n"].tolist() for s in steps] == traj["count"]["n"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(np.stack([s["walk"]["position"] for s in steps]), traj["walk"]["position"], rtol=1e-6)


def grows() -> list[Variable]:
    grow = Variable("grow", ValueSpec(x=FieldSpec(dtype="float32")))
    grow.initial_value = value(lambda: Value(x=np.zeros(2, np.float32)))
    grow.value = value(lambda p: Value(x=get_backend().np.concatenate([p.get("x"), p.get("x")[:1]])), (grow.previous,))
    return [grow]


@pytest.mark.parametrize("runtime", runtime_names())
def test_a_transition_that_grows_a_field_or_float64_logged_data_is_the_same_spec_error(runtime):
    for call in ("trajectory", "execute"):
        rt = make_runtime_for(runtime, grows(), seed=0)
        with pytest.raises(SpecError, match=r"variable 'grow', field 'x'.*shape \(3,\).*shape \(2,\)"):
            getattr(rt, call)(3)
    rt = make_runtime_for(runtime, random_walk_variables(3), seed=0)
    logged = to_numpy(rt.trajectory(3))
    logged["walk"]["position"] = logged["walk"]["position"].astype(np.float64)
    with pytest.raises(SpecError, match="variable 'walk'.*field 'position'.*float64"):
        rt.log_probability(logged)


# -- every installed runtime against the NumPy runtime, on the same models -----------------


ALL = runtime_names()


def walk_and_choice(num_users: int = 4000) -> list[Variable]:
    """A random-walk interest and a multinomial-logit choice among three fixed items."""
    walk = random_walk_variables(num_users, 0.5)[0]
    items = np.array([[0.0], [1.0], [-1.0]], np.float32)
    affinity, selector = TargetPointSimilarity("negative_euclidean"), MultinomialLogitChoiceModel()
    choice = Variable("choice", ValueSpec(choice=FieldSpec((num_users,), "int32")))

    def choose(w: Value) -> Value:
        B = get_backend()
        target = w.get("position")[:, None]
        aff = affinity.affinities(target, B.np.broadcast_to(B.asarray(items), (num_users, 3, 1)))
        return selector.choice(aff.get("affinities"))

    choice.initial_value = value(choose, (walk,))
    choice.value = value(choose, (walk,))
    return [walk, choice]


@pytest.mark.parametrize("runtime", ALL)
def test_deterministic_models_agree_exactly(runtime):
    got = to_numpy(make_runtime_for(runtime, counting_variables(), seed=0).trajectory(6))
    assert got["count"]["n"].tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("runtime", ALL)
def test_runtimes_agree_in_distribution(runtime):
    traj = to_numpy(make_runtime_for(runtime, walk_and_choice(), seed=5).trajectory(4))
    pos, choice = traj["walk"]["position"], traj["choice"]["choice"]
    n = pos.shape[1]
    # the walk: mean 0 and variance 0.25 (t + 1) at step t; 5 standard errors
    for t in range(4):
        var = 0.25 * (t + 1)
        assert abs(pos[t].mean()) < 5 * np.sqrt(var / n)
        assert abs(pos[t].var() / var - 1) < 5 * np.sqrt(2 / n)
    # the choice given the walk: P(i) = softmax(-|x - item_i|), averaged over users at the last step
    items = np.array([0.0, 1.0, -1.0])
    logits = -np.abs(pos[-1][:, None] - items[None])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    freq = np.bincount(choice[-1], minlength=3) / n
    assert np.abs(freq - probs.mean(0)).max() < 5 * np.sqrt(0.25 / n)


@pytest.mark.parametrize("runtime", ALL)
def test_log_probabilities_agree_on_the_same_trajectory(runtime):
    model = walk_and_choice(50)
    traj = make_runtime_for("numpy", model, seed=9).trajectory(5)
    expected = float(make_runtime_for("numpy", model, seed=0).log_probability(traj))
    rt = make_runtime_for(runtime, walk_and_choice(50), seed=0)
    got = float(np.asarray(rt.log_probability({k: v.map(rt.backend.asarray) for k, v in traj.items()})))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("runtime", ALL)
def test_a_latent_name_means_the_same_on_every_runtime(runtime):
    """"variable/field" is one field (a dotted field covers its sub-fields); "variable" is the whole Value."""
    model = walk_and_choice(20)
    traj = make_runtime_for("numpy", model, seed=3).trajectory(4)
    expected = float(make_runtime_for("numpy", model, seed=0).log_probability(traj))
    rt = make_runtime_for(runtime, walk_and_choice(20), seed=0)
    position = traj["walk"].get("position")
    by_field = rt.log_probability_fn(traj, latent=["walk/position"])
    whole = rt.log_probability_fn({"choice": traj["choice"]}, latent="walk")  # a whole latent may be left out
    assert float(np.asarray(by_field(position))) == pytest.approx(expected, rel=1e-5)
    assert float(np.asarray(whole(Value(position=position)))) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(np.asarray(by_field.initial_state[0]), position)
    # the same function through the registry: one method name, the runtime's implementation
    front = get_plugins().get_inference_method("log_probability_fn", runtime=runtime)
    assert float(np.asarray(front(walk_and_choice(20), traj, ["walk/position"])(position))) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize("runtime", ALL)
def test_run_many_is_part_of_every_runtime(runtime):
    rt = make_runtime_for(runtime, walk_and_choice(30), seed=2)
    seeds = [5, 6, 2**33 + 1]
    many = to_numpy(rt.run_many(seeds, length=3))
    assert many["walk"]["position"].shape == (3, 3, 30) and many["choice"]["choice"].shape == (3, 3, 30)
    for i, s in enumerate(seeds):  # run i is the single call with the same seed
        one = to_numpy(rt.trajectory(3, seed=s))
        assert np.array_equal(many["choice"]["choice"][i], one["choice"]["choice"])
        np.testing.assert_allclose(many["walk"]["position"][i], one["walk"]["position"], rtol=1e-6, atol=1e-6)
    final = to_numpy(rt.run_many(seeds, num_steps=2))
    np.testing.assert_allclose(final["walk"]["position"], many["walk"]["position"][:, -1], rtol=1e-6, atol=1e-6)
    # num_runs=n: the runtime's next n calls
    batched = to_numpy(make_runtime_for(runtime, walk_and_choice(30), seed=8).run_many(num_runs=2, num_steps=1))
    loop = make_runtime_for(runtime, walk_and_choice(30), seed=8)
    for i in range(2):
        np.testing.assert_array_equal(batched["choice"]["choice"][i], to_numpy(loop.execute(1))["choice"]["choice"])
    shared = make_runtime_for(runtime, counting_variables(), seed=0)
    out = to_numpy(shared.run_many([0, 1], num_steps=3, starting_value={"count": Value(n=5)}))
    assert out["count"]["n"].tolist() == [8, 8]
    with pytest.raises(ValueError, match="exactly one of length="):
        shared.run_many([1], length=2, num_steps=2)
    with pytest.raises(ValueError, match="either seeds"):
        shared.run_many([1], num_runs=2, length=2)
    with pytest.raises(ValueError, match="num_runs must be an integer >= 1"):
        shared.run_many(num_runs=0, length=2)
    with pytest.raises(ValueError, match="trajectory length must be an integer >= 1"):
        shared.trajectory(0)
