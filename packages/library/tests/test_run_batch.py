"""`Runtime.run_batch`: runs x settings points in one program, equal to the runs made one at a time."""

import numpy as np
import pytest

from recosim.core import FieldSpec, Value, ValueSpec, Variable, get_backend, setting, value
from recosim.core.plugins import COMPILES
from recosim.core.random import rv
from recosim.core.settings import SettingError
from recosim.core.testing import make_runtime_for, runtime_names, to_numpy


def drifting_walk() -> list[Variable]:
    """Three walkers drifting by the setting ``drift`` with noise of scale ``scale``, plus a step counter."""
    walk = Variable("walk", ValueSpec(x=FieldSpec((3,), "float32"), n=FieldSpec((), "int32")))

    def initial() -> Value:
        B = get_backend()
        return Value(x=rv("x", B.tfd.Normal(B.np.zeros(3, dtype="float32") + setting("drift"), 1.0)), n=0)

    def step(previous: Value) -> Value:
        B = get_backend()
        x = rv("x", B.tfd.Normal(previous.get("x") + setting("drift"), setting("scale")))
        return Value(x=x, n=previous.get("n") + 1)

    walk.initial_value = value(initial)
    walk.value = value(step, (walk.previous,))
    return [walk]


def spread(v):
    x = v["walk"].get("x")
    return {"x": x, "mean": x.mean(), "n": v["walk"].get("n")}


POINTS = [(0.0, 1.0), (1.5, 0.25)]


@pytest.mark.parametrize("runtime", runtime_names())
def test_run_batch_equals_run_many_point_by_point(runtime):
    rt = make_runtime_for(runtime, drifting_walk(), seed=0, settings={"drift": 0.0, "scale": 1.0})
    checked = make_runtime_for(runtime, drifting_walk(), seed=0, settings={"drift": 0.0, "scale": 1.0}, validate=True)
    grid = {"drift": [d for d, _ in POINTS], "scale": [s for _, s in POINTS]}
    refs = [to_numpy(rt.run_many([3, 4, 5], num_steps=4, settings={"drift": d, "scale": s}))["walk"] for d, s in POINTS]
    for runtime_, per_call in [(rt, None), (rt, 2), (checked, None)]:
        res = runtime_.run_batch(4, seeds=[3, 4, 5], settings=grid, outputs=spread, runs_per_call=per_call)
        assert set(res.outputs) == {"x", "mean", "n"} and res.num_points == 2 and res.num_runs == 3
        assert res.outputs["x"].shape == (2, 3, 3) and res.outputs["mean"].shape == (2, 3)
        for p, ref in enumerate(refs):
            # a compiled program over several runs (or checked mode's eager steps) may order float
            # operations differently from one compiled run: a few ulps; an uncompiled runtime is exact
            np.testing.assert_allclose(res.outputs["x"][p], ref["x"], rtol=1e-6, atol=1e-6)
            if COMPILES not in rt.capabilities:
                assert np.array_equal(res.outputs["x"][p], ref["x"]), (runtime, per_call, p)
            np.testing.assert_allclose(res.outputs["mean"][p], ref["x"].mean(axis=-1), rtol=1e-5, atol=1e-6)
            assert res.outputs["n"][p].tolist() == [4, 4, 4]
    # the points differ as the settings say: drift 1.5 for 5 steps moves every walker far up
    assert res.outputs["mean"][1].min() > res.outputs["mean"][0].max()
    summary = res.summary()["mean"]
    assert [s["settings"] for s in summary] == [{"drift": 0.0, "scale": 1.0}, {"drift": 1.5, "scale": 0.25}]
    assert summary[1]["n"] == 3 and summary[1]["mean"] == pytest.approx(res.outputs["mean"][1].mean())
    assert summary[1]["se"] == pytest.approx(res.outputs["mean"][1].std(ddof=1) / np.sqrt(3))
    # without a grid: the declared settings, every field by default, trajectories with length=
    plain = rt.run_batch(length=3, seeds=[3])
    traj = to_numpy(rt.trajectory(3, seed=3))["walk"]
    assert set(plain.outputs) == {"walk/x", "walk/n"} and plain.outputs["walk/x"].shape == (1, 3, 3)
    np.testing.assert_allclose(plain.outputs["walk/x"][0], traj["x"], rtol=1e-6, atol=1e-6)
    assert np.isnan(plain.summary()["walk/n"]["se"]).all()


@pytest.mark.parametrize("runtime", runtime_names())
def test_run_batch_refuses_bad_grids_and_outputs_by_name(runtime):
    rt = make_runtime_for(runtime, drifting_walk(), seed=0, settings={"drift": 0.0, "scale": 1.0})
    with pytest.raises(SettingError, match="same number of points, got {'drift': 2, 'scale': 3}"):
        rt.run_batch(2, seeds=[1], settings={"drift": [0.0, 1.0], "scale": [1.0, 2.0, 3.0]})
    with pytest.raises(SettingError, match="setting 'drift' needs a leading axis"):
        rt.run_batch(2, seeds=[1], settings={"drift": 0.5})
    with pytest.raises(SettingError, match="unknown setting 'speed'"):
        rt.run_batch(2, seeds=[1], settings={"speed": [1.0]})
    with pytest.raises(ValueError, match="run_batch takes exactly one of length="):
        rt.run_batch(seeds=[1])
    with pytest.raises(TypeError, match="outputs must return a non-empty mapping"):
        rt.run_batch(2, seeds=[1], outputs=lambda v: v["walk"].get("x"))
