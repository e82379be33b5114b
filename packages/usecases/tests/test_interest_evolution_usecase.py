"""``recosim run interest-evolution``: files and figure, resume from checkpoints, one-line errors."""

import csv
import json

import numpy as np
import pytest
from model_tools import png_size

from recosim.core.cli import closing_report, main
from recosim.core.errors import UsageError
from recosim.core.testing import runtime_names
from recosim.usecases.interest_evolution_usecase import (
    CHECKPOINT_EVERY,
    TRAINABLE_RUNTIMES,
    InterestEvolutionUseCase,
    _checkpoint_dir,
    read_learning_curve,
)

TINY = ["--num-users", "12", "--num-docs", "6", "--horizon", "4"]
TINY_ARGS = dict(num_users=12, num_docs=6, horizon=4)
TRAINABLE = [r for r in runtime_names() if r in TRAINABLE_RUNTIMES]


class Stop(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("runtime", TRAINABLE)
def test_interrupted_training_resumes_from_its_checkpoint_and_writes_curves_and_figure(runtime, tmp_path, capsys):
    pytest.importorskip("recosim.inference")
    steps = CHECKPOINT_EVERY + 1
    case = InterestEvolutionUseCase()
    args = dict(runtime=runtime, seed=3, history_lengths="3,2", train_steps=steps, learning_rate=0.01, **TINY_ARGS)
    out = tmp_path / "out"
    seen = []

    def stop(done, total):
        seen.append((done, total))
        if done > steps:
            raise Stop  # as Ctrl-C right after the first checkpoint of the second history length

    with pytest.raises(Stop):
        case.run(out=out, progress=stop, **args)
    assert seen == [(CHECKPOINT_EVERY, 2 * steps), (steps, 2 * steps), (steps + CHECKPOINT_EVERY, 2 * steps)]
    partial = read_learning_curve(out / "learning_curve.csv")
    assert sorted(partial) == [2, 3] and len(partial[2]["step"]) == steps
    assert len(partial[3]["step"]) == CHECKPOINT_EVERY

    seen.clear()
    summary = case.run(out=out, progress=lambda d, t: seen.append((d, t)), **args)
    assert seen == [(2 * steps, 2 * steps)]  # only the last step of the second length was left to train
    curves = read_learning_curve(out / "learning_curve.csv")
    assert sorted(curves) == [2, 3] and all(c["step"].tolist() == list(range(steps)) for c in curves.values())
    for length in (2, 3):  # the steps trained before the interruption are kept as they were
        done = len(partial[length]["step"])
        for column in ("mean_cumulative_consumed_time", "surrogate_objective", "grad_norm"):
            np.testing.assert_array_equal(curves[length][column][:, :done], partial[length][column])

    # the summary: per length the untrained recommender (step 0) and the mean of the last 5 steps
    for length in (2, 3):
        entry, y = summary["curves"][f"H={length}"], curves[length]["mean_cumulative_consumed_time"][0]
        assert entry["steps"] == steps and entry["initial"] == pytest.approx(y[0])
        assert entry["final"] == pytest.approx(np.mean(y[-5:]))
        assert entry["relative_rise"] == pytest.approx(np.mean(y[-5:]) / y[0] - 1.0)
        assert np.all((y > 0) & (y <= 4 * 2.0))  # at most one document of length 2 consumed per step
        assert np.all(np.isfinite(curves[length]["surrogate_objective"])) and np.all(curves[length]["grad_norm"] > 0)
        assert entry["runs"] == 1 and np.isnan(entry["final_se"])  # one run: no standard error, never a zero

    # through the command: everything is done already, so nothing trains again; the files are all there
    assert main(["run", "interest-evolution", "--runtime", runtime, *TINY, "--seed", "3", "--history-lengths", "2,3",
                 "--train-steps", str(steps), "--learning-rate", "0.01", "--out", str(out), "--quiet", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "summary.json").read_text()) and printed["history_lengths"] == [2, 3]
    for key, entry in summary["curves"].items():
        numbers = {k: v for k, v in entry.items() if not isinstance(v, list) and np.isfinite(v)}
        assert {k: printed["curves"][key][k] for k in numbers} == pytest.approx(numbers)
        assert printed["curves"][key]["final_se"] is None  # one run: NaN in Python, null in JSON
        assert printed["curves"][key]["final_per_run"] == pytest.approx(entry["final_per_run"])
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {
        "summary.json", "learning_curve.csv", "figure1.png", "checkpoints", "runs.csv"}
    assert png_size(out / "figure1.png") == (880, 550)
    assert len(list((out / "checkpoints").iterdir())) == 2


@pytest.mark.parametrize("runtime", TRAINABLE)
def test_several_runs_are_paired_independent_trainings_summarised_with_standard_errors(runtime, tmp_path):
    pytest.importorskip("recosim.inference")
    case = InterestEvolutionUseCase()
    args = dict(runtime=runtime, history_lengths="2", train_steps=2, learning_rate=0.01, **TINY_ARGS)
    one = case.run(out=tmp_path / "one", seed=5, **args)
    two = case.run(out=tmp_path / "two", seed=4, num_runs=2, **args)
    curves = read_learning_curve(tmp_path / "two" / "learning_curve.csv")
    for length in (2,):  # two lengths, each trained from the same seeds: the test above
        y = curves[length]["mean_cumulative_consumed_time"]
        assert y.shape == (2, 2) and not np.array_equal(y[0], y[1])  # independent runs
        entry = two["curves"][f"H={length}"]
        # run 1 of the job at seed 4 is the single run at seed 5: runs are paired across lengths and jobs
        assert entry["initial_per_run"][1] == pytest.approx(one["curves"][f"H={length}"]["initial"])
        assert entry["initial"] == pytest.approx(np.mean(y[:, 0]))
        assert entry["initial_se"] == pytest.approx(np.std(y[:, 0], ddof=1) / np.sqrt(2))
    rows = list(csv.DictReader((tmp_path / "two" / "runs.csv").open()))
    assert len(rows) == 2 * 2 and {r["run"] for r in rows} == {"0", "1"}
    assert {r["history_length"] for r in rows} == {"2"} and {r["metric"] for r in rows} == {"initial", "final"}
    assert png_size(tmp_path / "two" / "figure1.png") == (880, 550)
    text = closing_report(case, two, tmp_path / "two")
    assert "H=2 consumed time, untrained" in text and "±" in text


@pytest.mark.parametrize("runtime", TRAINABLE)
def test_checkpoints_are_kept_apart_by_options_but_not_by_the_number_of_steps(runtime, tmp_path):
    pytest.importorskip("recosim.inference")
    case = InterestEvolutionUseCase()

    def where(**options):
        setup = case.setup(runtime=runtime, seed=0, out=tmp_path, **TINY_ARGS, **options)
        return _checkpoint_dir(setup, 2)

    base = where(train_steps=10)
    assert where(train_steps=20) == base  # more steps continue the same training
    assert where(train_steps=10, learning_rate=0.5) != base
    assert where(train_steps=10, baseline="none") != base
    assert base.name.startswith("h2-")


BAD = [
    (["--history-lengths", "5,x"], "--history-lengths: 'x' is not an integer"),
    (["--history-lengths", "5,2.5"], "--history-lengths: '2.5' is not an integer"),
    (["--history-lengths", "0,5"], "--history-lengths: '0' is below 1"),
    (["--history-lengths", "5,5"], "--history-lengths: a value repeats"),
    (["--history-lengths", ""], "--history-lengths: give comma-separated integers"),
    (["--train-steps", "0"], "--train-steps must be >= 1, got 0"),
    (["--baseline", "critic"], "--baseline: choose one of none, mean, group, got 'critic'"),
    (["--num-runs", "0"], "--num-runs must be >= 1, got 0"),
    (["--optimizer", "rmsprop"], "--optimizer: choose one of sgd, adam, got 'rmsprop'"),
    (["--learning-rate", "0"], "--learning-rate must be > 0, got 0"),
    (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    (["--group-size", "1"], "--group-size must be >= 2, got 1"),
    (["--num-docs", "1"], "--num-docs must be at least the slate size 2, got 1"),
    (["--num-users", "0"], "--num-users must be >= 1, got 0"),
    (["--horizon", "-1"], "--horizon must be >= 1, got -1"),
    (["--runtime", "numpy"], "--runtime numpy: interest-evolution trains the recommender by gradient"),
]


@pytest.mark.parametrize(("option", "message"), BAD, ids=[f"{o[0]}={o[1]}" for o, _ in BAD])
def test_each_bad_option_is_one_line_and_status_2(tmp_path, capsys, option, message):
    out = tmp_path / "never"
    argv = ["run", "interest-evolution", "--runtime", "jax", *TINY, *option, "--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recosim: error: ") and message in err[0], err
    assert captured.out == "" and not out.exists()


def test_numpy_is_refused_through_the_python_api_too():
    # the runtimes that differentiate, or (in an environment with none) what to install
    with pytest.raises(UsageError, match=r"needs a runtime that differentiates: (jax or tf|none is installed \(pip)"):
        InterestEvolutionUseCase().run(runtime="numpy", seed=0, out=None, **TINY_ARGS)


def test_without_runtime_the_use_cases_that_learn_run_on_a_differentiable_runtime(capsys):
    from recosim.core.cli import build_parser
    from recosim.usecases.latent_variable_usecase import DIFFERENTIABLE_RUNTIMES

    if not TRAINABLE:
        pytest.skip("no differentiable runtime installed")
    for name, allowed in (("interest-evolution", TRAINABLE_RUNTIMES), ("latent-variable", DIFFERENTIABLE_RUNTIMES)):
        args = build_parser(["run", name]).parse_args(["run", name])
        assert args.runtime in allowed, (name, args.runtime)
    assert main(["run", "interest-evolution", "--help"]) == 0
    assert f"(default: {InterestEvolutionUseCase().default_runtime()})" in capsys.readouterr().out
