"""``recosim run social-agents``: the command at a tiny size writes its files, resumes, and refuses bad options."""

from __future__ import annotations

import csv
import json

import pytest

from recosim.core.cli import main
from recosim.core.plugins import DIFFERENTIABLE, get_plugins

TINY = [
    "--parts", "socialbots", "--bot-count", "3", "--horizon", "6", "--training-seeds", "1", "--updates", "2",
    "--eval-runs", "3", "--bot-users", "30", "--bot-normals", "4", "--bot-max-hops", "3", "--bot-threshold", "2.4",
    "--bot-thresholds", "2.4", "--bot-detect-every-values", "1", "--bot-sweep-updates", "1",
    "--bot-group-size", "4", "--bot-rollouts", "8",
    "--runtime", "jax", "--seed", "1", "--quiet",
]
FILES = ["comparison.csv", "robust_design.csv", "learning_curves.csv", "runs.jsonl", "learning_curves.png",
         "influence_vs_survival.png", "threshold_sweep.png"]


@pytest.mark.needs_runtime("jax")
def test_command_writes_its_files_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "social-agents", *TINY, "--out", str(out)]) == 0
    for name in FILES:
        assert (out / "socialbots" / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    part = summary["socialbots"]
    assert summary["parts"] == ["socialbots"]
    assert set(part["comparison"]) >= {"random", "top-degree", "learned", "learned_minus_random",
                                       "learned_minus_top-degree", "detector_vs_random_bots"}
    assert part["platform"]["chosen_against_learners"]["threshold"] == 2.4
    rows = list(csv.DictReader((out / "socialbots" / "comparison.csv").open()))
    assert [r["policy"] for r in rows] == ["random", "top-degree", "learned", "learned-seed0"]
    design = list(csv.DictReader((out / "socialbots" / "robust_design.csv").open()))
    assert [float(r["threshold"]) for r in design] == [2.4]
    curves = list(csv.DictReader((out / "socialbots" / "learning_curves.csv").open()))
    assert len(curves) == 2  # one seed x two updates (the sweep's one setting reuses that training)
    # a rerun with the same --out reads the trainings and the runs back and gives the same figures
    results = sorted((out / "socialbots" / "training").rglob("result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    lines = (out / "socialbots" / "runs.jsonl").read_text().count("\n")
    assert main(["run", "social-agents", *TINY, "--out", str(out)]) == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps
    assert (out / "socialbots" / "runs.jsonl").read_text().count("\n") == lines
    again = json.loads((out / "summary.json").read_text())["socialbots"]
    assert again["comparison"] == part["comparison"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--influencer-count", "40"], "--influencer-count 40 must be at most half of --influencer-accounts 60"),
        (["--parts", "bots"], "--parts"),
        (["--bot-rollouts", "5"], "--bot-rollouts"),
        (["--bot-thresholds", "0,2"], "--bot-thresholds"),
        (["--horizon", "1"], "--horizon"),
        (["--bot-count", "50", "--bot-users", "20"], "--bot-count"),
        (["--bot-detect-every-values", "1.5"], "--bot-detect-every-values"),
        (["--trainer", "sgd"], "--trainer"),
        (["--runtime", "numpy"], "--runtime numpy"),
    ],
)
def test_bad_options_exit_2_before_work(tmp_path, capsys, options, message):
    if "--runtime" not in options and not get_plugins().runtimes_with(DIFFERENTIABLE):
        pytest.skip("no differentiable runtime installed: the runtime is refused before the other options")
    out = tmp_path / "x"
    assert main(["run", "social-agents", *options, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "socialbots").exists()
