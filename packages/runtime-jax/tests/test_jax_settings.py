"""Settings on the JAX runtime's other paths: inside a caller's jit, the vmapped batch, threads, log-probabilities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, setting, value
from recosim.jax.runtime import JaxRuntime


def rate_model(traces):
    """``x_t = (t + 1) * rate`` per entry; ``traces`` grows each time the initial behaviour is traced."""
    x = Variable("x", ValueSpec(n=FieldSpec((2,), "float32")))

    def initial():
        traces.append(1)
        return Value(n=get_backend().np.zeros((2,), dtype="float32") + setting("rate"))

    x.initial_value = value(initial)
    x.value = value(lambda p: Value(n=p.get("n") + setting("rate")), (x.previous,))
    return [x]


def test_inside_a_callers_jit_the_settings_are_an_argument_of_the_traced_run():
    traces = []
    rt = JaxRuntime(rate_model(traces), seed=0, settings={"rate": 1.0})
    for rate in (1.0, 2.0, -0.5):
        got = jax.jit(lambda r=rate: rt.execute(3, settings={"rate": r})["x"].get("n"))()
        np.testing.assert_allclose(np.asarray(got), [4 * rate] * 2)
    assert len(traces) == 1  # the inner jitted run is traced once for all three values
    assert list(rt._compiled) == [("single", "execute", 3, False)]


def test_the_vmapped_batch_takes_the_settings_as_an_argument():
    traces = []
    rt = JaxRuntime(rate_model(traces), seed=0, settings={"rate": 1.0})
    for rate in (1.0, 3.0):
        got = jax.jit(lambda r=rate: rt.run_many([1, 2, 3], num_steps=2, settings={"rate": r})["x"].get("n"))()
        np.testing.assert_allclose(np.asarray(got), np.full((3, 2), 3 * rate))
    assert len(traces) == 1 and list(rt._compiled) == [("batch", "execute", 2)]


def test_side_by_side_runs_on_cpu_share_one_executable(monkeypatch):
    traces = []
    rt = JaxRuntime(rate_model(traces), seed=0, settings={"rate": 1.0})
    monkeypatch.setattr(rt, "_parallel_runs", lambda exe: 2)  # two threads, whatever the machine
    for rate in (2.0, 5.0):
        got = rt.run_many(4, num_steps=1, settings={"rate": rate})["x"].get("n")
        np.testing.assert_allclose(np.asarray(got), np.full((4, 2), 2 * rate))
    assert len(traces) == 1 and len(rt._executables) == 1


def test_step_functions_used_in_a_callers_scan_see_the_declared_settings():
    traces = []
    rt = JaxRuntime(rate_model(traces), seed=0, settings={"rate": 1.5})
    key = rt.backend.make_seed(0)

    @jax.jit
    def run():
        first = rt.initial_step(key)
        last, _ = jax.lax.scan(lambda c, t: (rt.transition(key, t, c), None), first, jnp.arange(1, 3))
        return last["x"].get("n")

    np.testing.assert_allclose(np.asarray(run()), [4.5, 4.5])


def test_log_probability_by_step_uses_the_settings():
    y = Variable("y", ValueSpec(v=FieldSpec((), "float32")))
    y.initial_value = value(lambda: Value(v=get_backend().tfd.Normal(setting("mu"), 1.0)))
    rt = JaxRuntime([y], seed=0, settings={"mu": 1.0})
    traj = {"y": Value(v=jnp.zeros((1,)))}
    for mu in (1.0, 3.0):
        lp = rt.log_probability_by_step(traj, settings={"mu": mu})["y"]
        assert float(lp[0]) == pytest.approx(-0.5 * mu**2 - 0.5 * np.log(2 * np.pi), rel=1e-6)
    assert len(rt._scorer._compiled) == 1
