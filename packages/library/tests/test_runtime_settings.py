"""Settings on every installed runtime: defaults, per-call values, one compile for all values, errors."""

import numpy as np
import pytest

from recosim.core import FieldSpec, SettingError, Value, ValueSpec, Variable, get_backend, setting, value
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy

ALL = runtime_names()
COMPILED = [r for r in ALL if r != "numpy"]
# how each runtime is built to run its steps eagerly, and in checked mode
EAGER = {"numpy": {}, "jax": {"jit": False}, "tf": {"eager": True}}


def rate_model(traces: list | None = None) -> list[Variable]:
    """``x_0 = rate``, ``x_t = x_{t-1} + rate * scale`` (``scale`` a float32[2] setting with a default)."""
    x = Variable("x", ValueSpec(n=FieldSpec((2,), "float32")))

    def initial() -> Value:
        if traces is not None:
            traces.append(1)  # runs once per trace on compiled runtimes, once per step on eager ones
        B = get_backend()
        return Value(n=B.np.zeros((2,), dtype="float32") + setting("rate"))

    def step(prev: Value) -> Value:
        scale = setting("scale", default=np.ones(2, np.float32))
        return Value(n=prev.get("n") + setting("rate") * scale)

    x.initial_value = value(initial)
    x.value = value(step, (x.previous,))
    return [x]


def noisy_model() -> list[Variable]:
    """``y_t ~ Normal(mu, 1)`` with ``mu`` the setting ``"mu"`` (default 0)."""
    y = Variable("y", ValueSpec(v=FieldSpec((3,), "float32")))

    def draw() -> Value:
        B = get_backend()
        mu = setting("mu", default=0.0)
        return Value(v=B.tfd.Normal(B.np.zeros((3,), dtype="float32") + mu, 1.0))

    y.initial_value = value(draw)
    y.value = value(lambda _: draw(), (y.previous,))
    return [y]


def n_of(traj):
    return to_numpy(traj)["x"]["n"]


@pytest.mark.parametrize("runtime", ALL)
@pytest.mark.parametrize("mode", ["compiled", "eager", "checked"])
def test_behaviours_read_the_declared_default_and_each_call_override(runtime, mode):
    kwargs = {"compiled": {}, "eager": EAGER[runtime], "checked": {"validate": True}}[mode]
    rt = make_runtime_for(runtime, rate_model(), seed=0, settings={"rate": 2.0}, **kwargs)
    np.testing.assert_allclose(n_of(rt.trajectory(3)), [[2, 2], [4, 4], [6, 6]])
    np.testing.assert_allclose(n_of(rt.trajectory(3, settings={"rate": 0.5})), [[0.5, 0.5], [1, 1], [1.5, 1.5]])
    np.testing.assert_allclose(n_of(rt.execute(2, settings={"rate": -1})), [-3, -3])  # an int for a float setting
    scaled = make_runtime_for(runtime, rate_model(), seed=0, settings={"rate": 1.0, "scale": [1.0, 10.0]}, **kwargs)
    np.testing.assert_allclose(n_of(scaled.execute(2, settings={"scale": [2.0, 3.0]})), [5, 7])
    many = scaled.run_many([1, 2, 3], num_steps=2, settings={"rate": 3.0})
    np.testing.assert_allclose(n_of(many), [[9, 63]] * 3)
    # the call's override does not stick
    np.testing.assert_allclose(n_of(scaled.execute(1)), [2, 11])


def compiled_count(rt) -> int:
    """How many programs the runtime has compiled (JAX) or traced (TF)."""
    return len(rt._executables) if rt.name == "jax" else rt.tracing_count


@pytest.mark.parametrize("runtime", COMPILED)
def test_new_values_run_the_same_compiled_program(runtime):
    traces = []
    rt = make_runtime_for(runtime, rate_model(traces), seed=0, settings={"rate": 1.0})
    assert n_of(rt.trajectory(4))[-1, 0] == pytest.approx(4.0)
    assert len(traces) == 1 and compiled_count(rt) == 1
    rt.run_many([5, 6], num_steps=3)
    rt.execute(3)
    traced, compiled = len(traces), compiled_count(rt)
    for rate in (2.0, -3.5, 0.0):
        assert n_of(rt.trajectory(4, settings={"rate": rate}))[-1, 0] == pytest.approx(4 * rate)
        assert n_of(rt.run_many([5, 6], num_steps=3, settings={"rate": rate}))[1, 0] == pytest.approx(4 * rate)
        assert n_of(rt.execute(3, settings={"rate": rate}))[0] == pytest.approx(4 * rate)
    assert len(traces) == traced  # no behaviour was traced again
    assert compiled_count(rt) == compiled  # nothing compiled again


@pytest.mark.parametrize("runtime", ALL)
def test_a_runtime_without_the_setting_uses_the_default(runtime):
    rt = make_runtime_for(runtime, noisy_model(), seed=4)
    shifted = make_runtime_for(runtime, noisy_model(), seed=4, settings={"mu": 0.0})
    a, b = to_numpy(rt.trajectory(2))["y"]["v"], to_numpy(shifted.trajectory(2, settings={"mu": 5.0}))["y"]["v"]
    np.testing.assert_allclose(b - a, 5.0, atol=1e-5)  # same draws, shifted by the setting


@pytest.mark.parametrize("runtime", ALL)
def test_log_probability_scores_the_model_that_was_simulated(runtime):
    """N(v; mu, 1) summed over 2 steps x 3 entries: the closed form at the runtime's mu, not the default."""
    rt = make_runtime_for(runtime, noisy_model(), seed=1, settings={"mu": 2.0})
    traj = rt.trajectory(2)
    v = to_numpy(traj)["y"]["v"]

    def closed_form(mu):
        return float(np.sum(-0.5 * (v - mu) ** 2 - 0.5 * np.log(2 * np.pi)))

    assert float(np.asarray(rt.log_probability(traj))) == pytest.approx(closed_form(2.0), rel=1e-5)
    assert float(np.asarray(rt.log_probability(traj, settings={"mu": -1.0}))) == pytest.approx(
        closed_form(-1.0), rel=1e-5
    )
    fn = rt.log_probability_fn({"y": Value()}, latent="y/v")
    assert float(np.asarray(fn(rt.backend.asarray(v)))) == pytest.approx(closed_form(2.0), rel=1e-5)
    fn = rt.log_probability_fn({"y": Value()}, latent="y/v", settings={"mu": 0.5})
    assert float(np.asarray(fn(rt.backend.asarray(v)))) == pytest.approx(closed_form(0.5), rel=1e-5)


@pytest.mark.parametrize("runtime", ALL)
def test_bad_settings_are_refused_before_any_work(runtime):
    traces = []
    rt = make_runtime_for(runtime, rate_model(traces), seed=0, settings={"rate": 1.0, "scale": [1.0, 1.0]})
    calls = rt._calls
    with pytest.raises(SettingError, match=r"unknown setting 'rat'; this runtime declares \['rate', 'scale'\]"):
        rt.trajectory(2, settings={"rat": 1.0})
    with pytest.raises(SettingError, match=r"setting 'scale': expected float32\[2\] \(as declared\), got float32\[3\]"):
        rt.run_many(2, num_steps=1, settings={"scale": [1.0, 2.0, 3.0]})
    with pytest.raises(SettingError, match=r"setting 'rate': expected float32\[\] \(as declared\), got bool\[\]"):
        rt.execute(1, settings={"rate": True})
    with pytest.raises(SettingError, match="setting 'rate': every value must be finite"):
        rt.execute(1, settings={"rate": float("inf")})
    with pytest.raises(SettingError, match="setting 'rate': every value must be finite"):
        make_runtime_for(runtime, rate_model(), settings={"rate": float("nan")})
    assert traces == [] and rt._calls == calls  # nothing ran and no call key was used


@pytest.mark.parametrize("runtime", ALL)
def test_a_setting_without_value_or_default_names_itself_and_the_declared_ones(runtime):
    rt = make_runtime_for(runtime, rate_model(), seed=0, settings={"scale": [1.0, 1.0]})
    with pytest.raises(SettingError, match=r"setting 'rate' has no value and no default: the runtime declares \['scale'\]"):
        rt.trajectory(2)
