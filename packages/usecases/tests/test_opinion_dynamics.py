"""``recosim run opinion-dynamics``: files on every runtime, the exact voter values, resume, one-line errors."""

import csv
import json

import numpy as np
import pytest
from model_tools import png_size

from recosim.core.cli import main
from recosim.core.runtime import Runtime
from recosim.core.testing import runtime_names
from recosim.usecases.opinion_dynamics import OpinionDynamicsUseCase


@pytest.fixture(params=runtime_names())
def runtime(request):
    return request.param


TINY = ["--num-agents", "10", "--graph", "geometric", "--radius", "0.5", "--num-runs", "4",
        "--horizon", "40", "--feed-size", "2", "--feed-homophily", "0,3"]  # fmt: skip


@pytest.mark.every_runtime
def test_a_tiny_job_writes_its_files_on_every_runtime(runtime, tmp_path, capsys, monkeypatch):
    calls = []
    batch = Runtime.run_batch

    def counted(self, *args, **kwargs):
        calls.append((type(self).__name__, kwargs["settings"]["feed_homophily"].tolist()))
        return batch(self, *args, **kwargs)

    monkeypatch.setattr(Runtime, "run_batch", counted)
    monkeypatch.setattr(Runtime, "run_many", None)  # every run goes through the batched call
    out = tmp_path / "out"
    assert main(["run", "opinion-dynamics", "--runtime", runtime, *TINY, "--out", str(out), "--quiet", "--json"]) == 0
    assert [grid for _, grid in calls] == [[0.0], [0.0, 3.0]]  # one call per study: the sequential runs, the h grid
    printed = json.loads(capsys.readouterr().out)
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert names == {"summary.json", "runs.jsonl", "runs.csv", "survival.png", "magnetisation.png",
                     "snapshots.png", "feed_sweep.png"}  # fmt: skip
    saved = json.loads((out / "summary.json").read_text())
    assert printed == saved and saved["runtime"] == runtime and saved["feed_steps"] == 4
    assert set(saved["sequential"]) == {"geometric"}
    assert set(saved["feed"]["geometric"]) == {"h=0", "h=3"} and "paired_vs_h=0" in saved["feed"]["geometric"]["h=3"]
    for entry in saved["sequential"].values():
        t = entry["time_to_consensus"]
        assert t["runs"] + t["censored"] == 4 and entry["horizon"] == 40
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 4 + 4 * 2
    feed = [r for r in records if r["study"] == "feed"]
    assert all(0.0 <= r["engagement"] <= 1.0 and 0.0 <= r["mean_interface_density"] <= 1.0 for r in feed)
    # paired runs: the same run seed for every h
    seeds = {(r["graph"], r["run"], r["h"]): r["seed"] for r in feed}
    assert all(seeds[(g, i, 0.0)] == seeds[(g, i, 3.0)] for g, i, _ in seeds)
    rows = list(csv.DictReader((out / "runs.csv").open()))  # long form: one row per run and figure
    assert list(rows[0])[:4] == ["usecase", "runtime", "seed", "run"] and list(rows[0])[-2:] == ["metric", "value"]
    by_run = {(r["study"], r["graph"], float(r["h"]), int(r["run"]), r["metric"]): r["value"] for r in rows}
    for r in records:
        assert float(by_run[(r["study"], r["graph"], r["h"], r["run"], "final_interface_density")]) == pytest.approx(
            r["final_interface_density"], rel=1e-12)
        assert by_run[(r["study"], r["graph"], r["h"], r["run"], "censored")] == str(int(r["censored"]))
        assert ((r["study"], r["graph"], r["h"], r["run"], "engagement") in by_run) == (r["study"] == "feed")
    headline = OpinionDynamicsUseCase().headline(saved)
    assert [name for name, _, _ in headline][-2:] == ["geometric feed h=3: engagement",
                                                      "geometric feed h=3: mean interface density"]  # fmt: skip
    width, height = png_size(out / "snapshots.png")
    assert width > 1000 and height > 300


def test_voter_limit_against_the_exact_chain_and_resume(tmp_path, capsys):
    out = tmp_path / "voter"
    args = ["run", "opinion-dynamics", "--model", "voter", "--graph", "complete", "--num-agents", "6",
            "--initial-fraction", "0.34", "--num-runs", "400", "--horizon", "300", "--feed-size", "0",
            "--seed", "3", "--out", str(out), "--quiet", "--json"]  # fmt: skip
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    exact = first["sequential"]["complete"]["exact"]
    assert exact["k"] == 2 and exact["exit_probability"] == pytest.approx(1 / 3)
    assert exact["mean_time"] == pytest.approx(101 / 6, abs=1e-9)  # T(2) of N = 6, solved by hand
    assert first["sequential"]["complete"]["time_to_consensus"]["censored"] == 0
    assert abs(exact["z_time"]) < 3 and abs(exact["z_exit"]) < 3
    assert set(first["feed"]) == set() and not (out / "feed_sweep.png").exists()
    lines = (out / "runs.jsonl").read_text()
    assert main(args) == 0  # resumed: every run found, none added
    second = json.loads(capsys.readouterr().out)
    assert (out / "runs.jsonl").read_text() == lines
    assert second["sequential"] == first["sequential"]


def _bad(tmp_path, *options):
    return ["run", "opinion-dynamics", "--num-agents", "8", "--horizon", "5", "--num-runs", "2",
            *options, "--out", str(tmp_path / "never")]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--alpha", "0"], "--alpha: alpha must be in (0, 1]"),
        (["--alpha", "1.5"], "--alpha: alpha must be in (0, 1]"),
        (["--epsilon", "1"], "--epsilon: epsilon must be in [0, 1)"),
        (["--epsilon", "-0.2"], "--epsilon: epsilon must be in [0, 1)"),
        (["--initial-fraction", "1.2"], "--initial-fraction: initial_fraction must be in [0, 1]"),
        (["--graph", "geometric", "--radius", "0.01"], "--graph geometric: geometric graph: still disconnected"),
        (["--model", "voter", "--alpha", "0.5"], "--alpha: the voter model has alpha = 1"),
        (["--model", "majority"], "--model must be voter or social-rl"),
        (["--graph", "complete", "--num-agents", "3000000"], "--num-agents 3000000 on graph complete: one run"),
        (["--graph", "nowhere.txt"], "is not complete, geometric, sbm or an edge-list file"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(options, message, tmp_path, capsys):
    assert main(_bad(tmp_path, *options)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recosim: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "never").exists()


def test_a_malformed_edge_file_names_its_line(tmp_path, capsys):
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 2\n2 three\n")
    assert main(_bad(tmp_path, "--graph", str(edges))) == 2
    err = capsys.readouterr().err.strip()
    assert f"{edges}:3: agent ids must be integers" in err and "\n" not in err
    edges.write_text("0 1\n1 2\n2 3\n3 0\n")
    out = tmp_path / "ring"
    assert main(["run", "opinion-dynamics", "--graph", str(edges), "--num-runs", "3", "--horizon", "30",
                 "--feed-size", "0", "--out", str(out), "--quiet", "--json"]) == 0  # fmt: skip
    saved = json.loads(capsys.readouterr().out)
    assert saved["sequential"][str(edges)]["graph"] == {"kind": "file", "agents": 4, "edges": 4,
                                                       "mean_degree": 2.0, "draws": 1}  # fmt: skip
    assert np.isfinite(saved["sequential"][str(edges)]["final_interface_density"]["mean"])


def test_alpha_and_epsilon_are_recovered_from_a_logged_trajectory():
    """A run at known alpha, eps: both inside their 95% posterior intervals, the ML values near them."""
    from recosim.core.runtime import NumpyRuntime
    from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph
    from recosim.usecases.opinion_dynamics_inference import completed_trajectory, fit_learners, logged_interactions

    model = OpinionModel(complete_graph(10), OpinionConfig(alpha=0.2, epsilon=0.2))
    traj = NumpyRuntime(model.variables(), seed=3, settings=model.settings).trajectory(500)
    data = logged_interactions(traj)
    fit = fit_learners(data)
    lo, hi = fit.interval("alpha")
    assert lo <= 0.2 <= hi and hi - lo < 0.2
    lo, hi = fit.interval("epsilon")
    assert lo <= 0.2 <= hi
    assert abs(fit.ml_alpha - 0.2) < 0.1 and abs(fit.ml_epsilon - 0.2) < 0.05
    # the likelihood is exact: the truth explains every reward, and eps's ML is the share of odd expressions
    assert fit.log_likelihood[np.argmin(abs(fit.alphas - 0.2))] > -np.inf
    flips = np.asarray(traj["interaction"].get("flip"))[1:, 0]
    assert fit.mismatches[np.argmin(abs(fit.alphas - 0.2))] == flips.sum()
    # the log completed at the true alpha is the simulated trajectory: same draws, same log-probability
    done = completed_trajectory(data, model.graph, [0.2])
    for var, field in (("interaction", "flip"), ("interaction", "slot"), ("agents", "opinion"), ("agents", "q"),
                       ("stats", "consensus_step")):  # fmt: skip
        np.testing.assert_array_equal(done[var][field][1:], np.asarray(traj[var].get(field))[1:])
    rt = NumpyRuntime(model.variables(), seed=0, settings=model.settings)
    assert float(rt.log_probability(done, 100)) == pytest.approx(float(rt.log_probability(traj, 100)), rel=1e-6)
    with pytest.raises(ValueError, match=r"logged step 1: listener (\d) is not a neighbour of speaker \1"):
        completed_trajectory({**data, "listener": np.where(np.arange(499) == 0, data["speaker"], data["listener"])},
                             model.graph, [0.2])  # fmt: skip
    data["reward"] = -data["reward"]  # rewards no replay can explain
    with pytest.raises(ValueError, match="no alpha on the grid explains the logged rewards"):
        fit_learners(data)


@pytest.mark.needs_runtime("jax")
def test_recosim_inference_recovers_alpha_and_epsilon_as_the_exact_grid_does():
    """fit_mle and NUTS (recosim-inference, JAX) against the exact grid: the same ML class, eps within 0.005,
    the posterior of eps within 0.01 in mean and 25% in sd; the truth inside both 95% intervals."""
    from recosim.core.runtime import NumpyRuntime
    from recosim.library.opinion import OpinionConfig, OpinionModel, complete_graph
    from recosim.usecases.opinion_dynamics_inference import fit_learners_inference, logged_interactions

    model = OpinionModel(complete_graph(10), OpinionConfig(alpha=0.2, epsilon=0.2))
    traj = NumpyRuntime(model.variables(), seed=3, settings=model.settings).trajectory(500)
    fit = fit_learners_inference(logged_interactions(traj), model.graph, runtime="jax", ml_steps=150,
                                 learning_rate=0.1, num_chains=2, num_warmup=100, num_samples=200,
                                 max_classes=3)  # fmt: skip
    exact = fit.exact
    assert fit.ml_alpha_range == exact.ml_alpha_range and abs(fit.ml_epsilon - exact.ml_epsilon) < 0.005
    assert abs(fit.mean("epsilon") - exact.mean("epsilon")) < 0.01
    assert fit.sd("epsilon") == pytest.approx(exact.sd("epsilon"), rel=0.25)
    for name in ("alpha", "epsilon"):
        lo, hi = fit.interval(name)
        assert lo <= 0.2 <= hi, (name, lo, hi)
    assert fit.diagnostics["divergences"] == 0
