"""Planning a sweep: settings checked against the use case before anything runs, seeds, task ids."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from recosim.core.cli import main
from recosim.sweep.plan import SweepConfigError, parse_grid_option, parse_set_option, plan_sweep
from recosim.sweep.summary import mean_and_stderr
from recosim.sweep.task import flatten_summary


def test_tasks_are_the_grid_times_the_seeds_with_defaults_filled():
    plan = plan_sweep("random-walk", grid={"num-users": ["5", "7"], "scale": [0.5, 2]}, fixed={"horizon": "3"},
                      seeds=3, first_seed=10)
    assert len(plan.cells) == 4 and len(plan.tasks) == 12
    assert plan.seeds == (10, 11, 12)
    assert plan.cells[1] == {"num_users": 5, "scale": 2.0}  # the last grid name varies fastest
    assert [t.seed for t in plan.tasks[:5]] == [10, 10, 10, 10, 11]  # seed-major order
    assert plan.tasks[0].params == {"horizon": 3, "num_users": 5, "scale": 0.5}
    assert plan.tasks[0].settings == {"num_users": 5, "horizon": 3, "scale": 0.5}
    assert len({t.id for t in plan.tasks}) == 12
    assert plan.describe() == "random-walk: 4 cells x 3 seeds = 12 runs on numpy"


def test_task_ids_depend_on_settings_and_seed_only():
    a = plan_sweep("random-walk", grid={"scale": [1.0, 2.0]}, seeds=2)
    b = plan_sweep("random-walk", grid={"scale": [2.0, 3.0]}, fixed={"horizon": 100}, seeds=[1, 5])
    same = {(t.settings["scale"], t.seed): t.id for t in a.tasks}
    # horizon=100 is the default, so (scale=2, seed=1) is the same run in both sweeps
    assert {t.id for t in b.tasks} & set(same.values()) == {same[(2.0, 1)]}


def test_values_are_converted_to_the_parameter_types(probe):
    plan = plan_sweep(probe, grid={"flag": ["yes", "off"], "repeats": ["2", 3.0]}, fixed={"x": "-1.5"})
    assert [c["flag"] for c in plan.cells] == [True, True, False, False]
    assert [c["repeats"] for c in plan.cells] == [2, 3, 2, 3]
    assert plan.fixed == {"x": -1.5}


def test_a_list_option_is_recorded_as_given_so_its_cells_read_back_by_value():
    plan = plan_sweep("ecosystem", grid={"boost-caps": ["0", "1.2"]}, seeds=1)
    assert [t.settings["boost_caps"] for t in plan.tasks] == ["0", "1.2"]
    assert plan.tasks[0].settings["num_users"] == 2000  # defaults are filled in as checked


def test_grid_option_parsing():
    assert parse_grid_option("boost-caps=0, 0.6,1.2") == ("boost-caps", ["0", "0.6", "1.2"])
    assert parse_grid_option('caps=["0,1.2", "0.6"]') == ("caps", ["0,1.2", "0.6"])
    assert parse_set_option("boost-caps=0,1.2") == ("boost-caps", "0,1.2")
    for bad in ("horizon", "=1,2", "steps=1,,2", "steps=", "steps=[1, [2]]", "steps=[1"):
        with pytest.raises(SweepConfigError, match="--grid"):
            parse_grid_option(bad)
    with pytest.raises(SweepConfigError, match="--set expects NAME=VALUE"):
        parse_set_option("horizon")


@pytest.mark.parametrize(
    ("grid", "fixed", "seeds", "message"),
    [
        ({"stepz": [1, 2]}, {}, 2, "use case 'random-walk' has no option 'stepz'; its options: num-users, horizon, scale"),
        ({}, {"seed": 3}, 2, "--set seed: the seeds come from --seeds"),
        ({"runtime": ["numpy"]}, {}, 2, "--grid runtime: choose the runtime with --runtime"),
        ({"horizon": ["ten"]}, {}, 2, "--grid horizon: 'ten' is rejected: --horizon must be an integer"),
        ({"scale": ["1", "x"]}, {}, 2, "--grid scale: 'x' is rejected: --scale must be a number"),
        ({"horizon": [0, 2]}, {}, 2, "--grid horizon: 0 is rejected: --horizon must be >= 1, got 0"),
        ({"horizon": [1, 2]}, {"horizon": 3}, 2, "horizon is both gridded (--grid) and fixed (--set)"),
        ({"horizon": [1, 2]}, {"num_users": "2"}, 0, "--seeds must be at least 1"),
        ({"horizon": [1, 1]}, {}, 2, "--grid horizon: values repeat"),
        ({"horizon": []}, {}, 2, "--grid horizon: give a non-empty list"),
        ({"num-users": [1], "num_users": [2]}, {}, 2, "--grid num-users is given twice"),
    ],
)
def test_bad_settings_are_refused_naming_the_option(grid, fixed, seeds, message):
    with pytest.raises(SweepConfigError) as err:
        plan_sweep("random-walk", grid=grid, fixed=fixed, seeds=seeds)
    assert message in str(err.value)


def test_seeds_beyond_two_to_the_32_are_refused_not_wrapped():
    with pytest.raises(SweepConfigError, match="reaches 4294967296; seeds must be below 2\\*\\*32"):
        plan_sweep("counting", seeds=2, first_seed=2**32 - 1)
    with pytest.raises(SweepConfigError, match=r"seeds must be integers in \[0, 2\*\*32\)"):
        plan_sweep("counting", seeds=[1, 2**32])
    assert plan_sweep("counting", seeds=1, first_seed=2**32 - 1).seeds == (2**32 - 1,)


def test_the_use_case_own_validation_runs_for_every_cell(probe):
    with pytest.raises(SweepConfigError, match=r"rejects repeats=0: --repeats must be >= 1, got 0"):
        plan_sweep(probe, grid={"repeats": [2, 0]})


def test_unknown_use_case_and_runtime_are_refused():
    with pytest.raises(SweepConfigError, match="'nope'.*random-walk"):
        plan_sweep("nope")
    with pytest.raises(SweepConfigError, match="no runtime named 'warp'"):
        plan_sweep("counting", runtime="warp")
    with pytest.raises(SweepConfigError, match="could not be imported: ModuleNotFoundError"):
        plan_sweep("no_such_module:Case")
    with pytest.raises(SweepConfigError, match="is a dict, not a recosim UseCase"):
        plan_sweep("json:__dict__")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["random-walk", "--grid", "stepz=1,2"], "has no option 'stepz'"),
        (["random-walk", "--grid", "horizon=1,x"], "--grid horizon: 'x' is rejected: --horizon must be an integer"),
        (["random-walk", "--grid", "horizon"], "--grid expects NAME=V1,V2,..."),
        (["random-walk", "--grid", "horizon=1", "--grid", "horizon=2"], "--grid horizon is given twice"),
        (["random-walk", "--workers", "0"], "--workers must be at least 1"),
        (["random-walk", "--num-gpus", "1"], "--num-gpus apply to the ray backend"),
        (["random-walk", "--address", "127.0.0.1:1", "--backend", "local"], "--address joins a Ray cluster"),
        (["counting", "--runtime", "warp"], "no runtime named 'warp'"),
        (["counting", "--backend", "ray", "--num-cpus", "nan"], "--num-cpus must be a finite number >= 0, got nan"),
        (["counting", "--backend", "ray", "--num-gpus", "inf"], "--num-gpus must be a finite number >= 0, got inf"),
        (["counting", "--backend", "ray", "--num-cpus", "-1"], "--num-cpus must be a finite number >= 0, got -1"),
    ],
)
def test_command_line_errors_are_one_line_and_status_2(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    status = main(["sweep", *argv, "--seeds", "2", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("recosim: error: ") and message in err[0], err
    assert not out.exists()  # nothing was written


def test_flatten_summary_dots_nested_names_and_drops_echoes():
    import numpy as np

    summary = {"seed": 4, "horizon": 9, "policies": {"L=0": {"mean": np.float32(1.5), "runs": np.int64(2)}},
               "hist": np.arange(3), "one": np.array([7.0]), "steps_done": 9, "runtime": "jax"}
    flat = flatten_summary(summary, echoes={"seed": 4, "horizon": 9, "runtime": "numpy"})
    assert flat == {"policies.L=0.mean": 1.5, "policies.L=0.runs": 2, "hist": "[0, 1, 2]", "one": 7.0,
                    "steps_done": 9, "runtime": "jax"}  # a differing 'runtime' is a result, kept
    assert json.loads(json.dumps(flat)) == flat


def test_mean_and_stderr_closed_form():
    n, mean, se = mean_and_stderr([2.0, 4.0, 9.0])
    assert (n, mean) == (3, 5.0)
    assert se == pytest.approx(math.sqrt(((2 - 5) ** 2 + (4 - 5) ** 2 + (9 - 5) ** 2) / 2 / 3), rel=1e-12)
    assert mean_and_stderr([3.0])[2] != mean_and_stderr([3.0])[2]  # NaN: undefined for one run
    assert mean_and_stderr([])[0] == 0


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed")
def test_the_ray_backend_without_ray_is_a_usage_error(tmp_path, capsys):
    assert main(["sweep", "counting", "--seeds", "1", "--backend", "ray", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["recosim: error: the ray backend needs Ray: pip install 'recosim-sweep[ray]' (or use --backend local)"]
