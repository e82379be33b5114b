"""`Value.at`, `find_field` / `find_unique_field`, `EntityMap`, and log-probabilities chosen by name."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recosim.core import (
    Entity,
    EntityMap,
    FieldSpec,
    NumpyRuntime,
    Story,
    Value,
    ValueSpec,
    Variable,
    find_field,
    find_unique_field,
    get_backend,
    log_probability_by_variable,
    log_probability_from_value_trajectory,
    rv,
    value,
)
from recosim.core.errors import NetworkError, ValueStructureError
from recosim.core.log_probability import log_probability_accumulator_variables
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy


def test_value_at_keeps_the_chosen_fields_with_their_keys():
    v = Value(x=Value(a=1, b=2), y=3, z=Value(a=4))
    assert v.at("x") == Value({"x.a": 1, "x.b": 2})
    assert v.at("x.b", "z") == Value({"x.b": 2, "z.a": 4})
    assert v.at("y").get("y") == 3
    assert v.at("x").get("x") == Value(a=1, b=2)
    spec = ValueSpec(a=FieldSpec((2,)), b=FieldSpec())
    assert isinstance(spec.at("a"), ValueSpec) and spec.at("a") == ValueSpec(a=FieldSpec((2,)))
    with pytest.raises(KeyError, match=r"no field or prefix 'w'; the fields are \['x.a', 'x.b', 'y', 'z.a'\]"):
        v.at("y", "w")
    with pytest.raises(ValueStructureError, match="at least one"):
        v.at()


def test_find_field_and_find_unique_field():
    state = {"user": Value(reward=np.float32(1.0), interest=Value(state=np.zeros(2))), "metrics": Value(reward=3.0)}
    assert list(find_field(state, "reward")) == ["user", "metrics"]
    assert find_field(state, "missing") == {}
    name, interest = find_unique_field(state, "interest")
    assert name == "user" and interest == Value(state=np.zeros(2))
    assert find_unique_field(state, "interest.state")[0] == "user"
    with pytest.raises(NetworkError, match=r"'reward' is not unique: the variables \['user', 'metrics'\]"):
        find_unique_field(state, "reward")
    with pytest.raises(NetworkError, match=r"no variable has a field 'clicks'; the variables are \['metrics', 'user'\]"):
        find_unique_field(state, "clicks")
    # works on a whole trajectory of a runtime, too
    traj = NumpyRuntime(_model(), seed=0).trajectory(3)
    assert find_unique_field(traj, "y")[1].shape == (3, 2)


class _Scale(Entity):
    def __init__(self) -> None:
        super().__init__(name="scale")
        self.value = np.float32(0.5)


class _User(Entity):
    def __init__(self) -> None:
        super().__init__(name="user")
        self.scale = _Scale()
        self.shared = _Scale()
        self.mean = np.zeros(2, np.float32)


class _UserStory(Story):
    def __init__(self) -> None:
        self.user = _User()

    def variables(self) -> list[Variable]:
        return _model(self.user)


def test_entity_map_names_every_entity_once():
    user = _User()
    entities = EntityMap([user, user.scale])
    assert list(entities) == ["user", "scale", "scale#2"]
    assert entities["scale"] is user.scale and entities["scale#2"] is user.shared
    assert EntityMap(user) == entities
    arrays = entities.find(lambda x: isinstance(x, np.ndarray))
    assert list(arrays) == ["user"] and arrays["user"][0][0] == "mean"
    floats = entities.find(lambda x: isinstance(x, np.float32))
    assert [(k, attr) for k, hits in floats.items() for attr, _ in hits] == [("scale", "value"), ("scale#2", "value")]
    assert list(EntityMap.of_story(_UserStory())) == ["user", "scale", "scale#2"]
    with pytest.raises(KeyError, match=r"no entity 'item'; the entities are \['user', 'scale', 'scale#2'\]"):
        entities["item"]
    with pytest.raises(TypeError, match="EntityMap takes Entities, got int"):
        EntityMap([1])  # type: ignore[list-item]


def _model(user: _User | None = None) -> list[Variable]:
    """z ~ N(0, 1) per user (a latent), y ~ N(z, 0.5) observed."""
    z = Variable("z", ValueSpec(z=FieldSpec((2,), "float32")))
    y = Variable("y", ValueSpec(y=FieldSpec((2,), "float32")))
    z.initial_value = value(lambda: Value(z=rv("z", get_backend().tfd.Normal(get_backend().np.zeros(2, dtype="float32"), 1.0))))
    z.value = value(lambda prev: Value(z=rv("z", get_backend().tfd.Normal(prev.get("z"), 1.0))), (z.previous,))

    def observe(state: Value) -> Value:
        return Value(y=rv("y", get_backend().tfd.Normal(state.get("z"), 0.5)))

    y.initial_value = value(observe, (z,))
    y.value = value(observe, (z,))
    return [z, y]


@pytest.mark.parametrize("runtime", runtime_names())
def test_log_probability_of_variables_chosen_by_name(runtime):
    variables = _model()
    rt = make_runtime_for(runtime, variables, seed=2)
    traj = rt.trajectory(3)
    z, y = to_numpy(traj["z"])["z"], to_numpy(traj["y"])["y"]
    lp_y = stats.norm(z, 0.5).logpdf(y).sum()
    lp_z = stats.norm(0, 1).logpdf(z[0]).sum() + stats.norm(z[:-1], 1).logpdf(z[1:]).sum()
    # from the observations: one variable's terms, each conditioned on the logged parents
    only_y = log_probability_from_value_trajectory(variables, traj, only=["y"])
    np.testing.assert_allclose(float(only_y), lp_y, rtol=1e-5)
    by_var = log_probability_by_variable(variables, traj)
    assert list(by_var) == ["z", "y"]
    np.testing.assert_allclose([float(by_var["z"]), float(by_var["y"])], [lp_z, lp_y], rtol=1e-5)
    np.testing.assert_allclose(float(rt.log_probability(traj)), lp_z + lp_y, rtol=1e-5)
    # from the network's direct output: an accumulator for the chosen variable only
    acc = log_probability_accumulator_variables(variables, names="y")
    assert [v.name for v in acc] == ["y log prob"]
    out = to_numpy(make_runtime_for(runtime, variables + acc, seed=5).trajectory(3))
    direct = stats.norm(out["z"]["z"], 0.5).logpdf(out["y"]["y"]).cumsum(axis=0)
    np.testing.assert_allclose(out["y log prob"]["log_prob"], direct, rtol=1e-4, atol=1e-5)


def test_names_that_are_not_variables_are_refused():
    variables = _model()
    traj = NumpyRuntime(variables, seed=0).trajectory(2)
    with pytest.raises(NetworkError, match=r"only=\['user'\]: no variable\(s\) \['user'\] in the network; it has \['y', 'z'\]"):
        log_probability_from_value_trajectory(variables, traj, only="user")
    with pytest.raises(NetworkError, match=r"names=\['w'\]: no variable\(s\) \['w'\] among \['y', 'z'\]"):
        log_probability_accumulator_variables(variables, names=["w"])
